// The scale-out topology a production user runs (issue 11 §2), on loopback: two `causeway hub`
// processes on a 3-member etcd cluster and a 3-node nats-server cluster (JetStream replicas 3),
// each given every member's and every node's URL; one exporting agent, one consuming agent and
// many light consumers (the real agent and NATS transport in-process, MemoryCluster as their
// Kubernetes side). While the exporter's endpoints churn, in turn: SIGKILL of the leading hub,
// SIGKILL of etcd's raft leader, SIGKILL of the NATS node the exporter is connected to, each
// started again, then a restart of every NATS node at once. Every write the agents make to their
// clusters is watched (not sampled): no consumer ever loses the imported service or a stable
// endpoint, every endpoint added reaches every consumer, and the final state is the exporter's.
// The seconds until changes flow again after each event are printed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../cluster-agent/agent.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import { NatsHubTransport } from '../../cluster-agent/nats-transport.ts';
import type { KubeObject, ObjectRef } from '../../cluster-agent/objects.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { AWS, Label, ONPREM, endpointSlice, exportedService } from '../harness/clusterset.ts';
import { jetStreamProbe, startScaleOut, type ScaleOut } from '../harness/scale-out.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const NS = 'inference';
const SERVICE = 'llm-serving';
const STABLE = ['10.32.1.10', '10.32.1.11'];
/** Light consumers besides aws-train; SCALE_OUT_AGENTS overrides. */
const LIGHT = Number(process.env.SCALE_OUT_AGENTS ?? 50);
/** A fresh endpoint replaces the oldest of a window this large this often: each lives 18 s. */
const CHURN_MS = 300;
const WINDOW = 60;
/** The goal for the leader's SIGKILL; every other event must recover within the chaos suite's bound. */
const LEADER_GOAL_MS = 5000;
const RECOVERY_BOUND_MS = 30_000;

const lightName = (i: number): string => `light-${String(i).padStart(2, '0')}`;

/** The examples' onprem-fra network holds 10.32.0.0/12: each light cluster gets a /22 of pods and a /24 of services in it. */
function lightCluster(i: number): object {
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name: lightName(i) },
    spec: {
      provider: 'onprem',
      region: 'fra1',
      network: 'onprem-fra',
      podCIDRs: [`10.36.${i * 4}.0/22`],
      serviceCIDRs: [`10.37.${i}.0/24`],
      heartbeatTTLSeconds: 10,
    },
  };
}

/** A consumer's Kubernetes side that checks every write the agent makes to it. */
class WatchedCluster extends MemoryCluster {
  /** Imported address → when it was first written. */
  readonly seen = new Map<string, number>();
  readonly withdrawals: string[] = [];
  readonly name: string;
  private holding = false;

  constructor(name: string) {
    super();
    this.name = name;
  }

  imported(): string[] {
    return this.list('EndpointSlice', NS)
      .filter((s) => s.metadata.labels?.[Label.ServiceName] === SERVICE && s.metadata.labels[Label.SourceCluster] === ONPREM)
      .flatMap((s) => ((s.endpoints ?? []) as { addresses: string[] }[]).flatMap((e) => e.addresses))
      .sort();
  }

  override async apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const stored = await super.apply(object, signal);
    this.observe();
    return stored;
  }

  override async delete(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void> {
    await super.delete(ref, uid, signal);
    this.observe();
  }

  private observe(): void {
    const now = this.imported();
    const at = Date.now();
    for (const ip of now) if (!this.seen.has(ip)) this.seen.set(ip, at);
    const whole = this.object('ServiceImport', NS, SERVICE) !== undefined && STABLE.every((ip) => now.includes(ip));
    if (this.holding && !whole)
      this.withdrawals.push(`${this.name} at ${new Date(at).toISOString()}: has ${now.filter((ip) => STABLE.includes(ip)).join(',') || 'no stable endpoint'}`);
    if (whole) this.holding = true;
  }
}

