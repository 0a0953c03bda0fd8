// The agent's settings controller (its LoadBalancer block → the MetalLB IPAddressPool it owns) and
// its early heartbeat, against the in-memory Kubernetes port (MemoryCluster) and an in-memory hub,
// on a ManualClock; and the pure pieces (the heartbeat's gap, the LoadBalancerPool condition).
// Assertions read what MemoryCluster holds and what the heartbeats say.
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type ClusterSettings, type Heartbeat } from '../../../controlplane/api/messages.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import { earlyHeartbeatDelay } from '../../../cluster-agent/planners/early-heartbeat.ts';
import { addressPoolCondition, newerSettings } from '../../../cluster-agent/planners/metallb-pool.ts';
import { agentsOnClock } from './agents-on-clock.ts';
import { CLUSTER, FakeTransport, batch, drive, imp } from './fake-hub.ts';

const settings = (revision: number, cidrs?: string[]): ClusterSettings => ({
  v: PROTOCOL_VERSION,
  cluster: CLUSTER,
  revision,
  ...(cidrs !== undefined ? { loadBalancer: { pool: 'lb', cidrs } } : {}),
});
const pool = (kube: MemoryCluster) => kube.object('IPAddressPool', 'metallb-system', 'causeway-loadbalancer');
const addresses = (kube: MemoryCluster): unknown => (pool(kube)?.spec as { addresses?: unknown } | undefined)?.addresses;
const lbCondition = (h: Heartbeat | undefined) => h?.conditions?.find((c) => c.type === 'LoadBalancerPool');

