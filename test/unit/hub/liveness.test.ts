// Cluster liveness: the pure decision (desiredClusterStatus) table-driven with no timers, then a
// thin test of the loop on a ManualClock: it looks again exactly when the TTL runs out, writes only
// while it leads, and a lost lease stops it.
import assert from 'node:assert/strict';
import type { Condition } from '../../../controlplane/api/conditions.ts';
import { heartbeatCodec, type Heartbeat } from '../../../controlplane/api/messages.ts';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { desiredClusterStatus, type LivenessInput } from '../../../controlplane/hub/controllers/liveness-plan.ts';
import { LivenessController } from '../../../controlplane/hub/liveness.ts';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const TTL = 10;

/** A registered cluster; `available`: an Available condition written before this hub started. */
function cluster(available?: Condition['status']): ClusterResource {
  const base: ClusterResource = {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name: 'a' },
    spec: { provider: 'aws', region: 'eu-west-1', network: 'n', heartbeatTTLSeconds: TTL },
  };
  if (available === undefined) return base;
  return {
    ...base,
    status: { conditions: [{ type: 'Available', status: available, reason: 'R', message: 'm', lastTransitionTime: new Date(T0).toISOString() }] },
  };
}

function heartbeat(appliedRevision = 5): Heartbeat {
  return { v: 1, cluster: 'a', session: 'session-1', agentVersion: '1.0.0', appliedRevision, time: new Date(T0).toISOString() };
}

