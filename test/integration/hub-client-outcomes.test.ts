// Issue "Reliability under faults" §3, honest answers: the CLI's client tells "cannot reach the
// hub" (nothing was sent: refused, no such host) from "the outcome is unknown" (a write was sent
// and the answer never came), and the hub tells a read etcd did not answer from a write etcd may
// have applied. Real hub, real etcd; the faults come from a TCP proxy in front of the hub (the
// connection drops the moment the hub answers, after it did the work) or in front of etcd (etcd
// gets the write and its answer is lost). Each case checks what was really written afterwards,
// and that sending the same apply again is safe.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { NotFoundError, OutcomeUnknownError, UnavailableError } from '../../controlplane/api/errors.ts';
import { objectKey } from '../../controlplane/api/keys.ts';
import { KINDS } from '../../controlplane/api/kinds.ts';
import { HubClient, type ApplyResultView } from '../../controlplane/cli/client.ts';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { hashToken, TokenAuthenticator } from '../../controlplane/hub/auth.ts';
import { buildHubServer } from '../../controlplane/hub/http/server.ts';
import { createHubMetrics } from '../../controlplane/hub/metrics.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, network } from '../fixtures/resources.ts';
import { FaultProxy, ProxyMode } from '../harness/fault-proxy.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const docs = (...objects: Record<string, unknown>[]) => objects.map((object, i) => ({ source: { file: 'outcome.yaml', document: i + 1 }, object }));

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    (v) => assert.fail(`expected a failure, got ${JSON.stringify(v)}`),
    (e: unknown) => e as Error,
  );
}

function assertCannotReach(err: Error): void {
  assert.ok(err instanceof UnavailableError, `UnavailableError, got ${err.name}: ${err.message}`);
  assert.ok(!(err instanceof OutcomeUnknownError));
  assert.match(err.message, /^cannot reach the hub at \S+ \([A-Z_]+\); is it running\?/);
}

