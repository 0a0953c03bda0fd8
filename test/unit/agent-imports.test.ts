// Import side of the agent, pure: ImportState → ServiceImport + EndpointSlices (names, labels,
// splitting at 100, families, zone hints), and the conditions written on our ServiceExports.
import assert from 'node:assert/strict';
import { MAX_ENDPOINTS_PER_SLICE, type ImportState } from '../../controlplane/api/messages.ts';
import { ExportReason } from '../../cluster-agent/exports.ts';
import { MAX_OBJECT_NAME, desiredImport, endpointSliceName, exportConditions, isSubset } from '../../cluster-agent/imports.ts';
import type { K8sCondition } from '../../cluster-agent/objects.ts';

type ImportEndpoint = ImportState['endpoints'][number];

function endpoints(cluster: string, n: number, base = 0, zone?: string): ImportEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    cluster,
    addresses: [`10.${base}.${Math.floor(i / 256)}.${i % 256}`],
    ready: true,
    serving: true,
    terminating: false,
    ...(zone !== undefined ? { zone } : {}),
  }));
}

function state(overrides: Partial<ImportState> = {}): ImportState {
  return {
    namespace: 'inference',
    name: 'llm-serving',
    type: 'ClusterSetIP',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    ips: ['10.200.0.1'],
    sessionAffinity: 'None',
    clusters: ['onprem'],
    endpoints: endpoints('onprem', 3),
    ...overrides,
  };
}

const labelsOf = (o: { metadata: { labels?: Record<string, string> | undefined } }): Record<string, string> => o.metadata.labels ?? {};

