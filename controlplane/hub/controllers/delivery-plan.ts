// Import delivery, the decisions: what one consumer gets next (nothing, its delta, or a snapshot),
// how a sync request is answered, and where a snapshot goes. Pure: what the hub knows of the
// consumer and the time are arguments.

/** What the hub knows about one consumer during this leadership term. */
export interface ConsumerDeliveryState {
  /** The cluster is registered. */
  readonly registered: boolean;
  /** The revision of the last batch sent to it in this term; undefined: none yet. */
  readonly sent: number | undefined;
  /** Changes for it wait to be sent. */
  readonly pending: boolean;
  /** It must get a snapshot (it asked, a delta would not fit, or reachability changed). */
  readonly snapshot: SnapshotRequest | undefined;
}

export interface SnapshotRequest {
  /** Where the agent waits for the answer to its sync request, if it asked. */
  readonly reply: string | undefined;
  /** When it asked (ms). */
  readonly askedAt: number;
}

export type DeliveryStep = 'forget' | 'nothing' | 'delta' | 'snapshot';

export function planDelivery(s: ConsumerDeliveryState): DeliveryStep {
  if (!s.registered) return 'forget';
  // It never got a batch from this hub in this term (new, or a new leader), or a snapshot is on
  // its way anyway: the snapshot, computed when served, carries every change too.
  if (s.sent === undefined || s.snapshot !== undefined) return 'snapshot';
  return s.pending ? 'delta' : 'nothing';
}

/** An agent at `afterRevision` asks to sync: tell it it is up to date, or send a snapshot. */
export function planSync(afterRevision: number, s: ConsumerDeliveryState): 'up-to-date' | 'snapshot' {
  return afterRevision > 0 && s.sent === afterRevision && !s.pending && s.snapshot === undefined ? 'up-to-date' : 'snapshot';
}

/** How long after a sync request its reply inbox is trusted to be listening. */
export const SYNC_REPLY_FRESH_MS = 5000;

/**
 * Where a snapshot's first chunk goes: an agent stops waiting for a reply after a while (10 s);
 * past half of that its inbox may be gone, so the snapshot goes where the agent always listens.
 */
export function snapshotTarget(request: SnapshotRequest | undefined, now: number): { readonly reply: string } | 'imports' {
  return request?.reply !== undefined && now - request.askedAt < SYNC_REPLY_FRESH_MS ? { reply: request.reply } : 'imports';
}
