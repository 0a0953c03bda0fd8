// Percentiles over latency samples (nearest-rank).

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

export function median(samples: readonly number[]): number {
  return summarize(samples).p50;
}

/** The median once the first tenth (connections and caches warming up) is left out. */
export function medianAfterWarmup(samples: readonly number[]): number {
  return median(samples.slice(Math.floor(samples.length / 10)));
}