describe('agent imports: ImportState → ServiceImport and EndpointSlices (pure)', () => {
  it('builds the ServiceImport spec and status, owned and labelled with the service name', () => {
    const d = desiredImport(state({ clusters: ['onprem', 'aws'] }));
    assert.deepEqual(d.serviceImport, {
      apiVersion: 'multicluster.x-k8s.io/v1alpha1',
      kind: 'ServiceImport',
      metadata: {
        name: 'llm-serving',
        namespace: 'inference',
        labels: { 'causeway.dev/owned-by': 'agent', 'multicluster.kubernetes.io/service-name': 'llm-serving' },
      },
      spec: { type: 'ClusterSetIP', ports: [{ name: 'http', port: 8000, protocol: 'TCP' }], ips: ['10.200.0.1'], sessionAffinity: 'None' },
    });
    assert.deepEqual(d.serviceImportStatus.status, { clusters: [{ cluster: 'onprem' }, { cluster: 'aws' }] });
  });

  it('labels every EndpointSlice with service name, source cluster, managed-by and ownership', () => {
    const d = desiredImport(state());
    assert.equal(d.endpointSlices.length, 1);
    assert.deepEqual(labelsOf(d.endpointSlices[0] ?? { metadata: {} }), {
      'causeway.dev/owned-by': 'agent',
      'multicluster.kubernetes.io/service-name': 'llm-serving',
      'multicluster.kubernetes.io/source-cluster': 'onprem',
      'endpointslice.kubernetes.io/managed-by': 'agent.causeway.dev',
    });
    // Never the local Service's label: kube-proxy would mix the import into a local Service.
    assert.equal(labelsOf(d.endpointSlices[0] ?? { metadata: {} })['kubernetes.io/service-name'], undefined);
  });

  const splits: { n: number; slices: number[] }[] = [
    { n: 0, slices: [] },
    { n: 1, slices: [1] },
    { n: MAX_ENDPOINTS_PER_SLICE, slices: [100] },
    { n: MAX_ENDPOINTS_PER_SLICE + 1, slices: [100, 1] },
    { n: 250, slices: [100, 100, 50] },
  ];
  for (const s of splits) {
    it(`splits ${s.n} endpoints of one cluster into slices of at most ${MAX_ENDPOINTS_PER_SLICE}: ${JSON.stringify(s.slices)}`, () => {
      const d = desiredImport(state({ endpoints: endpoints('onprem', s.n) }));
      assert.deepEqual(
        d.endpointSlices.map((x) => (x.endpoints as unknown[]).length),
        s.slices,
      );
      assert.deepEqual(
        d.endpointSlices.map((x) => x.metadata.name),
        s.slices.map((_, i) => `llm-serving-onprem-ipv4-${i}`),
      );
    });
  }

  it("gives each source cluster's EndpointSlices that cluster's endpoint ports, else the service ports", () => {
    const d = desiredImport(
      state({
        endpoints: [...endpoints('a', 1), ...endpoints('b', 1, 10)],
        clusterPorts: [{ cluster: 'a', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
      }),
    );
    const portsOf = (cluster: string): unknown => d.endpointSlices.find((x) => labelsOf(x)['multicluster.kubernetes.io/source-cluster'] === cluster)?.ports;
    assert.deepEqual(portsOf('a'), [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(
      portsOf('b'),
      state().ports.map((p) => ({ ...p })),
    );
  });

  it("groups per source cluster and address family, keeping the hub's nearest-first order", () => {
    const eps: ImportEndpoint[] = [
      ...endpoints('near', 2, 1),
      { cluster: 'far', addresses: ['fd00::1'], ready: true, serving: true, terminating: false },
      ...endpoints('far', 1, 2),
      { cluster: 'near', addresses: ['10.1.9.9', 'fd00::9'], ready: false, serving: false, terminating: true },
    ];
    const d = desiredImport(state({ endpoints: eps }));
    assert.deepEqual(
      d.endpointSlices.map((x) => [x.metadata.name, x.addressType, (x.endpoints as { addresses: string[] }[]).map((e) => e.addresses.join('|'))]),
      [
        ['llm-serving-near-ipv4-0', 'IPv4', ['10.1.0.0', '10.1.0.1', '10.1.9.9']],
        ['llm-serving-far-ipv6-0', 'IPv6', ['fd00::1']],
        ['llm-serving-far-ipv4-0', 'IPv4', ['10.2.0.0']],
        ['llm-serving-near-ipv6-0', 'IPv6', ['fd00::9']],
      ],
    );
  });

  it('gives zone hints and carries conditions and hostname', () => {
    const d = desiredImport(
      state({
        endpoints: [{ cluster: 'onprem', addresses: ['10.0.0.1'], ready: false, serving: true, terminating: true, zone: 'dc1-a', hostname: 'llm-0' }],
      }),
    );
    assert.deepEqual(d.endpointSlices[0]?.endpoints, [
      {
        addresses: ['10.0.0.1'],
        conditions: { ready: false, serving: true, terminating: true },
        hostname: 'llm-0',
        zone: 'dc1-a',
        hints: { forZones: [{ name: 'dc1-a' }] },
      },
    ]);
    assert.deepEqual(d.endpointSlices.at(0)?.ports, [{ name: 'http', port: 8000, protocol: 'TCP' }]);
  });

  it('Headless imports have no IPs', () => {
    const d = desiredImport(state({ type: 'Headless', ips: [] }));
    assert.deepEqual((d.serviceImport.spec as { type: string; ips: string[] }).ips, []);
    assert.equal((d.serviceImport.spec as { type: string }).type, 'Headless');
  });

  it('names are deterministic: the same state gives identical objects', () => {
    const a = desiredImport(state({ endpoints: endpoints('x', 150) }));
    const b = desiredImport(state({ endpoints: endpoints('x', 150) }));
    assert.deepEqual(a, b);
  });

  const names: { service: string; cluster: string }[] = [
    { service: 's', cluster: 'c' },
    { service: 'a'.repeat(40), cluster: 'b'.repeat(20) },
    { service: 'a'.repeat(63), cluster: 'b'.repeat(63) },
  ];
  for (const n of names) {
    it(`keeps slice names at most ${MAX_OBJECT_NAME} characters, valid and distinct (${n.service.length}+${n.cluster.length})`, () => {
      const all = [0, 1, 2].flatMap((i) => (['IPv4', 'IPv6'] as const).map((f) => endpointSliceName(n.service, n.cluster, f, i)));
      for (const name of all) {
        assert.ok(name.length <= MAX_OBJECT_NAME, name);
        assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      }
      assert.equal(new Set(all).size, all.length);
      assert.equal(endpointSliceName(n.service, n.cluster, 'IPv4', 0), all[0]);
    });
  }
  it('long names of different services stay different', () => {
    assert.notEqual(endpointSliceName(`${'a'.repeat(60)}x`, 'c'.repeat(30), 'IPv4', 0), endpointSliceName(`${'a'.repeat(60)}y`, 'c'.repeat(30), 'IPv4', 0));
  });
});

describe('agent imports: ServiceExport conditions (pure)', () => {
  const hub: K8sCondition[] = [
    { type: 'Ready', status: 'True', reason: 'Exported', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' },
    { type: 'Conflict', status: 'True', reason: 'PortConflict', message: 'oldest wins', lastTransitionTime: '2025-01-01T00:00:00Z' },
  ];
  it("passes the hub's conditions through, sorted by type", () => {
    assert.deepEqual(
      exportConditions(hub, undefined, undefined, 'now').map((c) => c.type),
      ['Conflict', 'Ready'],
    );
  });
  it("a local problem wins over the hub's stale word, as Valid=False with its reason", () => {
    const got = exportConditions(hub, { reason: ExportReason.ServiceNotFound, message: 'no svc' }, undefined, '2025-02-02T00:00:00Z');
    assert.deepEqual(got, [{ type: 'Valid', status: 'False', reason: 'ServiceNotFound', message: 'no svc', lastTransitionTime: '2025-02-02T00:00:00Z' }]);
  });
  it('keeps lastTransitionTime while the local status holds', () => {
    const prev: K8sCondition[] = [{ type: 'Valid', status: 'False', reason: 'ServiceNotFound', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }];
    const got = exportConditions(undefined, { reason: ExportReason.InvalidExportTo, message: 'bad' }, prev, '2025-03-03T00:00:00Z');
    assert.equal(got[0]?.lastTransitionTime, '2025-01-01T00:00:00Z');
  });
  it('isSubset compares what we set against a live object with extra fields', () => {
    assert.ok(isSubset({ a: 1, b: [{ c: 2 }] }, { a: 1, b: [{ c: 2, d: 3 }], e: 4 }));
    assert.ok(!isSubset({ b: [{ c: 2 }] }, { b: [{ c: 2 }, { c: 3 }] }));
    assert.ok(!isSubset({ a: 1 }, { a: 2 }));
  });
});