interface RunningAgent {
  readonly transport: NatsHubTransport;
  stop(): Promise<void>;
}

async function startAgent(set: ScaleOut, name: string, cluster: MemoryCluster, log: pino.Logger): Promise<RunningAgent> {
  const transport = new NatsHubTransport({
    cluster: name,
    servers: set.nats.urls,
    creds: (await set.client.credentials(name, false)).creds,
    onError: (what, err) => {
      log.warn({ cluster: name, what, err }, 'transport');
    },
  });
  const agent = new Agent(cluster, transport, { cluster: name, heartbeatIntervalMs: 2000, logger: log.child({ cluster: name }) });
  await agent.start();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await agent.stop();
      await transport.close();
    })());
  onCleanup(stop);
  return { transport, stop };
}

describe('two causeway hub processes on a 3-member etcd and a 3-node NATS cluster', function () {
  this.timeout(400_000);

  it('SIGKILL of the leader hub, an etcd member and a NATS node, and a restart of all NATS nodes, withdraw nothing and lose nothing', async () => {
    const set = await startScaleOut({ hubs: 2, manifests: Array.from({ length: LIGHT }, (_, i) => lightCluster(i)) });
    onCleanup(() => set.stop());
    const logDir = tempDir('scale-out-agents');
    const destination = pino.destination({ dest: join(logDir, 'agents.log'), sync: process.env['CAUSEWAY_KEEP_TEST_DIRS'] === '1', mkdir: true });
    onCleanup(() => {
      destination.end();
      return Promise.resolve();
    });
    const log = pino({ level: 'info' }, destination);

    const exporter = new MemoryCluster();
    for (const o of exportedService({ namespace: NS, name: SERVICE, endpoints: STABLE.map((ip) => ({ ip })) })) exporter.put(o);
    const consumers = [new WatchedCluster(AWS), ...Array.from({ length: LIGHT }, (_, i) => new WatchedCluster(lightName(i)))];
    const agents = [await startAgent(set, ONPREM, exporter, log)];
    for (const c of consumers) agents.push(await startAgent(set, c.name, c, log));
    await waitFor('every consumer to import the stable endpoints', () => consumers.every((c) => STABLE.every((ip) => c.imported().includes(ip))), 60_000);

    // Churn: every CHURN_MS a fresh address (never reused) replaces the oldest of the window.
    const added = new Map<string, number>();
    const window: string[] = [];
    let n = 0;
    const churn = setInterval(() => {
      const ip = `10.32.${2 + Math.floor(n / 250)}.${(n % 250) + 1}`;
      n++;
      window.push(ip);
      if (window.length > WINDOW) window.shift();
      added.set(ip, Date.now());
      exporter.put(endpointSlice({ namespace: NS, name: SERVICE, endpoints: [...STABLE, ...window].map((a) => ({ ip: a })) }));
    }, CHURN_MS);
    // etcd writes through a client of all three members, as the hubs have: one starts every 100 ms
    // without waiting for the last, so a write held by a dead member does not hold the others.
    const writes: { start: number; end: number; ok: boolean }[] = [];
    const inFlight = new Set<Promise<void>>();
    let w = 0;
    const writer = setInterval(() => {
      const start = Date.now();
      const done = set.store
        .txn([], [{ type: 'put', key: `/scale-out/probe/${w % 50}`, value: String(w) }])
        .then(
          () => true,
          () => false,
        )
        .then((ok) => {
          writes.push({ start, end: Date.now(), ok });
          inFlight.delete(done);
        });
      w++;
      inFlight.add(done);
    }, 100);
    // JetStream: a publish to the replicas-3 probe stream every 250 ms; the acknowledged ones are kept.
    const js = await jetStreamProbe(set.nats);
    onCleanup(() => js.close());
    const acked: { seq: number; at: number }[] = [];
    const publishing = { on: true };
    const publisher = (async () => {
      for (let i = 0; publishing.on; i++) {
        const seq = await js.publish(String(i)).catch(() => undefined);
        if (seq !== undefined) acked.push({ seq, at: Date.now() });
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const stopLoad = async (): Promise<void> => {
      clearInterval(churn);
      clearInterval(writer);
      publishing.on = false;
      await Promise.all(inFlight);
      await publisher;
    };
    onCleanup(stopLoad);

    /** Waits until every consumer has an address added after `since`; answers the ms from `since` until the last of them had it. */
    const flowing = async (since: number): Promise<number> => {
      const firstAfter = (c: WatchedCluster): number | undefined => {
        let first: number | undefined;
        for (const [ip, at] of c.seen) if ((added.get(ip) ?? 0) > since && (first === undefined || at < first)) first = at;
        return first;
      };
      await waitFor('an endpoint added after the event to reach every consumer', () => consumers.every((c) => firstAfter(c) !== undefined), 60_000).catch(
        (err: unknown) => {
          const behind = consumers.filter((c) => firstAfter(c) === undefined).map((c) => c.name);
          throw new Error(`${(err as Error).message}; still without one: ${behind.join(', ')}`);
        },
      );
      return Math.max(...consumers.map((c) => firstAfter(c) ?? Infinity)) - since;
    };
    const measured: { event: string; ms: number; note: string }[] = [];
    const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

    try {
      // 1. SIGKILL of the leading hub: the standby takes over.
      await flowing(Date.now());
      const leader = await waitFor('an elected hub', () => set.leader());
      const killedAt = Date.now();
      await leader.kill();
      const elected = waitFor(
        'the standby to lead',
        async () => {
          const l = await set.leader();
          return l !== undefined && l.name !== leader.name ? { hub: l, at: Date.now() } : undefined;
        },
        30_000,
      );
      const leaderFlow = await flowing(killedAt);
      const next = await elected;
      measured.push({
        event: 'leader hub SIGKILL',
        ms: leaderFlow,
        note: `killed ${leader.name}; ${next.hub.name} elected within ${secs(next.at - killedAt)}`,
      });
      await leader.start();

      // 2. SIGKILL of etcd's raft leader: the other two elect one and go on.
      await flowing(Date.now());
      const member = await waitFor('an etcd leader', () => set.etcd.leader());
      const etcdKilledAt = Date.now();
      await member.kill();
      const etcdFlow = await flowing(etcdKilledAt);
      // Writes started after the kill: when the first succeeded; those in flight at the kill: how they ended.
      const writeBack = await waitFor('an etcd write started after the kill to succeed', () => writes.find((x) => x.ok && x.start > etcdKilledAt)?.end, 30_000);
      await waitFor('the writes in flight at the kill to end', () => inFlight.size < 3, 10_000);
      const caught = writes.filter((x) => x.start <= etcdKilledAt && x.end > etcdKilledAt);
      const failed = writes.filter((x) => !x.ok && x.end > etcdKilledAt && x.start < writeBack);
      measured.push({
        event: 'etcd leader SIGKILL',
        ms: etcdFlow,
        note: `killed ${member.name}; writes succeeding again ${secs(writeBack - etcdKilledAt)} after; ${failed.length} failed meanwhile, the longest taking ${secs(Math.max(0, ...failed.map((x) => x.end - x.start)))}; ${caught.length} in flight at the kill`,
      });
      const etcdRestartAt = Date.now();
      await member.start();
      await waitFor('all etcd members healthy', () => set.etcd.healthy(), 30_000);
      measured.push({ event: 'etcd member restart', ms: await flowing(etcdRestartAt), note: `${member.name} back` });

      // 3. SIGKILL of the NATS node the exporter's agent is connected to: its clients reconnect to the others.
      await flowing(Date.now());
      const holding = await Promise.all(set.nats.nodes.map(async (node) => ({ node, clients: await node.clients() })));
      const target = holding.find((h) => h.clients.includes(`causeway-agent-${ONPREM}`)) ?? holding[0];
      assert.ok(target !== undefined);
      const natsKilledAt = Date.now();
      await target.node.kill();
      const natsFlow = await flowing(natsKilledAt);
      const jsBack = await waitFor('a JetStream publish acknowledged after the kill', () => acked.find((a) => a.at > natsKilledAt)?.at, 30_000);
      measured.push({
        event: 'NATS node SIGKILL',
        ms: natsFlow,
        note: `killed ${target.node.name} with ${target.clients.length} clients (the exporter's among them); JetStream answering within ${secs(jsBack - natsKilledAt)}`,
      });
      const natsRestartAt = Date.now();
      await target.node.start();
      await waitFor('the NATS nodes routed again', () => set.nats.routed(), 20_000);
      measured.push({ event: 'NATS node restart', ms: await flowing(natsRestartAt), note: `${target.node.name} back` });

      // 4. Every NATS node restarted at once, with every agent connected.
      await flowing(Date.now());
      const restartAt = Date.now();
      await Promise.all(set.nats.nodes.map((node) => node.stop()));
      const downFor = Date.now() - restartAt;
      await Promise.all(set.nats.nodes.map((node) => node.start()));
      const startedAt = Date.now();
      await waitFor('every agent reconnected', () => agents.every((a) => a.transport.connected()), 60_000);
      const reconnected = Date.now() - startedAt;
      const restartFlow = await flowing(startedAt);
      const jsRestarted = await waitFor('a JetStream publish acknowledged after the restart', () => acked.find((a) => a.at > startedAt)?.at, 60_000);
      measured.push({
        event: 'NATS restart (all nodes)',
        ms: restartFlow,
        note: `${agents.length} agents; down ${secs(downFor)}; from the start: all reconnected ${secs(reconnected)}, JetStream answering ${secs(jsRestarted - startedAt)}`,
      });
    } finally {
      await stopLoad();
    }

    const final = [...STABLE, ...window].sort();
    await waitFor('every consumer to hold exactly the exporter’s endpoints', () => consumers.every((c) => c.imported().join() === final.join()), 30_000);
    console.log(
      `      ${agents.length} agents, ${added.size} endpoint changes, ${writes.filter((x) => x.ok).length}/${writes.length} etcd writes ok, ${acked.length} JetStream publishes acknowledged`,
    );
    for (const m of measured) console.log(`      ${m.event} → changes flowing to every consumer: ${secs(m.ms)} (${m.note})`);

    assert.deepEqual(
      consumers.flatMap((c) => c.withdrawals),
      [],
      'no consumer lost the imported service or a stable endpoint',
    );
    const lost = consumers.flatMap((c) => [...added.keys()].filter((ip) => !c.seen.has(ip)).map((ip) => `${ip} never reached ${c.name}`));
    assert.deepEqual(lost, [], 'every endpoint added reached every consumer');
    const info = await waitFor('the probe stream', () => js.info(), 30_000);
    await js.close();
    assert.equal(info.state.messages, info.state.last_seq, 'the replicas-3 stream lost no message');
    assert.ok(
      acked.every((a) => a.seq <= info.state.last_seq),
      'every acknowledged JetStream message is in the stream',
    );
    assert.equal(info.cluster?.replicas?.length, 2, 'the stream has its leader and two replicas');
    const leaderMs = measured.find((m) => m.event === 'leader hub SIGKILL')?.ms ?? Infinity;
    assert.ok(leaderMs <= LEADER_GOAL_MS, `changes flowed again ${leaderMs} ms after the leader's SIGKILL (goal ${LEADER_GOAL_MS} ms)`);
    for (const m of measured) assert.ok(m.ms <= RECOVERY_BOUND_MS, `${m.event}: changes flowed again after ${m.ms} ms (bound ${RECOVERY_BOUND_MS} ms)`);
  });
});