describe('agent: the MetalLB IPAddressPool from the hub settings (MemoryCluster, in-memory hub, ManualClock)', () => {
  const agents = agentsOnClock();

  it('asks at start and writes the block as an owned IPAddressPool; a pushed change updates it, an older push is ignored, a release deletes it', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSettings = () => Promise.resolve(settings(10, ['10.40.0.0/28']));
    const agent = agents.start(kube, hub);
    const written = await drive(agents.clock, 'the pool written', () => pool(kube));
    assert.equal(hub.settingsRequests.length, 1);
    assert.deepEqual(hub.settingsRequests[0]?.cluster, CLUSTER);
    assert.equal(written.apiVersion, 'metallb.io/v1beta1');
    assert.equal(written.metadata.labels?.['causeway.dev/owned-by'], 'agent');
    assert.deepEqual(written.spec, { addresses: ['10.40.0.0/28'], autoAssign: true });
    assert.deepEqual(lbCondition(agent.heartbeat()), {
      type: 'LoadBalancerPool',
      status: 'True',
      reason: 'Applied',
      message: 'IPAddressPool metallb-system/causeway-loadbalancer holds 10.40.0.0/28',
    });

    hub.pushSettings(settings(12, ['10.40.0.16/28', 'fd00:40::/120']));
    await drive(agents.clock, 'the pool updated', () => JSON.stringify(addresses(kube)) === JSON.stringify(['10.40.0.16/28', 'fd00:40::/120']));
    hub.pushSettings(settings(11, ['10.40.0.32/28']));
    hub.pushSettings({ ...settings(13, ['10.40.0.48/28']), cluster: 'someone-else' });
    await drive(agents.clock, 'a few passes', () => agents.clock.now() >= 500 || undefined, 1000);
    assert.deepEqual(addresses(kube), ['10.40.0.16/28', 'fd00:40::/120'], 'an older revision and another cluster are ignored');

    hub.pushSettings(settings(14));
    await drive(agents.clock, 'the pool deleted', () => pool(kube) === undefined);
    assert.equal(lbCondition(agent.heartbeat()), undefined, 'a cluster without a block says nothing about MetalLB');
    assert.equal(agent.metrics.addressPoolsApplied, 2);
    assert.equal(agent.metrics.addressPoolsDeleted, 1);
  });

  it('leaves a pool of that name it does not own alone (PoolNotOwned), and never deletes it when the block goes', async () => {
    const kube = new MemoryCluster();
    const foreign = kube.put({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'causeway-loadbalancer', namespace: 'metallb-system' },
      spec: { addresses: ['192.0.2.0/24'], autoAssign: false },
    });
    const hub = new FakeTransport();
    hub.onSettings = () => Promise.resolve(settings(3, ['10.40.0.0/28']));
    const agent = agents.start(kube, hub);
    const cond = await drive(agents.clock, 'the conflict reported', () => lbCondition(agent.heartbeat()));
    assert.equal(cond.status, 'False');
    assert.equal(cond.reason, 'PoolNotOwned');
    assert.deepEqual(pool(kube), foreign, 'untouched');
    assert.equal(agent.metrics.ownershipConflicts, 1);
    hub.pushSettings(settings(4));
    await drive(agents.clock, 'a few passes', () => agents.clock.now() >= 500 || undefined, 1000);
    assert.deepEqual(pool(kube), foreign, 'not ours to delete');
  });

  it('on a cluster without MetalLB reports MetalLBNotInstalled and retries with backoff (no spin), then writes once MetalLB is there', async () => {
    const kube = new MemoryCluster({ notServing: ['IPAddressPool'] });
    const hub = new FakeTransport();
    hub.onSettings = () => Promise.resolve(settings(3, ['10.40.0.0/28']));
    let gets = 0;
    const get = kube.get.bind(kube);
    kube.get = (ref, signal) => {
      if (ref.kind === 'IPAddressPool') gets += 1;
      return get(ref, signal);
    };
    const agent = agents.start(kube, hub);
    const cond = await drive(agents.clock, 'the condition', () => lbCondition(agent.heartbeat()));
    assert.deepEqual([cond.status, cond.reason], ['False', 'MetalLBNotInstalled']);
    const before = gets;
    await drive(agents.clock, '3 s of virtual time', () => agents.clock.now() >= 3000 || undefined, 4000, 20);
    // Backoff 20 ms doubling to 160 ms (jittered): a few dozen attempts at most; a spin would be one per 20 ms step (150) or more.
    assert.ok(gets - before <= 40, `retried ${gets - before} times in 3 s`);
    assert.ok(gets - before >= 5, `still retrying (${gets - before})`);

    kube.serveKind('IPAddressPool', true);
    await drive(agents.clock, 'the pool written once MetalLB is installed', () => pool(kube));
    assert.equal(lbCondition(agent.heartbeat())?.reason, 'Applied');
  });

  it('a cluster without MetalLB and without a block: nothing to do, no condition, no retries', async () => {
    const kube = new MemoryCluster({ notServing: ['IPAddressPool'] });
    const hub = new FakeTransport();
    hub.onSettings = () => Promise.resolve(settings(3));
    let gets = 0;
    const get = kube.get.bind(kube);
    kube.get = (ref, signal) => {
      if (ref.kind === 'IPAddressPool') gets += 1;
      return get(ref, signal);
    };
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the settings held', () => agent.clusterSettings());
    await drive(agents.clock, '2 s of virtual time', () => agents.clock.now() >= 2000 || undefined, 3000, 20);
    assert.equal(gets, 1);
    assert.equal(lbCondition(agent.heartbeat()), undefined);
  });

  it('writes and deletes nothing before the hub answered; asks again on backoff and after a reconnect', async () => {
    const kube = new MemoryCluster();
    const ours = kube.put({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'causeway-loadbalancer', namespace: 'metallb-system', labels: { 'causeway.dev/owned-by': 'agent' } },
      spec: { addresses: ['10.40.0.0/28'], autoAssign: true },
    });
    const hub = new FakeTransport();
    hub.onSettings = () => Promise.reject(new Error('no responders'));
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'a few failed asks', () => hub.settingsRequests.length >= 3);
    assert.deepEqual(pool(kube), ours, 'an outage of the hub withdraws nothing');
    assert.ok(agent.metrics.settingsRequestFailures >= 3);

    hub.onSettings = () => Promise.resolve(settings(5, ['10.40.0.0/28']));
    await drive(agents.clock, 'the settings held', () => agent.clusterSettings());
    const asked = hub.settingsRequests.length;
    hub.setUp(false);
    hub.setUp(true);
    await drive(agents.clock, 'asked again after the reconnect', () => hub.settingsRequests.length > asked);
    // Adopted: the pool is ours and equal, so nothing was rewritten.
    assert.equal(kube.writes.apply, 0);
    assert.deepEqual(pool(kube), ours);
  });

  it('sends a heartbeat as soon as the applied revision advances, and under churn at most one per 250 ms', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    const sent: { at: number; applied: number }[] = [];
    hub.heartbeat = (h: Heartbeat) => {
      hub.heartbeats.push(h);
      sent.push({ at: agents.clock.now(), applied: h.appliedRevision });
    };
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 1, [])]);
    const agent = agents.start(kube, hub, { heartbeatIntervalMs: 5000 });
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 1);
    await drive(agents.clock, 'past the gap', () => agents.clock.now() >= 1000 || undefined, 2000);

    // One batch after a quiet second: its heartbeat goes at once, not at the 5 s tick.
    const at = agents.clock.now();
    hub.push(batch('delta', 1, 2, [imp('web', 1)]));
    const early = await drive(agents.clock, 'the early heartbeat', () => sent.find((s) => s.applied === 2), 1000, 1);
    assert.ok(early.at - at <= 5, `sent ${early.at - at} ms after the batch`);

    // Churn: a batch every 10 ms for 2 s.
    const start = agents.clock.now();
    const first = sent.length;
    for (let r = 3; r <= 202; r++) {
      hub.push(batch('delta', r - 1, r, [imp('web', 1 + (r % 3))]));
      await drive(agents.clock, `revision ${r} applied`, () => agent.appliedRevision() === r, 1000, 1);
      agents.clock.advance(10);
    }
    await drive(agents.clock, 'the last revision heard', () => sent.some((s) => s.applied === 202), 1000, 10);
    const during = sent.slice(first);
    const gaps = during.slice(1).map((s, i) => s.at - (during[i]?.at ?? 0));
    assert.ok(
      gaps.every((g) => g >= 250),
      `gaps ${gaps.join(',')}`,
    );
    const spanMs = agents.clock.now() - start;
    assert.ok(during.length <= Math.ceil(spanMs / 250) + 1, `${during.length} heartbeats in ${spanMs} ms`);
    assert.ok(during.length >= Math.floor(spanMs / 250) - 1, `${during.length} heartbeats in ${spanMs} ms: early ones went`);
    assert.ok(agent.metrics.earlyHeartbeats >= during.length - 1);
  });
});

