// Cluster liveness: agents heartbeat; a cluster silent for longer than its TTL (spec.heartbeatTTLSeconds,
// default 30 s) is marked Available=False, which withdraws its endpoints from every import; its
// next heartbeat marks it available again. The clock starts when this controller starts, so a hub
// restart gives every agent a full TTL to be heard before anything is withdrawn.
//
// Silence is evidence only when the hub could have heard: while its own bus connection is down,
// for a TTL after it returns, and while most clusters are silent at once, nobody expires (logged,
// and counted as causeway_agent_messages_total{kind="liveness",result="expiry_held_*"}).
//
// A controller keyed by cluster: a heartbeat or a change of the Cluster adds its key; the
// reconciler computes the desired status (controllers/liveness-plan.ts) and writes it, then asks
// to run again exactly when the TTL would run out. Every replica hears heartbeats (so a new leader
// knows who is alive); only the leader runs the controller, so only the leader writes.
import { heartbeatCodec, type Heartbeat } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage, Subscription } from '../bus/bus.ts';
import { Controller, type ReconcileResult } from '../kernel/controller.ts';
import type { Clock } from '../kernel/clock.ts';
import { backgroundClock } from './controllers/background-clock.ts';
import { raceAbort } from '../kernel/async.ts';
import type { ClusterResource } from '../api/resources.ts';
import type { Registry } from '../registry/registry.ts';
import { desiredClusterStatus, ExpiryHeld, fleetSilence, ttlMsOf, type Seen } from './controllers/liveness-plan.ts';

export { DEFAULT_HEARTBEAT_TTL_SECONDS } from './controllers/liveness-plan.ts';

export interface LivenessDeps {
  /** The one registry call liveness needs: a compare-and-swap status update. */
  readonly registry: Pick<Registry, 'updateStatus'>;
  readonly clusters: () => Iterable<ClusterResource>;
  readonly cluster: (name: string) => ClusterResource | undefined;
  /** The import revision the hub last sent the cluster, to judge Synced. */
  readonly sentRevision: (cluster: string) => number | undefined;
  readonly clock?: Clock;
  /** The hub's own bus connection; default: always connected. */
  readonly connection?: Pick<Bus, 'connected' | 'onConnectionChange'>;
  readonly info?: (fields: Record<string, unknown>, message: string) => void;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  /** Every valid heartbeat, after it is recorded (the propagation metrics read its applied revision). */
  readonly heard?: (cluster: string, heartbeat: Heartbeat) => void;
}

export class LivenessController {
  private readonly deps: LivenessDeps;
  private readonly clock: Clock;
  /** When this hub started hearing agents: its start, or its bus connection's last return. */
  private listeningSince: number;
  private connected: boolean;
  /** Why expiries were last held (to log a change once, not once per cluster). */
  private heldFor: ExpiryHeld | undefined;
  private readonly seen = new Map<string, Seen>();
  private readonly connectionSub: Subscription | undefined;
  private readonly controller: Controller<string>;

  constructor(deps: LivenessDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? backgroundClock;
    this.listeningSince = this.clock.now();
    this.connected = deps.connection?.connected() ?? true;
    this.connectionSub = deps.connection?.onConnectionChange((up) => {
      this.connectionChanged(up);
    });
    this.controller = new Controller<string>({
      name: 'liveness',
      concurrency: 4,
      clock: this.clock,
      reconcile: (name, signal) => this.reconcile(name, signal),
      resync: () => [...deps.clusters()].map((c) => c.metadata.name),
      onError: (name, err) => {
        deps.warn({ cluster: name, err }, 'status write failed');
      },
    });
  }

  /** The cluster's last heartbeat this replica heard (every replica hears every heartbeat). */
  lastHeard(cluster: string): Seen | undefined {
    return this.seen.get(cluster);
  }

