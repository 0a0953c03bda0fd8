// The endpoint side of the workload, and what the runner watches:
//
// - Churn: the exporter's EndpointSlice holds three stable endpoints and a rolling window of three
//   more; every CHURN_MS the oldest of the window is replaced by a fresh address (never reused),
//   with a merge patch through the exporter's Kubernetes API. The runner notes when it asked for
//   each address to be added and to be removed.
// - Sampler: every SAMPLE_MS it reads every consumer's imported EndpointSlices from its Kubernetes
//   API. An endpoint a consumer had and no longer has, while the exporter was never asked to remove
//   it, is a withdrawal; it lasts until the consumer has it again (or the exporter's removal).
//   Each is attributed to the fault window it began in. While a fault is expected to withdraw
//   (the partitioned exporter), nothing counts, and the runner measures when the endpoints went
//   and came back instead.
import { setTimeout as sleep } from 'node:timers/promises';
import { endpointList, importedAddresses, NS, SLICE, type ChaosCluster } from './topology.ts';

export const CHURN_MS = 300;
export const SAMPLE_MS = 100;
export const STABLE = ['10.32.0.10', '10.32.0.11', '10.32.0.12'] as const;
const WINDOW = 3;

interface AddressLife {
  readonly addRequestedAt: number;
  removeRequestedAt: number | undefined;
}

export class Churn {
  private readonly exporter: ChaosCluster;
  private readonly lives = new Map<string, AddressLife>();
  private rolling: string[] = [];
  private next = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  /** The set the exporter's API last acknowledged. */
  private acknowledged: readonly string[] = [];
  failures = 0;
  changes = 0;

  constructor(exporter: ChaosCluster) {
    this.exporter = exporter;
  }

  /** The starting endpoints: the stable ones and a first window. */
  initial(): string[] {
    const now = Date.now();
    for (const ip of STABLE) this.lives.set(ip, { addRequestedAt: now, removeRequestedAt: undefined });
    for (let i = 0; i < WINDOW; i++) this.rolling.push(this.fresh(now));
    this.acknowledged = this.current();
    return this.current();
  }

  /** Every endpoint the exporter has now (as last acknowledged by its API). */
  exporterEndpoints(): readonly string[] {
    return this.acknowledged;
  }

  /** When the runner asked for `ip` to go; undefined while it is meant to stay. */
  removeRequestedAt(ip: string): number | undefined {
    return this.lives.get(ip)?.removeRequestedAt;
  }

  addRequestedAt(ip: string): number | undefined {
    return this.lives.get(ip)?.addRequestedAt;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async pause(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = undefined;
  }

  private current(): string[] {
    return [...STABLE, ...this.rolling];
  }

  private fresh(now: number): string {
    const n = this.next++;
    const ip = `10.32.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
    this.lives.set(ip, { addRequestedAt: now, removeRequestedAt: undefined });
    return ip;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      const gone = this.rolling.shift();
      if (gone !== undefined) {
        const life = this.lives.get(gone);
        if (life !== undefined) life.removeRequestedAt = started;
      }
      this.rolling.push(this.fresh(started));
      const want = this.current();
      try {
        await this.exporter.kube.mergePatch(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${SLICE}`, { endpoints: endpointList(want) });
        this.acknowledged = want;
        this.changes++;
      } catch {
        // The exporter's API is the double, which no fault touches: a failure is the runner's machine being slow.
        this.failures++;
      }
      await sleep(Math.max(0, CHURN_MS - (Date.now() - started)));
    }
  }
}

export interface Withdrawal {
  readonly consumer: string;
  readonly ip: string;
  readonly from: number;
  to: number | undefined;
  readonly window: string;
}

export interface Sample {
  readonly at: number;
  /** Per consumer, in topology order; undefined where its API did not answer. */
  readonly addresses: readonly (readonly string[] | undefined)[];
}