describe('agent settings and heartbeat: the pure pieces', () => {
  const delays: [number | undefined, number, number][] = [
    [undefined, 0, 0],
    [1000, 1300, 0],
    [1000, 1250, 0],
    [1000, 1100, 150],
    [1000, 1000, 250],
  ];
  for (const [last, now, want] of delays) {
    it(`early heartbeat: last ${String(last)}, now ${now} → in ${want} ms`, () => {
      assert.equal(earlyHeartbeatDelay(last, now, 250), want);
    });
  }

  it('keeps the newest settings for its own cluster only', () => {
    const s = (revision: number, cluster = CLUSTER): ClusterSettings => ({ v: 1, cluster, revision });
    assert.equal(newerSettings(undefined, s(1), CLUSTER), true);
    assert.equal(newerSettings(s(5), s(5), CLUSTER), true);
    assert.equal(newerSettings(s(5), s(4), CLUSTER), false);
    assert.equal(newerSettings(undefined, s(9, 'other'), CLUSTER), false);
  });

  it('the LoadBalancerPool condition per outcome', () => {
    assert.equal(addressPoolCondition({ kind: 'unknown' }), undefined);
    assert.equal(addressPoolCondition({ kind: 'none' }), undefined);
    const table: [Parameters<typeof addressPoolCondition>[0], string, string][] = [
      [{ kind: 'applied', cidrs: ['10.40.0.0/28'] }, 'True', 'Applied'],
      [{ kind: 'not-installed', message: 'x' }, 'False', 'MetalLBNotInstalled'],
      [{ kind: 'not-owned' }, 'False', 'PoolNotOwned'],
      [{ kind: 'failed', message: 'y'.repeat(5000) }, 'False', 'ApplyFailed'],
    ];
    for (const [outcome, status, reason] of table) {
      const c = addressPoolCondition(outcome);
      assert.deepEqual([c?.type, c?.status, c?.reason], ['LoadBalancerPool', status, reason]);
      assert.ok((c?.message.length ?? 0) <= 1024, 'fits the heartbeat schema');
    }
  });
});
