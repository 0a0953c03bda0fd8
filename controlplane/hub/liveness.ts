// Cluster liveness: agents heartbeat; a cluster silent for longer than its TTL (spec.heartbeatTTLSeconds,
// default 30 s) is marked Available=False, which withdraws its endpoints from every import; its
// next heartbeat marks it available again. The clock starts when this controller starts, so a hub
// restart gives every agent a full TTL to be heard before anything is withdrawn.
//
// A controller keyed by cluster: a heartbeat or a change of the Cluster adds its key; the
// reconciler computes the desired status (controllers/liveness-plan.ts) and writes it, then asks
// to run again exactly when the TTL would run out. Every replica hears heartbeats (so a new leader
// knows who is alive); only the leader runs the controller, so only the leader writes.
import { heartbeatCodec } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { BusMessage } from '../bus/bus.ts';
import { Controller, type ReconcileResult } from '../kernel/controller.ts';
import type { Clock } from '../kernel/clock.ts';
import { backgroundClock } from './controllers/background-clock.ts';
import { raceAbort } from '../kernel/async.ts';
import type { ClusterResource } from '../api/resources.ts';
import type { Registry } from '../registry/registry.ts';
import { desiredClusterStatus, type Seen } from './controllers/liveness-plan.ts';

export { DEFAULT_HEARTBEAT_TTL_SECONDS } from './controllers/liveness-plan.ts';

export interface LivenessDeps {
  /** The one registry call liveness needs: a compare-and-swap status update. */
  readonly registry: Pick<Registry, 'updateStatus'>;
  readonly clusters: () => Iterable<ClusterResource>;
  readonly cluster: (name: string) => ClusterResource | undefined;
  /** The import revision the hub last sent the cluster, to judge Synced. */
  readonly sentRevision: (cluster: string) => number | undefined;
  readonly clock?: Clock;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

export class LivenessController {
  private readonly deps: LivenessDeps;
  private readonly clock: Clock;
  private readonly startedAt: number;
  private readonly seen = new Map<string, Seen>();
  private readonly controller: Controller<string>;

  constructor(deps: LivenessDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? backgroundClock;
    this.startedAt = this.clock.now();
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

  handleHeartbeat(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = heartbeatCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected heartbeat');
      this.deps.count('heartbeat', `rejected_${decoded.reason.replace('-', '_')}`);
      return;
    }
    this.deps.count('heartbeat', 'ok');
    this.seen.set(from, { at: this.clock.now(), heartbeat: decoded.value });
    if (this.deps.cluster(from) !== undefined) this.controller.add(from);
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
    return desiredClusterStatus({
      cluster,
      seen: this.seen.get(name),
      now: this.clock.now(),
      sent: this.deps.sentRevision(name),
      startedAt: this.startedAt,
    });
  }
}
