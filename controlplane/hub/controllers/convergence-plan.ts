// Convergence, the decision (issue 11 §3): has every cluster applied what the registry holds as of
// a revision? Pure: the leader's delivery state, the agents' last heartbeats and the clusters are
// arguments.
//
// A cluster has converged to revision R when
//   1. the leader's service model reflects R or later (the change was seen and turned into imports),
//   2. nothing is pending for it (every decision the model made was sent), and something was sent
//      in this leadership term — "nothing was sent" is never "applied" —, and
//   3. its agent's last heartbeat says it applied at least the revision last sent to it.
// A change that did not touch a cluster's imports sends it nothing: it is converged as soon as it has
// applied what it was sent before. `behindBy` counts revisions, not changes (etcd revisions also
// advance for other clusters' writes), so it says "how far", not "how many".
import type { ClusterResource } from '../../api/resources.ts';
import { ttlMsOf, type Seen } from './liveness-plan.ts';

/** What the leader's delivery knows of one consumer, in its current term. */
export interface ConsumerDelivery {
  /** The revision of the last batch sent; undefined: nothing yet this term. */
  readonly sent: number | undefined;
  /** A delta or snapshot is decided and not yet sent. */
  readonly pending: boolean;
}

export interface DeliveryState {
  /** The revision the leader's service model reflects. */
  readonly modelRevision: number;
  readonly consumers: Readonly<Record<string, ConsumerDelivery>>;
}

export const ConvergenceState = {
  /** Applied everything up to the revision asked about. */
  Applied: 'applied',
  /** The hub has not yet turned the revision into imports, or has not sent them. */
  Sending: 'sending',
  /** Sent; the agent has not reported applying it yet. */
  Applying: 'applying',
  /** The agent has not been heard within its heartbeat TTL. */
  Unavailable: 'unavailable',
} as const;
export type ConvergenceState = (typeof ConvergenceState)[keyof typeof ConvergenceState];

export interface ClusterConvergence {
  readonly cluster: string;
  readonly state: ConvergenceState;
  /** The revision last sent to it, and the revision its agent last said it applied. */
  readonly sent: number | null;
  readonly applied: number | null;
  /** Revisions between what it applied and what it was sent (0 once applied). */
  readonly behindBy: number | null;
  /** Seconds since its agent was last heard; null: never since this hub started. */
  readonly heardSecondsAgo: number | null;
}

export interface ConvergenceInput {
  readonly revision: number;
  readonly clusters: readonly ClusterResource[];
  /** The leader's delivery state; undefined while no hub leads. */
  readonly delivery: DeliveryState | undefined;
  readonly seen: (cluster: string) => Seen | undefined;
  readonly now: number;
}

export interface Convergence {
  readonly revision: number;
  readonly modelRevision: number | null;
  readonly converged: boolean;
  readonly clusters: readonly ClusterConvergence[];
}

export function planConvergence(input: ConvergenceInput): Convergence {
  const { delivery, revision, now } = input;
  const modelCaughtUp = delivery !== undefined && delivery.modelRevision >= revision;
  const clusters = [...input.clusters]
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0))
    .map((c): ClusterConvergence => {
      const name = c.metadata.name;
      const seen = input.seen(name);
      const consumer = delivery?.consumers[name];
      const sent = consumer?.sent ?? null;
      const applied = seen?.heartbeat.appliedRevision ?? null;
      const heardSecondsAgo = seen === undefined ? null : Math.max(0, Math.round((now - seen.at) / 100) / 10);
      const behindBy = sent === null || applied === null ? null : Math.max(0, sent - applied);
      const base = { cluster: name, sent, applied, behindBy, heardSecondsAgo };
      if (seen === undefined || now - seen.at > ttlMsOf(c)) return { ...base, state: ConvergenceState.Unavailable };
      if (!modelCaughtUp || consumer === undefined || consumer.pending || sent === null) return { ...base, state: ConvergenceState.Sending };
      if (applied === null || applied < sent) return { ...base, state: ConvergenceState.Applying };
      return { ...base, state: ConvergenceState.Applied };
    });
  return {
    revision,
    modelRevision: delivery?.modelRevision ?? null,
    converged: clusters.every((c) => c.state === ConvergenceState.Applied),
    clusters,
  };
}
