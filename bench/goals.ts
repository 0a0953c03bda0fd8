// The goals of issue 5 against a run's figures: met, missed, or not measured at that scale, and by
// how much. A goal set at 1,000 clusters or 100,000 endpoints is "not measured" in a smaller run.
import { fmt } from './format.ts';
import type { BenchResult } from './result.ts';

export interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
  readonly note: string;
}

function by(measured: number | null, target: number, lowerIsBetter = true): string {
  if (typeof measured !== 'number' || Number.isNaN(measured)) return '';
  const ratio = lowerIsBetter ? measured / target : target / measured;
  return ratio <= 1 ? `${fmt((1 - ratio) * 100)} % inside the goal` : `missed: ${fmt(ratio, 1)}× the goal`;
}

function propagationGoals(r: BenchResult): Goal[] {
  const top = r.propagation[r.propagation.length - 1];
  if (top === undefined) return [];
  const at1000 = top.clusters >= 1000;
  const where = ` (at ${fmt(top.clusters)} clusters${at1000 ? '' : ', not 1,000'})`;
  const ratio = top.p50_ms / r.floor_ms;
  return [
    {
      goal: 'Propagation p50',
      target: '≤ 100 ms at 1,000 clusters / 250,000 endpoints / 1,000 changes/s',
      measured: `${fmt(top.p50_ms, 1)} ms${where}`,
      met: at1000 ? top.p50_ms <= 100 : undefined,
      note: by(top.p50_ms, 100),
    },
    {
      goal: 'Propagation p99',
      target: '≤ 500 ms',
      measured: `${fmt(top.p99_ms, 1)} ms${where}`,
      met: at1000 ? top.p99_ms <= 500 && top.incomplete === 0 : undefined,
      note: by(top.p99_ms, 500),
    },
    {
      goal: 'p50 within 10× the floor',
      target: `≤ ${fmt(10 * r.floor_ms, 2)} ms (floor ${fmt(r.floor_ms, 2)} ms)`,
      measured: `${fmt(ratio, 1)}× the floor`,
      met: ratio <= 10,
      note: by(ratio, 10),
    },
  ];
}

function throughputGoals(r: BenchResult): Goal[] {
  if (r.throughput === undefined) return [];
  const t = r.throughput.max_sustained_changes_per_s;
  const row = r.throughput.steps.find((s) => s.sustained && s.changes_per_s === t);
  const out: Goal[] = [
    {
      goal: 'Throughput',
      target: '≥ 10,000 endpoint changes/s with p99 < 1 s',
      measured: `${fmt(t)} changes/s (at ${fmt(r.throughput.clusters)} clusters)`,
      met: t >= 10_000,
      note: t === 0 ? 'no rate sustained' : by(t, 10_000, false),
    },
  ];
  if (row !== undefined) {
    out.push({
      goal: 'etcd transactions coalesced',
      target: 'well below the change rate',
      measured: `${fmt(row.etcd_writes_per_s)} etcd writes/s at ${fmt(row.changes_per_s)} changes/s (${fmt(row.etcd_writes_per_s / row.changes_per_s, 2)} per change)`,
      met: row.etcd_writes_per_s < row.changes_per_s / 2,
      note: '',
    });
  }
  return out;
}

function memoryGoals(r: BenchResult): Goal[] {
  if (r.memory === undefined) return [];
  return [
    {
      goal: 'Hub memory',
      target: '≤ 300 MB per 100,000 endpoints',
      measured: `${fmt(r.memory.hub_rss_mb_per_100k_endpoints)} MB per 100,000 (RSS ${fmt(r.memory.hub_rss_mb)} MB with ${fmt(r.memory.hub_endpoints)} endpoints)`,
      met: r.memory.hub_rss_mb_per_100k_endpoints <= 300,
      note: by(r.memory.hub_rss_mb_per_100k_endpoints, 300),
    },
    {
      goal: 'Agent memory',
      target: '≤ 100 MB per 100,000 imported endpoints',
      measured: `${fmt(r.memory.agent_rss_mb_per_100k_imported)} MB per 100,000 (${fmt(r.memory.agent_imported_endpoints)} imported)`,
      met: r.memory.agent_rss_mb_per_100k_imported <= 100,
      note: by(r.memory.agent_rss_mb_per_100k_imported, 100),
    },
  ];
}

function resyncGoals(r: BenchResult): Goal[] {
  if (r.resync === undefined) return [];
  const scale = r.resync.resync_endpoints / 100_000;
  const at100k = r.resync.resync_endpoints >= 100_000;
  const suffix = at100k ? '' : ` (with ${fmt(r.resync.resync_endpoints)} endpoints, not 100,000)`;
  return [
    {
      goal: 'Cold resync',
      target: '≤ 10 s for 100,000 endpoints',
      measured: `${fmt(r.resync.cold_resync_ms)} ms${suffix}`,
      met: at100k ? r.resync.cold_resync_ms <= 10_000 : undefined,
      note: by(r.resync.cold_resync_ms, 10_000 * Math.min(1, scale)),
    },
    {
      goal: 'Warm resync',
      target: '≤ 1 s for 100,000 endpoints',
      measured: `${fmt(r.resync.warm_resync_ms)} ms${suffix}`,
      met: at100k ? r.resync.warm_resync_ms <= 1000 : undefined,
      note: by(r.resync.warm_resync_ms, 1000 * Math.min(1, scale)),
    },
  ];
}

export function goals(r: BenchResult): Goal[] {
  return [...propagationGoals(r), ...throughputGoals(r), ...memoryGoals(r), ...resyncGoals(r)];
}
