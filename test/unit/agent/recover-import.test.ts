// Reading an import back from the objects the agent wrote for it (recoverImport): what a restarted
// agent names in its first sync. The property: for every import the hub can send, whose endpoints
// are each of one address family with a cluster's IPv4 ones first, the objects (as an API server
// hands them back) give the same import, to the digest. Everything else gives either undefined or
// an import with another digest, and never throws.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importDigest } from '../../../controlplane/api/import-digest.ts';
import type { ImportState, ServicePort } from '../../../controlplane/api/messages.ts';
import { desiredImport, recoverImport } from '../../../cluster-agent/imports.ts';
import type { KubeObject } from '../../../cluster-agent/objects.ts';

type ImportEndpoint = ImportState['endpoints'][number];

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);
const optional = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
const compact = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const port: fc.Arbitrary<ServicePort> = fc
  .record({
    appProtocol: optional(fc.constantFrom('http', 'grpc', 'kubernetes.io/h2c')),
    name: optional(dnsLabel),
    port: fc.integer({ min: 1, max: 65_535 }),
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
  })
  .map(compact);

const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `10.7.${a}.${b}`);
const v6 = fc.integer({ min: 1, max: 0xffff }).map((n) => `fd00::${n.toString(16)}`);

function endpoint(addresses: fc.Arbitrary<string>): fc.Arbitrary<Omit<ImportEndpoint, 'cluster'>> {
  return fc
    .record({
      addresses: fc.array(addresses, { minLength: 1, maxLength: 2 }),
      hostname: optional(dnsLabel),
      ready: fc.boolean(),
      serving: fc.boolean(),
      terminating: fc.boolean(),
      zone: optional(fc.constantFrom('us-east-1a', 'fra1-b')),
    })
    .map(compact);
}

/** An exporting cluster as the hub includes it: its endpoints (IPv4 ones first) and its ports. */
const exporter = fc.record({
  v4: fc.oneof(fc.array(endpoint(v4), { maxLength: 4 }), fc.array(endpoint(v4), { minLength: 99, maxLength: 203 })),
  v6: fc.array(endpoint(v6), { maxLength: 3 }),
  ports: fc.array(port, { maxLength: 2 }),
});

/** An import the hub can send (services/views.ts buildImport's shape). */
const hubImport: fc.Arbitrary<ImportState> = fc
  .record({
    namespace: dnsLabel,
    name: dnsLabel,
    type: fc.constantFrom('ClusterSetIP' as const, 'Headless' as const),
    ports: fc.array(port, { maxLength: 3 }),
    sessionAffinity: fc.constantFrom('None' as const, 'ClientIP' as const),
    sessionAffinityConfig: optional(
      fc.oneof(
        fc.constant({}),
        fc.record({ clientIP: optional(fc.integer({ min: 1, max: 86_400 })).map((t) => (t === undefined ? {} : { timeoutSeconds: t })) }),
      ),
    ),
    internalTrafficPolicy: optional(fc.constantFrom('Cluster' as const, 'Local' as const)),
    trafficDistribution: optional(fc.constantFrom('PreferClose', 'PreferSameZone')),
    labels: optional(fc.dictionary(fc.constantFrom('team', 'tier', 'app.kubernetes.io/part-of'), dnsLabel, { minKeys: 1, maxKeys: 2 })),
    annotations: optional(fc.dictionary(fc.constantFrom('owner', 'example.com/runbook'), fc.string({ maxLength: 20 }), { minKeys: 1, maxKeys: 2 })),
    exporters: fc.uniqueArray(fc.tuple(dnsLabel, exporter), { maxLength: 3, selector: ([c]) => c }),
  })
  .map(({ exporters, ...s }) => {
    const endpoints: ImportEndpoint[] = [];
    const clusterPorts: { cluster: string; ports: ServicePort[] }[] = [];
    for (const [cluster, e] of exporters) {
      for (const ep of [...e.v4, ...e.v6]) endpoints.push({ ...ep, cluster });
      if (e.v4.length + e.v6.length > 0) clusterPorts.push({ cluster, ports: e.ports });
    }
    // Through JSON, as an agent decodes it (plain objects, no absent fields held as undefined).
    return JSON.parse(
      JSON.stringify({
        ...s,
        ips: s.type === 'ClusterSetIP' ? ['10.200.0.9'] : [],
        clusters: exporters.map(([c]) => c),
        endpoints,
        ...(clusterPorts.length > 0 ? { clusterPorts } : {}),
      }),
    ) as ImportState;
  });

