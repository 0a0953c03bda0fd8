// The hub's provider inputs, pure: the exported services the route planner gets from the stored
// exports and ExternalServices, and the `providers` section of the hub config file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../../../controlplane/api/errors.ts';
import type { ExportState } from '../../../controlplane/api/messages.ts';
import type { ExternalServiceResource } from '../../../controlplane/api/resources.ts';
import { loadHubConfig } from '../../../controlplane/hub/config.ts';
import { OBJECTS_PREFIX } from '../../../controlplane/api/keys.ts';
import { HubProviders, RegistryIntentSource, exportedServices } from '../../../controlplane/hub/providers.ts';
import { RegistryView } from '../../../controlplane/hub/registry-view.ts';
import { WatchedPrefix } from '../../../controlplane/hub/watched.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { cluster, parse } from '../../fixtures/providers/journey3.ts';

const state = (name: string, over: Partial<ExportState> = {}): ExportState => ({
  namespace: 'inference',
  name,
  exportedAt: '2026-01-01T00:00:00Z',
  type: 'ClusterSetIP',
  ports: [{ port: 80, protocol: 'TCP' }],
  sessionAffinity: 'None',
  endpoints: [],
  ...over,
});

const CLUSTERS = [
  cluster('aws-train', 'aws', 'aws-train-vpc', ['10.16.0.0/16'], { labels: { gpu: 'true' } }),
  cluster('onprem-inference', 'onprem', 'onprem-fra', ['10.32.0.0/16'], { labels: { role: 'inference' } }),
];

const featureStore = parse({
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'ExternalService',
  metadata: { name: 'feature-store', namespace: 'inference' },
  spec: {
    network: 'onprem-fra',
    ports: [{ port: 9090, protocol: 'TCP' }],
    endpoints: [{ address: '10.34.0.11' }, { address: '10.34.0.12' }],
    exportTo: { clusterSelector: { matchLabels: { gpu: 'true' } } },
  },
}) as ExternalServiceResource;

describe('hub providers: exported services for the route planner', () => {
  const cases: { name: string; exports: [string, ExportState][]; external?: ExternalServiceResource[]; want: unknown }[] = [
    {
      name: "a cluster's export, on its endpoints' ports (target ports), consumed by its clusterset",
      exports: [['onprem-inference', state('llm-serving', { endpointPorts: [{ port: 8000, protocol: 'TCP' }] })]],
      want: [{ namespace: 'inference', name: 'llm-serving', ports: [{ protocol: 'TCP', port: 8000 }], exporters: [{ cluster: 'onprem-inference' }] }],
    },
    {
      name: 'the export of a cluster the registry does not hold is ignored',
      exports: [['gone', state('llm-serving')]],
      want: [],
    },
    {
      name: 'an export-to selector narrows the consumers to the clusters it matches',
      exports: [['onprem-inference', state('llm-serving', { exportTo: { matchLabels: { gpu: 'true' } } })]],
      want: [
        {
          namespace: 'inference',
          name: 'llm-serving',
          ports: [{ protocol: 'TCP', port: 80 }],
          exporters: [{ cluster: 'onprem-inference' }],
          consumers: ['aws-train'],
        },
      ],
    },
    {
      name: 'an ExternalService: its network and addresses, its port, its export-to',
      exports: [],
      external: [featureStore],
      want: [
        {
          namespace: 'inference',
          name: 'feature-store',
          ports: [{ protocol: 'TCP', port: 9090 }],
          exporters: [{ network: 'onprem-fra', addresses: ['10.34.0.11', '10.34.0.12'] }],
          consumers: ['aws-train'],
        },
      ],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const exports = new Map<string, Map<string, ExportState>>();
      for (const [cl, s] of c.exports) exports.set(cl, new Map([[`${s.namespace}/${s.name}`, s]]));
      assert.deepEqual(exportedServices({ clusters: CLUSTERS, exports, externalServices: c.external ?? [] }), c.want);
    });
});

describe('hub config: providers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'causeway-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const load = (text: string): ReturnType<typeof loadHubConfig> => {
    const file = join(dir, 'hub.yaml');
    writeFileSync(file, text);
    return loadHubConfig(file);
  };

  it('reads the AWS endpoint and default region', () => {
    assert.deepEqual(load('providers:\n  aws:\n    endpoint: http://127.0.0.1:4566\n    region: eu-central-1\n').providers, {
      aws: { endpoint: 'http://127.0.0.1:4566', region: 'eu-central-1' },
    });
    assert.deepEqual(load('tokens: []\n').providers, {});
  });

  const refused: [string, string, RegExp][] = [
    ['providers:\n  aws:\n    endpoint: ftp://x\n', 'providers.aws.endpoint', /http\(s\) URL/],
    ['providers:\n  aws:\n    region: Frankfurt\n', 'providers.aws.region', /AWS region/],
    ['providers:\n  aws:\n    accessKeyId: AKID\n', 'providers.aws', /accessKeyId/],
  ];
  for (const [text, field, message] of refused)
    it(`refuses ${field} naming the field`, () => {
      assert.throws(
        () => load(text),
        (e: unknown) => e instanceof InvalidInputError && e.problems.some((p) => p.field.startsWith(field) && message.test(`${p.field} ${p.message}`)),
      );
    });
});

describe('hub providers: adapters loaded ahead of use', () => {
  const providersWith = (config: ConstructorParameters<typeof HubProviders>[0]['config']): HubProviders => {
    const store = new MemoryStore();
    const intents = new RegistryIntentSource(new RegistryView(new WatchedPrefix(store, OBJECTS_PREFIX)), () => new Map());
    return new HubProviders({ store, intents, config });
  };

  it('warm loads each named provider once; adapter() then answers the adapter it loaded', async () => {
    const providers = providersWith({});
    const warned: unknown[] = [];
    await providers.warm(['onprem', 'gcp', 'onprem'], (fields) => warned.push(fields));
    assert.deepEqual(warned, []);
    const [onprem, again] = await Promise.all([providers.adapter('onprem'), providers.adapter('onprem')]);
    assert.equal(onprem, again);
    await providers.close();
  });

  it('a provider that fails to load warns naming it, is not kept, and leaves the others loaded', async () => {
    const providers = providersWith({ gcp: { endpoint: 'http://127.0.0.1:1/with/a/path' } });
    const warned: Record<string, unknown>[] = [];
    await providers.warm(['gcp', 'onprem'], (fields) => warned.push(fields));
    assert.deepEqual(
      warned.map((w) => w['provider']),
      ['gcp'],
    );
    await assert.rejects(providers.adapter('gcp'), InvalidInputError);
    assert.ok(await providers.adapter('onprem'));
    await providers.close();
  });
});
