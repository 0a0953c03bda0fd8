// When the next heartbeat goes after the applied revision advanced, pure: at once if the last one
// went at least `minGapMs` ago, else when that gap is over — so `causeway apply --wait` (which reads
// the heartbeats' appliedRevision) learns of an apply within a fraction of a second instead of up
// to the 5 s interval, and churn adds at most one heartbeat per `minGapMs`.

/** The default gap between heartbeats sent early (at most four a second). */
export const EARLY_HEARTBEAT_MIN_GAP_MS = 250;

/** How long from `now` until the early heartbeat (0: now). `lastSentAt` undefined: none sent yet. */
export function earlyHeartbeatDelay(lastSentAt: number | undefined, now: number, minGapMs: number): number {
  if (lastSentAt === undefined) return 0;
  return Math.max(0, lastSentAt + minGapMs - now);
}