function conditionsOf(status: ClusterResource['status'] | undefined): Record<string, string> {
  return Object.fromEntries((status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
}

describe('desiredClusterStatus (pure)', () => {
  const s = 1000;
  // As the hub itself wrote them: after a first heartbeat at T0, and after that one expired.
  const withStatus = (c: ClusterResource, status: ClusterResource['status']): ClusterResource => ({ ...c, ...(status !== undefined ? { status } : {}) });
  const alive = withStatus(
    cluster(),
    desiredClusterStatus({ cluster: cluster(), seen: { at: T0, heartbeat: heartbeat() }, now: T0, sent: 5, startedAt: T0 }).status,
  );
  const expired = withStatus(alive, desiredClusterStatus({ cluster: alive, seen: undefined, now: T0 + TTL * s + 1, sent: 5, startedAt: T0 }).status);
  const cases: {
    name: string;
    input: Omit<LivenessInput, 'startedAt'> & { startedAt?: number };
    writes: Record<string, string> | undefined;
    recheckInMs: number | undefined;
  }[] = [
    {
      name: 'a first heartbeat makes the cluster Available and Synced; look again when its TTL runs out',
      input: { cluster: cluster(), seen: { at: T0, heartbeat: heartbeat() }, now: T0, sent: 5 },
      writes: { Available: 'True/Heartbeating', Synced: 'True/Applied' },
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'an agent behind what the hub sent is Synced=False (Applying)',
      input: { cluster: cluster(), seen: { at: T0, heartbeat: heartbeat(3) }, now: T0, sent: 5 },
      writes: { Available: 'True/Heartbeating', Synced: 'False/Applying' },
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'behind for a moment between refreshes (a batch in flight under churn): no write',
      input: { cluster: alive, seen: { at: T0 + 4 * s, heartbeat: heartbeat(4) }, now: T0 + 4 * s, sent: 5 },
      writes: undefined,
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'still behind at the refresh: Synced=False (Applying) is written then',
      input: { cluster: alive, seen: { at: T0 + 6 * s, heartbeat: heartbeat(4) }, now: T0 + 6 * s, sent: 5 },
      writes: { Available: 'True/Heartbeating', Synced: 'False/Applying' },
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'nothing sent yet this term: Available, and Synced is not claimed',
      input: { cluster: cluster(), seen: { at: T0, heartbeat: heartbeat() }, now: T0, sent: undefined },
      writes: { Available: 'True/Heartbeating' },
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'a heartbeat that changes nothing (within TTL/2 of the last refresh) writes nothing',
      input: { cluster: alive, seen: { at: T0 + 4 * s, heartbeat: heartbeat() }, now: T0 + 4 * s, sent: 5 },
      writes: undefined,
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'past TTL/2 since the last refresh, the heartbeat time is written again',
      input: { cluster: alive, seen: { at: T0 + 6 * s, heartbeat: heartbeat() }, now: T0 + 6 * s, sent: 5 },
      writes: { Available: 'True/Heartbeating', Synced: 'True/Applied' },
      recheckInMs: TTL * s + 1,
    },
    {
      name: 'exactly at the TTL the cluster is still alive, with 1 ms to go',
      input: { cluster: alive, seen: { at: T0, heartbeat: heartbeat() }, now: T0 + TTL * s, sent: 5 },
      writes: undefined,
      recheckInMs: 1,
    },
    {
      name: 'past its TTL an available cluster becomes Available=False (HeartbeatExpired)',
      input: { cluster: alive, seen: { at: T0, heartbeat: heartbeat() }, now: T0 + TTL * s + 1, sent: 5 },
      writes: { Available: 'False/HeartbeatExpired', Synced: 'True/Applied' },
      recheckInMs: undefined,
    },
    {
      name: 'an expired cluster already marked so writes nothing more',
      input: { cluster: expired, seen: { at: T0, heartbeat: heartbeat() }, now: T0 + 60 * s, sent: 5 },
      writes: undefined,
      recheckInMs: undefined,
    },
    {
      name: 'after a hub restart a silent cluster gets a full TTL from the start before anything is withdrawn',
      input: { cluster: alive, seen: undefined, now: T0 + 3 * s, sent: undefined, startedAt: T0 },
      writes: undefined,
      recheckInMs: (TTL - 3) * s + 1,
    },
    {
      name: 'a cluster silent since the hub started is withdrawn after the TTL',
      input: { cluster: alive, seen: undefined, now: T0 + TTL * s + 1, sent: undefined, startedAt: T0 },
      writes: { Available: 'False/HeartbeatExpired', Synced: 'True/Applied' },
      recheckInMs: undefined,
    },
    {
      name: 'a cluster that never connected (Available=Unknown) has nothing to withdraw',
      input: { cluster: cluster('Unknown'), seen: undefined, now: T0 + 60 * s, sent: undefined, startedAt: T0 },
      writes: undefined,
      recheckInMs: undefined,
    },
    {
      name: 'a cluster with no status at all has nothing to withdraw',
      input: { cluster: cluster(), seen: undefined, now: T0 + 60 * s, sent: undefined, startedAt: T0 },
      writes: undefined,
      recheckInMs: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = desiredClusterStatus({ startedAt: T0, ...c.input });
      assert.deepEqual(plan.status === undefined ? undefined : conditionsOf(plan.status), c.writes);
      assert.equal(plan.recheckInMs, c.recheckInMs);
    });
  }

  it('writes the heartbeat time, applied revision and agent version it refreshes', () => {
    const plan = desiredClusterStatus({ cluster: cluster(), seen: { at: T0 + 2000, heartbeat: heartbeat(7) }, now: T0 + 2500, sent: 7, startedAt: T0 });
    const status = plan.status as Record<string, unknown> | undefined;
    assert.ok(status !== undefined);
    assert.equal(status.lastHeartbeatTime, new Date(T0 + 2000).toISOString());
    assert.equal(status.appliedRevision, 7);
    assert.equal(status.agentVersion, '1.0.0');
  });

  it('bounds status writes: 100 heartbeats, each claiming another agent version, write at most once per TTL/2 (issue 12 §2)', () => {
    let stored = cluster();
    let writes = 0;
    // One heartbeat every 100 ms for 10 s (one TTL): the hub applies each plan to what it stored.
    for (let i = 0; i < 100; i++) {
      const at = T0 + i * 100;
      const plan = desiredClusterStatus({
        cluster: stored,
        seen: { at, heartbeat: { ...heartbeat(5), agentVersion: `9.9.${i}` } },
        now: at,
        sent: 5,
        startedAt: T0,
      });
      if (plan.status !== undefined) {
        writes += 1;
        stored = { ...stored, status: plan.status };
      }
    }
    assert.ok(writes <= 3, `${writes} status writes for 100 heartbeats`);
    // What it shows is a version the agent did send, refreshed at the last write.
    assert.match(String((stored.status as Record<string, unknown>).agentVersion), /^9\.9\.\d+$/);
  });
});

describe('LivenessController loop (ManualClock, in-memory status writer)', () => {
  let clock: ManualClock;
  let stored: ClusterResource;
  let writes: number;
  let liveness: LivenessController;

  beforeEach(() => {
    clock = new ManualClock(T0);
    stored = cluster('Unknown');
    writes = 0;
    liveness = new LivenessController({
      registry: {
        updateStatus: (_ref, mutate) => {
          const status = mutate(stored);
          if (status !== undefined) {
            stored = { ...stored, status };
            writes++;
          }
          return Promise.resolve(stored);
        },
      },
      clusters: () => [stored],
      cluster: (name) => (name === 'a' ? stored : undefined),
      sentRevision: () => 5,
      clock,
      count: () => undefined,
      warn: () => undefined,
    });
  });

  const beat = (): void => {
    liveness.handleHeartbeat({ subject: 'causeway.v1.agent.a.heartbeat', data: heartbeatCodec.encode(heartbeat()) });
  };
  const available = (): string | undefined => stored.status?.conditions?.find((c) => c.type === 'Available')?.status;
  /** Lets the controller's promises run (the clock is manual: no real time passes). */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };

  it('marks the cluster available on a heartbeat and unavailable exactly when its TTL runs out, with no tick', async () => {
    const term = new AbortController();
    const leading = liveness.lead(term.signal);
    beat();
    await settle();
    assert.equal(available(), 'True');
    const afterBeat = writes;
    // One timer: the requeue at the TTL (not a tick per second).
    assert.equal(clock.pending, 1);
    clock.advance(TTL * 1000);
    await settle();
    assert.equal(available(), 'True');
    assert.equal(writes, afterBeat);
    clock.advance(1);
    await settle();
    assert.equal(available(), 'False');
    term.abort();
    await leading;
  });

  it('writes nothing while it does not lead, and nothing after its term ended', async () => {
    beat();
    await settle();
    assert.equal(writes, 0);
    const term = new AbortController();
    const leading = liveness.lead(term.signal);
    await settle();
    // A new term looks at every cluster (resync) and writes what it heard before it led.
    assert.equal(available(), 'True');
    term.abort();
    await leading;
    clock.advance(TTL * 1000 + 1);
    await settle();
    assert.equal(available(), 'True');
  });
});