function assertOutcomeUnknown(err: Error): void {
  assert.ok(err instanceof OutcomeUnknownError, `OutcomeUnknownError, got ${err.name}: ${err.message}`);
  assert.doesNotMatch(err.message, /cannot reach the hub/);
  assert.match(err.message, /the change may have been applied: check `causeway history`/);
  assert.match(err.message, /re-running the same `causeway apply` is safe \(apply is idempotent/);
}

const createdEntries = async (client: HubClient, name: string): Promise<number> =>
  (await client.history({})).items.filter((e) => e.changes.some((c) => c.name === name && c.action === 'created')).length;

describe('the CLI client tells "cannot reach the hub" from "outcome unknown" (real hub and etcd, faults from a TCP proxy)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let proxy: FaultProxy;
  let direct: HubClient;
  let viaProxy: HubClient;

  before(async () => {
    hub = await startTestHub();
    proxy = await FaultProxy.start(Number(new URL(hub.url).port));
    direct = new HubClient(hub.url, hub.adminToken);
    viaProxy = new HubClient(`http://127.0.0.1:${proxy.port}`, hub.adminToken);
    await direct.apply(docs(network('aws-vpc')), false);
  });
  after(async () => {
    await proxy.stop();
    await hub.stop();
  });
  afterEach(() => {
    proxy.set(ProxyMode.forward);
  });

  it('a refused connection, a read or a write, is "cannot reach the hub … is it running?", and nothing is written', async () => {
    const nobody = new HubClient(`http://127.0.0.1:${await freePort()}`, hub.adminToken);
    assertCannotReach(await failure(nobody.apply(docs(cluster('refused', '10.1.0.0/16', '172.21.0.0/16')), false)));
    assertCannotReach(await failure(nobody.list(KINDS.Cluster)));
    assert.match((await failure(nobody.apply(docs(network('x')), false))).message, /\(ECONNREFUSED\)/);
    await assert.rejects(direct.get(KINDS.Cluster, 'refused'), NotFoundError);
  });

  it('a host name that does not resolve is "cannot reach the hub"', async () => {
    const err = await failure(new HubClient('http://causeway-hub.invalid:7080', hub.adminToken).apply(docs(network('x')), false));
    assertCannotReach(err);
    assert.match(err.message, /\((ENOTFOUND|EAI_AGAIN)\)/);
  });

  it('a server that is not an http(s) URL is "cannot reach the hub", saying what a URL looks like', async () => {
    for (const server of ['127.0.0.1:7080', 'ftp://127.0.0.1:7080', 'not a url']) {
      const err = await failure(new HubClient(server, hub.adminToken).apply(docs(network('x')), false));
      assert.ok(err instanceof UnavailableError && !(err instanceof OutcomeUnknownError), `${err.name}: ${err.message}`);
      assert.equal(err.message, `cannot reach the hub at ${server}: not an http:// or https:// URL (expected http://HOST:PORT or https://HOST:PORT)`);
    }
  });

  it('an apply whose connection drops as the hub answers: outcome unknown (it was applied), and running it again changes nothing', async () => {
    const object = cluster('dropped-apply', '10.2.0.0/16', '172.22.0.0/16');
    proxy.set(ProxyMode.dropOnReply);
    assertOutcomeUnknown(await failure(viaProxy.apply(docs(object), false)));
    proxy.set(ProxyMode.forward);
    // What really happened: the hub committed it.
    assert.equal((await direct.get(KINDS.Cluster, 'dropped-apply')).metadata.name, 'dropped-apply');
    assert.equal(await createdEntries(direct, 'dropped-apply'), 1);
    const again: ApplyResultView = await viaProxy.apply(docs(object), false);
    assert.deepEqual(
      again.changes.map((c) => c.action),
      ['unchanged'],
    );
    assert.equal(await createdEntries(direct, 'dropped-apply'), 1);
  });

  it('a delete whose connection drops: outcome unknown; it went through, so the same delete again answers not found', async () => {
    await direct.apply(docs(cluster('dropped-delete', '10.3.0.0/16', '172.23.0.0/16')), false);
    proxy.set(ProxyMode.dropOnReply);
    assert.ok((await failure(viaProxy.delete(KINDS.Cluster, 'dropped-delete', undefined, false))) instanceof OutcomeUnknownError);
    proxy.set(ProxyMode.forward);
    await assert.rejects(direct.get(KINDS.Cluster, 'dropped-delete'), NotFoundError);
    await assert.rejects(viaProxy.delete(KINDS.Cluster, 'dropped-delete', undefined, false), NotFoundError);
  });

  it('a read, a diff or a dry run whose connection drops changes nothing: UnavailableError "went away", not outcome unknown', async () => {
    proxy.set(ProxyMode.dropOnReply);
    const object = cluster('dropped-read', '10.4.0.0/16', '172.24.0.0/16');
    for (const call of [() => viaProxy.list(KINDS.Cluster), () => viaProxy.diff(docs(object)), () => viaProxy.apply(docs(object), true)]) {
      const err = await failure(call());
      assert.ok(err instanceof UnavailableError && !(err instanceof OutcomeUnknownError), `${err.name}: ${err.message}`);
      assert.match(err.message, /went away during the request \([A-Z_]+\); this request changes nothing: run it again/);
    }
    proxy.set(ProxyMode.forward);
    await assert.rejects(direct.get(KINDS.Cluster, 'dropped-read'), NotFoundError);
  });

  it('a 503 "Connection dropped" for a write (an older hub, a proxy) is outcome unknown; for a read it is unavailable', async () => {
    const old: Server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'etcd: 14 UNAVAILABLE: Connection dropped' }));
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      const client = new HubClient(`http://127.0.0.1:${(old.address() as AddressInfo).port}`, 'token');
      const write = await failure(client.apply(docs(network('x')), false));
      assertOutcomeUnknown(write);
      assert.match(write.message, /Connection dropped/);
      const read = await failure(client.list(KINDS.Cluster));
      assert.ok(read instanceof UnavailableError && !(read instanceof OutcomeUnknownError));
    } finally {
      await new Promise<void>((resolve) =>
        old.close(() => {
          resolve();
        }),
      );
    }
  });
});

