// The heartbeat an agent publishes, built from what it knows (pure): the envelope, the applied
// revision, its conditions, the policy snapshot it applied, the protocol features it accepts and the import state it holds
// (AGENT_FEATURES, so that every agent build names them the same way). Shared by the agent and the
// benchmark's light consumer, which reports the same message without a Kubernetes side.
import { AGENT_FEATURES, PROTOCOL_VERSION, type Heartbeat } from '../../controlplane/api/messages.ts';

export interface HeartbeatParts {
  readonly cluster: string;
  readonly session: string;
  readonly agentVersion: string;
  readonly appliedRevision: number;
  readonly time: Date;
  readonly conditions: NonNullable<Heartbeat['conditions']>;
  /** The compiled-policy snapshot applied in full, if any. */
  readonly policy?: { readonly term: number; readonly seq: number } | undefined;
  /** The desired state held, as the hub summarised it (planners/receive.ts holdsClaim). */
  readonly holds?: { readonly revision: number; readonly summary: string } | undefined;
}

export function heartbeatMessage(p: HeartbeatParts): Heartbeat {
  return {
    v: PROTOCOL_VERSION,
    cluster: p.cluster,
    session: p.session,
    agentVersion: p.agentVersion,
    appliedRevision: p.appliedRevision,
    time: p.time.toISOString(),
    conditions: p.conditions,
    ...(p.policy === undefined ? {} : { policy: { term: p.policy.term, seq: p.policy.seq } }),
    accepts: [...AGENT_FEATURES],
    ...(p.holds === undefined ? {} : { holds: { revision: p.holds.revision, summary: p.holds.summary } }),
  };
}
