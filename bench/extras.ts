// The top step's extras: the hub's memory per endpoint; the big consumer (one agent in a worker of
// its own, importing ~100,000 endpoints) joining, its memory, and its cold and warm resyncs; then
// a hub crash, the leader's crash with a standby running, and a nats-server crash with every agent
// reconnecting at once (restarts.ts).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { signalPid } from './child.ts';
import { nowMs, type WorkerStatus } from './ipc.ts';
import { log } from './log.ts';
import { hubHeap } from './env.ts';
import { launchAgents, startWorkers, stopWorkers, type WorkerHandle } from './pool.ts';
import { mb, round, rssBytes } from './procs.ts';
import { killLeader, natsRestartNotMeasured, restartHub, restartNats } from './restarts.ts';
import type { BenchResult } from './result.ts';
import type { StepContext } from './step-context.ts';
import { converge, settle } from './waits.ts';

export type Extras = NonNullable<BenchResult['resync']> & { memory: BenchResult['memory'] };

type HubHeap = NonNullable<Awaited<ReturnType<typeof hubHeap>>>;

interface BigConsumer {
  readonly worker: WorkerHandle;
  readonly index: number;
  /** Endpoints it imports once converged. */
  readonly expected: number;
  readonly joinMs: number;
  /** The worker before its agent started, and once it had converged and settled. */
  readonly baseline: WorkerStatus;
  readonly after: WorkerStatus;
  readonly hubRssWithBig: number;
}

async function startBigWorker(ctx: StepContext, stepDir: string, profileDir: string | undefined): Promise<WorkerHandle> {
  const ws = await startWorkers(1, 'big', stepDir, ctx.tracker, profileDir, ctx.workers.length);
  ctx.big = ws[0];
  ctx.cleanups.push(() => stopWorkers(ws));
  if (ctx.big === undefined) throw new Error('no big worker');
  return ctx.big;
}

async function joinBigConsumer(ctx: StepContext, stepDir: string, profileDir: string | undefined): Promise<BigConsumer> {
  const { env, ds } = ctx;
  const perCluster = ds.shape.servicesPerCluster * ds.shape.endpointsPerService;
  const i = ds.bigIndex;
  await env.client.apply([{ source: { document: 1 }, object: ds.clusterManifest(i) }], false);
  const creds = (await env.client.credentials(ds.name(i), false)).creds;
  const big = await startBigWorker(ctx, stepDir, profileDir);
  const baseline = await big.status();
  const expected = ds.expectedImported(i);
  log(`  big consumer: joins importing ${expected} endpoints (${ds.bigGroups} groups of ${ds.shape.groupSize} clusters × ${perCluster})`);
  const tJoin = nowMs();
  await launchAgents([big], [[ds.agentPlan(i, creds)]], env.nats.url, {});
  const joinMs = nowMs() - tJoin + (await converge([big], 300_000));
  ctx.bigActive = true;
  await settle([big], 30_000);
  const after = await big.status();
  const hubRssWithBig = mb(rssBytes(env.hub.pid));
  log(
    `  big consumer converged in ${Math.round(joinMs)} ms; worker RSS ${mb(after.rssBytes)} MB (${mb(after.rssBytes - baseline.rssBytes)} MB over the idle worker's ${mb(baseline.rssBytes)} MB), heap ${mb(after.heapUsedBytes)} MB`,
  );
  return { worker: big, index: i, expected, joinMs, baseline, after, hubRssWithBig };
}

/** The big consumer's agent restarted with an empty cluster (cold), then with its cluster kept (warm). */
async function resyncBigConsumer(big: BigConsumer, problems: string[]): Promise<{ coldMs: number; warmMs: number }> {
  const restart = async (cold: boolean): Promise<number> => {
    const done = big.worker.next('restarted', 300_000);
    big.worker.send({ type: 'restart-agent', index: big.index, cold, tuning: { resyncJitterMs: 0 } });
    const r = await done;
    if (r.imported !== big.expected) problems.push(`${cold ? 'cold' : 'warm'} resync converged to ${r.imported} of ${big.expected} endpoints`);
    return round(r.convergedAtMs - r.startedAtMs, 0);
  };
  const coldMs = await restart(true);
  log(`  cold resync of ${big.expected} endpoints: ${coldMs} ms`);
  await settle([big.worker], 30_000);
  const warmMs = await restart(false);
  log(`  warm resync of ${big.expected} endpoints: ${warmMs} ms`);
  return { coldMs, warmMs };
}

