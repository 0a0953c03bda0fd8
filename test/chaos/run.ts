// `npm run chaos`: the chaos suite (docs/reliability.md). Real etcd, nats-server, `causeway hub`
// and `causeway agent` processes, Kubernetes API doubles (test doubles of kube-apiserver) as the
// clusters; faults injected one after another while a 1,000-object apply and endpoint churn run;
// every consumer's EndpointSlices sampled every 100 ms. Prints one table per run and exits 1 if
// any invariant failed in any run.
//
//   node test/chaos/run.ts [--only FAULT,...] [--runs N] [--markdown FILE] [--keep-logs DIR] [--budget-min M] [--list]
//
// --budget-min (default 13) bounds each run: a fault that would start after it is reported as
// failed, not run.
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { cleanupAll } from '../harness/cleanup.ts';
import { ApplyLoop, RegistryReader } from './applies.ts';
import { allHave, Churn, Sampler } from './endpoints.ts';
import { FAULTS, RECOVERY_BOUND_MS, RESTORE_BOUND_MS, runFault, WITHDRAW_BOUND_MS, type Context, type FaultResult, type FaultSpec } from './faults.ts';
import { markdownReport, textTable } from './report.ts';
import { clustersOf, createExport, importedAddresses, startEmbeddedTopology, startHaTopology, type Topology } from './topology.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '1' },
    markdown: { type: 'string' },
    'keep-logs': { type: 'string' },
    'budget-min': { type: 'string', default: '13' },
    list: { type: 'boolean', default: false },
  },
});

if (values.list) {
  for (const f of FAULTS)
    process.stdout.write(`${f.name.padEnd(20)} ${f.topology.padEnd(9)} ${f.selftest === true ? '(self-test, only when named) ' : ''}${f.what}\n`);
  process.exit(0);
}
const only = values.only
  ?.split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const unknown = (only ?? []).filter((n) => !FAULTS.some((f) => f.name === n));
if (unknown.length > 0) {
  process.stderr.write(`chaos: no fault ${unknown.join(', ')}; --list shows them\n`);
  process.exit(2);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('chaos: --runs takes a whole number of runs, 1 or more\n');
  process.exit(2);
}
// Self-tests (checks of the checks, expected to fail) run only when named.
const budgetMin = Number(values['budget-min']);
if (!(budgetMin > 0)) {
  process.stderr.write('chaos: --budget-min takes a number of minutes\n');
  process.exit(2);
}
const selected = FAULTS.filter((f) => (only === undefined ? f.selftest !== true : only.includes(f.name)));

// One Service per process registers an exit hook; a run holds a few dozen.
process.setMaxListeners(200);
const ROOT = join('/dev/shm', `causeway-chaos-${process.pid}`);
const started = Date.now();
const log = (message: string): void => {
  process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
};

interface Phase {
  readonly topo: Topology;
  readonly ctx: Context;
}

let current: Phase | undefined;
let runStarted = Date.now();
let phases = 0;

async function startPhase(kind: Topology['kind']): Promise<Phase> {
  const work = join(ROOT, `${kind}-${++phases}`);
  log(`starting the ${kind} topology in ${work}`);
  const topo = kind === 'ha' ? await startHaTopology(work) : await startEmbeddedTopology(work);
  try {
    const churn = new Churn(topo.exporter);
    await createExport(topo.exporter, churn.initial());
    const want = churn.exporterEndpoints();
    await waitUntil(
      'every consumer imports the exporter endpoints',
      async () => (await Promise.all(topo.consumers.map((c) => importedAddresses(c)))).every((a) => want.every((ip) => a.includes(ip))),
      60_000,
    );
    const client = topo.clients[0];
    if (client === undefined) throw new Error('no hub client');
    await waitUntil(
      'every cluster Available=True',
      async () => (await clustersOf(client)).every((c) => c.status?.conditions?.find((x) => x.type === 'Available')?.status === 'True'),
      60_000,
    );
    const applies = new ApplyLoop(work, topo.token, () => topo.hubs);
    const first = await applies.once();
    if (first.revision === undefined) throw new Error(`the first apply of 1,000 objects failed: exit ${String(first.code)}: ${first.error}`);
    log(`first apply of 1,000 objects: revision ${first.revision} in ${first.endedAt - first.startedAt} ms`);
    const sampler = new Sampler(topo.consumers, churn);
    sampler.start();
    const all = await sampler.until((s) => allHave(s, want), 10_000);
    if (all === undefined) throw new Error('the sampler does not see the imported endpoints');
    const registry = new RegistryReader(() => topo.clients, applies);
    registry.start();
    churn.start();
    applies.start();
    const phase: Phase = { topo, ctx: { topo, churn, sampler, applies, registry, log } };
    current = phase;
    return phase;
  } catch (err) {
    await topo.stop();
    throw err;
  }
}

/** One line on what a topology's watchers did, for the report: how dense the sampling really was. */
const phaseStats: string[] = [];

