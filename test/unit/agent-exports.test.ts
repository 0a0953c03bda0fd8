// Export side of the agent, pure: ServiceExport + Service + EndpointSlices (+ node labels) →
// the ExportState reported to the hub, or the local reason it cannot be exported.
import assert from 'node:assert/strict';
import { exportStateSchema } from '../../controlplane/api/messages.ts';
import { ExportReason, MAX_ENDPOINTS_PER_EXPORT, computeExport, exportProblem, parseExportTo, type ExportInput } from '../../cluster-agent/exports.ts';
import type { EndpointObject, EndpointSliceObject, ServiceExportObject, ServiceObject } from '../../cluster-agent/objects.ts';

const NS = 'inference';

function serviceExport(name: string, annotations?: Record<string, string>): ServiceExportObject {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: { name, namespace: NS, creationTimestamp: '2025-03-01T10:00:00Z', ...(annotations ? { annotations } : {}) },
  };
}

function service(name: string, spec: ServiceObject['spec'] = {}): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 8000, protocol: 'TCP', targetPort: 8080 }], ...spec },
  };
}

function slice(
  name: string,
  service: string,
  endpoints: EndpointObject[],
  extra: { labels?: Record<string, string>; addressType?: string } = {},
): EndpointSliceObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': service, ...extra.labels } },
    addressType: extra.addressType ?? 'IPv4',
    endpoints,
  };
}

function compute(input: Partial<ExportInput> & { serviceExport: ServiceExportObject }) {
  return computeExport({ service: undefined, endpointSlices: [], ...input });
}