describe('the hub tells a read etcd did not answer from a write etcd may have applied (in-process HTTP API, real etcd behind a TCP proxy)', function () {
  this.timeout(60_000);
  const TOKEN = 'cw_outcome-test-token';
  let etcd: TestEtcd;
  let proxy: FaultProxy;
  let store: EtcdStore;
  let app: ReturnType<typeof buildHubServer>;
  let client: HubClient;
  let server: string;

  before(async () => {
    etcd = await startTestEtcd();
    proxy = await FaultProxy.start(Number(new URL(etcd.url).port));
    // Short deadlines keep the test quick; the etcd call's is the shorter, as by default.
    store = new EtcdStore({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    const metrics = createHubMetrics(
      () => Promise.resolve({}),
      () => Promise.resolve(true),
    );
    const auth = new TokenAuthenticator([{ name: 'admin', role: 'admin', namespaces: [], sha256: hashToken(TOKEN) }]);
    app = buildHubServer({ registry: new Registry(store), store, auth, metrics, logger: pino({ level: 'silent' }), requestDeadlineMs: 2500 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    server = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    client = new HubClient(server, TOKEN);
    await client.apply(docs(network('aws-vpc')), false);
  });
  after(async () => {
    await app.close();
    await store.close();
    await proxy.stop();
    await etcd.stop();
  });

  /** etcd heard again, on fresh connections (a swallowed answer leaves a gRPC connection out of step). */
  async function restore(): Promise<void> {
    proxy.set(ProxyMode.forward);
    proxy.dropAll();
    await waitFor('the hub to read from etcd again', () => client.list(KINDS.Cluster).then(() => true), 15_000);
  }

  it('etcd gets the write and its answer is lost: 503 OutcomeUnknown "etcd is not answering"; the write did land, and applying it again changes nothing', async () => {
    // The write is the one big message: the reads before it (head, objects) pass, the answer to it
    // is swallowed. Under 64 KiB, so that it fits in HTTP/2's first flow-control window: etcd's
    // window updates are swallowed too, and a bigger write would never be sent whole.
    const object = cluster('lost-answer', '10.5.0.0/16', '172.25.0.0/16');
    (object.metadata as Record<string, unknown>).annotations = { 'example.com/padding': 'x'.repeat(12_000) };
    proxy.set(ProxyMode.swallowReplies, { afterBytes: 16_000 });
    const started = Date.now();
    const err = await failure(client.apply(docs(object), false));
    const ms = Date.now() - started;
    assert.equal(proxy.current, ProxyMode.swallowReplies, 'the fault met the write');
    assertOutcomeUnknown(err);
    assert.match(err.message, /^etcd is not answering: no answer within 1000 ms to a write it was sent/);
    assert.ok(ms < 2500, `answered by the etcd call's deadline, in ${ms} ms`);
    await restore();
    const raw = new EtcdStore({ endpoints: [etcd.url] });
    try {
      assert.ok((await raw.get(objectKey({ kind: 'Cluster', name: 'lost-answer' }))) !== undefined, 'etcd applied the write whose answer was lost');
    } finally {
      await raw.close();
    }
    const again = await client.apply(docs(object), false);
    assert.deepEqual(
      again.changes.map((c) => c.action),
      ['unchanged'],
    );
  });

  it('etcd stops answering anything: a read, and a write stuck on the read it starts with, are 503 ServiceUnavailable within the etcd call deadline', async () => {
    proxy.set(ProxyMode.swallowReplies);
    try {
      const started = Date.now();
      const read = await failure(client.list(KINDS.Cluster));
      assert.ok(read instanceof UnavailableError && !(read instanceof OutcomeUnknownError), `${read.name}: ${read.message}`);
      assert.match(read.message, /^etcd is not answering/);
      // A write first reads the head; that read times out, so the write was never sent.
      const write = await failure(client.apply(docs(cluster('never-sent', '10.6.0.0/16', '172.26.0.0/16')), false));
      assert.ok(write instanceof UnavailableError && !(write instanceof OutcomeUnknownError), `${write.name}: ${write.message}`);
      // Its read waits on a new connection (the etcd client drops one that timed out), whose handshake is swallowed too.
      assert.match(write.message, /^etcd is not answering: no (answer|connection) within 1000 ms/);
      assert.ok(Date.now() - started < 2 * 1000 + 1000, `both answered by the etcd call deadline (${Date.now() - started} ms)`);
    } finally {
      await restore();
    }
    await assert.rejects(client.get(KINDS.Cluster, 'never-sent'), NotFoundError);
  });

  it('past the request deadline (etcd calls allowed longer): a read is ServiceUnavailable, a write OutcomeUnknown, both "etcd is not answering"', async () => {
    const patient = new EtcdStore({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 6000 });
    const metrics = createHubMetrics(
      () => Promise.resolve({}),
      () => Promise.resolve(true),
    );
    const auth = new TokenAuthenticator([{ name: 'admin', role: 'admin', namespaces: [], sha256: hashToken(TOKEN) }]);
    const hurried = buildHubServer({
      registry: new Registry(patient),
      store: patient,
      auth,
      metrics,
      logger: pino({ level: 'silent' }),
      requestDeadlineMs: 1000,
    });
    await hurried.listen({ host: '127.0.0.1', port: 0 });
    try {
      const c = new HubClient(`http://127.0.0.1:${(hurried.server.address() as AddressInfo).port}`, TOKEN);
      await c.list(KINDS.Cluster);
      proxy.set(ProxyMode.swallowReplies);
      const started = Date.now();
      const [read, write] = await Promise.all([
        failure(c.list(KINDS.Cluster)),
        failure(c.apply(docs(cluster('past-deadline', '10.7.0.0/16', '172.27.0.0/16')), false)),
      ]);
      const ms = Date.now() - started;
      assert.ok(ms < 1000 + 1000, `answered at the request deadline, in ${ms} ms`);
      assert.ok(read instanceof UnavailableError && !(read instanceof OutcomeUnknownError), `${read.name}: ${read.message}`);
      assert.equal(read.message, 'etcd is not answering: no answer within the 1000 ms request deadline');
      assertOutcomeUnknown(write);
      assert.match(write.message, /^etcd is not answering: no answer within the 1000 ms request deadline, with the write possibly under way; /);
    } finally {
      await restore();
      await hurried.close();
      await patient.close();
    }
  });
});
