// Tests of the Kubernetes API double (a test double of kube-apiserver, test/harness/kube-api-double.ts),
// driven only through the real @kubernetes/client-node 2.x, so that the double stays faithful to
// what the client sends and expects. Assertions read the double's resulting state.
import assert from 'node:assert/strict';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { Informer, KubernetesListObject, KubernetesObject, ObjectCache, V1EndpointSlice, V1Namespace, V1Service } from '@kubernetes/client-node';
import { onCleanup } from '../harness/cleanup.ts';
import { startKubeApiDouble } from '../harness/kube-api-double.ts';
import type { KubeApiDouble, KubeApiDoubleOptions, KubeObject } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

const mcs = { group: 'multicluster.x-k8s.io', version: 'v1alpha1' } as const;

/** The client's models are classes, but it serialises plain objects just the same; this keeps their fields type-checked. */
type Plain<T> = T extends Date ? T : T extends object ? { [K in keyof T]?: Plain<T[K]> | undefined } : T;
function model<T>(plain: Plain<T>): T {
  return plain as unknown as T;
}

interface StatusBody {
  readonly reason?: string;
  readonly message?: string;
  readonly code?: number;
  readonly details?: { readonly causes?: readonly { readonly field?: string; readonly message?: string }[] };
}

/** The client's ApiException carries the raw body text; parse it for the Status. */
async function apiError(call: Promise<unknown>): Promise<{ code: number; status: StatusBody }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = err.body;
    const status = (typeof body === 'string' && body !== '' ? JSON.parse(body) : (body ?? {})) as StatusBody;
    return { code: err.code, status };
  }
  throw new Error('expected the call to the double to fail');
}

async function startDouble(options: KubeApiDoubleOptions = {}): Promise<{ double: KubeApiDouble; kc: KubeConfig }> {
  const double = await startKubeApiDouble(options);
  onCleanup(() => double.stop());
  const kc = new KubeConfig();
  kc.loadFromString(double.kubeconfigYaml());
  return { double, kc };
}

interface Recorded<T> {
  readonly events: { verb: string; obj: T }[];
  readonly errors: unknown[];
}

function record<T extends KubernetesObject>(informer: Informer<T>): Recorded<T> {
  const rec: Recorded<T> = { events: [], errors: [] };
  for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, (obj) => rec.events.push({ verb, obj }));
  informer.on('error', (err: unknown) => rec.errors.push(err));
  return rec;
}

const saw = <T extends KubernetesObject>(rec: Recorded<T>, verb: string, name: string): T | undefined =>
  rec.events.find((e) => e.verb === verb && e.obj.metadata?.name === name)?.obj;

function serviceExport(namespace: string, name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: `${mcs.group}/${mcs.version}`, kind: 'ServiceExport', metadata: { name, namespace, labels } };
}

function serviceImport(namespace: string, name: string, type: string, port: number): KubeObject {
  return {
    apiVersion: `${mcs.group}/${mcs.version}`,
    kind: 'ServiceImport',
    metadata: { name, namespace },
    spec: { type, ports: [{ port, protocol: 'TCP' }] },
  };
}

