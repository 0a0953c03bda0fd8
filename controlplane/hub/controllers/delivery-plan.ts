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
  /** What it said it holds (service key → digest, SyncRequest.held): the snapshot sends only what differs. */
  readonly held?: ReadonlyMap<string, string> | undefined;
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

/**
 * How long a new leader waits for the sync it asked an agent for before pushing a whole snapshot:
 * as long as the agent waits for a sync's first reply (10 s), so the push never races a request
 * that is on its way. At 3 s, a takeover at 1,000 clusters (every agent asked at once, the hub
 * answering their requests as fast as it can decode them) pushed whole snapshots (~100 KB each) to
 * the agents whose requests were still queued, then answered those requests too (bench, leader
 * kill: every agent served 20.8 s after the kill). The push is for an ask that was lost, which on
 * a connection that stayed up is rare: an agent that reconnects syncs on its own.
 */
export const SYNC_WANTED_WAIT_MS = 10_000;

export type SnapshotStep = { readonly step: 'ask' } | { readonly step: 'wait'; readonly ms: number } | { readonly step: 'send' };

/**
 * How a consumer due a snapshot is served. One that asked, or whose agent cannot resume from what
 * it holds, gets it now. Otherwise (a new term: nothing sent yet, nothing asked) the agent is asked
 * to sync (ImportBatch.syncWanted), naming what it holds, so that the snapshot carries only what
 * differs, not the whole state once per consumer (issue 11: failover and restarts cost the
 * change, not the registry); if its sync does not come within SYNC_WANTED_WAIT_MS, it is pushed
 * the whole snapshot after all.
 */
export function planSnapshot(
  s: { readonly snapshot: SnapshotRequest | undefined; readonly syncWantedAt: number | undefined; readonly rebase: boolean },
  now: number,
): SnapshotStep {
  if (s.snapshot !== undefined || !s.rebase) return { step: 'send' };
  if (s.syncWantedAt === undefined) return { step: 'ask' };
  const left = s.syncWantedAt + SYNC_WANTED_WAIT_MS - now;
  return left > 0 ? { step: 'wait', ms: left } : { step: 'send' };
}
