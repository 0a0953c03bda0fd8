// Several hub replicas against one real etcd (and, for the agents' protocol, one real
// nats-server): what replicas must agree on lives in etcd, not in one replica's memory (issue 11
// §2). A full report in parts, spread over the replicas by the NATS queue group, sweeps the export
// it dropped whichever replica gets which part; and a leader whose lease is revoked in the middle
// of a VIP allocation writes nothing after it lost it (the guard is a compare in etcd).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { EXPORTS_PREFIX, VIPS_PREFIX, VIP_CLAIMS_PREFIX, clusterExportsPrefix } from '../../controlplane/api/keys.ts';
import { reportCodec, reportReplyCodec, type ExportState, type Report, type ReportReply } from '../../controlplane/api/messages.ts';
import type { IPPoolResource } from '../../controlplane/api/resources.ts';
import { agentInboxPrefix, agentSubject, AgentSubjectKind } from '../../controlplane/api/subjects.ts';
import type { BusMessage } from '../../controlplane/bus/bus.ts';
import { MemoryBus } from '../../controlplane/bus/memory-bus.ts';
import { ExportIndex } from '../../controlplane/hub/exports.ts';
import { ReportIngest } from '../../controlplane/hub/ingest.ts';
import { WatchedPrefix } from '../../controlplane/hub/watched.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { guardedWrites, type Store } from '../../controlplane/registry/store.ts';
import { VipStore } from '../../controlplane/registry/vip-store.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';
import { startHubReplicas, type HubReplicas } from '../harness/topology.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { waitFor } from '../harness/wait.ts';

function exp(name: string, address: string): ExportState {
  return {
    namespace: 'inference',
    name,
    exportedAt: '2026-01-01T00:00:00Z',
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: [{ addresses: [address], ready: true, serving: true, terminating: false }],
  };
}

async function storedNames(store: Store, cluster: string): Promise<string[]> {
  const prefix = clusterExportsPrefix(cluster);
  return (await store.range(prefix)).kvs.map((kv) => kv.key.slice(prefix.length)).sort();
}

