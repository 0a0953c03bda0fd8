// The hub-side service merge (KEP-1645) and per-consumer imports, over plain data: no store, no
// network. Each case builds a small registry, merges it and asserts what services, imports and
// ServiceExport statuses come out.
import assert from 'node:assert/strict';
import type { LabelSelector } from '../../controlplane/api/labels.ts';
import type { ExportState, ImportState, ServicePort } from '../../controlplane/api/messages.ts';
import type { ClusterResource, ExternalServiceResource, NetworkResource } from '../../controlplane/api/resources.ts';
import { canonicalJson } from '../../controlplane/api/json.ts';
import { importDigest } from '../../controlplane/api/import-digest.ts';
import { desiredImport, recoverImport } from '../../cluster-agent/imports.ts';
import { trustedAvailability } from '../../controlplane/services/availability.ts';
import { applyChanges, type ChangeResult, type ModelChange } from '../../controlplane/services/changes.ts';
import { jsonEqual } from '../../controlplane/api/json-equal.ts';
import type { GlobalService } from '../../controlplane/services/merge.ts';
import { buildModel, type MergeInput, type ModelOptions, type ServicesModel } from '../../controlplane/services/model.ts';
import { consumersOf, exportStatusFor, globalServices, importsFor, snapshotFor, warmSnapshot } from '../../controlplane/services/views.ts';

// ---- builders --------------------------------------------------------------------------------

interface ClusterOpts {
  network?: string;
  provider?: 'aws' | 'gcp' | 'onprem';
  region?: string;
  labels?: Record<string, string>;
  available?: boolean;
  clusterSet?: string;
}

function cluster(name: string, o: ClusterOpts = {}): ClusterResource {
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name, ...(o.labels !== undefined ? { labels: o.labels } : {}) },
    spec: {
      provider: o.provider ?? 'aws',
      region: o.region ?? 'us-east-1',
      network: o.network ?? 'net-a',
      podCIDRs: ['10.0.0.0/16'],
      serviceCIDRs: ['10.1.0.0/16'],
      ...(o.clusterSet !== undefined ? { clusterSet: o.clusterSet } : {}),
    },
    status: {
      conditions: [
        {
          type: 'Available',
          status: o.available === false ? 'False' : 'True',
          reason: o.available === false ? 'HeartbeatExpired' : 'Heartbeating',
          message: '',
          lastTransitionTime: T0,
        },
      ],
    },
  };
}

function network(name: string, links: string[] = [], provider: 'aws' | 'gcp' | 'onprem' = 'aws', region = 'us-east-1'): NetworkResource {
  const block =
    provider === 'aws'
      ? { region, aws: { vpcId: 'vpc-0a1b2c3d4e5f67890' } }
      : provider === 'gcp'
        ? { region, gcp: { project: 'ml-platform-prod', network: name } }
        : { onprem: { site: 'fra1', asn: 64512 } };
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Network',
    metadata: { name },
    spec: { provider, ...block, links: links.map((to) => ({ to, type: 'vpn' as const })) },
  };
}

const T0 = '2026-01-01T00:00:00Z';
const at = (minutes: number): string => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

interface ExportOpts {
  namespace?: string;
  name?: string;
  at?: string;
  type?: 'ClusterSetIP' | 'Headless';
  ports?: ServicePort[];
  affinity?: 'None' | 'ClientIP';
  exportTo?: LabelSelector & ExportState['exportTo'];
  /** Addresses, one endpoint each. */
  endpoints?: string[];
  /** Any other ExportState field (session affinity config, traffic policy, exported labels...). */
  extra?: Partial<ExportState>;
}

const http: ServicePort = { name: 'http', port: 8000, protocol: 'TCP' };

function exp(o: ExportOpts = {}): ExportState {
  return {
    namespace: o.namespace ?? 'inference',
    name: o.name ?? 'llm',
    exportedAt: o.at ?? T0,
    type: o.type ?? 'ClusterSetIP',
    ports: o.ports ?? [http],
    sessionAffinity: o.affinity ?? 'None',
    ...(o.exportTo !== undefined ? { exportTo: o.exportTo } : {}),
    ...o.extra,
    endpoints: (o.endpoints ?? ['10.0.0.1']).map((a) => ({ addresses: [a], ready: true, serving: true, terminating: false, zone: 'z1' })),
  };
}

function external(namespace: string, name: string, net: string, addresses: string[], exportTo?: Record<string, string>): ExternalServiceResource {
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'ExternalService',
    metadata: { name, namespace, creationTimestamp: at(-60) },
    spec: {
      network: net,
      ports: [{ name: 'http', port: 8000 }],
      endpoints: addresses.map((address, i) => ({ address, ...(i === 1 ? { ready: false } : {}) })),
      ...(exportTo !== undefined ? { exportTo: { clusterSelector: { matchLabels: exportTo } } } : {}),
    },
  };
}

/** exports given as [cluster, ExportState][]; keys derived from the states. */
function input(o: {
  clusters: ClusterResource[];
  networks?: NetworkResource[];
  exports: [string, ExportState][];
  externals?: ExternalServiceResource[];
  vips?: Record<string, string>;
}): MergeInput {
  const exports = new Map<string, Map<string, ExportState>>();
  for (const [c, s] of o.exports) {
    const m = exports.get(c) ?? new Map<string, ExportState>();
    m.set(`${s.namespace}/${s.name}`, s);
    exports.set(c, m);
  }
  return {
    clusters: o.clusters,
    networks: o.networks ?? [network('net-a')],
    exports,
    externalServices: o.externals ?? [],
    vips: new Map(Object.entries(o.vips ?? {})),
  };
}

