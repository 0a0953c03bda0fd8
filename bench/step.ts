// One step of the cluster sweep: start etcd, nats-server and the hub, measure the floor, register
// the clusters and fetch their credentials, start the agents in worker processes, then measure
// propagation under a light and a steady load; at one step the throughput ramp, at the top step the
// extras (extras.ts). Everything the step started is stopped before it returns.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR, type Cleanups } from './cleanups.ts';
import type { Config } from './config.ts';
import { Dataset } from './dataset.ts';
import { etcdCounters, listProfiles, startEnv, type Env } from './env.ts';
import { runExtras, type Extras } from './extras.ts';
import { measureFloor, type Floor } from './floor.ts';
import { nowMs, type AgentPlan } from './ipc.ts';
import { runLoad, type LoadOutcome } from './load.ts';
import { log } from './log.ts';
import { launchAgents, startWorkers, stopWorkers } from './pool.ts';
import { CpuMeter, mb, round, roundValues, rssBytes } from './procs.ts';
import type { ThroughputRow } from './result.ts';
import { pids, type StepContext } from './step-context.ts';
import { PropagationTracker } from './tracker.ts';
import { converge, settle, vipsAssigned } from './waits.ts';

/** What a step needs from the run as a whole. */
export interface RunContext {
  readonly config: Config;
  readonly cleanups: Cleanups;
  readonly runDir: string;
  /** The run's budget ends here (nowMs()): the throughput ramp and the extras are not started after it. */
  readonly deadline: number;
}

export interface StepResult {
  readonly clusters: number;
  readonly floor: Floor;
  readonly registerMs: number;
  readonly credentialsMs: number;
  readonly startupConvergeMs: number;
  readonly steady: LoadOutcome;
  readonly light: LoadOutcome;
  readonly idleRssMb: Record<string, number>;
  readonly etcdKeys: number | undefined;
  readonly throughput?: ThroughputRow[];
  readonly extras?: Extras;
  readonly problems: string[];
}

interface StepDirs {
  readonly stepDir: string;
  readonly profileDir: string | undefined;
}

async function forEachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await fn(item);
      }
    }),
  );
}

function stepDirs(run: RunContext, clusters: number): StepDirs {
  const stepDir = join(run.runDir, `step-${clusters}`);
  mkdirSync(stepDir, { recursive: true });
  const profileDir = run.config.profile ? join(run.runDir, 'profiles', `step-${clusters}`) : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  return { stepDir, profileDir };
}

/** The network and every cluster in one apply, then each cluster's credential, 8 at a time. */
async function register(env: Env, ds: Dataset): Promise<{ registerMs: number; credentialsMs: number; creds: Map<number, string> }> {
  const clusters = ds.shape.clusters;
  const t0 = nowMs();
  const docs = [...ds.networkManifests(), ...Array.from({ length: clusters }, (_, i) => ds.clusterManifest(i))];
  await env.client.apply(
    docs.map((object, k) => ({ source: { document: k + 1 }, object })),
    false,
  );
  const registerMs = nowMs() - t0;
  const creds = new Map<number, string>();
  const t1 = nowMs();
  await forEachConcurrently(
    Array.from({ length: clusters }, (_, i) => i),
    8,
    async (i) => {
      creds.set(i, (await env.client.credentials(ds.name(i), false)).creds);
    },
  );
  const credentialsMs = nowMs() - t1;
  log(`  registered ${clusters} clusters in ${Math.round(registerMs)} ms; credentials in ${Math.round(credentialsMs)} ms`);
  return { registerMs, credentialsMs, creds };
}

/** The worker processes of the step (no agents yet), with the tracker their reports go to. */
async function startStepWorkers(run: RunContext, env: Env, ds: Dataset, dirs: StepDirs): Promise<StepContext> {
  const tracker = new PropagationTracker((c) => ds.consumersOf(c, ctx.bigActive));
  const workers = await startWorkers(Math.min(run.config.workers, ds.shape.clusters), 'w', dirs.stepDir, tracker, dirs.profileDir);
  run.cleanups.push(() => stopWorkers(workers));
  const ctx: StepContext = {
    config: run.config,
    env,
    ds,
    tracker,
    workers,
    cleanups: run.cleanups,
    bigActive: false,
    big: undefined,
    cpu: new CpuMeter(() => pids(ctx)),
  };
  return ctx;
}