function memory(ctx: StepContext, hubRss: number, heap: HubHeap | undefined, big: BigConsumer): Extras['memory'] {
  const { ds } = ctx;
  const agentDelta = mb(big.after.rssBytes - big.baseline.rssBytes);
  return {
    hub_rss_mb: hubRss,
    hub_endpoints: ds.endpoints,
    hub_rss_mb_per_100k_endpoints: round((hubRss / ds.endpoints) * 100_000, 0),
    hub_rss_mb_with_big_consumer: big.hubRssWithBig,
    ...(heap === undefined ? {} : { hub_heap_used_mb: mb(heap.heapUsed), hub_heap_total_mb: mb(heap.heapTotal), hub_external_mb: mb(heap.external) }),
    agent_worker_rss_mb: mb(big.after.rssBytes),
    agent_worker_idle_rss_mb: mb(big.baseline.rssBytes),
    agent_imported_endpoints: big.expected,
    agent_rss_mb_per_100k_imported: round((agentDelta / big.expected) * 100_000, 0),
    agent_heap_mb: mb(big.after.heapUsedBytes),
  };
}

/** SIGUSR2 to the hub (started with --heapsnapshot-signal), then waits until the snapshot it writes stops growing. */
async function hubHeapSnapshot(pid: number | undefined, dir: string): Promise<void> {
  const before = new Set(readdirSync(dir));
  signalPid(pid, 'SIGUSR2');
  const started = nowMs();
  let last = -1;
  for (;;) {
    await sleep(1000);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    const size = file === undefined ? -1 : statSync(join(dir, file)).size;
    if (file !== undefined && size > 0 && size === last) {
      log(`  hub heap snapshot: ${join(dir, file)} (${mb(size)} MB, ${Math.round(nowMs() - started)} ms)`);
      return;
    }
    last = size;
    if (nowMs() - started > 300_000) {
      log('  hub heap snapshot: none written within 300 s');
      return;
    }
  }
}

/** Memory per endpoint, the big consumer's resyncs, a hub restart and every agent reconnecting at once. */
export async function runExtras(ctx: StepContext, stepDir: string, profileDir: string | undefined, problems: string[]): Promise<Extras> {
  const { env, ds, workers } = ctx;
  await settle(workers, 30_000);
  const hubRss = mb(rssBytes(env.hub.pid));
  const heap = await hubHeap(env.hub.url);
  log(
    `  hub RSS ${hubRss} MB idle with ${ds.endpoints} endpoints` +
      (heap === undefined ? '' : `: V8 heap ${mb(heap.heapUsed)} MB used of ${mb(heap.heapTotal)} MB reserved, ${mb(heap.external)} MB outside it`),
  );
  if (ctx.config.heapSnapshot) await hubHeapSnapshot(env.hub.pid, stepDir);
  const big = await joinBigConsumer(ctx, stepDir, profileDir);
  const { coldMs, warmMs } = await resyncBigConsumer(big, problems);
  const all = [...workers, big.worker];
  await settle(all, 30_000);

  const hubRestart = await restartHub(ctx, all, problems);
  const leaderKill = env.hub.pid !== undefined ? await killLeader(ctx, all, problems) : undefined;
  const hubUp = env.hub.pid !== undefined;
  if (!hubUp) problems.push('no hub runs after the restart test: the nats-server restart was not measured');
  const natsRestart = hubUp ? await restartNats(ctx, all, problems) : natsRestartNotMeasured(ds.shape.clusters + 1);

  return {
    memory: memory(ctx, hubRss, heap, big),
    big_consumer_join_ms: round(big.joinMs, 0),
    cold_resync_ms: coldMs,
    warm_resync_ms: warmMs,
    resync_endpoints: big.expected,
    hub_restart: hubRestart ?? { hub_ready_ms: Number.NaN, every_agent_served_ms: Number.NaN, rounds: 0, outage_changes: 0, outage_changes_lost: 0 },
    ...(leaderKill !== undefined ? { leader_kill: leaderKill } : {}),
    nats_restart: natsRestart,
  };
}
