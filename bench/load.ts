// The measurements of propagation: a paced, open-loop load at a rate (what the sources made, the
// latency until every consumer applied it, and what etcd, the hub and each process cost meanwhile),
// and probes: one change in every cluster at once, or rounds of them until one propagates whole.
import { setTimeout as sleep } from 'node:timers/promises';
import { etcdCounters, hubCounters } from './env.ts';
import { nowMs } from './ipc.ts';
import { statusOf, type WorkerHandle } from './pool.ts';
import { mb, round, rssBytes } from './procs.ts';
import type { ConsumerLatency, PropagationRow } from './result.ts';
import { pids, type StepContext } from './step-context.ts';

export interface LoadOutcome {
  readonly row: PropagationRow;
  readonly etcdWritesPerS: number;
  /** etcd's slow watchers and their pending events when the load ended (a watcher behind is caught up from the store in batches). */
  readonly etcdSlowWatchers: { readonly watchers: number; readonly pendingEvents: number };
  readonly etcdPutsPerS: number;
  readonly reportsPerS: number;
  /**
   * What the hub did with the agents' reports during the load, by result (ok, duplicate, superseded:
   * given up on by its agent, error, rejected_…): causeway_agent_messages_total{kind="report"}.
   */
  readonly reportOutcomes: Record<string, number>;
  readonly cpuCores: Record<string, number>;
  readonly peakRssMb: Record<string, number>;
  readonly behindMs: number;
  readonly agentTimings: Record<string, number>[];
  readonly hubEventLoopLagMs: Record<string, number>;
  /**
   * The hub's own view of the same changes (causeway_propagation_seconds, between the scrapes before
   * and after the load): from the hub seeing a change to a consumer acknowledging it. What the
   * end-to-end figure adds on top is the source's report and etcd's watch.
   */
  readonly hubSeenToApplied?: { readonly observations: number; readonly mean_ms: number; readonly p50_ms: number; readonly p99_ms: number };
}

/** Quantile `q` of the histogram delta between two scrapes, interpolated within its bucket (ms). */
function bucketQuantile(before: Record<string, number>, after: Record<string, number>, q: number): number {
  const bounds = Object.keys(after)
    .filter((k) => k.startsWith('propagation_le_'))
    .map((k) => k.slice('propagation_le_'.length))
    .filter((le) => le !== '+Inf')
    .map(Number)
    .sort((a, b) => a - b);
  const count = (after.propagation_count ?? 0) - (before.propagation_count ?? 0);
  if (count <= 0) return Number.NaN;
  let lower = 0;
  let below = 0;
  for (const le of bounds) {
    const n = (after[`propagation_le_${le}`] ?? 0) - (before[`propagation_le_${le}`] ?? 0);
    if (n >= q * count) return (lower + ((q * count - below) / Math.max(1, n - below)) * (le - lower)) * 1000;
    lower = le;
    below = n;
  }
  return Number.POSITIVE_INFINITY;
}