// Read through the public functions only: one import is the consumer's snapshot entry for it.
function importFor(model: ServicesModel, consumer: string, key: string): ImportState | undefined {
  return importsFor(model, consumer).find((i) => `${i.namespace}/${i.name}` === key);
}

function globalService(model: ServicesModel, key: string): GlobalService | undefined {
  return globalServices(model).find((s) => `${s.namespace}/${s.name}` === key);
}

function applyChange(model: ServicesModel, change: ModelChange, options: ModelOptions = {}): ChangeResult {
  return applyChanges(model, [change], options);
}

function cond(model: ServicesModel, cluster: string, type: string, key = 'inference/llm'): { status: string; reason: string; message: string } | undefined {
  const s = exportStatusFor(model, cluster).find((x) => `${x.namespace}/${x.name}` === key);
  const c = s?.conditions.find((x) => x.type === type);
  return c === undefined ? undefined : { status: c.status, reason: c.reason, message: c.message };
}

const addrs = (imp: ImportState | undefined): string[] => (imp?.endpoints ?? []).map((e) => `${e.cluster}:${e.addresses.join(',')}`);

// ---- merging -------------------------------------------------------------------------------

describe('service merge (KEP-1645)', () => {
  it("carries each exporter's endpoint (target) ports into the imports, per cluster", () => {
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b'), cluster('c')],
        exports: [
          ['a', { ...exp({ at: at(0) }), endpointPorts: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
          ['b', exp({ at: at(1), endpoints: ['10.0.0.2'] })],
        ],
      }),
    );
    const imp = importFor(model, 'c', 'inference/llm');
    // b reported no endpoint ports: its slices carry its own Service's ports, never the union.
    assert.deepEqual(imp?.clusterPorts, [
      { cluster: 'a', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { cluster: 'b', ports: [http] },
    ]);
    assert.deepEqual(imp.ports, [http]);
  });

  it('reports Valid, Ready and no conflict when every export has the same ports', () => {
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b')],
        exports: [
          ['a', exp({ at: at(0), ports: [http] })],
          ['b', exp({ at: at(1), ports: [http] })],
        ],
      }),
    );
    assert.deepEqual(
      globalService(model, 'inference/llm')?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ['Valid=True/Valid', 'Conflict=False/NoConflicts', 'Ready=True/Exported'],
    );
    for (const c of ['a', 'b']) {
      assert.equal(cond(model, c, 'Valid')?.status, 'True');
      assert.equal(cond(model, c, 'Ready')?.reason, 'Exported');
      assert.deepEqual(cond(model, c, 'Conflict'), { status: 'False', reason: 'NoConflicts', message: 'all exports agree' });
    }
  });

  it('unions the ports of every export, and ports not identical everywhere raise PortConflict on every export (KEP-1645)', () => {
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b')],
        exports: [
          ['a', exp({ at: at(0), ports: [http] })],
          ['b', exp({ at: at(1), ports: [http, { name: 'metrics', port: 9090, protocol: 'TCP' }] })],
        ],
      }),
    );
    const svc = globalService(model, 'inference/llm');
    assert.ok(svc);
    assert.deepEqual(svc.ports, [http, { name: 'metrics', port: 9090, protocol: 'TCP' }]);
    assert.deepEqual(
      svc.exporters.map((e) => [e.cluster, e.endpoints, e.conflict]),
      [
        ['a', 1, undefined],
        ['b', 1, 'PortConflict'],
      ],
    );
    assert.equal(svc.endpointCount, 2);
    assert.deepEqual(
      svc.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ['Valid=True/Valid', 'Conflict=True/PortConflict', 'Ready=True/Exported'],
    );
    for (const c of ['a', 'b']) {
      assert.equal(cond(model, c, 'Valid')?.status, 'True');
      assert.equal(cond(model, c, 'Ready')?.reason, 'Exported');
      assert.equal(cond(model, c, 'Conflict')?.status, 'True');
      assert.equal(cond(model, c, 'Conflict')?.reason, 'PortConflict');
    }
    assert.match(cond(model, 'b', 'Conflict')?.message ?? '', /the import exposes the union/);
  });

  const conflicts: {
    title: string;
    older: ExportOpts;
    newer: ExportOpts;
    reason: string;
    expect: { type?: string; ports?: ServicePort[]; affinity?: string; service?: Partial<GlobalService> };
  }[] = [
    {
      title: 'ports that differ (one number, two protocols: both join the union)',
      older: { ports: [{ name: 'dns-tcp', port: 53, protocol: 'TCP' }] },
      newer: { ports: [{ name: 'dns-udp', port: 53, protocol: 'UDP' }] },
      reason: 'PortConflict',
      expect: {
        ports: [
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
        ],
      },
    },
    {
      title: 'one port number and protocol with another name',
      older: { ports: [{ name: 'http', port: 8000, protocol: 'TCP' }] },
      newer: { ports: [{ name: 'web', port: 8000, protocol: 'TCP' }] },
      reason: 'PortConflict',
      expect: { ports: [http] },
    },
    {
      title: 'same port name with another number',
      older: { ports: [{ name: 'http', port: 8000, protocol: 'TCP' }] },
      newer: {
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'admin', port: 9000, protocol: 'TCP' },
        ],
      },
      reason: 'PortConflict',
      // The conflicting port is left out; the newer export's other ports still join the union.
      expect: { ports: [http, { name: 'admin', port: 9000, protocol: 'TCP' }] },
    },
    {
      title: 'ClusterSetIP vs Headless',
      older: { type: 'Headless' },
      newer: { type: 'ClusterSetIP' },
      reason: 'TypeConflict',
      expect: { type: 'Headless' },
    },
    {
      title: 'session affinity',
      older: { affinity: 'ClientIP' },
      newer: { affinity: 'None' },
      reason: 'SessionAffinityConflict',
      expect: { affinity: 'ClientIP' },
    },
    {
      title: 'session affinity config (ClientIP timeout)',
      older: { affinity: 'ClientIP', extra: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } } } },
      newer: { affinity: 'ClientIP', extra: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } } },
      reason: 'SessionAffinityConfigConflict',
      expect: { affinity: 'ClientIP', service: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } } } },
    },
    {
      title: 'internal traffic policy',
      older: { extra: { internalTrafficPolicy: 'Local' } },
      newer: { extra: { internalTrafficPolicy: 'Cluster' } },
      reason: 'InternalTrafficPolicyConflict',
      expect: { service: { internalTrafficPolicy: 'Local' } },
    },
    {
      title: 'traffic distribution',
      older: { extra: { trafficDistribution: 'PreferClose' } },
      newer: {},
      reason: 'TrafficDistributionConflict',
      expect: { service: { trafficDistribution: 'PreferClose' } },
    },
    {
      title: 'exported labels',
      older: { extra: { exportedLabels: { tier: 'gold' } } },
      newer: { extra: { exportedLabels: { tier: 'silver', team: 'ml' } } },
      reason: 'LabelsConflict',
      expect: { service: { labels: { tier: 'gold' } } },
    },
    {
      title: 'exported annotations',
      older: {},
      newer: { extra: { exportedAnnotations: { 'example.com/owner': 'ml' } } },
      reason: 'AnnotationsConflict',
      expect: { service: { annotations: undefined } },
    },
  ];

  for (const c of conflicts) {
    for (const olderCluster of ['a', 'z']) {
      it(`resolves a conflict on ${c.title} to the oldest export (cluster ${olderCluster}) and reports it on every export`, () => {
        const newerCluster = olderCluster === 'a' ? 'z' : 'a';
        const model = buildModel(
          input({
            clusters: [cluster('a'), cluster('z'), cluster('m')],
            exports: [
              [olderCluster, exp({ ...c.older, at: at(0) })],
              [newerCluster, exp({ ...c.newer, at: at(5) })],
              // A third export agreeing with the oldest: it too is told about the conflict.
              ['m', exp({ ...c.older, at: at(9) })],
            ],
          }),
        );
        const svc = globalService(model, 'inference/llm');
        assert.ok(svc);
        if (c.expect.type !== undefined) assert.equal(svc.type, c.expect.type);
        if (c.expect.ports !== undefined) assert.deepEqual(svc.ports, c.expect.ports);
        if (c.expect.affinity !== undefined) assert.equal(svc.sessionAffinity, c.expect.affinity);
        for (const [field, value] of Object.entries(c.expect.service ?? {})) {
          assert.deepEqual((svc as unknown as Record<string, unknown>)[field], value, field);
        }
        assert.deepEqual(
          svc.exporters.map((e) => [e.cluster, e.conflict]),
          [
            [olderCluster, undefined],
            [newerCluster, c.reason],
            ['m', undefined],
          ],
        );
        assert.equal(svc.conditions.find((x) => x.type === 'Conflict')?.reason, c.reason);
        for (const cl of ['a', 'z', 'm']) {
          const conflict = cond(model, cl, 'Conflict');
          assert.equal(conflict?.status, 'True', cl);
          assert.equal(conflict.reason, c.reason);
          assert.match(conflict.message, new RegExp(`cluster "${olderCluster}"`), `${cl}: ${conflict.message}`);
        }
        // The consumer imports the winner's shape.
        const imp = importFor(model, 'm', 'inference/llm');
        assert.equal(imp?.type, svc.type);
        assert.deepEqual(imp.ports, svc.ports);
        for (const [field, value] of Object.entries(c.expect.service ?? {})) {
          assert.deepEqual((imp as unknown as Record<string, unknown>)[field], value, `import ${field}`);
        }
      });
    }
  }

  it('breaks a tie in exportedAt by cluster name', () => {
    const model = buildModel(
      input({
        clusters: [cluster('b'), cluster('c')],
        exports: [
          ['c', exp({ type: 'Headless' })],
          ['b', exp({ type: 'ClusterSetIP' })],
        ],
      }),
    );
    assert.equal(globalService(model, 'inference/llm')?.type, 'ClusterSetIP');
    assert.equal(cond(model, 'c', 'Conflict')?.reason, 'TypeConflict');
  });

  it('accepts one port number on two protocols, and raises PortConflict on the export that has only one (DNS)', () => {
    const dns: ServicePort[] = [
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      { name: 'dns-udp', port: 53, protocol: 'UDP' },
    ];
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b')],
        exports: [
          ['a', exp({ ports: dns })],
          ['b', exp({ at: at(1), ports: [dns[1] as ServicePort] })],
        ],
      }),
    );
    assert.deepEqual(globalService(model, 'inference/llm')?.ports, dns);
    assert.equal(cond(model, 'b', 'Conflict')?.status, 'True');
    assert.equal(cond(model, 'b', 'Conflict')?.reason, 'PortConflict');
  });

  it('gives ClusterSetIP imports the VIP and Headless imports no IP', () => {
    const model = buildModel(
      input({
        clusters: [cluster('a')],
        exports: [
          ['a', exp({ name: 'vip' })],
          ['a', exp({ name: 'headless', type: 'Headless' })],
        ],
        vips: { 'inference/vip': '10.96.0.1', 'inference/headless': '10.96.0.2' },
      }),
    );
    assert.deepEqual(importFor(model, 'a', 'inference/vip')?.ips, ['10.96.0.1']);
    assert.deepEqual(importFor(model, 'a', 'inference/headless')?.ips, []);
    assert.equal(globalService(model, 'inference/vip')?.vip, '10.96.0.1');
    assert.equal(globalService(model, 'inference/headless')?.vip, undefined);
  });
});