/** Starts every cluster's agent, waits until all converged and settled; resolves with the time to converge. */
async function startAgents(ctx: StepContext, creds: ReadonlyMap<number, string>): Promise<number> {
  const { config, ds, env, workers } = ctx;
  const clusters = ds.shape.clusters;
  const plans: AgentPlan[][] = workers.map(() => []);
  for (let i = 0; i < clusters; i++) plans[i % workers.length]?.push(ds.agentPlan(i, creds.get(i) ?? ''));
  const t2 = nowMs();
  // At the top scale the agents join over a spread: all at once, the hub's etcd watch of the
  // exports falls behind and loses events (see docs/benchmarks.md); reconnecting at once is measured later.
  const startSpreadMs = clusters >= config.spreadFrom ? config.startSpreadMs : 0;
  await launchAgents(workers, plans, env.nats.url, { startSpreadMs });
  const startupConvergeMs = nowMs() - t2 + (await converge(workers, 420_000));
  log(
    `  ${clusters} agents started ${startSpreadMs > 0 ? `over ${startSpreadMs / 1000} s` : 'at once'} and converged (${ds.endpoints} endpoints exported, each imported by ${config.groupSize}) in ${Math.round(startupConvergeMs)} ms`,
  );
  const vipsMs = await vipsAssigned(env.store, ds.services, 300_000);
  log(`  every service had its clusterset VIP ${Math.round(vipsMs)} ms after that`);
  await settle(workers, 120_000);
  return startupConvergeMs;
}

async function lightAndSteady(ctx: StepContext): Promise<{ light: LoadOutcome; steady: LoadOutcome }> {
  const { config, workers } = ctx;
  const light = await runLoad(ctx, 'light', config.lightRate, config.lightMs);
  log(
    `  light load (${config.lightRate} changes/s): propagation p50 ${light.row.p50_ms} ms, p99 ${light.row.p99_ms} ms, max ${light.row.max_ms} ms over ${light.row.measured_changes} changes (${light.row.incomplete} incomplete); hub reports ${JSON.stringify(light.reportOutcomes)}`,
  );
  await settle(workers, 20_000);
  log(`  steady load: ${config.rate} endpoint changes/s for ${config.steadyMs / 1000} s`);
  const steady = await runLoad(ctx, 'steady', config.rate, config.steadyMs);
  log(
    `  propagation p50 ${steady.row.p50_ms} ms, p99 ${steady.row.p99_ms} ms, max ${steady.row.max_ms} ms over ${steady.row.measured_changes} changes (${steady.row.incomplete} incomplete); ` +
      `${steady.row.changes_per_s} changes/s made; etcd ${steady.etcdWritesPerS} writes/s, slow watchers ${JSON.stringify(steady.etcdSlowWatchers)}; CPU ${JSON.stringify(steady.cpuCores)}; hub event-loop lag ${JSON.stringify(steady.hubEventLoopLagMs)}; hub seen → applied ${JSON.stringify(steady.hubSeenToApplied ?? null)}; hub reports ${JSON.stringify(steady.reportOutcomes)}; agents ${JSON.stringify(steady.agentTimings.map((t) => roundValues(t)))}`,
  );
  return { light, steady };
}