/** Paced open-loop load at `rate` changes/s for `durationMs`, then drain; the tracker measures. */
export async function runLoad(ctx: StepContext, phase: string, rate: number, durationMs: number): Promise<LoadOutcome> {
  const { env, tracker, workers } = ctx;
  const sources = workers;
  const etcdBefore = await etcdCounters(env.etcd.url);
  const hubBefore = await hubCounters(env.hub.url);
  const peak: Record<string, number> = {};
  const sampler = setInterval(() => {
    for (const [name, pid] of pids(ctx)) peak[name] = Math.max(peak[name] ?? 0, mb(rssBytes(pid)));
  }, 1000);
  ctx.cpu.begin();
  const start = nowMs();
  for (const w of sources) w.loadDone = undefined;
  const done = Promise.all(sources.map((w) => w.next('load-done', durationMs + 300_000)));
  // Each source paces rate / n, a 1/n period apart from the next: together one evenly spaced stream
  // (in step, 20 changes/s from four workers were bursts of four every 200 ms).
  sources.forEach((w, i) => {
    w.send({ type: 'load', phase, rate: rate / sources.length, durationMs, offset: i / sources.length });
  });
  const finished = await done;
  const timings = await statusOf(workers)
    .then((s) => s.map((x) => x.timings))
    .catch(() => []);
  const loadSeconds = (nowMs() - start) / 1000;
  const cpuCores = ctx.cpu.end();
  const etcdAfter = await etcdCounters(env.etcd.url);
  const hubAfter = await hubCounters(env.hub.url);
  await tracker.drain(phase, 20_000);
  // After the drain: the acknowledgements of the last changes are in.
  const hubDrained = await hubCounters(env.hub.url).catch(() => hubAfter);
  clearInterval(sampler);
  const made = finished.reduce((n, f) => n + f.made, 0);
  const behindMs = Math.max(...finished.map((f) => f.behindMs));
  const from = start + ctx.config.warmupMs;
  const r = tracker.result(phase, from);
  const { ds } = ctx;
  const lightClusters = ds.shape.clusters - ds.fullClusters;
  const classOf = (light: boolean, clusters: number): ConsumerLatency => {
    const c = tracker.result(phase, from, (source) => ds.isLight(source) === light);
    return { clusters, p50_ms: round(c.p50, 1), p99_ms: round(c.p99, 1), max_ms: round(c.max, 1), measured_changes: c.made, incomplete: c.incomplete };
  };
  const byConsumer = lightClusters > 0 ? { light: classOf(true, lightClusters), full: classOf(false, ds.fullClusters) } : undefined;
  tracker.abandon(phase);
  const delta = (a: Record<string, number>, b: Record<string, number>, k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
  return {
    row: {
      clusters: ctx.ds.shape.clusters,
      services: ctx.ds.services,
      endpoints: ctx.ds.endpoints,
      changes_per_s: round((made / durationMs) * 1000, 0),
      target_changes_per_s: rate,
      p50_ms: round(r.p50, 1),
      p99_ms: round(r.p99, 1),
      max_ms: round(r.max, 1),
      measured_changes: r.made,
      incomplete: r.incomplete,
      consumers_per_change: ctx.config.groupSize,
      ...(byConsumer !== undefined ? { by_consumer: byConsumer } : {}),
    },
    etcdWritesPerS: round(delta(etcdBefore, etcdAfter, 'etcd_server_proposals_committed_total') / loadSeconds, 0),
    etcdSlowWatchers: {
      watchers: etcdAfter.etcd_debugging_mvcc_slow_watcher_total ?? 0,
      pendingEvents: etcdAfter.etcd_debugging_mvcc_pending_events_total ?? 0,
    },
    etcdPutsPerS: round(delta(etcdBefore, etcdAfter, 'etcd_mvcc_put_total') / loadSeconds, 0),
    reportsPerS: round(delta(hubBefore, hubAfter, 'report_ok') / loadSeconds, 0),
    reportOutcomes: Object.fromEntries(
      Object.keys(hubAfter)
        .filter((k) => k.startsWith('report_'))
        .map((k) => [k.slice('report_'.length), delta(hubBefore, hubAfter, k)]),
    ),
    cpuCores,
    peakRssMb: peak,
    behindMs: round(behindMs, 0),
    agentTimings: timings,
    ...(hubDrained.propagation_count !== undefined
      ? {
          hubSeenToApplied: {
            observations: hubDrained.propagation_count - (hubBefore.propagation_count ?? 0),
            mean_ms: round(
              (((hubDrained.propagation_sum ?? 0) - (hubBefore.propagation_sum ?? 0)) /
                Math.max(1, hubDrained.propagation_count - (hubBefore.propagation_count ?? 0))) *
                1000,
              1,
            ),
            p50_ms: round(bucketQuantile(hubBefore, hubDrained, 0.5), 1),
            p99_ms: round(bucketQuantile(hubBefore, hubDrained, 0.99), 1),
          },
        }
      : {}),
    hubEventLoopLagMs: {
      p50: round(hubAfter.eventloop_lag_p50_ms ?? Number.NaN, 1),
      p99: round(hubAfter.eventloop_lag_p99_ms ?? Number.NaN, 1),
      max: round(hubAfter.eventloop_lag_max_ms ?? Number.NaN, 1),
    },
  };
}

/** Makes one change in every exporting cluster (or those `which` picks); resolves once every worker has made its share. */
export async function probe(ctx: StepContext, phase: string, endpoint = 0, which: (cluster: number) => boolean = () => true): Promise<number> {
  const byWorker = new Map<WorkerHandle, number[]>();
  for (let i = 0; i < ctx.ds.shape.clusters; i++) {
    if (!which(i)) continue;
    const w = ctx.workers[i % ctx.workers.length];
    if (w === undefined) continue;
    const list = byWorker.get(w) ?? [];
    list.push(i);
    byWorker.set(w, list);
  }
  const made = await Promise.all(
    [...byWorker].map(async ([w, clusters]) => {
      const done = w.next('probed', 60_000);
      w.send({ type: 'probe', phase, clusters, endpoint });
      return (await done).made;
    }),
  );
  return made.reduce((a, b) => a + b, 0);
}

/** A change in every cluster at once; the time until every consumer applied each. */
export async function probeAll(ctx: StepContext, phase: string, timeoutMs: number): Promise<{ p50: number; max: number; incomplete: number }> {
  await probe(ctx, phase);
  await ctx.tracker.drain(phase, timeoutMs);
  const r = ctx.tracker.result(phase);
  ctx.tracker.abandon(phase);
  return { p50: round(r.p50, 0), max: round(r.max, 0), incomplete: r.incomplete };
}

/** Clusters per probe round after an outage: a round is a load the system can carry (about 100 changes). */
const ROUND_CLUSTERS = 100;

export interface Served {
  /** From `since` until the first round made after it reached every consumer: changes flow again. */
  readonly flowingMs: number;
  /** Until every cluster's change of some round reached every consumer: every agent served again. */
  readonly servedMs: number;
  readonly rounds: number;
}

/**
 * After an outage began at `since`: a round of changes every `everyMs`, each in a slice of the
 * clusters (every `stride`-th, about ROUND_CLUSTERS of them, the slices taking turns), until each
 * slice has had a round propagate whole. A change in every cluster at once every second would be
 * 1,000 changes/s at 1,000 clusters — more than the probe should add — and a round that can never
 * complete measures the load, not the recovery.
 */
export async function servedAgain(ctx: StepContext, prefix: string, since: number, everyMs: number, timeoutMs: number): Promise<Served> {
  const stride = Math.max(1, Math.ceil(ctx.ds.shape.clusters / ROUND_CLUSTERS));
  const starts: number[] = [];
  const doneAt = new Map<number, number>();
  let flowingMs = Number.NaN;
  const deadline = since + timeoutMs;
  for (let r = 0; nowMs() < deadline; r++) {
    starts.push(nowMs());
    // Each round changes another endpoint, so a later round does not stand in for a lost one.
    await probe(ctx, `${prefix}-${r}`, r, (i) => i % stride === r % stride);
    const next = nowMs() + everyMs;
    while (nowMs() < next) {
      for (const [k, start] of starts.entries()) {
        const phase = `${prefix}-${k}`;
        if (doneAt.has(k) || ctx.tracker.pending(phase) > 0) continue;
        const res = ctx.tracker.result(phase);
        if (res.made === 0 || res.incomplete > 0) continue;
        doneAt.set(k, start + res.max);
        if (Number.isNaN(flowingMs)) flowingMs = round(start + res.max - since, 0);
      }
      const slices = new Set([...doneAt.keys()].map((k) => k % stride));
      if (slices.size === stride) {
        const last = Math.max(...[...Array(stride).keys()].map((slice) => Math.min(...[...doneAt].filter(([k]) => k % stride === slice).map(([, t]) => t))));
        return { flowingMs, servedMs: round(last - since, 0), rounds: starts.length };
      }
      await sleep(20);
    }
  }
  return { flowingMs, servedMs: Number.NaN, rounds: starts.length };
}
