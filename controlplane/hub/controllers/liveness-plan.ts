// Cluster liveness, the decision: the status a cluster should have given when its agent was last
// heard, and when that answer next changes by itself (its TTL running out). Pure: the time, the
// last heartbeat, what the hub can hear and the revision the hub last sent are arguments.
//
// Silence withdraws a cluster's endpoints only when it says something about that cluster. While
// the hub's own bus connection is down it hears nobody, and for a TTL after it came back (or after
// the hub started) a silent agent may just not have been heard yet: nobody expires. When most
// clusters fall silent at once the likelier cause is the hub's side (its nats-server, its network),
// as the Kubernetes node-lifecycle controller assumes of a zone: nobody expires either.
import { ClusterConditionType, ClusterReason, setCondition, type Condition } from '../../api/conditions.ts';
import type { Heartbeat } from '../../api/messages.ts';
import type { ClusterResource } from '../../api/resources.ts';

export const DEFAULT_HEARTBEAT_TTL_SECONDS = 30;

export interface Seen {
  /** When the hub heard it (ms). */
  readonly at: number;
  readonly heartbeat: Heartbeat;
}

export interface LivenessInput {
  readonly cluster: ClusterResource;
  /** The last heartbeat heard; undefined when none since `startedAt`. */
  readonly seen: Seen | undefined;
  readonly now: number;
  /** The import revision the hub last sent the cluster, to judge Synced. */
  readonly sent: number | undefined;
  /**
   * Since when this hub can hear agents: when it started, or when its bus connection last came
   * back, whichever is later. A silent cluster gets a full TTL from then.
   */
  readonly startedAt: number;
  /** Whether the hub's bus connection is up now; default true. While it is down nobody expires. */
  readonly connected?: boolean;
  /** Most clusters are silent at once (massSilence): nobody expires. Default false. */
  readonly massSilence?: boolean;
}

/** Why an expiry is held back; undefined in the plan when none is. */
export const ExpiryHeld = {
  /** The hub's own bus connection is down: it can hear nobody. */
  BusDisconnected: 'bus-disconnected',
  /** Most clusters went silent at once: the hub's side is the likelier cause. */
  MassSilence: 'mass-silence',
} as const;
export type ExpiryHeld = (typeof ExpiryHeld)[keyof typeof ExpiryHeld];

export interface LivenessPlan {
  /** The status to write; undefined when the cluster already has it. */
  readonly status: ClusterResource['status'] | undefined;
  /** Look again after this long even if nothing is heard (the TTL runs out); undefined: no need. */
  readonly recheckInMs: number | undefined;
  /** The cluster is past its TTL but not expired, and why. */
  readonly held?: ExpiryHeld;
}

export function ttlMsOf(cluster: ClusterResource): number {
  return (cluster.spec.heartbeatTTLSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS) * 1000;
}

/** The status `cluster` should have at `now`, and when to look again. */
export function desiredClusterStatus(input: LivenessInput): LivenessPlan {
  const { cluster, seen, now } = input;
  const ttlMs = ttlMsOf(cluster);
  if (seen !== undefined && now - seen.at <= ttlMs) {
    // Alive until `ttlMs` after the heartbeat: one millisecond past it, the answer changes.
    return { status: changed(cluster, aliveStatus(input, seen, ttlMs)), recheckInMs: seen.at + ttlMs + 1 - now };
  }
  // A connection change re-plans every cluster: nothing to look at again until then.
  if (input.connected === false) return { status: undefined, recheckInMs: undefined, held: ExpiryHeld.BusDisconnected };
  const silentSince = Math.max(seen?.at ?? input.startedAt, input.startedAt);
  if (now - silentSince <= ttlMs) return { status: undefined, recheckInMs: silentSince + ttlMs + 1 - now };
  const conditions = cluster.status?.conditions ?? [];
  const available = conditions.find((c) => c.type === ClusterConditionType.Available);
  // Never connected (Unknown, nothing heard) or never reported on: nothing to withdraw.
  if (available === undefined || (available.status === 'Unknown' && seen === undefined)) return { status: undefined, recheckInMs: undefined };
  // Held while most are silent; a heartbeat from any of them may end that, so look again soon.
  if (input.massSilence === true && available.status !== 'False')
    return { status: undefined, recheckInMs: massSilenceRecheckMs(ttlMs), held: ExpiryHeld.MassSilence };
  const next = setCondition(conditions, {
    type: ClusterConditionType.Available,
    status: 'False',
    reason: ClusterReason.HeartbeatExpired,
    message: `no heartbeat for more than ${ttlMs / 1000}s; its endpoints are withdrawn`,
    lastTransitionTime: new Date(now).toISOString(),
  });
  return { status: changed(cluster, { ...cluster.status, conditions: next }), recheckInMs: undefined };
}

/** While expiries are held for mass silence, how often each silent cluster is looked at again. */
export function massSilenceRecheckMs(ttlMs: number): number {
  return Math.max(1000, Math.floor(ttlMs / 5));
}

