// How long changes take to be applied (issue 11 §3 metrics), decided without I/O: the leader notes
// each flush of the service model — its revision, when the hub first saw the oldest change in it,
// and which consumers it changed imports for — and each consumer's acknowledgement (the applied
// revision in its agent's heartbeat). From those: one latency per consumer and flush ("seen →
// applied in that cluster"), one per flush once every consumer it touched has applied it ("seen →
// applied everywhere"), and per cluster how long its oldest unacknowledged change has waited.
//
// Times are milliseconds on the caller's monotonic clock. Bounded: a flush waits at most `maxAgeMs`
// or among `maxOpen` others; one evicted unacknowledged is counted as expired, never observed.

export interface Observed {
  /** Latencies (ms) of the flushes this acknowledgement completed for the cluster. */
  readonly applied: readonly number[];
  /** Latencies (ms) of the flushes it completed everywhere (every consumer touched has applied them). */
  readonly everywhere: readonly number[];
}

interface Flush {
  readonly revision: number;
  readonly seenAt: number;
  /** Consumers that have not acknowledged it yet. */
  outstanding: number;
  expired: boolean;
}

export interface PropagationClockOptions {
  readonly maxAgeMs?: number;
  readonly maxOpen?: number;
}

const NOTHING: Observed = { applied: [], everywhere: [] };

export class PropagationClock {
  private readonly maxAgeMs: number;
  private readonly maxOpen: number;
  /** Flushes with a consumer still to acknowledge, oldest first. */
  private open: Flush[] = [];
  /** Per consumer, the flushes it has to acknowledge, in revision order. */
  private readonly waiting = new Map<string, Flush[]>();
  private expiredCount = 0;

  constructor(options: PropagationClockOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.maxOpen = options.maxOpen ?? 10_000;
  }

  /** A flush at `revision` changed the imports of `consumers`; its oldest change reached the hub at `seenAt`. */
  flushed(revision: number, seenAt: number, consumers: Iterable<string>, now: number): void {
    this.evict(now);
    const flush: Flush = { revision, seenAt, outstanding: 0, expired: false };
    for (const c of consumers) {
      let list = this.waiting.get(c);
      if (list === undefined) this.waiting.set(c, (list = []));
      list.push(flush);
      flush.outstanding += 1;
    }
    if (flush.outstanding > 0) this.open.push(flush);
  }

  /** The cluster's agent says it applied everything up to `revision`. */
  acknowledged(cluster: string, revision: number, now: number): Observed {
    const list = this.waiting.get(cluster);
    if (list === undefined) return NOTHING;
    const applied: number[] = [];
    const everywhere: number[] = [];
    let k = 0;
    for (; k < list.length; k++) {
      const f = list[k];
      if (f === undefined || f.revision > revision) break;
      if (f.expired) continue;
      applied.push(now - f.seenAt);
      f.outstanding -= 1;
      if (f.outstanding === 0) everywhere.push(now - f.seenAt);
    }
    if (k === list.length) this.waiting.delete(cluster);
    else if (k > 0) this.waiting.set(cluster, list.slice(k));
    if (everywhere.length > 0) this.open = this.open.filter((f) => f.outstanding > 0);
    return { applied, everywhere };
  }

  /** Milliseconds the cluster's oldest unacknowledged change has waited (0: nothing waits). */
  lagMs(cluster: string, now: number): number {
    const first = this.waiting.get(cluster)?.find((f) => !f.expired);
    return first === undefined ? 0 : Math.max(0, now - first.seenAt);
  }

  /** Clusters with something unacknowledged. */
  clusters(): IterableIterator<string> {
    return this.waiting.keys();
  }

  /** Flushes given up on (too old, or too many open) before every consumer acknowledged them. */
  expired(): number {
    return this.expiredCount;
  }

  /** A new leadership term starts from nothing (the previous term's deliveries are not this one's). */
  reset(): void {
    this.open = [];
    this.waiting.clear();
  }

  private evict(now: number): void {
    let drop = 0;
    while (drop < this.open.length) {
      const f = this.open[drop];
      if (f === undefined || (now - f.seenAt <= this.maxAgeMs && this.open.length - drop < this.maxOpen)) break;
      f.expired = true;
      this.expiredCount += 1;
      drop += 1;
    }
    if (drop === 0) return;
    this.open = this.open.slice(drop);
    for (const [c, list] of this.waiting) {
      const kept = list.filter((f) => !f.expired);
      if (kept.length === 0) this.waiting.delete(c);
      else if (kept.length !== list.length) this.waiting.set(c, kept);
    }
  }
}