  handleHeartbeat(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = heartbeatCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected heartbeat');
      this.deps.count('heartbeat', `rejected_${decoded.reason.replace('-', '_')}`);
      return;
    }
    this.deps.count('heartbeat', 'ok');
    // Another session than the last heard: the agent restarted (a reconnect keeps its session).
    const before = this.seen.get(from);
    if (before !== undefined && before.heartbeat.session !== decoded.value.session) this.deps.count('heartbeat', 'new_session');
    this.seen.set(from, { at: this.clock.now(), heartbeat: decoded.value });
    this.deps.heard?.(from, decoded.value);
    if (this.deps.cluster(from) !== undefined) this.controller.add(from);
  }

  /**
   * Whether this hub's silence about `cluster` means anything now: its bus connection is up, it
   * has listened for a TTL since it started or reconnected, and most clusters are not silent. The
   * service model trusts a False it did not observe only then.
   */
  judgesSilence(cluster: ClusterResource): boolean {
    return this.connected && this.clock.now() - this.listeningSince > ttlMsOf(cluster) && !this.fleet().massSilence;
  }

  /** Stops following the bus connection (a stopping hub's closing connection is not an outage). */
  stop(): void {
    this.connectionSub?.unsubscribe();
  }

  /** The bus connection dropped or came back: every cluster is looked at again. */
  private connectionChanged(up: boolean): void {
    if (up === this.connected) return;
    this.connected = up;
    // Nothing could be heard while it was down: every cluster gets a full TTL from its return.
    if (up) this.listeningSince = this.clock.now();
    const fields = { connected: up };
    if (up) (this.deps.info ?? this.deps.warn)(fields, 'bus connection back: every cluster gets a full heartbeat TTL before anything expires');
    else this.deps.warn(fields, 'bus connection lost: the hub hears no agent, so no cluster expires until it is back');
    for (const c of this.deps.clusters()) this.controller.add(c.metadata.name);
  }

  /** The Cluster changed (its status, its TTL): look at it again. */
  clusterChanged(name: string): void {
    this.controller.add(name);
  }

  /** Writes statuses until `signal` (the leadership term's) aborts. */
  lead(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private async reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const cluster = this.deps.cluster(name);
    if (cluster === undefined) {
      this.seen.delete(name);
      return undefined;
    }
    const plan = this.plan(cluster);
    this.noteHeld(plan.held);
    if (plan.status !== undefined) {
      // Re-planned on the stored copy inside the compare-and-swap; a lost lease writes nothing more.
      await raceAbort(
        this.deps.registry.updateStatus({ kind: 'Cluster', name }, (current) =>
          current.kind === 'Cluster' && !signal.aborted ? this.plan(current).status : undefined,
        ),
        signal,
      );
    }
    return plan.recheckInMs === undefined ? undefined : { requeueAfterMs: plan.recheckInMs };
  }

  private plan(cluster: ClusterResource): ReturnType<typeof desiredClusterStatus> {
    const name = cluster.metadata.name;
    const input = {
      cluster,
      seen: this.seen.get(name),
      now: this.clock.now(),
      sent: this.deps.sentRevision(name),
      startedAt: this.listeningSince,
      connected: this.connected,
    };
    const plan = desiredClusterStatus(input);
    // Only an expiry asks about the whole fleet: the usual heartbeat costs nothing more.
    if (plan.status === undefined || !expires(plan.status)) return plan;
    return desiredClusterStatus({ ...input, massSilence: this.fleet().massSilence });
  }

  private fleet(): ReturnType<typeof fleetSilence> {
    const members = [...this.deps.clusters()].map((c) => ({ cluster: c, seen: this.seen.get(c.metadata.name) }));
    return fleetSilence(members, this.clock.now(), this.listeningSince);
  }

  private noteHeld(held: ExpiryHeld | undefined): void {
    if (held === undefined) {
      // An expiry went ahead, or a cluster was heard: an earlier hold may be over.
      if (this.heldFor === ExpiryHeld.MassSilence) {
        if (this.fleet().massSilence) return;
        this.deps.warn({}, 'most clusters are heard again: silent clusters expire as usual');
      }
      this.heldFor = undefined;
      return;
    }
    this.deps.count('liveness', `expiry_held_${held.replace('-', '_')}`);
    if (held === this.heldFor) return;
    this.heldFor = held;
    if (held === ExpiryHeld.MassSilence) {
      const f = this.fleet();
      this.deps.warn({ silent: f.silent, clusters: f.total }, 'most clusters went silent at once: expiring none of them (the hub side is the likelier fault)');
    }
  }
}

/** Whether `status` marks the cluster Available=False (the write that withdraws its endpoints). */
function expires(status: NonNullable<ClusterResource['status']>): boolean {
  return status.conditions?.some((c) => c.type === 'Available' && c.status === 'False') === true;
}
