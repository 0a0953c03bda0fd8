// The Kubernetes API double (a test double of kube-apiserver) serves the upstream MCS CRDs with
// their structural schemas, and defaults and checks Services the way the API server does for the
// fields the service exchange carries (session affinity config, internal traffic policy). Driven
// through the real @kubernetes/client-node; assertions read the double's resulting state.
import assert from 'node:assert/strict';
import { ApiException, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { onCleanup } from '../harness/cleanup.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeObject } from '../harness/kube-api-double.ts';

const mcs = { group: 'multicluster.x-k8s.io', version: 'v1alpha1' } as const;

async function refusal(call: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = JSON.parse(String(err.body)) as { reason?: string; message?: string };
    return { code: err.code, reason: body.reason ?? '', message: body.message ?? '' };
  }
  throw new Error('expected the double to refuse the call');
}

describe('Kubernetes API double (test double): MCS CRD schemas and Service defaults', function () {
  let double: KubeApiDouble;
  let custom: CustomObjectsApi;
  let objects: KubernetesObjectApi;
  let n = 0;

  before(async function () {
    double = await startKubeApiDouble();
    onCleanup(() => double.stop());
    const kc = new KubeConfig();
    kc.loadFromString(double.kubeconfigYaml());
    custom = kc.makeApiClient(CustomObjectsApi);
    objects = KubernetesObjectApi.makeApiClient(kc);
  });
  after(async () => {
    await double.stop();
  });

  function namespace(): string {
    const name = `s${++n}`;
    double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  /** A Service created through the real client, as a user would. */
  const createService = (ns: string, name: string, spec: Record<string, unknown>): Promise<unknown> => {
    const body: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
    return objects.create(body);
  };

  const serviceImport = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: `${mcs.group}/${mcs.version}`,
    kind: 'ServiceImport',
    metadata: { name, namespace: ns },
    spec,
  });

  it('the double prunes fields the ServiceImport schema does not know, keeps those it does, and defaults a port protocol to TCP', async () => {
    const ns = namespace();
    await objects.patch(
      serviceImport(ns, 'hello', {
        type: 'ClusterSetIP',
        ports: [{ name: 'tcp', port: 42 }],
        ips: ['10.255.0.7'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10, later: 'pruned' } },
        internalTrafficPolicy: 'Cluster',
        trafficDistribution: 'PreferClose',
        notInTheSchema: 'pruned',
      }),
      undefined,
      undefined,
      'causeway-agent',
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.deepEqual(double.get('serviceimports', ns, 'hello')?.spec, {
      type: 'ClusterSetIP',
      ports: [{ name: 'tcp', port: 42, protocol: 'TCP' }],
      ips: ['10.255.0.7'],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } },
      internalTrafficPolicy: 'Cluster',
      trafficDistribution: 'PreferClose',
    });
  });

  const invalid: { name: string; spec: Record<string, unknown>; says: RegExp }[] = [
    {
      name: 'an unknown type',
      spec: { type: 'LoadBalanced', ports: [] },
      says: /spec\.type: Unsupported value: "LoadBalanced": supported values: "ClusterSetIP", "Headless"/,
    },
    { name: 'no ports', spec: { type: 'Headless' }, says: /spec\.ports: Required value/ },
    {
      name: 'two VIPs (v1alpha1 holds one)',
      spec: { type: 'ClusterSetIP', ports: [], ips: ['10.255.0.1', '10.255.0.2'] },
      says: /spec\.ips: Too many: 2: must have at most 1 items/,
    },
    { name: 'a port that is a string', spec: { type: 'ClusterSetIP', ports: [{ port: '42' }] }, says: /spec\.ports\[0\]\.port: Invalid value: "string"/ },
  ];
  for (const c of invalid) {
    it(`the double refuses a ServiceImport with ${c.name}: 422 Invalid naming the field, and stores nothing`, async () => {
      const ns = namespace();
      const r = await refusal(custom.createNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceimports', body: serviceImport(ns, 'bad', c.spec) }));
      assert.equal(r.code, 422);
      assert.equal(r.reason, 'Invalid');
      assert.match(r.message, c.says);
      assert.equal(double.get('serviceimports', ns, 'bad'), undefined);
    });
  }

  it('the double keeps exportedLabels/exportedAnnotations of a ServiceExport and checks the conditions written to its status', async () => {
    const ns = namespace();
    await custom.createNamespacedCustomObject({
      ...mcs,
      namespace: ns,
      plural: 'serviceexports',
      body: {
        apiVersion: 'multicluster.x-k8s.io/v1alpha1',
        kind: 'ServiceExport',
        metadata: { name: 'hello' },
        spec: { exportedLabels: { a: 'b' }, exportedAnnotations: { c: 'd' }, other: 1 },
      },
    });
    assert.deepEqual(double.get('serviceexports', ns, 'hello')?.spec, { exportedLabels: { a: 'b' }, exportedAnnotations: { c: 'd' } });
    const r = await refusal(
      custom.patchNamespacedCustomObjectStatus(
        { ...mcs, namespace: ns, plural: 'serviceexports', name: 'hello', body: { status: { conditions: [{ type: 'Valid', status: 'True' }] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    assert.equal(r.code, 422);
    assert.match(r.message, /status\.conditions\[0\]\.lastTransitionTime: Required value/);
    assert.equal(double.get('serviceexports', ns, 'hello')?.status, undefined);
  });

  it('the double defaults a ClientIP Service to a 10800 s timeout and every Service to internalTrafficPolicy Cluster, as the API server does', async () => {
    const ns = namespace();
    await createService(ns, 'sticky', { sessionAffinity: 'ClientIP', ports: [{ port: 80 }] });
    const spec = double.get('services', ns, 'sticky')?.spec as Record<string, unknown>;
    assert.deepEqual(spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10_800 } });
    assert.equal(spec.internalTrafficPolicy, 'Cluster');
    await createService(ns, 'ext', { type: 'ExternalName', externalName: 'example.com' });
    assert.equal((double.get('services', ns, 'ext')?.spec as Record<string, unknown>).internalTrafficPolicy, undefined, 'not for ExternalName');
  });

  it('the double refuses a sessionAffinityConfig without ClientIP affinity, and a timeout over a day (422)', async () => {
    const ns = namespace();
    const none = await refusal(
      createService(ns, 'a', { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } }, ports: [{ port: 80 }] }),
    );
    assert.equal(none.code, 422);
    assert.match(none.message, /spec\.sessionAffinityConfig: .*must not be set when sessionAffinity is None/);
    const long = await refusal(
      createService(ns, 'b', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86_401 } }, ports: [{ port: 80 }] }),
    );
    assert.equal(long.code, 422);
    assert.match(long.message, /timeoutSeconds/);
    assert.equal(double.list('services', ns).length, 0);
  });
});
