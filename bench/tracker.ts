// Propagation tracking in the coordinator: every change a source cluster made (seq, time) and
// every application of it that consumers' agents reported. A change is propagated when every
// cluster that imports the service has written it to its EndpointSlices; a later change of the
// same endpoint that reaches a consumer first also completes the earlier one there (it was
// coalesced away, which is correct behaviour).
import { nowMs } from './ipc.ts';
import { summarize, type Summary } from './stats.ts';

interface Change {
  readonly seq: number;
  readonly key: string;
  readonly t0: number;
  readonly phase: string;
  /** The cluster that made the change. */
  readonly source: number;
  readonly remaining: Set<number>;
  last: number;
}

export interface PhaseResult extends Summary {
  readonly made: number;
  readonly incomplete: number;
  readonly latencies: readonly number[];
}

export class PropagationTracker {
  private readonly open = new Map<number, Change>();
  private readonly byKey = new Map<string, number[]>();
  private readonly early = new Map<number, [number, number][]>();
  private readonly done = new Map<string, { t0: number; latency: number; source: number }[]>();
  private readonly consumersOf: (cluster: number) => readonly number[];

  constructor(consumersOf: (cluster: number) => readonly number[]) {
    this.consumersOf = consumersOf;
  }

  /** Flattened [seq, cluster, export, endpoint, t] tuples from a worker. */
  addChanges(phase: string, data: readonly number[]): void {
    for (let i = 0; i + 4 < data.length; i += 5) {
      const [seq = 0, cluster = 0, e = 0, ep = 0, t0 = 0] = data.slice(i, i + 5);
      const key = `${cluster}:${e}:${ep}`;
      const change: Change = { seq, key, t0, phase, source: cluster, remaining: new Set(this.consumersOf(cluster)), last: t0 };
      this.open.set(seq, change);
      let list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, (list = []));
      list.push(seq);
      const early = this.early.get(seq);
      if (early !== undefined) {
        this.early.delete(seq);
        for (const [consumer, t] of early) this.applied(seq, consumer, t);
      }
    }
  }

  /** Flattened [seq, consumer, t] tuples from a worker. */
  addApplied(data: readonly number[]): void {
    for (let i = 0; i + 2 < data.length; i += 3) {
      const [seq = 0, consumer = 0, t = 0] = data.slice(i, i + 3);
      this.applied(seq, consumer, t);
    }
  }

  private applied(seq: number, consumer: number, t: number): void {
    const change = this.open.get(seq);
    if (change === undefined) {
      // Reported before the source's report of the change arrived (two workers, two pipes).
      if (!this.known(seq)) {
        let list = this.early.get(seq);
        if (list === undefined) this.early.set(seq, (list = []));
        list.push([consumer, t]);
      }
      return;
    }
    const list = this.byKey.get(change.key) ?? [];
    for (const s of [...list]) {
      if (s > seq) continue;
      const c = this.open.get(s);
      if (c === undefined || !c.remaining.delete(consumer)) continue;
      c.last = Math.max(c.last, t);
      if (c.remaining.size === 0) this.complete(c);
    }
  }

  private readonly finished = new Set<number>();

  private known(seq: number): boolean {
    return this.finished.has(seq);
  }

  private complete(c: Change): void {
    this.open.delete(c.seq);
    this.finished.add(c.seq);
    const list = this.byKey.get(c.key);
    if (list !== undefined) {
      const rest = list.filter((s) => s !== c.seq);
      if (rest.length === 0) this.byKey.delete(c.key);
      else this.byKey.set(c.key, rest);
    }
    let done = this.done.get(c.phase);
    if (done === undefined) this.done.set(c.phase, (done = []));
    done.push({ t0: c.t0, latency: c.last - c.t0, source: c.source });
  }

  /** Changes of the phase still waiting for some consumer. */
  pending(phase: string): number {
    let n = 0;
    for (const c of this.open.values()) if (c.phase === phase) n += 1;
    return n;
  }

  /** Waits until the phase's changes are all propagated, or the deadline. */
  async drain(phase: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending(phase) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /**
   * Latencies of the phase's changes made at or after `fromMs` (warm-up excluded); a change still
   * incomplete counts with the time it has waited so far (a lower bound) and is counted apart.
   * `from`: only the changes these source clusters made (default: all).
   */
  result(phase: string, fromMs = 0, from: (source: number) => boolean = () => true): PhaseResult {
    const latencies = (this.done.get(phase) ?? []).filter((d) => d.t0 >= fromMs && from(d.source)).map((d) => d.latency);
    const now = nowMs();
    let incomplete = 0;
    for (const c of this.open.values()) {
      if (c.phase !== phase || c.t0 < fromMs || !from(c.source)) continue;
      incomplete += 1;
      latencies.push(now - c.t0);
    }
    return { ...summarize(latencies), made: latencies.length, incomplete, latencies };
  }

  /** Forgets what is still open (after a phase that is over). */
  abandon(phase: string): void {
    for (const [seq, c] of this.open)
      if (c.phase === phase) {
        this.open.delete(seq);
        this.byKey.delete(c.key);
      }
  }
}