describe('hub replicas on one real etcd', function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  /** What the replicas warned about (a failed report says why here). */
  const warnings: string[] = [];

  before(async () => {
    etcd = await startTestEtcd();
  });
  after(async () => {
    await etcd.stop();
  });

  /** A replica's ingest: its own etcd client, its own watch-fed index (as each hub has). */
  async function replica(namespace: string): Promise<{ ingest: ReportIngest; bus: MemoryBus; store: EtcdStore }> {
    const store = new EtcdStore({ endpoints: [etcd.url], namespace });
    const ac = new AbortController();
    const watched = new WatchedPrefix(store, EXPORTS_PREFIX);
    const exports = new ExportIndex(watched);
    void watched.run(ac.signal);
    await watched.ready();
    const bus = new MemoryBus();
    const ingest = new ReportIngest({
      store,
      bus,
      exports,
      clusterExists: () => true,
      clusterRanges: () => undefined,
      count: () => undefined,
      warn: (fields, message) => {
        warnings.push(`${message}: ${String(fields.err)}`);
      },
    });
    onCleanup(async () => {
      ac.abort();
      await ingest.drain();
      await store.close();
    });
    return { ingest, bus, store };
  }

  /** Hands one report to a replica as the queue group would, and waits for its answer. */
  async function deliver(to: { ingest: ReportIngest; bus: MemoryBus }, report: Report): Promise<ReportReply> {
    const reply = `_INBOX.${randomUUID()}`;
    const answered = new Promise<ReportReply>((resolve) => {
      const sub = to.bus.subscribe(reply, {}, (m) => {
        sub.unsubscribe();
        resolve(JSON.parse(new TextDecoder().decode(m.data)) as ReportReply);
      });
    });
    const msg: BusMessage = { subject: agentSubject(report.cluster, AgentSubjectKind.Report), data: reportCodec.encode(report), reply };
    to.ingest.handle(msg);
    return answered;
  }

  // Every placement of a three-part run over two replicas, each right after the replica before
  // wrote (no waiting for watches): the parts' progress and the last write's revision are in etcd.
  for (const placement of ['AAA', 'AAB', 'ABA', 'ABB', 'BAA', 'BAB', 'BBA', 'BBB']) {
    it(`a full report in three parts placed ${placement} sweeps the export it dropped`, async () => {
      const ns = `/t-${randomUUID()}`;
      const a = await replica(ns);
      const b = await replica(ns);
      const on = (i: number): { ingest: ReportIngest; bus: MemoryBus } => (placement[i] === 'A' ? a : b);
      let seq = 0;
      const report = (o: Partial<Report>): Report => ({ v: 1, cluster: 'c1', session: 'session-1', seq: ++seq, full: false, upserts: [], removals: [], ...o });
      // Exported before, by the replica that does not get the first part.
      const seeded = await deliver(on(0) === a ? b : a, report({ upserts: [exp('x', '10.0.0.1'), exp('stale', '10.0.0.9')] }));
      assert.equal(seeded.ok, true, `${JSON.stringify(seeded)} ${warnings.join('; ')}`);
      const parts = [[exp('x', '10.0.0.2')], [exp('y', '10.0.0.3')], []];
      for (const [index, upserts] of parts.entries()) {
        const reply = await deliver(on(index), report({ full: true, part: { index, count: parts.length }, upserts }));
        assert.equal(reply.ok, true, JSON.stringify(reply));
      }
      assert.deepEqual(await storedNames(a.store, 'c1'), ['inference/x', 'inference/y']);
      const x = JSON.parse((await a.store.get(`${clusterExportsPrefix('c1')}inference/x`))?.value ?? '{}') as ExportState;
      assert.deepEqual(x.endpoints[0]?.addresses, ['10.0.0.2'], 'the newer value, not skipped as unchanged by a lagging index');
      assert.deepEqual((await a.store.range('/causeway/v1/ingest/c1/parts/')).kvs, [], 'the parts’ records are deleted with the sweep');
    });
  }

  it('a replay landing on the other replica is acknowledged without a write, and a removal right after an add on the other replica lands', async () => {
    const ns = `/t-${randomUUID()}`;
    const a = await replica(ns);
    const b = await replica(ns);
    const first: Report = { v: 1, cluster: 'c1', session: 'session-1', seq: 1, full: false, upserts: [exp('x', '10.0.0.1')], removals: [] };
    const stored = await deliver(a, first);
    const revision = (await a.store.range(EXPORTS_PREFIX)).revision;
    assert.deepEqual(await deliver(b, first), stored, 'the same answer from the other replica');
    assert.equal((await a.store.range(EXPORTS_PREFIX)).revision, revision, 'nothing written again');
    const removal: Report = { ...first, seq: 2, upserts: [], removals: [{ namespace: 'inference', name: 'x' }] };
    assert.equal((await deliver(b, removal)).ok, true);
    assert.deepEqual(await storedNames(a.store, 'c1'), []);
  });

  it('a leader whose lease is revoked in the middle of a VIP allocation writes nothing after it lost the lease', async () => {
    const ns = `/t-${randomUUID()}`;
    const store = new EtcdStore({ endpoints: [etcd.url], namespace: ns });
    onCleanup(() => store.close());
    const pools: IPPoolResource[] = [
      { apiVersion: 'causeway.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'vips' }, spec: { use: 'ClusterSetIPs', cidrs: ['10.96.0.0/28'] } },
    ];
    // Once armed, holds the allocation's transactions until the test lets them go: the allocation is in flight.
    const gate: { hold?: Promise<void>; reached?: () => void } = {};
    // Reads straight through (guardedWrites only delegates them); transactions held at the gate.
    const paused: Store = {
      ...guardedWrites(store, () => undefined),
      txn: async (compares, ops, signal) => {
        gate.reached?.();
        await gate.hold;
        return store.txn(compares, ops, signal);
      },
    };
    const ac = new AbortController();
    onCleanup(() => {
      ac.abort();
      return Promise.resolve();
    });
    const term = await store.campaign('vip-test', 'replica-1/host/1', 3, ac.signal);
    const vips = new VipStore(guardedWrites(paused, () => term.guard));

    // While the term holds, the guarded allocation writes (the control).
    const kept = await vips.ensure({ namespace: 'inference', name: 'first' }, pools, new Date(), ac.signal);
    assert.equal((await store.get(`${VIPS_PREFIX}inference/first`)) !== undefined, true, `allocated ${kept.ip}`);

    let release: () => void = () => undefined;
    gate.hold = new Promise<void>((r) => {
      release = r;
    });
    const atTxn = new Promise<void>((r) => {
      gate.reached = r;
    });
    const before = (await store.range(VIP_CLAIMS_PREFIX)).kvs.length;
    const inFlight = vips.ensure({ namespace: 'inference', name: 'second' }, pools, new Date(), ac.signal);
    await atTxn;
    // The lease goes (as when etcd expires it): revoked in etcd, the term's key with it.
    assert.equal(await store.reclaimLeadership('vip-test', 'replica-1/'), 1);
    const lost = await Promise.race([term.lost, new Promise<undefined>((r) => setTimeout(r, 10_000, undefined))]);
    assert.ok(lost instanceof Error, 'the lease loss is reported');
    release();
    await assert.rejects(inFlight);
    assert.equal(await store.get(`${VIPS_PREFIX}inference/second`), undefined, 'no assignment written after the lease was lost');
    assert.equal((await store.range(VIP_CLAIMS_PREFIX)).kvs.length, before, 'no claim written after the lease was lost');
  });
});

