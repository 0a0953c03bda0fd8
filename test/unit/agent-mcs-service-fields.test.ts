// The MCS service properties the agent carries both ways, pure (issue "Full MCS conformance" §1):
// a Service's sessionAffinityConfig, internalTrafficPolicy and trafficDistribution and a
// ServiceExport's spec.exportedLabels / exportedAnnotations go into the ExportState it reports;
// the ImportState the hub sends comes out as the ServiceImport's spec, labels and annotations.
import assert from 'node:assert/strict';
import { exportStateSchema, importStateSchema, type ImportState } from '../../controlplane/api/messages.ts';
import { ExportReason, computeExport, exportProblem } from '../../cluster-agent/exports.ts';
import { desiredImport } from '../../cluster-agent/imports.ts';
import type { ServiceExportObject, ServiceObject } from '../../cluster-agent/objects.ts';

const NS = 'inference';

function serviceExport(spec?: ServiceExportObject['spec']): ServiceExportObject {
  return {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: { name: 'llm', namespace: NS, creationTimestamp: '2025-03-01T10:00:00Z' },
    ...(spec !== undefined ? { spec } : {}),
  };
}

function service(spec: ServiceObject['spec'] = {}): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'llm', namespace: NS, labels: { app: 'llm' }, annotations: { 'svc-only': 'yes' } },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 8000, protocol: 'TCP' }], ...spec },
  };
}

function compute(se: ServiceExportObject, svc: ServiceObject) {
  const r = computeExport({ serviceExport: se, service: svc, endpointSlices: [] });
  assert.ok(r.ok, r.ok ? '' : r.problem.message);
  assert.ok(exportStateSchema.safeParse(r.state).success, 'valid by the message schema');
  return r.state;
}

describe('agent: MCS service properties, Service and ServiceExport → ExportState (pure)', () => {
  it('reports ClientIP affinity with its timeout, the internal traffic policy and the traffic distribution', () => {
    const state = compute(
      serviceExport(),
      service({
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } },
        internalTrafficPolicy: 'Local',
        trafficDistribution: 'PreferClose',
      }),
    );
    assert.equal(state.sessionAffinity, 'ClientIP');
    assert.deepEqual(state.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10 } });
    assert.equal(state.internalTrafficPolicy, 'Local');
    assert.equal(state.trafficDistribution, 'PreferClose');
  });

  const ignored: { name: string; spec: ServiceObject['spec'] }[] = [
    { name: 'a config without ClientIP affinity', spec: { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } } } },
    { name: 'a timeout out of range', spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86_401 } } } },
    { name: 'an unknown internal traffic policy', spec: { internalTrafficPolicy: 'Nearest' } },
    { name: 'an empty traffic distribution', spec: { trafficDistribution: '' } },
  ];
  for (const c of ignored) {
    it(`leaves out ${c.name}`, () => {
      const state = compute(serviceExport(), service(c.spec));
      assert.equal(state.sessionAffinityConfig, undefined);
      assert.equal(state.internalTrafficPolicy, undefined);
      assert.equal(state.trafficDistribution, undefined);
    });
  }

  it("reports the ServiceExport's exported labels and annotations, never the Service's own", () => {
    const state = compute(serviceExport({ exportedLabels: { 'dummy-label': 'true' }, exportedAnnotations: { 'dummy-annotation': 'true' } }), service());
    assert.deepEqual(state.exportedLabels, { 'dummy-label': 'true' });
    assert.deepEqual(state.exportedAnnotations, { 'dummy-annotation': 'true' });
    const plain = compute(serviceExport({ exportedLabels: {} }), service());
    assert.equal(plain.exportedLabels, undefined, 'an empty map is no map');
    assert.equal(plain.exportedAnnotations, undefined);
  });

  const invalid: { name: string; spec: ServiceExportObject['spec']; reason: string; says: RegExp }[] = [
    {
      name: 'a label the agent sets itself',
      spec: { exportedLabels: { 'causeway.dev/owned-by': 'me' } },
      reason: ExportReason.InvalidExportedLabels,
      says: /exportedLabels\["causeway.dev\/owned-by"\]: is set by the agent/,
    },
    {
      name: 'the MCS service-name label',
      spec: { exportedLabels: { 'multicluster.kubernetes.io/service-name': 'other' } },
      reason: ExportReason.InvalidExportedLabels,
      says: /service-name/,
    },
    { name: 'a label value with a space', spec: { exportedLabels: { tier: 'gold plated' } }, reason: ExportReason.InvalidExportedLabels, says: /tier/ },
    {
      name: 'an annotation key that is no qualified name',
      spec: { exportedAnnotations: { 'bad key': 'x' } },
      reason: ExportReason.InvalidExportedAnnotations,
      says: /bad key/,
    },
    {
      name: 'an annotation value over 4 KiB',
      spec: { exportedAnnotations: { big: 'x'.repeat(4097) } },
      reason: ExportReason.InvalidExportedAnnotations,
      says: /longer than 4096/,
    },
    {
      name: 'more than 64 labels',
      spec: { exportedLabels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'])) },
      reason: ExportReason.InvalidExportedLabels,
      says: /at most 64/,
    },
  ];
  for (const c of invalid) {
    it(`refuses to export ${c.name}, saying which entry and why (Valid=False)`, () => {
      const problem = exportProblem(serviceExport(c.spec), service());
      assert.equal(problem?.reason, c.reason);
      assert.match(problem.message, c.says);
      assert.equal(computeExport({ serviceExport: serviceExport(c.spec), service: service(), endpointSlices: [] }).ok, false);
    });
  }
});

function importState(overrides: Partial<ImportState> = {}): ImportState {
  return {
    namespace: NS,
    name: 'llm',
    type: 'ClusterSetIP',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    ips: ['10.200.0.1'],
    sessionAffinity: 'ClientIP',
    clusters: ['onprem'],
    endpoints: [],
    ...overrides,
  };
}

describe('agent: MCS service properties, ImportState → ServiceImport (pure)', () => {
  it('writes session affinity config, internal traffic policy and traffic distribution into the spec', () => {
    const s = importState({
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } },
      internalTrafficPolicy: 'Cluster',
      trafficDistribution: 'PreferClose',
    });
    assert.ok(importStateSchema.safeParse(s).success);
    assert.deepEqual(desiredImport(s).serviceImport.spec, {
      type: 'ClusterSetIP',
      ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
      ips: ['10.200.0.1'],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } },
      internalTrafficPolicy: 'Cluster',
      trafficDistribution: 'PreferClose',
    });
  });

  it('leaves the fields out when the hub sent none (an older hub)', () => {
    assert.deepEqual(Object.keys(desiredImport(importState()).serviceImport.spec as object), ['type', 'ports', 'ips', 'sessionAffinity']);
    assert.equal(desiredImport(importState()).serviceImport.metadata.annotations, undefined);
  });

  it('puts the exported labels and annotations on the ServiceImport; its own labels cannot be replaced', () => {
    const si = desiredImport(
      importState({
        labels: { tier: 'gold', 'causeway.dev/owned-by': 'someone', 'multicluster.kubernetes.io/service-name': 'other' },
        annotations: { 'example.com/owner': 'ml' },
      }),
    ).serviceImport;
    assert.deepEqual(si.metadata.labels, { tier: 'gold', 'causeway.dev/owned-by': 'agent', 'multicluster.kubernetes.io/service-name': 'llm' });
    assert.deepEqual(si.metadata.annotations, { 'example.com/owner': 'ml' });
  });
});