// ---- imports -------------------------------------------------------------------------------

describe('service imports per consumer', () => {
  it('shows a service only to consumers its exportTo selector allows, leaking nothing to the others', () => {
    const model = buildModel(
      input({
        clusters: [cluster('onprem'), cluster('gpu', { labels: { gpu: 'true' } }), cluster('plain')],
        exports: [
          ['onprem', exp({ exportTo: { matchLabels: { gpu: 'true' } } })],
          ['onprem', exp({ name: 'open' })],
        ],
      }),
    );
    assert.deepEqual(
      importsFor(model, 'gpu').map((i) => i.name),
      ['llm', 'open'],
    );
    assert.deepEqual(
      importsFor(model, 'plain').map((i) => i.name),
      ['open'],
    );
    assert.equal(importFor(model, 'plain', 'inference/llm'), undefined);
    assert.deepEqual(consumersOf(model, 'inference/llm'), ['gpu']);
  });

  it('a snapshot follows a relabelled consumer and a changed selector (the selector memo never goes stale)', () => {
    const model = buildModel(
      input({
        clusters: [cluster('onprem'), cluster('plain')],
        exports: [['onprem', exp({ exportTo: { matchLabels: { gpu: 'true' } } })]],
      }),
    );
    assert.deepEqual(importsFor(model, 'plain'), []);
    applyChange(model, { kind: 'cluster', name: 'plain', resource: cluster('plain', { labels: { gpu: 'true' } }) });
    assert.deepEqual(
      importsFor(model, 'plain').map((i) => i.name),
      ['llm'],
    );
    applyChange(model, { kind: 'export', cluster: 'onprem', namespace: 'inference', name: 'llm', state: exp({ exportTo: { matchLabels: { tier: 'gold' } } }) });
    assert.deepEqual(importsFor(model, 'plain'), []);
    applyChange(model, { kind: 'export', cluster: 'onprem', namespace: 'inference', name: 'llm', state: exp() });
    assert.deepEqual(
      importsFor(model, 'plain').map((i) => i.name),
      ['llm'],
    );
  });

  it('merges, for each consumer, only the exports it may see: no endpoints and no ports of the others', () => {
    const metrics: ServicePort = { name: 'metrics', port: 9090, protocol: 'TCP' };
    const model = buildModel(
      input({
        clusters: [cluster('secret'), cluster('open'), cluster('gpu', { labels: { gpu: 'true' } }), cluster('plain')],
        exports: [
          [
            'secret',
            exp({
              at: at(0),
              ports: [http, metrics],
              endpoints: ['10.0.0.9'],
              exportTo: { matchExpressions: [{ key: 'gpu', operator: 'In', values: ['true'] }] },
            }),
          ],
          ['open', exp({ at: at(1), endpoints: ['10.0.0.1'] })],
        ],
      }),
    );
    const plain = importFor(model, 'plain', 'inference/llm');
    assert.deepEqual(plain?.ports, [http]);
    assert.deepEqual(plain.clusters, ['open']);
    assert.deepEqual(addrs(plain), ['open:10.0.0.1']);
    const gpu = importFor(model, 'gpu', 'inference/llm');
    assert.deepEqual(gpu?.ports, [http, metrics]);
    assert.deepEqual(gpu.clusters, ['open', 'secret']);
  });

  it('keeps clustersets apart', () => {
    const model = buildModel(input({ clusters: [cluster('a'), cluster('b', { clusterSet: 'other' })], exports: [['a', exp()]] }));
    assert.equal(importFor(model, 'b', 'inference/llm'), undefined);
    assert.ok(importFor(model, 'a', 'inference/llm') !== undefined);
  });

  it("withdraws an unavailable cluster's endpoints from every import and restores them when it returns", () => {
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b'), cluster('c')],
        exports: [
          ['a', exp({ endpoints: ['10.0.0.1'] })],
          ['b', exp({ at: at(1), endpoints: ['10.0.1.1', '10.0.1.2'] })],
        ],
      }),
    );
    assert.deepEqual(addrs(importFor(model, 'c', 'inference/llm')), ['a:10.0.0.1', 'b:10.0.1.1', 'b:10.0.1.2']);

    const down = applyChange(model, { kind: 'cluster', name: 'b', resource: cluster('b', { available: false }) }, { now: at(30) });
    assert.deepEqual(addrs(importFor(model, 'c', 'inference/llm')), ['a:10.0.0.1']);
    assert.deepEqual(importFor(model, 'c', 'inference/llm')?.clusters, ['a']);
    // Every consumer hears of it, b included (it imports the service too), and nothing else changes.
    assert.deepEqual(down.imports.map((d) => `${d.consumer} ${d.key}`).sort(), ['a inference/llm', 'b inference/llm', 'c inference/llm']);
    assert.deepEqual(cond(model, 'b', 'Ready'), {
      status: 'False',
      reason: 'ClusterUnavailable',
      message: 'cluster "b" is unavailable: its endpoints are withdrawn from every import',
    });
    assert.deepEqual(
      down.exportStatus.map((s) => s.cluster),
      ['b'],
    );
    assert.equal(globalService(model, 'inference/llm')?.endpointCount, 1);

    const up = applyChange(model, { kind: 'cluster', name: 'b', resource: cluster('b') }, { now: at(31) });
    assert.deepEqual(addrs(importFor(model, 'c', 'inference/llm')), ['a:10.0.0.1', 'b:10.0.1.1', 'b:10.0.1.2']);
    assert.equal(up.imports.length, 3);
    assert.equal(cond(model, 'b', 'Ready')?.status, 'True');
  });

  it('hands a consumer only endpoints it can reach: same network, or linked (undirected, transitive)', () => {
    const model = buildModel(
      input({
        // n1 —— n2 —— n3 (links declared in one direction only); n4 stands alone.
        networks: [network('n1', ['n2']), network('n2'), network('n3', ['n2']), network('n4')],
        clusters: [cluster('c1', { network: 'n1' }), cluster('c2', { network: 'n2' }), cluster('c3', { network: 'n3' }), cluster('c4', { network: 'n4' })],
        exports: [
          ['c2', exp({ endpoints: ['10.2.0.1'] })],
          ['c3', exp({ endpoints: ['10.3.0.1'] })],
          ['c4', exp({ endpoints: ['10.4.0.1'] })],
        ],
      }),
    );
    assert.deepEqual(importFor(model, 'c1', 'inference/llm')?.clusters, ['c2', 'c3']);
    assert.deepEqual(addrs(importFor(model, 'c1', 'inference/llm')), ['c2:10.2.0.1', 'c3:10.3.0.1']);
    assert.deepEqual(importFor(model, 'c4', 'inference/llm')?.clusters, ['c4']);
  });

  it('orders clusters and endpoints nearest first: own cluster, same region, same provider, the rest', () => {
    const model = buildModel(
      input({
        networks: [network('net-a', ['net-g', 'net-o']), network('net-g', [], 'gcp', 'us-east1'), network('net-o', [], 'onprem')],
        clusters: [
          cluster('m-self', { region: 'us-east-1' }),
          cluster('z-region', { region: 'us-east-1' }),
          cluster('y-region', { region: 'us-east-1' }),
          cluster('b-provider', { region: 'eu-west-1' }),
          cluster('a-gcp', { provider: 'gcp', region: 'us-east-1', network: 'net-g' }),
          cluster('c-onprem', { provider: 'onprem', region: 'fra1', network: 'net-o' }),
        ],
        exports: ['m-self', 'z-region', 'y-region', 'b-provider', 'a-gcp', 'c-onprem'].map(
          (c, i) => [c, exp({ at: at(i), endpoints: [`10.0.${i}.1`] })] as [string, ExportState],
        ),
      }),
    );
    const imp = importFor(model, 'm-self', 'inference/llm');
    assert.deepEqual(imp?.clusters, ['m-self', 'y-region', 'z-region', 'b-provider', 'a-gcp', 'c-onprem']);
    assert.deepEqual(
      imp.endpoints.map((e) => e.cluster),
      imp.clusters,
    );
  });

  it('lets an ExternalService join the global service of its name as the exporter "external"', () => {
    const model = buildModel(
      input({
        networks: [network('net-a', ['onprem']), network('onprem', [], 'onprem'), network('island', [], 'onprem')],
        clusters: [cluster('a'), cluster('gpu', { labels: { gpu: 'true' } }), cluster('far', { network: 'island', labels: { gpu: 'true' } })],
        exports: [['a', exp({ at: at(0), endpoints: ['10.0.0.1'] })]],
        externals: [external('inference', 'llm', 'onprem', ['192.168.1.10', '192.168.1.11'], { gpu: 'true' })],
      }),
    );
    const svc = globalService(model, 'inference/llm');
    // Created an hour before the cluster's export: the oldest, so it wins any conflict.
    assert.deepEqual(
      svc?.exporters.map((e) => [e.cluster, e.endpoints]),
      [
        ['external', 2],
        ['a', 1],
      ],
    );
    const gpu = importFor(model, 'gpu', 'inference/llm');
    assert.deepEqual(gpu?.clusters, ['a', 'external']);
    assert.deepEqual(
      gpu.endpoints.filter((e) => e.cluster === 'external').map((e) => [e.addresses[0], e.ready]),
      [
        ['192.168.1.10', true],
        ['192.168.1.11', false],
      ],
    );
    // Not selected by the ExternalService's exportTo: the cluster's export only.
    assert.deepEqual(importFor(model, 'a', 'inference/llm')?.clusters, ['a']);
    // Selected, but on a network that reaches neither: the import exists, with no endpoints.
    assert.deepEqual(importFor(model, 'far', 'inference/llm')?.endpoints, []);
    assert.equal(cond(model, 'external', 'Valid')?.status, 'True');

    // An ExternalService alone is a global service too.
    const alone = buildModel(
      input({
        networks: [network('net-a', ['onprem']), network('onprem', [], 'onprem')],
        clusters: [cluster('a')],
        exports: [],
        externals: [external('db', 'pg', 'onprem', ['192.168.2.1'])],
      }),
    );
    assert.deepEqual(importFor(alone, 'a', 'db/pg')?.clusters, ['external']);
    assert.equal(importFor(alone, 'a', 'db/pg')?.type, 'ClusterSetIP');
  });
});