/** The rate stepped up until p99 reaches 1 s, a change is lost, or the generators cannot make the rate. */
async function throughputRamp(ctx: StepContext, deadline: number, problems: string[]): Promise<ThroughputRow[]> {
  const throughput: ThroughputRow[] = [];
  for (const rate of ctx.config.throughputRates) {
    if (nowMs() > deadline) {
      problems.push('throughput ramp cut short by the run budget');
      break;
    }
    await settle(ctx.workers, 20_000);
    const o = await runLoad(ctx, `rate-${rate}`, rate, ctx.config.throughputMs);
    const ok = o.row.p99_ms < 1000 && o.row.incomplete === 0 && o.row.changes_per_s >= rate * 0.9;
    throughput.push({
      target_changes_per_s: rate,
      changes_per_s: o.row.changes_per_s,
      p50_ms: o.row.p50_ms,
      p99_ms: o.row.p99_ms,
      max_ms: o.row.max_ms,
      incomplete: o.row.incomplete,
      etcd_writes_per_s: o.etcdWritesPerS,
      etcd_puts_per_s: o.etcdPutsPerS,
      reports_per_s: o.reportsPerS,
      cpu_cores: o.cpuCores,
      generator_behind_ms: o.behindMs,
      sustained: ok,
    });
    log(
      `  throughput ${rate}/s: made ${o.row.changes_per_s}/s, p50 ${o.row.p50_ms} ms, p99 ${o.row.p99_ms} ms, incomplete ${o.row.incomplete}, etcd ${o.etcdWritesPerS} writes/s, CPU ${JSON.stringify(o.cpuCores)} -> ${ok ? 'sustained' : 'not sustained'}`,
    );
    if (!ok) break;
  }
  return throughput;
}

/** What the agents themselves warned about or failed at during the step, per worker. */
async function workerProblems(ctx: StepContext): Promise<string[]> {
  const problems: string[] = [];
  for (const w of [...ctx.workers, ...(ctx.big !== undefined ? [ctx.big] : [])]) {
    const s = await w.status().catch(() => undefined);
    if (s !== undefined && (s.errors > 0 || s.warnings > 0))
      problems.push(`${w.name}: ${s.warnings} agent warnings, ${s.errors} errors; last: ${s.lastProblem ?? ''}`);
  }
  return problems;
}

export async function runStep(run: RunContext, clusters: number, top: boolean, ramp: boolean): Promise<StepResult> {
  const { config } = run;
  const ds = new Dataset({
    clusters,
    servicesPerCluster: config.servicesPerCluster,
    endpointsPerService: config.endpointsPerService,
    groupSize: config.groupSize,
    bigImports: config.bigImports,
    fullAgents: config.fullAgents,
  });
  const dirs = stepDirs(run, clusters);
  log(`step ${clusters} clusters: ${ds.services} services, ${ds.endpoints} endpoints; starting etcd, nats-server and the hub`);
  const env = await startEnv({
    dataDir: join(DATA_DIR, `step-${clusters}`),
    logDir: dirs.stepDir,
    profileDir: dirs.profileDir,
    heapSnapshotDir: config.heapSnapshot ? dirs.stepDir : undefined,
  });
  run.cleanups.push(() => env.stop());
  const problems: string[] = [];

  const floor = await measureFloor(env.store, env.nats.url, env.hubCreds);
  log(`  floor: etcd put ${floor.etcd_put_ms} ms + NATS publish→deliver ${floor.nats_publish_deliver_ms} ms = ${floor.floor_ms} ms`);
  const { registerMs, credentialsMs, creds } = await register(env, ds);
  const ctx = await startStepWorkers(run, env, ds, dirs);
  const startupConvergeMs = await startAgents(ctx, creds);

  const idleRssMb: Record<string, number> = {};
  for (const [name, pid] of pids(ctx)) idleRssMb[name] = mb(rssBytes(pid));
  const etcdKeys = (await etcdCounters(env.etcd.url)).etcd_debugging_mvcc_keys_total;
  const { light, steady } = await lightAndSteady(ctx);

  let throughput: ThroughputRow[] | undefined;
  let extras: Extras | undefined;
  if (ramp) throughput = await throughputRamp(ctx, run.deadline, problems);
  if (top && config.extras && nowMs() < run.deadline) extras = await runExtras(ctx, dirs.stepDir, dirs.profileDir, problems);
  problems.push(...(await workerProblems(ctx)));
  await run.cleanups.run();
  if (dirs.profileDir !== undefined) log(`  CPU profiles: ${listProfiles(dirs.profileDir).join(', ')}`);
  return {
    clusters,
    floor,
    registerMs: round(registerMs, 0),
    credentialsMs: round(credentialsMs, 0),
    startupConvergeMs: round(startupConvergeMs, 0),
    steady,
    light,
    idleRssMb,
    etcdKeys,
    ...(throughput !== undefined ? { throughput } : {}),
    ...(extras !== undefined ? { extras } : {}),
    problems,
  };
}
