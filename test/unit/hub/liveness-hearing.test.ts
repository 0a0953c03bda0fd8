// Liveness tells "this cluster went silent" from "I can hear nobody" (issue 13 §1): the pure
// decisions (desiredClusterStatus with the bus connection and mass silence, fleetSilence)
// table-driven, then the loop on a ManualClock and a MemoryBus whose connection the test drops.
import assert from 'node:assert/strict';
import { heartbeatCodec, type Heartbeat } from '../../../controlplane/api/messages.ts';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { MemoryBus } from '../../../controlplane/bus/memory-bus.ts';
import { desiredClusterStatus, ExpiryHeld, fleetSilence, type FleetMember, type LivenessInput } from '../../../controlplane/hub/controllers/liveness-plan.ts';
import { LivenessController } from '../../../controlplane/hub/liveness.ts';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const TTL = 10;
const s = 1000;

function cluster(name: string, available?: 'True' | 'False' | 'Unknown'): ClusterResource {
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
    spec: { provider: 'aws', region: 'eu-west-1', network: 'n', heartbeatTTLSeconds: TTL },
    ...(available !== undefined
      ? { status: { conditions: [{ type: 'Available', status: available, reason: 'R', message: 'm', lastTransitionTime: new Date(T0).toISOString() }] } }
      : {}),
  };
}

function heartbeat(name: string): Heartbeat {
  return { v: 1, cluster: name, session: `session-${name}`, agentVersion: '1.0.0', appliedRevision: 5, time: new Date(T0).toISOString() };
}

const availableOf = (status: ClusterResource['status'] | undefined): string | undefined => status?.conditions?.find((c) => c.type === 'Available')?.status;

describe('desiredClusterStatus: what the hub can hear (pure)', () => {
  const seenAtT0 = { at: T0, heartbeat: heartbeat('a') };
  const cases: { name: string; input: LivenessInput; available: string | undefined; recheckInMs: number | undefined; held: ExpiryHeld | undefined }[] = [
    {
      name: 'past its TTL while the bus connection is down: nothing is written, and the reconnect (not a timer) looks again',
      input: { cluster: cluster('a', 'True'), seen: seenAtT0, now: T0 + 60 * s, sent: 5, startedAt: T0, connected: false },
      available: undefined,
      recheckInMs: undefined,
      held: ExpiryHeld.BusDisconnected,
    },
    {
      name: 'heard within its TTL while the connection is down: still alive as heard',
      input: { cluster: cluster('a'), seen: seenAtT0, now: T0 + 2 * s, sent: 5, startedAt: T0, connected: false },
      available: 'True',
      recheckInMs: (TTL - 2) * s + 1,
      held: undefined,
    },
    {
      name: 'the connection came back 3 s ago (startedAt) after a long silence: a full TTL from the return',
      input: { cluster: cluster('a', 'True'), seen: seenAtT0, now: T0 + 63 * s, sent: 5, startedAt: T0 + 60 * s, connected: true },
      available: undefined,
      recheckInMs: (TTL - 3) * s + 1,
      held: undefined,
    },
    {
      name: 'a TTL after the connection came back, a still-silent cluster expires',
      input: { cluster: cluster('a', 'True'), seen: seenAtT0, now: T0 + (60 + TTL) * s + 1, sent: 5, startedAt: T0 + 60 * s, connected: true },
      available: 'False',
      recheckInMs: undefined,
      held: undefined,
    },
    {
      name: 'past its TTL while most clusters are silent: held, and looked at again soon (TTL/5)',
      input: { cluster: cluster('a', 'True'), seen: seenAtT0, now: T0 + 60 * s, sent: 5, startedAt: T0, connected: true, massSilence: true },
      available: undefined,
      recheckInMs: (TTL / 5) * s,
      held: ExpiryHeld.MassSilence,
    },
    {
      name: 'a cluster already withdrawn is not held (there is nothing left to withdraw): it stays False',
      input: { cluster: cluster('a', 'False'), seen: undefined, now: T0 + 60 * s, sent: 5, startedAt: T0, connected: true, massSilence: true },
      available: 'False',
      recheckInMs: undefined,
      held: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = desiredClusterStatus(c.input);
      assert.equal(availableOf(plan.status), c.available);
      assert.equal(plan.recheckInMs, c.recheckInMs);
      assert.equal(plan.held, c.held);
    });
  }
});