export interface FleetMember {
  readonly cluster: ClusterResource;
  readonly seen: Seen | undefined;
}

export interface FleetSilence {
  /** Clusters not heard for more than half their TTL (heard of before, by this hub or an earlier one). */
  readonly silent: number;
  /** Clusters that count: heard by this hub, or with an Available condition other than Unknown. */
  readonly total: number;
  /** More than half of them, and more than one, are silent: expire nobody. */
  readonly massSilence: boolean;
}

/**
 * Whether most clusters are silent at once. Silent means not heard for more than half its TTL:
 * one shared fault silences every agent within a heartbeat interval of each other, so when the
 * first of them reaches its TTL the others have not, and counting only those past it would expire
 * that first one alone. Clusters that never connected do not count (they
 * would hold expiries forever in a set where most agents were never installed); clusters already
 * withdrawn do, as the node-lifecycle controller counts every NotReady node of a zone.
 */
export function fleetSilence(members: Iterable<FleetMember>, now: number, startedAt: number): FleetSilence {
  let silent = 0;
  let total = 0;
  for (const { cluster, seen } of members) {
    const available = cluster.status?.conditions?.find((c) => c.type === ClusterConditionType.Available)?.status;
    if (seen === undefined && (available === undefined || available === 'Unknown')) continue;
    total++;
    if (now - Math.max(seen?.at ?? startedAt, startedAt) > ttlMsOf(cluster) / 2) silent++;
  }
  return { silent, total, massSilence: silent > 1 && silent * 2 > total };
}

function aliveStatus(input: LivenessInput, seen: Seen, ttlMs: number): Record<string, unknown> & { conditions: Condition[] } {
  const { cluster, now, sent } = input;
  const at = new Date(now).toISOString();
  // Refresh the heartbeat time, applied revision and agent version at most every TTL/2 while the
  // cluster stays available: enough to read, few writes at scale, and an agent that changes what
  // it claims on every heartbeat cannot turn heartbeats into registry writes.
  const previous = cluster.status?.lastHeartbeatTime;
  const last = typeof previous === 'string' ? Date.parse(previous) : Number.NaN;
  const wasAvailable = cluster.status?.conditions?.some((c) => c.type === ClusterConditionType.Available && c.status === 'True') === true;
  const refresh = !wasAvailable || Number.isNaN(last) || seen.at - last > ttlMs / 2;
  const storedVersion = typeof cluster.status?.agentVersion === 'string' ? cluster.status.agentVersion : undefined;
  const agentVersion = refresh ? seen.heartbeat.agentVersion : (storedVersion ?? seen.heartbeat.agentVersion);
  let next = setCondition(cluster.status?.conditions ?? [], {
    type: ClusterConditionType.Available,
    status: 'True',
    reason: ClusterReason.Heartbeating,
    message: `agent ${agentVersion} heartbeating`,
    lastTransitionTime: at,
  });
  const applied = seen.heartbeat.appliedRevision;
  // Synced means "applied the latest revision sent", never "nothing was sent": until this term has
  // sent the cluster something (a new leader re-bases everyone on a snapshot first), the condition
  // stays what it was.
  // Behind is normal for a moment under churn (a batch in flight when the heartbeat left, and
  // agents heartbeat early after each apply): "Applying" is written only with the periodic refresh,
  // so churn cannot turn heartbeats into registry writes; catching up is written at once.
  const behindNow = sent !== undefined && applied < sent;
  if (sent !== undefined && (!behindNow || refresh)) {
    const synced = applied >= sent;
    next = setCondition(next, {
      type: ClusterConditionType.Synced,
      status: synced ? 'True' : 'False',
      reason: synced ? 'Applied' : 'Applying',
      // No revision numbers here: they change with every batch, and a condition that changes
      // with every heartbeat would turn heartbeats into registry writes.
      message: synced ? 'the agent applied every import the hub sent' : 'the agent is applying imports the hub sent',
      lastTransitionTime: at,
    });
  }
  return {
    ...cluster.status,
    agentVersion,
    lastHeartbeatTime: refresh ? new Date(seen.at).toISOString() : previous,
    appliedRevision: refresh ? applied : (cluster.status?.appliedRevision ?? applied),
    conditions: next,
  };
}

/** `status`, or undefined when it differs from the cluster's only in condition transition times. */
function changed(cluster: ClusterResource, status: Record<string, unknown> & { conditions: Condition[] }): ClusterResource['status'] | undefined {
  const unchanged = JSON.stringify(stripTimes(status)) === JSON.stringify(stripTimes(cluster.status ?? {}));
  return unchanged ? undefined : status;
}

/** Status without condition transition times, which alone never warrant a write. */
function stripTimes(status: Record<string, unknown>): unknown {
  // By type: setCondition moves the condition it sets to the end, and order alone is no change.
  const conditions = (status.conditions as Condition[] | undefined)
    ?.map(({ lastTransitionTime: _t, ...c }) => c)
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { ...status, conditions };
}