export class Sampler {
  readonly withdrawals: Withdrawal[] = [];
  /** The fault window samples are attributed to. */
  window = 'baseline';
  /** A fault that is meant to withdraw: nothing counts, the partition fault measures instead. */
  expectWithdrawal = false;
  samples = 0;
  errors = 0;
  maxGapMs = 0;
  /** The longest time between two samples, per window. */
  readonly maxGapIn = new Map<string, number>();
  private readonly consumers: readonly ChaosCluster[];
  private readonly churn: Churn;
  private readonly seen: Set<string>[];
  private readonly open: Map<string, Withdrawal>[];
  private readonly listeners = new Set<(s: Sample) => void>();
  private last: Sample | undefined;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(consumers: readonly ChaosCluster[], churn: Churn) {
    this.consumers = consumers;
    this.churn = churn;
    this.seen = consumers.map(() => new Set<string>());
    this.open = consumers.map(() => new Map<string, Withdrawal>());
  }

  get latest(): Sample | undefined {
    return this.last;
  }

  /** Calls `listener` with every sample until the returned function is called. */
  onSample(listener: (s: Sample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first sample (at or after now) for which `test` holds, or undefined after `timeoutMs`. */
  async until(test: (s: Sample) => boolean, timeoutMs: number): Promise<Sample | undefined> {
    const current = this.last;
    if (current !== undefined && test(current) && current.at >= Date.now() - SAMPLE_MS) return current;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(undefined);
      }, timeoutMs);
      const stop = this.onSample((s) => {
        if (!test(s)) return;
        clearTimeout(timer);
        stop();
        resolve(s);
      });
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  withdrawalsIn(window: string): Withdrawal[] {
    return this.withdrawals.filter((w) => w.window === window);
  }

  private async run(): Promise<void> {
    let previous = 0;
    while (this.running) {
      const started = Date.now();
      if (previous !== 0) {
        this.maxGapMs = Math.max(this.maxGapMs, started - previous);
        this.maxGapIn.set(this.window, Math.max(this.maxGapIn.get(this.window) ?? 0, started - previous));
      }
      previous = started;
      const addresses = await Promise.all(
        this.consumers.map((c) =>
          importedAddresses(c).catch(() => {
            this.errors++;
            return undefined;
          }),
        ),
      );
      // Judged at the answer's time: a removal asked for before it may already show.
      const sample: Sample = { at: Date.now(), addresses };
      this.samples++;
      this.judge(sample);
      this.last = sample;
      for (const l of this.listeners) l(sample);
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - started)));
    }
  }

  private judge(sample: Sample): void {
    for (const [i, got] of sample.addresses.entries()) {
      if (got === undefined) continue;
      const has = new Set(got);
      const seen = this.seen[i] ?? new Set<string>();
      const open = this.open[i] ?? new Map<string, Withdrawal>();
      const consumer = this.consumers[i]?.name ?? String(i);
      for (const [ip, w] of open) {
        const removed = this.churn.removeRequestedAt(ip);
        if (has.has(ip) || (removed !== undefined && removed <= sample.at)) {
          w.to = has.has(ip) ? sample.at : (removed ?? sample.at);
          open.delete(ip);
        }
      }
      for (const ip of seen) {
        if (has.has(ip)) continue;
        const removed = this.churn.removeRequestedAt(ip);
        if ((removed !== undefined && removed <= sample.at) || this.expectWithdrawal) {
          seen.delete(ip);
          continue;
        }
        if (!open.has(ip)) {
          const w: Withdrawal = { consumer, ip, from: sample.at, to: undefined, window: this.window };
          open.set(ip, w);
          this.withdrawals.push(w);
        }
      }
      for (const ip of has) seen.add(ip);
    }
  }
}

/** Whether every consumer's sample holds all of `ips`. */
export function allHave(s: Sample, ips: readonly string[]): boolean {
  return s.addresses.every((a) => a !== undefined && ips.every((ip) => a.includes(ip)));
}

/** Whether every consumer's sample holds exactly `ips`. */
export function allExactly(s: Sample, ips: readonly string[]): boolean {
  const want = [...ips].sort().join(',');
  return s.addresses.every((a) => a !== undefined && [...a].sort().join(',') === want);
}

/** Whether no consumer holds any endpoint of the service. */
export function allEmpty(s: Sample): boolean {
  return s.addresses.every((a) => a !== undefined && a.length === 0);
}