describe('two hubs against one etcd and one nats-server, the agent report protocol through the queue group', function () {
  this.timeout(180_000);
  const CLUSTER = 'aws-train';
  let set: HubReplicas;
  let nc: NatsConnection;

  before(async () => {
    set = await startHubReplicas({ mode: 'in-process', replicas: 2 });
    const { creds } = await set.client.credentials(CLUSTER, false);
    nc = await connect({
      servers: set.nats.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      inboxPrefix: agentInboxPrefix(CLUSTER),
      name: `test-as-${CLUSTER}`,
    });
  });
  after(async () => {
    await nc.close();
    await set.stop();
  });

  /** Reports handled by each replica so far (its own counter). */
  async function handled(): Promise<number[]> {
    return Promise.all(
      set.replicas.map(async (r) => {
        const text = await (await fetch(`${r.url}/metrics`)).text();
        return Number(/causeway_agent_messages_total\{kind="report",result="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
      }),
    );
  }

  /** Sends a report as the agent does (its codec, its subject, request/reply); answers which replica took it. */
  async function send(report: Report): Promise<number> {
    const before = await handled();
    const msg = await nc.request(agentSubject(CLUSTER, AgentSubjectKind.Report), reportCodec.encode(report), { timeout: 10_000 });
    const reply = reportReplyCodec.decode(msg.data);
    assert.ok(reply.ok && reply.value.ok, JSON.stringify(reply));
    const after = await handled();
    return after.findIndex((n, i) => n > (before[i] ?? 0));
  }

  it('the replica that does not lead checks its snapshot memos every 5 s and warms what changed; the leader does not', async function () {
    this.timeout(30_000);
    const passes = async (url: string): Promise<number> =>
      Number(/causeway_standby_warm_passes_total (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? Number.NaN);
    const leader = await waitFor('a leader', () => set.leader());
    const standby = set.replicas.find((r) => r !== leader);
    assert.ok(standby !== undefined);
    const first = await waitFor('a first pass on the standby', async () => {
      const n = await passes(standby.url);
      return n >= 1 ? n : undefined;
    });
    await waitFor('another pass (every 5 s)', async () => (await passes(standby.url)) > first, 15_000);
    const led = await passes(leader.url);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(await passes(leader.url), led, 'no pass while leading');
  });

  it('a full report in two parts that drops a service sweeps it, whichever replica gets which part', async () => {
    const store = new EtcdStore({ endpoints: [set.etcd.url] });
    onCleanup(() => store.close());
    const session = randomUUID();
    let seq = 0;
    const report = (o: Partial<Report>): Report => ({ v: 1, cluster: CLUSTER, session, seq: ++seq, full: false, upserts: [], removals: [], ...o });
    // The hubs' views see the Cluster a moment after the apply.
    await waitFor('the cluster to be known to both replicas', async () => {
      const r = await nc.request(agentSubject(CLUSTER, AgentSubjectKind.Report), reportCodec.encode(report({})), { timeout: 5000 });
      const d = reportReplyCodec.decode(r.data);
      return d.ok && d.value.ok;
    });
    const placements = new Set<string>();
    // The queue group picks a replica at random: go on until each part has landed on each replica
    // (more than six rounds is one chance in 2^6 or so per missing placement; forty is the bound).
    for (let round = 0; round < 40 && !(placements.has('01') && placements.has('10')); round++) {
      const dropped = `drop-${round}`;
      await send(report({ upserts: [exp(dropped, `10.16.1.${round + 10}`)] }));
      const first = await send(report({ full: true, part: { index: 0, count: 2 }, upserts: [exp('keep-a', '10.16.0.1')] }));
      const second = await send(report({ full: true, part: { index: 1, count: 2 }, upserts: [exp('keep-b', '10.16.0.2')] }));
      placements.add(`${first}${second}`);
      assert.deepEqual(
        await storedNames(store, CLUSTER),
        ['inference/keep-a', 'inference/keep-b'],
        `round ${round}, parts on replicas ${first} then ${second}`,
      );
    }
    assert.ok(placements.has('01') && placements.has('10'), `placements seen: ${[...placements].join(', ')}`);
  });

  it('the replica that does not lead follows the VIPs the leader assigns, so its imports carry them before it ever leads', async () => {
    const session = randomUUID();
    await waitFor('the cluster to be known to both replicas', async () => {
      const r = await nc.request(
        agentSubject(CLUSTER, AgentSubjectKind.Report),
        reportCodec.encode({ v: 1, cluster: CLUSTER, session, seq: 1, full: false, upserts: [exp('with-vip', '10.16.2.1')], removals: [] }),
        { timeout: 5000 },
      );
      const d = reportReplyCodec.decode(r.data);
      return d.ok && d.value.ok;
    });
    const leader = await waitFor('a leader', () => set.leader());
    const standby = set.replicas.find((r) => r !== leader);
    assert.ok(standby !== undefined);
    const ips = async (url: string, token: string): Promise<readonly string[]> =>
      (await new HubClient(url, token).services()).items.find((x) => x.name === 'with-vip')?.ips ?? [];
    const assigned = await waitFor('the leader to assign a VIP', async () => {
      const got = await ips(leader.url, leader.adminToken);
      return got.length > 0 ? got : undefined;
    });
    // Only the leader allocates; the standby reads the assignment from etcd.
    await waitFor(
      'the standby to carry the same VIP',
      async () => JSON.stringify(await ips(standby.url, standby.adminToken)) === JSON.stringify(assigned),
      10_000,
    );
  });
});