/** The objects as a list from the API server gives them back: status merged in, server fields added. */
function written(state: ImportState): { serviceImport: KubeObject; slices: KubeObject[] } {
  const d = desiredImport(state);
  const served = (o: KubeObject, i: number): KubeObject => {
    const copy = structuredClone(o);
    return { ...copy, metadata: { ...copy.metadata, uid: `uid-${i}`, resourceVersion: String(100 + i), creationTimestamp: '2026-12-03T00:00:00Z' } };
  };
  const serviceImport = { ...served(d.serviceImport, 0), status: structuredClone(d.serviceImportStatus['status']) };
  // A list gives no order to rely on.
  return { serviceImport, slices: d.endpointSlices.map(served).reverse() };
}

/** A ClusterSetIP import of one endpoint from cluster a, as the hub sends it. */
function oneEndpoint(): ImportState {
  return {
    namespace: 'apps',
    name: 'web',
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    ips: ['10.200.0.1'],
    sessionAffinity: 'None',
    clusters: ['a'],
    endpoints: [{ addresses: ['10.0.0.1'], cluster: 'a', ready: true, serving: true, terminating: false }],
    clusterPorts: [{ cluster: 'a', ports: [{ port: 80, protocol: 'TCP' }] }],
  };
}

describe('agent: an import read back from its objects (recoverImport)', () => {
  it('gives every import the hub can send back, to the digest, from its objects as listed', () => {
    fc.assert(
      fc.property(hubImport, (state) => {
        const { serviceImport, slices } = written(state);
        const back = recoverImport(serviceImport, slices);
        assert.ok(back !== undefined);
        assert.equal(importDigest(back), importDigest(state));
        assert.deepEqual(back, state);
      }),
      { numRuns: 300, seed: 20261203 },
    );
  });

  it('reads back owned labels as not the import’s', () => {
    const state: ImportState = { ...oneEndpoint(), labels: { team: 'ml' } };
    const { serviceImport, slices } = written(state);
    assert.deepEqual(Object.keys(serviceImport.metadata.labels ?? {}).sort(), ['causeway.dev/owned-by', 'multicluster.kubernetes.io/service-name', 'team']);
    assert.deepEqual(recoverImport(serviceImport, slices)?.labels, { team: 'ml' });
  });

  it('gives another digest where the objects do not say all: a dual-stack endpoint, IPv6 endpoints before IPv4 ones', () => {
    const base: ImportState = {
      namespace: 'apps',
      name: 'web',
      type: 'Headless',
      ports: [],
      ips: [],
      sessionAffinity: 'None',
      clusters: ['a'],
      endpoints: [],
      clusterPorts: [{ cluster: 'a', ports: [] }],
    };
    const ep = (addresses: string[]): ImportEndpoint => ({ addresses, cluster: 'a', ready: true, serving: true, terminating: false });
    for (const endpoints of [[ep(['10.0.0.1', 'fd00::1'])], [ep(['fd00::1']), ep(['10.0.0.1'])]]) {
      const state = { ...base, endpoints };
      const { serviceImport, slices } = written(state);
      const back = recoverImport(serviceImport, slices);
      assert.ok(back !== undefined);
      assert.notEqual(importDigest(back), importDigest(state));
    }
  });

  it('gives nothing for objects that are not what the agent writes', () => {
    const state = oneEndpoint();
    const { serviceImport, slices } = written(state);
    const { status: _status, ...noStatus } = serviceImport;
    assert.equal(recoverImport(noStatus, slices), undefined, 'no status written yet');
    const stray = { ...structuredClone(slices[0] as KubeObject), metadata: { ...(slices[0] as KubeObject).metadata, name: 'web-hand-made' } };
    assert.equal(recoverImport(serviceImport, [...slices, stray]), undefined, 'a slice the import does not account for');
    const { namespace: _ns, ...noNamespace } = serviceImport.metadata;
    assert.equal(recoverImport({ ...serviceImport, metadata: noNamespace }, slices), undefined);
  });

  it('never throws on objects someone edited into any shape', () => {
    const state = oneEndpoint();
    const { serviceImport, slices } = written(state);
    const digest = importDigest(state);
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), fc.constantFrom('spec', 'status', 'ports', 'endpoints'), (a, b, c, field) => {
        const si = field === 'spec' || field === 'status' ? { ...serviceImport, [field]: a } : serviceImport;
        const edited = slices.map((s) => (field === 'ports' ? { ...s, ports: b } : field === 'endpoints' ? { ...s, endpoints: [c] } : s));
        const back = recoverImport(si, edited);
        // Whatever comes back digests (it is named in a sync) and is not the import it was.
        if (back !== undefined) assert.notEqual(importDigest(back), digest);
      }),
      { numRuns: 300, seed: 20261203 },
    );
  });
});
