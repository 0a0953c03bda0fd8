// Which Available=False the service model may act on. The model withdraws an unavailable
// cluster's endpoints from every import, so a hub that starts must not act on a False it did not
// observe: one left by an earlier hub (or written during an outage) says nothing about whether the
// agent is alive now. Until this hub has had one heartbeat TTL of its own to hear the agent, such a
// False counts as Unknown (endpoints kept); from then on the stored status is trusted again, since
// this hub's liveness has had a full TTL to write True for every agent it hears, unless liveness
// is holding expiries then (it hears nobody, or most clusters are silent): the mask stays while it
// does. Pure: the times are arguments.
import { ClusterConditionType } from '../api/conditions.ts';
import type { ClusterResource } from '../api/resources.ts';

export interface AvailabilityTrust {
  /** When this hub started (ms): a False that turned before then is another hub's word. */
  readonly hubStartedAt: number;
  readonly now: number;
  /** The cluster's heartbeat TTL (ms): how long this hub gives it to be heard. */
  readonly graceMs: number;
  /**
   * Liveness cannot judge silence now (its bus connection is down, came back less than a TTL ago,
   * or most clusters are silent): a False it did not observe stays masked past the grace.
   */
  readonly held?: boolean;
  /** While held, how soon to look again (ms). Default graceMs / 5. */
  readonly heldRecheckMs?: number;
}

export interface TrustedCluster {
  /** The cluster as the model should see it. */
  readonly cluster: ClusterResource;
  /** When to look at a masked False again (ms): when it may become trusted. Undefined: nothing masked. */
  readonly trustAt: number | undefined;
}

export const STALE_UNAVAILABLE_REASON = 'NotYetObserved';

export function trustedAvailability(cluster: ClusterResource, trust: AvailabilityTrust): TrustedCluster {
  const conditions = cluster.status?.conditions ?? [];
  const available = conditions.find((c) => c.type === ClusterConditionType.Available);
  if (available?.status !== 'False') return { cluster, trustAt: undefined };
  const trustAt = trust.hubStartedAt + trust.graceMs;
  const turned = Date.parse(available.lastTransitionTime);
  // A False written after this hub started was observed by this hub's lifetime (its own liveness
  // or another replica's); an unreadable time is treated as old.
  if (!Number.isNaN(turned) && turned >= trust.hubStartedAt) return { cluster, trustAt: undefined };
  if (trust.now >= trustAt && trust.held !== true) return { cluster, trustAt: undefined };
  const masked = {
    ...available,
    status: 'Unknown' as const,
    reason: STALE_UNAVAILABLE_REASON,
    message: `stored as False before this hub started; trusted once the hub has listened for one heartbeat TTL (${available.reason}: ${available.message})`,
  };
  const status = { ...cluster.status, conditions: conditions.map((c) => (c === available ? masked : c)) };
  const lookAgain = trust.now >= trustAt ? trust.now + (trust.heldRecheckMs ?? Math.max(1000, trust.graceMs / 5)) : trustAt;
  return { cluster: { ...cluster, status }, trustAt: lookAgain };
}