async function stopPhase(phase: Phase, keepLogs: string | undefined): Promise<void> {
  current = undefined;
  const { ctx, topo } = phase;
  await ctx.applies.pause();
  await ctx.churn.pause();
  await ctx.sampler.stop();
  await ctx.registry.stop();
  await topo.stop();
  if (keepLogs !== undefined) {
    const dest = join(keepLogs, topo.work.split('/').pop() ?? topo.kind);
    mkdirSync(dest, { recursive: true });
    for (const f of readdirSync(topo.work).filter((n) => n.endsWith('.log'))) cpSync(join(topo.work, f), join(dest, f));
    for (const h of topo.hubs) {
      for (const f of ['etcd.log', 'nats.log']) {
        try {
          cpSync(join(h.dataDir, f), join(dest, `${h.name}-${f}`));
        } catch {
          // Not an embedded hub.
        }
      }
    }
  }
  rmSync(topo.work, { recursive: true, force: true });
  const { sampler, churn, registry, applies } = ctx;
  const line =
    `${topo.kind} topology: ${sampler.samples} endpoint samples of ${topo.consumers.length} consumers (${sampler.errors} failed, longest gap ${sampler.maxGapMs} ms), ` +
    `${churn.changes} endpoint changes (${churn.failures} failed), ${registry.reads} registry reads (${registry.failures} unanswered), ${applies.records.length} applies of 1,000 objects (typically ${applies.typicalMs()} ms each)`;
  phaseStats.push(line);
  log(`stopped the ${line}`);
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

function errored(spec: FaultSpec, err: unknown): FaultResult {
  return {
    fault: spec.name,
    topology: spec.topology,
    what: spec.what,
    recoveryMs: undefined,
    unrecovered: [],
    withdrawn: 0,
    withdrawnSeconds: 0,
    lostWrites: 0,
    writesUnchecked: true,
    halfDone: 0,
    appliesAcknowledged: 0,
    appliesAttempted: 0,
    convergedMs: undefined,
    maxSampleGapMs: 0,
    notes: [],
    problems: [`the runner could not run it: ${err instanceof Error ? err.message : String(err)}`],
    pass: false,
  };
}

async function runPhase(kind: Topology['kind'], faults: readonly FaultSpec[], keepLogs: string | undefined): Promise<FaultResult[]> {
  const results: FaultResult[] = [];
  let phase: Phase | undefined;
  for (const spec of faults) {
    // Bounded whatever happens: a fault not started in time is not skipped as passing, it fails.
    if (Date.now() - runStarted > budgetMin * 60_000) {
      results.push(errored(spec, new Error(`not run: this run's budget of ${budgetMin} min was spent`)));
      continue;
    }
    try {
      phase ??= await startPhase(kind);
    } catch (err) {
      results.push(errored(spec, err));
      continue;
    }
    let result: FaultResult;
    try {
      result = await runFault(phase.ctx, spec);
    } catch (err) {
      result = errored(spec, err);
    }
    results.push(result);
    log(`${spec.name}: ${result.pass ? 'pass' : `FAIL: ${result.problems.join(' | ')}`}`);
    // A fault the topology did not recover from would be blamed on the next one: start afresh.
    if (result.recoveryMs === undefined && faults.indexOf(spec) < faults.length - 1) {
      log(`${spec.name} left the ${kind} topology unrecovered; the next fault gets a new one`);
      await stopPhase(phase, keepLogs);
      phase = undefined;
    }
  }
  if (phase !== undefined) await stopPhase(phase, keepLogs);
  return results;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping every process the chaos runner started`);
    void (async () => {
      if (current !== undefined) await current.topo.stop();
      await cleanupAll();
      rmSync(ROOT, { recursive: true, force: true });
      process.exit(130);
    })();
  });
}

const allRuns: FaultResult[][] = [];
const runStats: string[][] = [];
try {
  mkdirSync(ROOT, { recursive: true, mode: 0o700 });
  log(
    `faults: ${selected.map((f) => f.name).join(', ')}; ${runs} run(s); bounds: recovery ${RECOVERY_BOUND_MS / 1000} s, stale withdrawal ${WITHDRAW_BOUND_MS / 1000} s, restore ${RESTORE_BOUND_MS / 1000} s`,
  );
  for (let run = 1; run <= runs; run++) {
    runStarted = Date.now();
    const results: FaultResult[] = [];
    for (const kind of ['ha', 'embedded'] as const) {
      const faults = selected.filter((f) => f.topology === kind);
      if (faults.length > 0) results.push(...(await runPhase(kind, faults, values['keep-logs'])));
    }
    allRuns.push(results);
    const stats = phaseStats.splice(0).map((l) => `  ${l}`);
    process.stdout.write(`\nchaos run ${run} of ${runs} (${new Date().toISOString()}):\n${textTable(results)}\n${stats.join('\n')}\n`);
    runStats.push(stats);
  }
} finally {
  if (current !== undefined) await current.topo.stop();
  await cleanupAll();
  rmSync(ROOT, { recursive: true, force: true });
}

const failed = allRuns.flat().filter((r) => !r.pass);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
if (values.markdown !== undefined) writeFileSync(values.markdown, markdownReport(allRuns, runStats, minutes));
process.stdout.write(
  failed.length === 0
    ? `\nchaos: every invariant held in ${allRuns.length} run(s) (${minutes} min)\n`
    : `\nchaos: ${failed.length} fault(s) failed an invariant (${minutes} min): ${[...new Set(failed.map((r) => r.fault))].join(', ')}\n`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
// Whatever a client library still holds must not keep a finished run alive.
setTimeout(() => process.exit(), 5000).unref();