describe('fleetSilence (pure)', () => {
  const heard = (name: string, at: number): FleetMember => ({ cluster: cluster(name, 'True'), seen: { at, heartbeat: heartbeat(name) } });
  const now = T0 + 30 * s;
  const silentAt = T0; // 30 s ago: past the 10 s TTL
  const freshAt = T0 + 25 * s;
  const cases: { name: string; members: FleetMember[]; startedAt?: number; silent: number; total: number; massSilence: boolean }[] = [
    {
      name: 'one of three silent: expire it',
      members: [heard('a', silentAt), heard('b', freshAt), heard('c', freshAt)],
      silent: 1,
      total: 3,
      massSilence: false,
    },
    { name: 'two of three silent: hold', members: [heard('a', silentAt), heard('b', silentAt), heard('c', freshAt)], silent: 2, total: 3, massSilence: true },
    {
      name: 'two of four silent is not more than half: expire',
      members: ['a', 'b'].map((n) => heard(n, silentAt)).concat(['c', 'd'].map((n) => heard(n, freshAt))),
      silent: 2,
      total: 4,
      massSilence: false,
    },
    { name: 'the only cluster silent is not "more than one": expire it', members: [heard('a', silentAt)], silent: 1, total: 1, massSilence: false },
    { name: 'one heard and one silent of two: expire', members: [heard('a', silentAt), heard('b', freshAt)], silent: 1, total: 2, massSilence: false },
    {
      name: 'one past its TTL and one silent past TTL/2 of three: hold (one shared fault silences them a heartbeat apart)',
      members: [heard('a', silentAt), heard('b', now - 6 * s), heard('c', freshAt)],
      silent: 2,
      total: 3,
      massSilence: true,
    },
    {
      name: 'heard exactly TTL/2 ago is not silent',
      members: [heard('a', silentAt), heard('b', now - 5 * s), heard('c', freshAt)],
      silent: 1,
      total: 3,
      massSilence: false,
    },
    { name: 'every cluster silent: hold', members: ['a', 'b', 'c'].map((n) => heard(n, silentAt)), silent: 3, total: 3, massSilence: true },
    {
      name: 'clusters that never connected do not count',
      members: [heard('a', silentAt), heard('b', freshAt), { cluster: cluster('c', 'Unknown'), seen: undefined }, { cluster: cluster('d'), seen: undefined }],
      silent: 1,
      total: 2,
      massSilence: false,
    },
    {
      name: 'clusters already withdrawn count as silent, as NotReady nodes do for a zone',
      members: [heard('a', silentAt), { cluster: cluster('b', 'False'), seen: undefined }, heard('c', freshAt)],
      silent: 2,
      total: 3,
      massSilence: true,
    },
    {
      name: 'within a TTL of listening (a start or a reconnect) nobody is silent',
      members: ['a', 'b', 'c'].map((n) => heard(n, silentAt)),
      startedAt: now - 5 * s,
      silent: 0,
      total: 3,
      massSilence: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(fleetSilence(c.members, now, c.startedAt ?? T0), { silent: c.silent, total: c.total, massSilence: c.massSilence });
    });
  }
});

describe('LivenessController hearing (ManualClock, MemoryBus with a droppable connection, in-memory status writer)', () => {
  const NAMES = ['a', 'b', 'c'];
  let clock: ManualClock;
  let bus: MemoryBus;
  let stored: Map<string, ClusterResource>;
  let warnings: string[];
  let counts: string[];
  let liveness: LivenessController;
  let term: AbortController;
  let leading: Promise<void>;

  beforeEach(() => {
    clock = new ManualClock(T0);
    bus = new MemoryBus();
    stored = new Map(NAMES.map((n) => [n, cluster(n, 'Unknown')]));
    warnings = [];
    counts = [];
    liveness = new LivenessController({
      registry: {
        updateStatus: (ref, mutate) => {
          const current = stored.get(ref.name);
          if (current === undefined) return Promise.reject(new Error('not found'));
          const status = mutate(current);
          const next = status === undefined ? current : { ...current, status };
          stored.set(ref.name, next);
          return Promise.resolve(next);
        },
      },
      clusters: () => [...stored.values()],
      cluster: (name) => stored.get(name),
      sentRevision: () => 5,
      clock,
      connection: bus,
      count: (kind, result) => counts.push(`${kind}/${result}`),
      warn: (_fields, message) => warnings.push(message),
    });
    term = new AbortController();
    leading = liveness.lead(term.signal);
  });
  afterEach(async () => {
    term.abort();
    await leading;
  });

  const beat = (...names: string[]): void => {
    for (const n of names) liveness.handleHeartbeat({ subject: `causeway.v1.agent.${n}.heartbeat`, data: heartbeatCodec.encode(heartbeat(n)) });
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 50; i++) await Promise.resolve();
  };
  const availability = (): Record<string, string | undefined> => Object.fromEntries([...stored].map(([n, c]) => [n, availableOf(c.status)]));
  /** Advances time in 1 s steps (heartbeats from `beating` every second), letting the loop run. */
  const run = async (seconds: number, beating: readonly string[]): Promise<void> => {
    for (let i = 0; i < seconds; i++) {
      beat(...beating);
      await settle();
      clock.advance(s);
      await settle();
    }
  };

  it('while its own bus connection is down, and for a TTL after it returns, no cluster expires; then a still-silent one does', async () => {
    await run(2, NAMES);
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'True' });
    bus.setConnected(false);
    // Three TTLs of hearing nobody.
    await run(3 * TTL, []);
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'True' }, 'nothing expired while the hub could hear nobody');
    const c = (): ClusterResource => stored.get('c') ?? cluster('c');
    assert.equal(liveness.judgesSilence(c()), false, 'the service model is told silence means nothing now');
    assert.ok(
      warnings.some((w) => w.includes('bus connection lost')),
      warnings.join('; '),
    );
    bus.setConnected(true);
    // a and b are heard again; c stays silent. Just short of a TTL after the return: nothing yet.
    await run(TTL - 1, ['a', 'b']);
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'True' }, 'a full TTL from the return');
    assert.equal(liveness.judgesSilence(c()), false, 'nor within a TTL of the return');
    await run(2, ['a', 'b']);
    assert.equal(liveness.judgesSilence(c()), true, 'a TTL after the return, with most clusters heard, silence means something');
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'False' }, 'c, silent a TTL past the return, expires');
  });

  it('when most clusters go silent at once nobody expires, and says so; one silent cluster alone still expires', async () => {
    await run(2, NAMES);
    await run(TTL + 3, ['a']);
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'True' }, 'two of three silent: held');
    assert.ok(
      warnings.some((w) => w.includes('most clusters went silent')),
      warnings.join('; '),
    );
    assert.ok(counts.includes('liveness/expiry_held_mass_silence'), counts.join(', '));
    // b comes back: c alone is silent now, and expires within the recheck (TTL/5).
    await run(TTL / 5 + 1, ['a', 'b']);
    assert.deepEqual(availability(), { a: 'True', b: 'True', c: 'False' });
    assert.ok(
      warnings.some((w) => w.includes('heard again')),
      warnings.join('; '),
    );
  });
});