// ---- incremental -----------------------------------------------------------------------------

describe('incremental service model', () => {
  function registry(): MergeInput {
    return input({
      clusters: [cluster('a'), cluster('b'), cluster('c', { labels: { gpu: 'true' } }), cluster('d', { network: 'net-b' })],
      networks: [network('net-a'), network('net-b')],
      exports: [
        ['a', exp({ name: 'one', endpoints: ['10.0.0.1'] })],
        ['b', exp({ name: 'one', at: at(1), endpoints: ['10.0.1.1'] })],
        ['a', exp({ name: 'two', endpoints: ['10.0.0.2'] })],
        ['b', exp({ name: 'gpu-only', exportTo: { matchLabels: { gpu: 'true' } } })],
      ],
    });
  }

  it("re-merges only the changed service: other services' imports stay the same", () => {
    const model = buildModel(registry());
    const before = new Map(['a', 'b', 'c', 'd'].map((c) => [c, importsFor(model, c)]));
    const r = applyChange(model, {
      kind: 'export',
      cluster: 'a',
      namespace: 'inference',
      name: 'one',
      state: exp({ name: 'one', endpoints: ['10.0.0.1', '10.0.0.3'] }),
    });
    assert.deepEqual(
      r.services.map((s) => s.key),
      ['inference/one'],
    );
    assert.deepEqual(new Set(r.imports.map((d) => d.key)), new Set(['inference/one']));
    // Every consumer of the service hears of it; d is on an unreachable network, its import is unchanged.
    assert.deepEqual(r.imports.map((d) => d.consumer).sort(), ['a', 'b', 'c']);
    for (const [c, prev] of before) {
      const now = importsFor(model, c);
      for (const imp of now.filter((i) => i.name !== 'one')) {
        assert.ok(
          jsonEqual(
            imp,
            prev.find((p) => p.name === imp.name),
          ),
          `${c} ${imp.name}`,
        );
      }
    }
    assert.deepEqual(r.exportStatus, []);
  });

  it('creates and removes a service, with removals sent to every former consumer', () => {
    const model = buildModel(registry());
    const add = applyChange(
      model,
      { kind: 'export', cluster: 'c', namespace: 'new', name: 'svc', state: exp({ namespace: 'new', name: 'svc' }) },
      { now: at(100) },
    );
    assert.deepEqual(add.imports.map((d) => [d.consumer, d.next?.name]).sort(), [
      ['a', 'svc'],
      ['b', 'svc'],
      ['c', 'svc'],
      ['d', 'svc'],
    ]);
    assert.deepEqual(
      add.exportStatus.map((s) => [s.cluster, s.key]),
      [['c', 'new/svc']],
    );
    const removed = applyChange(model, { kind: 'export', cluster: 'c', namespace: 'new', name: 'svc', state: undefined });
    assert.deepEqual(removed.imports.map((d) => [d.consumer, d.next]).sort(), [
      ['a', undefined],
      ['b', undefined],
      ['c', undefined],
      ['d', undefined],
    ]);
    assert.deepEqual(removed.services, [{ key: 'new/svc', next: undefined }]);
    assert.deepEqual(removed.exportStatus, [{ cluster: 'c', key: 'new/svc', next: undefined }]);
    assert.equal(globalService(model, 'new/svc'), undefined);
  });

  it("recomputes a consumer's imports when its labels change, and nobody else's", () => {
    const model = buildModel(registry());
    const r = applyChange(model, { kind: 'cluster', name: 'a', resource: cluster('a', { labels: { gpu: 'true' } }) });
    assert.deepEqual(
      r.imports.map((d) => [d.consumer, d.key]),
      [['a', 'inference/gpu-only']],
    );
    assert.deepEqual(r.services, []);
  });

  it('asks for a resync when the network graph changes, and then reaches across the new link', () => {
    const model = buildModel(registry());
    assert.deepEqual(importFor(model, 'd', 'inference/one')?.clusters, []);
    const r = applyChange(model, { kind: 'networks', networks: [network('net-a', ['net-b']), network('net-b')] });
    assert.equal(r.resync, true);
    assert.deepEqual(importFor(model, 'd', 'inference/one')?.clusters, ['a', 'b']);
  });

  it('ends where a fresh build of the same registry ends, after any sequence of changes', () => {
    const model = buildModel(registry(), { now: T0 });
    const final = registry();
    const finalExports = final.exports as Map<string, Map<string, ExportState>>;
    const changes = [
      { kind: 'export', cluster: 'c', namespace: 'inference', name: 'one', state: exp({ name: 'one', at: at(2), type: 'Headless', endpoints: ['10.0.2.1'] }) },
      { kind: 'export', cluster: 'b', namespace: 'inference', name: 'two', state: exp({ name: 'two', at: at(3), exportTo: { matchLabels: { gpu: 'true' } } }) },
      { kind: 'export', cluster: 'a', namespace: 'inference', name: 'two', state: undefined },
      { kind: 'vip', namespace: 'inference', name: 'one', vip: '10.96.0.7' },
      { kind: 'cluster', name: 'b', resource: cluster('b', { available: false }) },
    ] as const;
    for (const c of changes) applyChanges(model, [c], { now: T0 });
    finalExports.set('c', new Map([['inference/one', changes[0].state]]));
    finalExports.get('b')?.set('inference/two', changes[1].state);
    finalExports.get('a')?.delete('inference/two');
    const fresh = buildModel(
      {
        ...final,
        vips: new Map([['inference/one', '10.96.0.7']]),
        clusters: [cluster('a'), cluster('b', { available: false }), cluster('c', { labels: { gpu: 'true' } }), cluster('d', { network: 'net-b' })],
      },
      { now: T0 },
    );
    for (const c of ['a', 'b', 'c', 'd']) {
      assert.deepEqual(importsFor(model, c), importsFor(fresh, c), c);
      assert.deepEqual(exportStatusFor(model, c), exportStatusFor(fresh, c), c);
    }
  });

  it('a VIP the model already has moves nothing (every replica hears every assignment from etcd); one that differs does', () => {
    const model = buildModel({ ...registry(), vips: new Map([['inference/one', '10.96.0.7']]) });
    const same = applyChange(model, { kind: 'vip', namespace: 'inference', name: 'one', vip: '10.96.0.7' });
    assert.deepEqual([same.changed, same.imports.length, same.services.length], [false, 0, 0]);
    const moved = applyChange(model, { kind: 'vip', namespace: 'inference', name: 'one', vip: '10.96.0.8' });
    assert.equal(moved.changed, true);
    assert.ok(moved.imports.length > 0);
    assert.ok(moved.imports.every((d) => d.next?.ips.includes('10.96.0.8')));
  });

  it('coalesces a burst: a service changed many times in one batch is re-merged and sent once', () => {
    const model = buildModel(registry());
    const burst = [1, 2, 3, 4].map((n) => ({
      kind: 'export' as const,
      cluster: 'a',
      namespace: 'inference',
      name: 'one',
      state: exp({ name: 'one', endpoints: Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`) }),
    }));
    const r = applyChanges(model, burst);
    assert.deepEqual(r.imports.map((d) => d.consumer).sort(), ['a', 'b', 'c']);
    assert.ok(r.imports.every((d) => d.next?.endpoints.filter((e) => e.cluster === 'a').length === 4));
    // Each exporter sees itself first.
    assert.deepEqual(r.imports.map((d) => [d.consumer, d.next?.clusters]).sort(), [
      ['a', ['a', 'b']],
      ['b', ['b', 'a']],
      ['c', ['a', 'b']],
    ]);
  });

  it('builds imports whose JSON is already canonical, optional fields included', () => {
    // Exported labels and annotations in the order an agent happened to send them.
    const state = {
      ...exp({ ports: [{ appProtocol: 'http', name: 'web', port: 80, protocol: 'TCP' }] }),
      exportedLabels: { zeta: '1', alpha: '2' },
      exportedAnnotations: { 'z.example/b': 'x', 'a.example/a': 'y' },
    };
    const model = buildModel(
      input({
        clusters: [cluster('a')],
        exports: [
          [
            'a',
            { ...state, endpoints: [{ zone: 'z', nodeName: 'n', hostname: 'h', terminating: false, serving: true, ready: true, addresses: ['10.0.0.1'] }] },
          ],
        ],
      }),
    );
    const imp = importFor(model, 'a', 'inference/llm');
    assert.deepEqual(imp?.labels, { alpha: '2', zeta: '1' });
    assert.equal(JSON.stringify(imp), canonicalJson(imp));
    // The exporter's node name stays with it: no importer writes it (cluster-agent/imports.ts).
    assert.deepEqual(imp.endpoints, [{ addresses: ['10.0.0.1'], cluster: 'a', hostname: 'h', ready: true, serving: true, terminating: false, zone: 'z' }]);
  });

  it('builds imports that say nothing their objects leave out: an agent reads each back from them', () => {
    // Node names and labels, the exporter's own endpoint ports, exported labels and annotations, a
    // cluster that exports no endpoint: every field a consumer's objects could lose.
    const withNodes = (e: ExportState): ExportState => ({
      ...e,
      endpoints: e.endpoints.map((ep) => ({ ...ep, nodeName: 'gpu-node-1', labels: { 'nvidia.com/gpu.product': 'H100' }, hostname: 'llm-0' })),
    });
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b', { region: 'eu-west-1' }), cluster('c')],
        exports: [
          [
            'a',
            withNodes(
              exp({
                endpoints: ['10.0.0.1', '10.0.0.2'],
                extra: {
                  endpointPorts: [{ name: 'http', port: 8080, protocol: 'TCP' }],
                  exportedLabels: { team: 'ml' },
                  exportedAnnotations: { owner: 'ml-platform' },
                },
              }),
            ),
          ],
          ['b', withNodes(exp({ endpoints: ['10.0.1.1'] }))],
          ['c', exp({ endpoints: [] })],
        ],
        vips: { 'inference/llm': '10.200.0.7' },
      }),
    );
    const imp = importFor(model, 'a', 'inference/llm');
    assert.ok(imp !== undefined);
    assert.deepEqual(imp.clusters, ['a', 'c', 'b'], 'the cluster without endpoints is included');
    const d = desiredImport(imp);
    const back = recoverImport({ ...d.serviceImport, status: d.serviceImportStatus['status'] }, d.endpointSlices);
    assert.ok(back !== undefined);
    assert.equal(importDigest(back), importDigest(imp));
  });

  it('warms a takeover’s snapshots: each view class’s digest once, again only for a service that changed', () => {
    const model = buildModel(
      input({
        clusters: [cluster('a'), cluster('b', { region: 'eu-west-1' }), cluster('c', { provider: 'gcp' })],
        exports: [
          ['a', exp({ endpoints: ['10.0.0.1'] })],
          ['b', exp({ name: 'other', endpoints: ['10.0.1.1'] })],
        ],
      }),
    );
    const consumers = ['a', 'b', 'c'];
    const warmAll = (): number => consumers.reduce((n, c) => n + warmSnapshot(model, c), 0);
    const first = warmAll();
    assert.ok(first > 0);
    assert.equal(warmAll(), 0, 'nothing left to compute');
    applyChange(model, { kind: 'export', cluster: 'a', namespace: 'inference', name: 'llm', state: exp({ endpoints: ['10.0.0.1', '10.0.0.2'] }) });
    const again = warmAll();
    assert.ok(again > 0 && again < first, `only the changed service’s classes: ${again} of ${first}`);
    // What it warmed is what a snapshot keeps: everything an agent holds as the model has it.
    for (const c of consumers) {
      const held = new Map(importsFor(model, c).map((i) => [`${i.namespace}/${i.name}`, importDigest(i)]));
      assert.deepEqual(snapshotFor(model, c, held).upserts, [], `${c} holds everything as it is`);
    }
  });

  it('compares imports by content, whatever the key order', () => {
    const a = importFor(buildModel(registry()), 'a', 'inference/one');
    assert.ok(a !== undefined);
    const { endpoints, ...rest } = a;
    const reordered = JSON.parse(JSON.stringify({ endpoints, ...rest })) as ImportState;
    assert.ok(jsonEqual(a, reordered));
    assert.ok(jsonEqual(a, { ...a, vip: undefined }), 'an undefined field counts as absent');
    assert.ok(!jsonEqual(a, { ...a, clusters: ['b', 'a'] }));
    assert.ok(!jsonEqual(undefined, a));
    assert.ok(!jsonEqual(a, { ...a, ports: [...a.ports, { port: 1, protocol: 'TCP' }] }));
    assert.ok(jsonEqual(undefined, undefined));
  });

  it('sends nothing for a change that leaves every import equal in content, however the export was written', () => {
    const model = buildModel(registry());
    const state = exp({ name: 'one', endpoints: ['10.0.0.1'] });
    applyChange(model, { kind: 'export', cluster: 'a', namespace: 'inference', name: 'one', state });
    // The same export, its keys in another order and re-parsed: no import delta.
    const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(state).reverse()))) as ExportState;
    const r = applyChange(model, { kind: 'export', cluster: 'a', namespace: 'inference', name: 'one', state: reordered });
    assert.deepEqual(r.imports, []);
    assert.deepEqual(r.services, []);
  });
});

// ---- a False this hub did not observe (issue 13 §1) -----------------------------------------

describe('availability a hub that starts may act on (trustedAvailability)', () => {
  const started = Date.parse(T0) + 60 * 60_000;
  const ttl = 5000;
  /** Cluster b stored Available=False, turned at `turnedAt`. */
  const down = (turnedAt: string): ClusterResource => {
    const c = cluster('b', { available: false });
    return { ...c, status: { conditions: (c.status?.conditions ?? []).map((x) => ({ ...x, lastTransitionTime: turnedAt })) } };
  };
  const cases: { name: string; cluster: ClusterResource; now: number; held?: boolean; available: string | undefined; trustAt: number | undefined }[] = [
    {
      name: 'past the grace while liveness cannot judge silence (bus down, mass silence): still Unknown, looked at again in TTL/5',
      cluster: down(T0),
      now: started + ttl + 10,
      held: true,
      available: 'Unknown',
      trustAt: started + ttl + 10 + 1000,
    },
    {
      name: 'a False this hub observed is trusted even while liveness holds expiries',
      cluster: down(new Date(started + 500).toISOString()),
      now: started + ttl + 10,
      held: true,
      available: 'False',
      trustAt: undefined,
    },
    {
      name: 'a False stored before this hub started counts as Unknown until the hub has listened a TTL',
      cluster: down(T0),
      now: started + 1000,
      available: 'Unknown',
      trustAt: started + ttl,
    },
    { name: 'once the hub has listened a TTL, the stored False is trusted', cluster: down(T0), now: started + ttl, available: 'False', trustAt: undefined },
    {
      name: 'a False that turned after this hub started (its own liveness, or another replica) is trusted at once',
      cluster: down(new Date(started + 500).toISOString()),
      now: started + 1000,
      available: 'False',
      trustAt: undefined,
    },
    { name: 'an unreadable transition time is treated as old', cluster: down('not a time'), now: started + 1000, available: 'Unknown', trustAt: started + ttl },
    { name: 'an available cluster is left as it is', cluster: cluster('b'), now: started + 1000, available: 'True', trustAt: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = trustedAvailability(c.cluster, { hubStartedAt: started, now: c.now, graceMs: ttl, held: c.held ?? false });
      assert.equal(verdict.cluster.status?.conditions?.find((x) => x.type === 'Available')?.status, c.available);
      assert.equal(verdict.trustAt, c.trustAt);
    });
  }

  it("the model built at a hub's start keeps the endpoints of a cluster an earlier hub left Available=False, and withdraws them once that is trusted", () => {
    const seen = (now: number): ClusterResource => trustedAvailability(down(T0), { hubStartedAt: started, now, graceMs: ttl }).cluster;
    const model = buildModel(input({ clusters: [cluster('a'), seen(started)], exports: [['b', exp({ endpoints: ['10.0.0.9'] })]] }), { now: at(60) });
    assert.deepEqual(addrs(importFor(model, 'a', 'inference/llm')), ['b:10.0.0.9'], "not withdrawn on an earlier hub's word");
    applyChange(model, { kind: 'cluster', name: 'b', resource: seen(started + ttl) }, { now: at(61) });
    assert.deepEqual(addrs(importFor(model, 'a', 'inference/llm')), [], 'withdrawn once the hub has listened a TTL and still holds False');
  });
});

describe("an exporter's unchanged endpoints are shared between the imports built before and after a change", () => {
  it('reuses the endpoint objects that did not change, in place or shifted, and builds new ones for what changed', () => {
    const model = buildModel(input({ clusters: [cluster('a'), cluster('b')], exports: [['a', exp({ endpoints: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] })]] }));
    const before = importFor(model, 'b', 'inference/llm');
    // 10.0.0.1 goes away (the rest shift), 10.0.0.3 stops being ready, 10.0.0.4 is new.
    const next = exp({ endpoints: ['10.0.0.2', '10.0.0.3', '10.0.0.4'] });
    const flipped = { ...next, endpoints: next.endpoints.map((e) => (e.addresses[0] === '10.0.0.3' ? { ...e, ready: false } : e)) };
    const result = applyChange(model, { kind: 'export', cluster: 'a', namespace: 'inference', name: 'llm', state: flipped });
    const after = importFor(model, 'b', 'inference/llm');
    assert.deepEqual(result.imports.find((d) => d.consumer === 'b')?.next, after);
    assert.deepEqual(addrs(after), ['a:10.0.0.2', 'a:10.0.0.3', 'a:10.0.0.4']);
    assert.equal(after?.endpoints[0], before?.endpoints[1], 'the unchanged endpoint is the same object');
    assert.notEqual(after?.endpoints[1], before?.endpoints[2], 'the changed endpoint is a new object');
    assert.equal(after?.endpoints[1]?.ready, false);
    // Whatever was shared, the import is what a fresh build of the same exports gives.
    const fresh = buildModel(input({ clusters: [cluster('a'), cluster('b')], exports: [['a', flipped]] }));
    assert.deepEqual(after, importFor(fresh, 'b', 'inference/llm'));
  });
});
