// Condition types and reasons: machine-readable, stable, shown by `causeway get/describe`.
// Conditions follow Kubernetes' metav1.Condition.

export const ConditionStatus = { True: 'True', False: 'False', Unknown: 'Unknown' } as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export const ClusterConditionType = {
  /** The hub accepted the cluster and issued its agent a credential. */
  Joined: 'Joined',
  /** The agent heartbeats within its TTL. */
  Available: 'Available',
  /** The agent applied the latest registry revision meant for it. */
  Synced: 'Synced',
} as const;

export const ClusterReason = {
  Registered: 'Registered',
  AgentNeverConnected: 'AgentNeverConnected',
  HeartbeatExpired: 'HeartbeatExpired',
  Heartbeating: 'Heartbeating',
  AwaitingAgent: 'AwaitingAgent',
} as const;

/** Sets a condition, keeping lastTransitionTime when the status did not change. */
export function setCondition(conditions: readonly Condition[], next: Condition): Condition[] {
  const prev = conditions.find((c) => c.type === next.type);
  const merged = prev !== undefined && prev.status === next.status ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
  return [...conditions.filter((c) => c.type !== next.type), merged];
}

/**
 * On a Cluster, IPPool or Network whose addresses overlap another object's in a way the set checks
 * refuse, but which no write could refuse: a provider adapter observed the overlapping range later
 * (Network status.observedPrefixes). Set on both objects, cleared when the overlap goes.
 */
export const AddressConditionType = { AddressConflict: 'AddressConflict' } as const;

export const AddressReason = {
  /** The message names the other object, both fields and both ranges. */
  Overlap: 'AddressOverlap',
  NoOverlap: 'NoOverlap',
} as const;
