// Cluster liveness: agents heartbeat; a cluster silent for longer than its TTL (spec.heartbeatTTLSeconds,
// default 30 s) is marked Available=False, which withdraws its endpoints from every import; its
// next heartbeat marks it available again. The clock starts when this controller starts, so a hub
// restart gives every agent a full TTL to be heard before anything is withdrawn.
import { ClusterConditionType, ClusterReason, setCondition, type Condition } from '../api/conditions.ts';
import { heartbeatCodec, type Heartbeat } from '../api/messages.ts';
import type { ClusterResource } from '../api/resources.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { BusMessage } from '../bus/bus.ts';
import type { Registry } from '../registry/registry.ts';

export const DEFAULT_HEARTBEAT_TTL_SECONDS = 30;

export interface LivenessDeps {
  readonly registry: Registry;
  readonly clusters: () => Iterable<ClusterResource>;
  readonly cluster: (name: string) => ClusterResource | undefined;
  /** The import revision the hub last sent the cluster, to judge Synced. */
  readonly sentRevision: (cluster: string) => number | undefined;
  readonly now: () => number;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

interface Seen {
  at: number;
  heartbeat: Heartbeat;
}

export class LivenessController {
  private readonly deps: LivenessDeps;
  private readonly startedAt: number;
  private readonly seen = new Map<string, Seen>();
  private readonly writing = new Set<string>();
  /** Every replica hears heartbeats (so a new leader knows who is alive); only the leader writes. */
  private leader = false;

  constructor(deps: LivenessDeps) {
    this.deps = deps;
    this.startedAt = deps.now();
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
    this.seen.set(from, { at: this.deps.now(), heartbeat: decoded.value });
    const cluster = this.deps.cluster(from);
    if (cluster !== undefined) this.reconcile(cluster);
  }

  setLeader(leader: boolean): void {
    this.leader = leader;
  }

  /** Called every second: expire the silent, record the living. */
  tick(): void {
    for (const cluster of this.deps.clusters()) this.reconcile(cluster);
  }

  private reconcile(cluster: ClusterResource): void {
    const name = cluster.metadata.name;
    if (!this.leader) return;
    const desired = this.desiredStatus(cluster);
    if (desired === undefined || this.writing.has(name)) return;
    this.writing.add(name);
    void this.deps.registry
      .updateStatus({ kind: 'Cluster', name }, (current) => (current.kind === 'Cluster' ? this.desiredStatus(current) : undefined))
      .catch((err: unknown) => {
        this.deps.warn({ cluster: name, err }, 'status write failed');
      })
      .finally(() => {
        this.writing.delete(name);
      });
  }

  /** The status the cluster should have now, or undefined when it already has it. */
  private desiredStatus(cluster: ClusterResource): ClusterResource['status'] | undefined {
    const now = this.deps.now();
    const name = cluster.metadata.name;
    const seen = this.seen.get(name);
    const ttlMs = (cluster.spec.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS) * 1000;
    const conditions = cluster.status?.conditions ?? [];
    const condition = (type: string): Condition | undefined => conditions.find((c) => c.type === type);
    const at = new Date(now).toISOString();
    let next: Condition[] = conditions;
    const extra: Record<string, unknown> = {};

    if (seen !== undefined && now - seen.at <= ttlMs) {
      next = setCondition(next, {
        type: ClusterConditionType.Available,
        status: 'True',
        reason: ClusterReason.Heartbeating,
        message: `agent ${seen.heartbeat.agentVersion} heartbeating`,
        lastTransitionTime: at,
      });
      const sent = this.deps.sentRevision(name);
      const applied = seen.heartbeat.appliedRevision;
      const synced = sent === undefined || applied >= sent;
      next = setCondition(next, {
        type: ClusterConditionType.Synced,
        status: synced ? 'True' : 'False',
        reason: synced ? 'Applied' : 'Applying',
        // No revision numbers here: they change with every batch, and a condition that changes
        // with every heartbeat would turn heartbeats into registry writes.
        message: synced ? 'the agent applied every import the hub sent' : 'the agent is applying imports the hub sent',
        lastTransitionTime: at,
      });
      extra.agentVersion = seen.heartbeat.agentVersion;
      // Refresh the heartbeat time and applied revision at most every TTL/2: enough to read,
      // few writes at scale.
      const previous = cluster.status?.lastHeartbeatTime;
      const last = typeof previous === 'string' ? Date.parse(previous) : Number.NaN;
      const refresh = Number.isNaN(last) || seen.at - last > ttlMs / 2;
      extra.lastHeartbeatTime = refresh ? new Date(seen.at).toISOString() : previous;
      extra.appliedRevision = refresh ? applied : (cluster.status?.appliedRevision ?? applied);
    } else {
      const silentSince = seen?.at ?? this.startedAt;
      const available = condition(ClusterConditionType.Available);
      if (now - silentSince <= ttlMs || available === undefined) return undefined;
      if (available.status === 'Unknown' && seen === undefined) return undefined; // never connected: nothing to withdraw
      next = setCondition(next, {
        type: ClusterConditionType.Available,
        status: 'False',
        reason: ClusterReason.HeartbeatExpired,
        message: `no heartbeat for more than ${ttlMs / 1000}s; its endpoints are withdrawn`,
        lastTransitionTime: at,
      });
    }
    const status: Record<string, unknown> & { conditions: Condition[] } = { ...cluster.status, ...extra, conditions: next };
    const unchanged = JSON.stringify(stripTimes(status)) === JSON.stringify(stripTimes(cluster.status ?? {}));
    return unchanged ? undefined : status;
  }
}

/** Status without condition transition times, which alone never warrant a write. */
function stripTimes(status: Record<string, unknown>): unknown {
  const conditions = (status.conditions as Condition[] | undefined)?.map(({ lastTransitionTime: _t, ...c }) => c);
  return { ...status, conditions };
}