describe('Kubernetes API double (test double of kube-apiserver)', function () {
  let double: KubeApiDouble;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let objects: KubernetesObjectApi;
  let nsCount = 0;

  before(async function () {
    ({ double, kc } = await startDouble());
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    objects = KubernetesObjectApi.makeApiClient(kc);
  });

  /** Each test works in a namespace of its own. */
  async function freshNamespace(): Promise<string> {
    const name = `t${++nsCount}`;
    await core.createNamespace({ body: model<V1Namespace>({ metadata: { name } }) });
    return name;
  }

  it('the double refuses requests without the right bearer token (401)', async function () {
    const wrong = new KubeConfig();
    wrong.loadFromString(double.kubeconfigYaml().replace(double.token, 'not-the-token'));
    const { code } = await apiError(wrong.makeApiClient(CoreV1Api).listNamespace());
    assert.equal(code, 401);
    assert.ok(double.url.startsWith('https://127.0.0.1:'), 'served over HTTPS with a self-signed certificate');
  });

  it('the double creates, gets and lists services with server-managed metadata; 409 AlreadyExists, 404 NotFound', async function () {
    const ns = await freshNamespace();
    const created = await core.createNamespacedService({
      namespace: ns,
      body: model<V1Service>({ metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }),
    });
    const stored = double.get('services', ns, 'web');
    assert.ok(stored);
    assert.equal(stored.metadata.resourceVersion, created.metadata?.resourceVersion);
    assert.equal(typeof stored.metadata.uid, 'string');
    assert.match(String(stored.metadata.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(stored.metadata.generation, 1);
    assert.deepEqual(stored.spec, {
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      clusterIP: created.spec?.clusterIP,
      clusterIPs: [created.spec?.clusterIP],
    });
    assert.match(String(created.spec?.clusterIP), /^10\.96\.\d+\.\d+$/);

    const got = await core.readNamespacedService({ namespace: ns, name: 'web' });
    assert.equal(got.metadata?.uid, stored.metadata.uid);

    const dup = await apiError(core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'web' } }) }));
    assert.equal(dup.code, 409);
    assert.equal(dup.status.reason, 'AlreadyExists');
    const missing = await apiError(core.readNamespacedService({ namespace: ns, name: 'nope' }));
    assert.equal(missing.code, 404);
    assert.equal(missing.status.reason, 'NotFound');
    assert.equal(missing.status.message, 'services "nope" not found');
    const noNamespace = await apiError(core.createNamespacedService({ namespace: 'absent', body: model<V1Service>({ metadata: { name: 'web' } }) }));
    assert.equal(noNamespace.code, 404);
    assert.equal(double.get('services', 'absent', 'web'), undefined);
  });

  it('the double filters lists by label selector and reports the list resourceVersion', async function () {
    const ns = await freshNamespace();
    const labelled: Record<string, Record<string, string>> = {
      a: { app: 'web', env: 'prod' },
      b: { app: 'web', env: 'dev', canary: 'true' },
      c: { app: 'db', env: 'staging', tier: 'db' },
      d: { app: 'db', tier: 'cache' },
    };
    for (const [name, labels] of Object.entries(labelled)) {
      await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name, labels } }) });
    }
    const names = async (labelSelector: string): Promise<string[]> =>
      (await core.listNamespacedService({ namespace: ns, labelSelector })).items.map((s) => s.metadata?.name ?? '');
    assert.deepEqual(await names('app=web'), ['a', 'b']);
    assert.deepEqual(await names('tier!=db'), ['a', 'b', 'd']);
    assert.deepEqual(await names('env in (prod,staging)'), ['a', 'c']);
    assert.deepEqual(await names('env notin (prod)'), ['b', 'c', 'd']);
    assert.deepEqual(await names('!canary'), ['a', 'c', 'd']);
    assert.deepEqual(await names('tier'), ['c', 'd']);
    assert.deepEqual(await names('app=db,tier!=cache,env in (staging, prod),!canary'), ['c']);
    const bad = await apiError(core.listNamespacedService({ namespace: ns, labelSelector: 'app in prod' }));
    assert.equal(bad.code, 400);

    const all = await core.listNamespacedService({ namespace: ns });
    assert.equal(all.metadata?.resourceVersion, double.resourceVersion());
    const page = await core.listNamespacedService({ namespace: ns, limit: 3 });
    assert.equal(page.items.length, 3);
    const rest = await core.listNamespacedService({ namespace: ns, limit: 3, _continue: page.metadata?._continue ?? '' });
    assert.deepEqual(
      rest.items.map((s) => s.metadata?.name),
      ['d'],
    );
  });

  it('the double rejects an update with a stale resourceVersion (409 Conflict) and bumps generation on spec changes', async function () {
    const ns = await freshNamespace();
    const first = await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }) });
    const second = await core.replaceNamespacedService({
      namespace: ns,
      name: 'web',
      body: model<V1Service>({ metadata: first.metadata, spec: { ports: [{ port: 8080 }] } }),
    });
    assert.notEqual(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
    const stale = await apiError(
      core.replaceNamespacedService({
        namespace: ns,
        name: 'web',
        body: model<V1Service>({ metadata: { name: 'web', resourceVersion: first.metadata?.resourceVersion, labels: { late: 'yes' } } }),
      }),
    );
    assert.equal(stale.code, 409);
    assert.equal(stale.status.reason, 'Conflict');
    const stored = double.get('services', ns, 'web');
    assert.equal(stored?.metadata.generation, 2);
    assert.equal(stored.metadata.labels, undefined);
    assert.deepEqual((stored.spec as { ports: unknown }).ports, [{ port: 8080, protocol: 'TCP', targetPort: 8080 }]);
  });

  it('the double applies JSON merge patches to custom resources (MCS ServiceImport)', async function () {
    const ns = await freshNamespace();
    await custom.createNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceimports', body: serviceImport(ns, 'db', 'ClusterSetIP', 5432) });
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await custom.patchNamespacedCustomObject(
      { ...mcs, namespace: ns, plural: 'serviceimports', name: 'db', body: { metadata: { labels: { team: 'data' } } } },
      mergePatch,
    );
    assert.equal(double.get('serviceimports', ns, 'db')?.metadata.generation, 1, 'a metadata change keeps the generation');
    await custom.patchNamespacedCustomObject(
      { ...mcs, namespace: ns, plural: 'serviceimports', name: 'db', body: { metadata: { labels: { team: null } }, spec: { type: 'Headless' } } },
      mergePatch,
    );
    const stored = double.get('serviceimports.multicluster.x-k8s.io', ns, 'db');
    assert.deepEqual(stored?.spec, { type: 'Headless', ports: [{ port: 5432, protocol: 'TCP' }] });
    assert.deepEqual(stored.metadata.labels, {});
    assert.equal(stored.metadata.generation, 2);
    // CustomObjectsApi's default patch type is JSON patch.
    await custom.patchNamespacedCustomObject({
      ...mcs,
      namespace: ns,
      plural: 'serviceimports',
      name: 'db',
      body: [{ op: 'replace', path: '/spec/ports/0/port', value: 6432 }],
    });
    assert.deepEqual((double.get('serviceimports', ns, 'db')?.spec as { ports: unknown }).ports, [{ port: 6432, protocol: 'TCP' }]);
  });

  it('the double does server-side apply with field managers: ownership, removal, conflicts (409) and force', async function () {
    const ns = await freshNamespace();
    const apply = (obj: KubeObject, manager: string, force?: boolean): Promise<KubernetesObject> =>
      objects.patch(obj, undefined, undefined, manager, force, PatchStrategy.ServerSideApply);
    const desired = {
      ...serviceImport(ns, 'api', 'ClusterSetIP', 443),
      metadata: { name: 'api', namespace: ns, labels: { 'causeway.io/origin': 'east', keep: 'me' } },
    };
    await apply(desired, 'causeway-agent');
    const created = double.get('serviceimports', ns, 'api');
    assert.ok(created);
    const rv = created.metadata.resourceVersion;
    const owners = (o: KubeObject | undefined): Record<string, unknown> =>
      Object.fromEntries(
        ((o?.metadata.managedFields ?? []) as { manager: string; operation: string; fieldsV1: unknown }[]).map((e) => [
          `${e.manager}/${e.operation}`,
          e.fieldsV1,
        ]),
      );
    assert.deepEqual(owners(created), {
      'causeway-agent/Apply': { 'f:metadata': { 'f:labels': { 'f:causeway.io/origin': {}, 'f:keep': {} } }, 'f:spec': { 'f:type': {}, 'f:ports': {} } },
    });

    await apply(desired, 'causeway-agent');
    assert.equal(double.get('serviceimports', ns, 'api')?.metadata.resourceVersion, rv, 're-applying the same object is a no-op');

    const rival = { ...serviceImport(ns, 'api', 'Headless', 443) };
    const refused = await apiError(apply(rival, 'someone-else'));
    assert.equal(refused.code, 409);
    assert.equal(refused.status.reason, 'Conflict');
    assert.deepEqual(
      refused.status.details?.causes?.map((c) => [c.field, c.message]),
      [['.spec.type', 'conflict with "causeway-agent"']],
    );
    assert.equal((double.get('serviceimports', ns, 'api')?.spec as { type: string }).type, 'ClusterSetIP');

    await apply(rival, 'someone-else', true);
    const forced = double.get('serviceimports', ns, 'api');
    assert.equal((forced?.spec as { type: string }).type, 'Headless');
    assert.deepEqual(owners(forced), {
      'causeway-agent/Apply': { 'f:metadata': { 'f:labels': { 'f:causeway.io/origin': {}, 'f:keep': {} } }, 'f:spec': { 'f:ports': {} } },
      'someone-else/Apply': { 'f:spec': { 'f:type': {}, 'f:ports': {} } },
    });

    // A field the manager stops applying is removed; one still applied by another manager stays.
    await apply(
      {
        ...serviceImport(ns, 'api', 'Headless', 443),
        metadata: { name: 'api', namespace: ns, labels: { 'causeway.io/origin': 'east' } },
        spec: { type: 'Headless' },
      },
      'causeway-agent',
    );
    const pruned = double.get('serviceimports', ns, 'api');
    assert.deepEqual(pruned?.metadata.labels, { 'causeway.io/origin': 'east' });
    assert.deepEqual(pruned.spec, { type: 'Headless', ports: [{ port: 443, protocol: 'TCP' }] });

    const noManager = await apiError(
      custom.patchNamespacedCustomObject(
        { ...mcs, namespace: ns, plural: 'serviceimports', name: 'api', body: rival },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
    assert.equal(noManager.code, 400);
  });

  it('the double keeps status behind the status subresource for ServiceExports', async function () {
    const ns = await freshNamespace();
    await custom.createNamespacedCustomObject({
      ...mcs,
      namespace: ns,
      plural: 'serviceexports',
      body: { ...serviceExport(ns, 'web'), status: { conditions: [{ type: 'Valid', status: 'True' }] } },
    });
    assert.equal(double.get('serviceexports', ns, 'web')?.status, undefined, 'status is dropped on create');

    const conditions = [{ type: 'Valid', status: 'True', reason: 'ServiceFound', message: '', lastTransitionTime: '2024-01-01T00:00:00Z' }];
    await custom.patchNamespacedCustomObjectStatus(
      { ...mcs, namespace: ns, plural: 'serviceexports', name: 'web', body: { metadata: { labels: { ignored: 'yes' } }, status: { conditions } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    let stored = double.get('serviceexports', ns, 'web');
    assert.deepEqual(stored?.status, { conditions });
    assert.deepEqual(stored.metadata.labels, {}, 'a status write changes only status');

    const current = (await custom.getNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceexports', name: 'web' })) as KubeObject;
    await custom.replaceNamespacedCustomObject({
      ...mcs,
      namespace: ns,
      plural: 'serviceexports',
      name: 'web',
      body: { ...current, metadata: { ...current.metadata, labels: { a: 'b' } }, status: { conditions: [] } },
    });
    stored = double.get('serviceexports', ns, 'web');
    assert.deepEqual(stored?.status, { conditions }, 'a main-resource write does not change status');
    assert.deepEqual(stored.metadata.labels, { a: 'b' });

    await custom.replaceNamespacedCustomObjectStatus({
      ...mcs,
      namespace: ns,
      plural: 'serviceexports',
      name: 'web',
      body: { ...stored, status: { conditions: [] } },
    });
    assert.deepEqual(double.get('serviceexports', ns, 'web')?.status, { conditions: [] });
  });

  it('the double deletes objects (the object or a Status back) and then answers 404', async function () {
    const ns = await freshNamespace();
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({
      namespace: ns,
      body: model<V1EndpointSlice>({
        metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'] }],
      }),
    });
    assert.equal((await discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector: 'kubernetes.io/service-name=web' })).items.length, 1);
    const invalid = await apiError(discovery.createNamespacedEndpointSlice({ namespace: ns, body: model<V1EndpointSlice>({ metadata: { name: 'bad' } }) }));
    assert.equal(invalid.code, 422);

    const status = await discovery.deleteNamespacedEndpointSlice({ namespace: ns, name: 'web-1' });
    assert.equal(status.status, 'Success');
    assert.equal(double.get('endpointslices', ns, 'web-1'), undefined);

    await objects.create(serviceExport(ns, 'web'));
    const deleted = (await custom.deleteNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceexports', name: 'web' })) as KubeObject;
    assert.equal(deleted.metadata.name, 'web');
    assert.equal(double.get('serviceexports', ns, 'web'), undefined);
    const again = await apiError(custom.deleteNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceexports', name: 'web' }));
    assert.equal(again.code, 404);
    assert.equal(again.status.message, 'serviceexports.multicluster.x-k8s.io "web" not found');

    await core.deleteNamespace({ name: ns });
    assert.equal(double.get('namespaces', undefined, ns), undefined);
  });

  it('an informer on the double receives add, update and delete events', async function () {
    const ns = await freshNamespace();
    const path = `/apis/${mcs.group}/${mcs.version}/namespaces/${ns}/serviceexports`;
    const informer = makeInformer<KubernetesObject>(
      kc,
      path,
      async () => (await custom.listNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceexports' })) as KubernetesListObject<KubernetesObject>,
    );
    onCleanup(() => informer.stop());
    const rec = record(informer);
    await objects.create(serviceExport(ns, 'before'));
    await informer.start();
    await waitFor('the listed object', () => saw(rec, 'add', 'before'));

    await objects.create(serviceExport(ns, 'web'));
    await waitFor('ADDED', () => saw(rec, 'add', 'web'));
    await custom.patchNamespacedCustomObject(
      { ...mcs, namespace: ns, plural: 'serviceexports', name: 'web', body: { metadata: { labels: { x: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const updated = await waitFor('MODIFIED', () => saw(rec, 'update', 'web'));
    assert.deepEqual(updated.metadata?.labels, { x: 'y' });
    await custom.deleteNamespacedCustomObject({ ...mcs, namespace: ns, plural: 'serviceexports', name: 'web' });
    await waitFor('DELETED', () => saw(rec, 'delete', 'web'));
    assert.deepEqual(
      (informer as ObjectCache<KubernetesObject>).list(ns).map((o) => o.metadata?.name),
      ['before'],
    );
    assert.deepEqual(
      double.list('serviceexports', ns).map((o) => o.metadata.name),
      ['before'],
    );
    await informer.stop();
  });

  it('a label-selected informer on the double sees objects enter and leave its selection', async function () {
    const ns = await freshNamespace();
    const informer = makeInformer<V1Service>(
      kc,
      `/api/v1/namespaces/${ns}/services`,
      () => core.listNamespacedService({ namespace: ns, labelSelector: 'causeway.io/managed=true' }),
      'causeway.io/managed=true',
    );
    onCleanup(() => informer.stop());
    const rec = record(informer);
    await informer.start();
    await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'other' } }) });
    await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'mine', labels: { 'causeway.io/managed': 'true' } } }) });
    await waitFor('mine added', () => saw(rec, 'add', 'mine'));
    await core.patchNamespacedService(
      { namespace: ns, name: 'mine', body: { metadata: { labels: { 'causeway.io/managed': 'false' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor('mine leaving the selection as a delete', () => saw(rec, 'delete', 'mine'));
    assert.equal(saw(rec, 'add', 'other'), undefined);
    assert.equal(double.get('services', ns, 'mine')?.metadata.labels?.['causeway.io/managed'], 'false');
    await informer.stop();
  });

  it('a watch from a compacted resourceVersion gets 410 Gone from the double and the informer relists', async function () {
    const ns = await freshNamespace();
    const informer = makeInformer<V1Service>(kc, `/api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns }));
    onCleanup(() => informer.stop());
    const rec = record(informer);
    await informer.start();
    await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'a' } }) });
    const fromWatch = await waitFor('a from the watch', () => saw(rec, 'add', 'a'));
    assert.equal(typeof fromWatch.metadata?.creationTimestamp, 'string', 'watch objects are raw JSON');
    const staleRv = fromWatch.metadata?.resourceVersion ?? '';

    // All synchronous: the informer re-watches from its old resourceVersion only after these ran.
    assert.equal(double.closeWatches(), 1);
    double.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: ns } });
    double.compact();
    const relisted = await waitFor('b from a relist', () => saw(rec, 'add', 'b'));
    assert.ok(relisted.metadata?.creationTimestamp instanceof Date, 'b came from a list (typed objects), not a watch');
    assert.deepEqual(rec.errors, []);

    const gone = await new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(`/api/v1/namespaces/${ns}/services`, { resourceVersion: staleRv }, () => undefined, resolve);
    });
    assert.equal((gone as { statusCode?: number }).statusCode, 410);
    await informer.stop();
  });

  it('a double set to report 410 as an ERROR event makes the informer relist after the stream closes', async function () {
    const { double: other, kc: otherKc } = await startDouble({ watchGone: 'event' });
    const otherCore = otherKc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Service>(otherKc, '/api/v1/namespaces/default/services', () => otherCore.listNamespacedService({ namespace: 'default' }));
    onCleanup(() => informer.stop());
    const rec = record(informer);
    await informer.start();
    await waitFor('the watch to open', () => other.openWatches() === 1);
    other.closeWatches();
    other.seed({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'late', namespace: 'default' } });
    other.compact();
    const relisted = await waitFor('late from a relist', () => saw(rec, 'add', 'late'));
    assert.ok(relisted.metadata?.creationTimestamp instanceof Date);
    await informer.stop();

    const events: { phase: string; code: unknown }[] = [];
    const closed = await new Promise<unknown>((resolve) => {
      void new Watch(otherKc).watch(
        '/api/v1/namespaces/default/services',
        { resourceVersion: '1' },
        (phase: string, obj: { code?: unknown }) => events.push({ phase, code: obj.code }),
        resolve,
      );
    });
    assert.equal(closed, null, 'the stream closes cleanly after the ERROR event');
    assert.deepEqual(events, [{ phase: 'ERROR', code: 410 }]);
  });

  it('an informer reports an error when the double drops its watch stream or fails with 500, and can be restarted', async function () {
    const ns = await freshNamespace();
    const informer = makeInformer<V1Service>(kc, `/api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns }));
    onCleanup(() => informer.stop());
    const rec = record(informer);
    await informer.start();
    await waitFor('the watch to open', () => double.openWatches() === 1);
    assert.equal(double.dropWatches(), 1);
    await waitFor('an informer error', () => rec.errors.length === 1);

    // The agent restarts a failed informer; a 500 on the re-watch fails it again.
    double.failNext(1, { match: (method, path) => method === 'GET' && path.endsWith(`/namespaces/${ns}/services`) });
    await informer.start();
    await waitFor('a second informer error', () => rec.errors.length === 2);
    assert.equal((rec.errors[1] as { statusCode?: number }).statusCode, 500);

    await informer.start();
    await waitFor('the watch to reopen', () => double.openWatches() === 1);
    await core.createNamespacedService({ namespace: ns, body: model<V1Service>({ metadata: { name: 'after' } }) });
    await waitFor('an event after the restart', () => saw(rec, 'add', 'after'));
    await informer.stop();
  });

  it('the double fails the next N requests with a 500 Status when told to', async function () {
    double.failNext(2);
    for (let i = 0; i < 2; i++) {
      const failed = await apiError(core.listNamespace());
      assert.equal(failed.code, 500);
      assert.equal(failed.status.reason, 'InternalError');
    }
    const ok = await core.listNamespace();
    assert.ok(ok.items.some((n) => n.metadata?.name === 'default'));
  });

  it('the double serves discovery, so KubernetesObjectApi can find kinds and scopes', async function () {
    const ns = await freshNamespace();
    await objects.create(serviceExport(ns, 'found'));
    const listed = await objects.list(`${mcs.group}/${mcs.version}`, 'ServiceExport', ns);
    assert.deepEqual(
      listed.items.map((o) => o.metadata?.name),
      ['found'],
    );
    const svc = await objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: ns } });
    assert.equal(svc.metadata.namespace, ns);
    assert.equal(double.get('serviceexports', ns, 'found')?.kind, 'ServiceExport');
  });

  it('keep-alive newlines from the double hold a quiet watch open past the client timeout', async function () {
    const { kc: chattyKc } = await startDouble({ keepAliveMs: 50 });
    const { kc: quietKc } = await startDouble({ keepAliveMs: 0 });
    const outcomes: { chatty?: unknown; quiet?: unknown } = {};
    const shortWatch = (config: KubeConfig): Watch => {
      const w = new Watch(config);
      // The client's 30 s inactivity timeout is private; shorten it so that the test is quick.
      (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 400;
      return w;
    };
    const chatty = await shortWatch(chattyKc).watch(
      '/api/v1/namespaces/default/services',
      {},
      () => undefined,
      (err: unknown) => {
        outcomes.chatty = err ?? 'closed';
      },
    );
    await shortWatch(quietKc).watch(
      '/api/v1/namespaces/default/services',
      {},
      () => undefined,
      (err: unknown) => {
        outcomes.quiet = err ?? 'closed';
      },
    );
    await waitFor('the quiet watch to time out', () => outcomes.quiet !== undefined);
    assert.equal((outcomes.quiet as Error).name, 'TimeoutError');
    assert.equal(outcomes.chatty, undefined, 'the watch that started first is still open');
    chatty.abort();
  });
});