describe('agent exports: ServiceExport → ExportState (pure)', () => {
  it('reports the endpoint (target) ports from the EndpointSlices, which differ from the Service ports', () => {
    const withPorts = {
      ...slice('llm-abc', 'llm', [{ addresses: ['10.1.0.5'], conditions: { ready: true } }]),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    const r = compute({ serviceExport: serviceExport('llm'), service: service('llm'), endpointSlices: [withPorts] });
    assert.ok(r.ok);
    assert.deepEqual(r.state.ports, [{ name: 'http', port: 8000, protocol: 'TCP' }]);
    assert.deepEqual(r.state.endpointPorts, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.ok(exportStateSchema.safeParse(r.state).success);
  });

  it('reports a ClusterSetIP service with ports, affinity, exportedAt and endpoints, valid by the message schema', () => {
    const r = compute({
      serviceExport: serviceExport('llm'),
      service: service('llm', { sessionAffinity: 'ClientIP' }),
      endpointSlices: [slice('llm-abc', 'llm', [{ addresses: ['10.1.0.5'], conditions: { ready: true }, nodeName: 'n1', zone: 'a', hostname: 'p0' }])],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.state, {
      namespace: NS,
      name: 'llm',
      exportedAt: '2025-03-01T10:00:00.000Z',
      type: 'ClusterSetIP',
      ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
      sessionAffinity: 'ClientIP',
      endpoints: [{ addresses: ['10.1.0.5'], ready: true, serving: true, terminating: false, hostname: 'p0', nodeName: 'n1', zone: 'a' }],
    });
    assert.ok(exportStateSchema.safeParse(r.state).success);
  });

  const types: { name: string; spec: ServiceObject['spec']; type: string }[] = [
    { name: 'clusterIP None is Headless', spec: { clusterIP: 'None' }, type: 'Headless' },
    { name: 'a cluster IP is ClusterSetIP', spec: { clusterIP: '10.96.0.1' }, type: 'ClusterSetIP' },
    { name: 'no cluster IP yet is ClusterSetIP', spec: { clusterIP: undefined }, type: 'ClusterSetIP' },
  ];
  for (const t of types) {
    it(`type: ${t.name}`, () => {
      const r = compute({ serviceExport: serviceExport('s'), service: service('s', t.spec) });
      assert.ok(r.ok);
      assert.equal(r.state.type, t.type);
    });
  }

  const conditions: { name: string; given: EndpointObject['conditions']; want: [boolean, boolean, boolean] }[] = [
    { name: 'unset conditions default to ready and serving (Kubernetes defaults)', given: undefined, want: [true, true, false] },
    { name: 'ready null is ready', given: { ready: null }, want: [true, true, false] },
    { name: 'not ready, serving unset follows ready', given: { ready: false }, want: [false, false, false] },
    { name: 'terminating but still serving', given: { ready: false, serving: true, terminating: true }, want: [false, true, true] },
  ];
  for (const c of conditions) {
    it(`endpoint conditions: ${c.name}`, () => {
      const r = compute({
        serviceExport: serviceExport('s'),
        service: service('s'),
        endpointSlices: [slice('s-1', 's', [{ addresses: ['10.0.0.1'], conditions: c.given }])],
      });
      assert.ok(r.ok);
      const ep = r.state.endpoints[0];
      assert.deepEqual([ep?.ready, ep?.serving, ep?.terminating], c.want);
    });
  }

  it("uses only the service's own slices: not other services', not ours (managed-by the agent), not FQDN ones", () => {
    const r = compute({
      serviceExport: serviceExport('s'),
      service: service('s'),
      endpointSlices: [
        slice('s-1', 's', [{ addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.1'] }]),
        slice('s-2', 's', [{ addresses: ['10.0.0.1'] }, { addresses: ['fd00::1'] }]),
        slice('other', 'other', [{ addresses: ['10.9.9.9'] }]),
        slice('ours', 's', [{ addresses: ['10.8.8.8'] }], { labels: { 'endpointslice.kubernetes.io/managed-by': 'agent.causeway.dev' } }),
        slice('fqdn', 's', [{ addresses: ['example.com'] }], { addressType: 'FQDN' }),
      ],
    });
    assert.ok(r.ok);
    // Deduplicated (an endpoint may sit in two slices during a rollout) and in a stable order.
    assert.deepEqual(
      r.state.endpoints.map((e) => e.addresses[0]),
      ['10.0.0.1', '10.0.0.2', 'fd00::1'],
    );
  });

  it('adds allow-listed node labels (GPU class) and takes the zone from the node when the slice has none', () => {
    const nodes: Record<string, Record<string, string>> = {
      gpu1: { 'nvidia.com/gpu.product': 'H100', 'topology.kubernetes.io/zone': 'onprem-a', 'kubernetes.io/hostname': 'gpu1', secret: 'x' },
    };
    const r = compute({
      serviceExport: serviceExport('s'),
      service: service('s'),
      endpointSlices: [
        slice('s-1', 's', [
          { addresses: ['10.0.0.1'], nodeName: 'gpu1' },
          { addresses: ['10.0.0.2'], nodeName: 'unknown' },
        ]),
      ],
      nodeLabels: (n) => nodes[n],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.state.endpoints[0]?.labels, { 'nvidia.com/gpu.product': 'H100', 'topology.kubernetes.io/zone': 'onprem-a' });
    assert.equal(r.state.endpoints.at(0)?.zone, 'onprem-a');
    assert.equal(r.state.endpoints[1]?.labels, undefined);
  });

  it('caps endpoints at the schema limit, keeping ready ones', () => {
    const eps: EndpointObject[] = [];
    for (let i = 0; i < MAX_ENDPOINTS_PER_EXPORT + 10; i++)
      eps.push({ addresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: i >= 10 } });
    const r = compute({ serviceExport: serviceExport('s'), service: service('s'), endpointSlices: [slice('s-1', 's', eps)] });
    assert.ok(r.ok);
    assert.equal(r.state.endpoints.length, MAX_ENDPOINTS_PER_EXPORT);
    assert.equal(r.truncatedEndpoints, 10);
    assert.ok(r.state.endpoints.every((e) => e.ready));
  });

  const problems: { name: string; se: ServiceExportObject; svc: ServiceObject | undefined; reason: string }[] = [
    { name: 'no Service', se: serviceExport('s'), svc: undefined, reason: ExportReason.ServiceNotFound },
    { name: 'ExternalName Service', se: serviceExport('s'), svc: service('s', { type: 'ExternalName' }), reason: ExportReason.UnsupportedServiceType },
    { name: 'malformed export-to', se: serviceExport('s', { 'causeway.dev/export-to': 'gpu' }), svc: service('s'), reason: ExportReason.InvalidExportTo },
    { name: 'empty export-to', se: serviceExport('s', { 'causeway.dev/export-to': ' ' }), svc: service('s'), reason: ExportReason.InvalidExportTo },
  ];
  for (const p of problems) {
    it(`does not export, with Valid=False ${p.reason}: ${p.name}`, () => {
      const r = compute({ serviceExport: p.se, service: p.svc });
      assert.equal(r.ok, false);
      assert.equal(r.problem.reason, p.reason);
      assert.equal(exportProblem(p.se, p.svc)?.reason, p.reason);
    });
  }

  const selectors: { value: string | undefined; want: Record<string, string> | undefined | 'invalid' }[] = [
    { value: undefined, want: undefined },
    { value: 'gpu=true', want: { gpu: 'true' } },
    { value: ' gpu=true , env=prod ', want: { gpu: 'true', env: 'prod' } },
    { value: 'example.com/tier=gold', want: { 'example.com/tier': 'gold' } },
    { value: 'gpu=', want: { gpu: '' } },
    { value: '=x', want: 'invalid' },
    { value: 'a=b=c', want: 'invalid' },
    { value: 'gpu=true,gpu=false', want: 'invalid' },
    { value: 'bad key=1', want: 'invalid' },
  ];
  for (const s of selectors) {
    it(`parses the export-to annotation ${JSON.stringify(s.value)}`, () => {
      const r = parseExportTo(s.value);
      if (s.want === 'invalid') {
        assert.equal(r.ok, false);
        assert.match(r.message, /expected comma-separated key=value pairs/);
      } else {
        assert.deepEqual(r, { ok: true, selector: s.want });
      }
    });
  }

  it('puts a valid export-to into the ExportState as matchLabels', () => {
    const r = compute({ serviceExport: serviceExport('s', { 'causeway.dev/export-to': 'gpu=true' }), service: service('s') });
    assert.ok(r.ok);
    assert.deepEqual(r.state.exportTo, { matchLabels: { gpu: 'true' } });
  });
});
