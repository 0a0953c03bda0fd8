// The faults, and how one is run and judged. Each fault is injected while the workload runs (an
// apply of 1,000 objects in flight at the moment of injection, endpoint churn in the exporter) and
// the consumers are sampled every 100 ms. Then the runner waits for recovery, which is every one
// of these at once, timed from the end of the fault (the kill itself, the SIGCONT, the restored
// link, the freed disk):
//
//   - every server the topology runs is up: etcd and nats-server (ha: the runner's, restarted by
//     its supervision; embedded: the hub's, restarted by the hub) and every hub answers /readyz;
//   - ha: the agent-gateway leader elected in etcd is a live hub process;
//   - every cluster is Available=True, as a hub's API reports it;
//   - an endpoint added in the exporter after the fault's end is in every consumer;
//   - an apply acknowledged after the fault's end;
//
// then watches one heartbeat TTL and 2 s more (a late withdrawal would show), pauses the
// workload, waits for every consumer to hold exactly the exporter's endpoints, and checks the
// applies of the window (applies.ts).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { leaderElectionKey } from '../../controlplane/api/keys.ts';
import { portOpen } from '../../controlplane/embedded/child-server.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { processCommand, readPidFile } from '../harness/cli.ts';
import { APPLY_NAMESPACE, checkApplies, GENERATION_LABEL, type ApplyLoop, type RegistryReader } from './applies.ts';
import { allEmpty, allExactly, allHave, STABLE, type Churn, type Sampler } from './endpoints.ts';
import { clustersOf, TTL_SECONDS, type HubHandle, type Topology } from './topology.ts';

/** Every fault must be recovered from within this long after its end, with no one stepping in. */
export const RECOVERY_BOUND_MS = 30_000;
/** How long the runner waits for a recovery before it gives up on it (and calls it not recovered). */
const RECOVERY_GIVE_UP_MS = 60_000;
/** Stale endpoints of a partitioned cluster must be gone from every consumer this soon after the partition. */
export const WITHDRAW_BOUND_MS = (TTL_SECONDS + 5) * 1000;
/** ... and back this soon after the link returns. */
export const RESTORE_BOUND_MS = 5000;
const PARTITION_MS = (TTL_SECONDS + 8) * 1000;
const ETCD_STOP_MS = 20_000;
const DISK_FULL_MS = 15_000;
const CONVERGE_MS = 20_000;
const APPLY_IN_FLIGHT_SHARE = 0.5;
/** The election the hubs campaign in (controlplane/hub/agent-gateway.ts), under etcd3's election prefix. */
const ELECTION_PREFIX = `election/${leaderElectionKey('agent-gateway')}/`;

export interface Context {
  readonly topo: Topology;
  readonly churn: Churn;
  readonly sampler: Sampler;
  readonly applies: ApplyLoop;
  readonly registry: RegistryReader;
  log(message: string): void;
}

export interface Injected {
  /** When the fault began, if not when `inject` was called. */
  readonly injectedAt?: number;
  /** What apply the fault landed on, if `inject` waited for one of its own. */
  readonly inFlight?: string | undefined;
  /** When the fault ended (recovery is timed from here). */
  readonly endedAt: number;
  readonly notes: string[];
  /** The partition only: how long until every consumer had none of the exporter's endpoints, and then all back. */
  readonly withdrawnMs?: number | undefined;
  readonly restoredMs?: number | undefined;
}

export interface FaultSpec {
  readonly name: string;
  readonly topology: Topology['kind'];
  readonly what: string;
  /** A check of the checks: run only when named, and expected to FAIL. */
  readonly selftest?: boolean;
  inject(ctx: Context): Promise<Injected>;
}

export interface FaultResult {
  readonly fault: string;
  readonly topology: Topology['kind'];
  readonly what: string;
  readonly recoveryMs: number | undefined;
  /** What was still not well when the runner gave up waiting. */
  readonly unrecovered: string[];
  readonly withdrawn: number;
  readonly withdrawnSeconds: number;
  readonly lostWrites: number;
  /** The history check could not run: lost writes are a lower bound. */
  readonly writesUnchecked: boolean;
  readonly halfDone: number;
  readonly appliesAcknowledged: number;
  readonly appliesAttempted: number;
  readonly convergedMs: number | undefined;
  /** The longest time between two endpoint samples in the fault's window (the sampling's real resolution). */
  readonly maxSampleGapMs: number;
  readonly withdrawnMs?: number | undefined;
  readonly restoredMs?: number | undefined;
  readonly notes: string[];
  readonly problems: string[];
  readonly pass: boolean;
}

// ---- the faults ------------------------------------------------------------------------------

function etcdUrlOf(ctx: Context): string {
  if (ctx.topo.etcdUrl === undefined) throw new Error(`the ${ctx.topo.kind} topology has no etcd of the runner's`);
  return ctx.topo.etcdUrl;
}

async function leaderHub(ctx: Context): Promise<HubHandle | undefined> {
  const store = new EtcdStore({ endpoints: [etcdUrlOf(ctx)], dialTimeoutMs: 1000 });
  try {
    const { kvs } = await store.range(ELECTION_PREFIX, AbortSignal.timeout(2000));
    const first = [...kvs].sort((a, b) => a.createRevision - b.createRevision)[0];
    // The candidate ends in <pid>/<random> (controlplane/hub/agent-gateway.ts).
    const pid = Number(first?.value.split('/').at(-2));
    return ctx.topo.hubs.find((h) => h.service.pid === pid);
  } finally {
    await store.close();
  }
}

function killHub(which: 'leader' | 'follower'): FaultSpec['inject'] {
  return async (ctx) => {
    const leader = await leaderHub(ctx);
    if (leader === undefined) throw new Error('no live hub leads the agent gateway before the fault');
    const target = which === 'leader' ? leader : ctx.topo.hubs.find((h) => h !== leader);
    if (target === undefined) throw new Error(`no ${which} hub`);
    // The hub dies while it is writing an apply of its own.
    const inFlight = await waitApplyInFlight(ctx.applies, target.name);
    const injectedAt = Date.now();
    await target.service.kill();
    return { injectedAt, inFlight, endedAt: Date.now(), notes: [`killed ${target.name} (the ${which}); the runner starts it again after 1 s`] };
  };
}

function service(ctx: Context, which: 'etcd' | 'nats'): NonNullable<Topology['etcd']> {
  const s = which === 'etcd' ? ctx.topo.etcd : ctx.topo.nats;
  if (s === undefined) throw new Error(`the ${ctx.topo.kind} topology has no ${which} of the runner's`);
  return s;
}

/** The pid of the hub's embedded server, checked to be that program. */
function embeddedPid(ctx: Context, which: 'etcd' | 'nats'): number | undefined {
  const hub = ctx.topo.hubs[0];
  if (hub === undefined) return undefined;
  const pid = readPidFile(join(hub.dataDir, which, `${which}.pid`));
  const program = which === 'etcd' ? /(^|\/)etcd$/ : /(^|\/)nats-server$/;
  return pid !== undefined && program.test(processCommand(pid) ?? '') ? pid : undefined;
}

function killEmbedded(which: 'etcd' | 'nats'): FaultSpec['inject'] {
  return (ctx) => {
    const pid = embeddedPid(ctx, which);
    if (pid === undefined) throw new Error(`no embedded ${which} running before the fault`);
    process.kill(pid, 'SIGKILL');
    return Promise.resolve({
      endedAt: Date.now(),
      notes: [`killed the hub's embedded ${which === 'etcd' ? 'etcd' : 'nats-server'} (pid ${pid}); the hub is expected to start it again`],
    });
  };
}

export const FAULTS: readonly FaultSpec[] = [
  {
    name: 'none',
    topology: 'ha',
    what: 'no fault (control: the sampler and checks on a quiet system)',
    inject: () => sleep(5000).then(() => ({ endedAt: Date.now(), notes: [] })),
  },
  { name: 'hub-follower-kill', topology: 'ha', what: 'SIGKILL of the following hub', inject: killHub('follower') },
  { name: 'hub-leader-kill', topology: 'ha', what: 'SIGKILL of the leading hub', inject: killHub('leader') },
  {
    name: 'nats-kill',
    topology: 'ha',
    what: 'SIGKILL of nats-server (restarted after 1 s)',
    inject: async (ctx) => {
      await service(ctx, 'nats').kill();
      return { endedAt: Date.now(), notes: [] };
    },
  },
  {
    name: 'etcd-kill',
    topology: 'ha',
    what: 'SIGKILL of etcd (restarted after 1 s)',
    inject: async (ctx) => {
      await service(ctx, 'etcd').kill();
      return { endedAt: Date.now(), notes: [] };
    },
  },
  {
    name: 'etcd-stop',
    topology: 'ha',
    what: `SIGSTOP of etcd for ${ETCD_STOP_MS / 1000} s`,
    inject: async (ctx) => {
      const etcd = service(ctx, 'etcd');
      etcd.signal('SIGSTOP');
      try {
        await sleep(ETCD_STOP_MS);
      } finally {
        etcd.signal('SIGCONT');
      }
      return { endedAt: Date.now(), notes: [] };
    },
  },
  {
    name: 'agent-partition',
    topology: 'ha',
    what: `the exporter's agent cut from nats-server for ${PARTITION_MS / 1000} s (TTL ${TTL_SECONDS} s)`,
    inject: async (ctx) => {
      const { exporter } = ctx.topo;
      const started = Date.now();
      ctx.sampler.expectWithdrawal = true;
      exporter.proxy.partition();
      let healed: number;
      let withdrawnMs: number | undefined;
      try {
        const gone = await ctx.sampler.until(allEmpty, PARTITION_MS);
        withdrawnMs = gone === undefined ? undefined : gone.at - started;
        await sleep(Math.max(0, started + PARTITION_MS - Date.now()));
      } finally {
        exporter.proxy.restore();
        healed = Date.now();
      }
      const back = await ctx.sampler.until((s) => allHave(s, STABLE), RECOVERY_GIVE_UP_MS);
      const restoredMs = back === undefined ? undefined : back.at - healed;
      ctx.sampler.expectWithdrawal = false;
      return { endedAt: healed, notes: [], withdrawnMs, restoredMs };
    },
  },
  {
    name: 'disk-full',
    topology: 'ha',
    what: `etcd's disk full for ${DISK_FULL_MS / 1000} s`,
    inject: async (ctx) => {
      const disk = ctx.topo.disk;
      if (disk === undefined) throw new Error('no tmpfs disk under etcd');
      const etcd = service(ctx, 'etcd');
      const startsBefore = etcd.startCount;
      const bytes = await disk.fill();
      try {
        await sleep(DISK_FULL_MS);
      } finally {
        disk.release();
      }
      const exits = etcd.events.filter((e) => e.what === 'exit' && e.at >= Date.now() - DISK_FULL_MS - 1000).map((e) => e.detail);
      return {
        endedAt: Date.now(),
        notes: [
          `filled ${Math.round(bytes / 1024 / 1024)} MiB; etcd exited ${exits.length} time(s) while full${exits.length > 0 ? ` (${[...new Set(exits)].join(', ')})` : ''}, started ${etcd.startCount - startsBefore} time(s)`,
        ],
      };
    },
  },
  { name: 'embedded-nats-kill', topology: 'embedded', what: "SIGKILL of the hub's embedded nats-server", inject: killEmbedded('nats') },
  { name: 'embedded-etcd-kill', topology: 'embedded', what: "SIGKILL of the hub's embedded etcd", inject: killEmbedded('etcd') },
  {
    name: 'selftest-withdrawal',
    topology: 'ha',
    selftest: true,
    what: "the exporter partitioned as agent-partition does, the sampler NOT told: must FAIL with every consumer's endpoints withdrawn",
    inject: async (ctx) => {
      ctx.topo.exporter.proxy.partition();
      try {
        await sleep(PARTITION_MS);
      } finally {
        ctx.topo.exporter.proxy.restore();
      }
      return { endedAt: Date.now(), notes: [] };
    },
  },
  {
    name: 'selftest-lost-write',
    topology: 'ha',
    selftest: true,
    what: 'every applied object put back one generation straight into etcd, one of them to generation 0: must FAIL with a lost write and a half-done read',
    inject: async (ctx) => {
      await ctx.applies.pause();
      const store = new EtcdStore({ endpoints: [etcdUrlOf(ctx)] });
      try {
        const prefix = `/causeway/v1/objects/externalservices/${APPLY_NAMESPACE}/`;
        const { kvs } = await store.range(prefix);
        const back = String(ctx.applies.lastAcknowledged() - 1);
        const ops = kvs.map((kv, i) => {
          const o = JSON.parse(kv.value) as { metadata: { labels?: Record<string, string> } };
          o.metadata.labels = { ...o.metadata.labels, [GENERATION_LABEL]: i === 0 ? '0' : back };
          return { type: 'put' as const, key: kv.key, value: JSON.stringify(o) };
        });
        await store.txn([], ops);
        // Long enough for the registry reader to see it before the next apply repairs it.
        await sleep(3000);
      } finally {
        await store.close();
        ctx.applies.start();
      }
      return { endedAt: Date.now(), notes: [] };
    },
  },
];

// ---- recovery --------------------------------------------------------------------------------

async function ready(url: string): Promise<boolean> {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  return res?.status === 200;
}

async function etcdHealthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  const body = (await res?.json().catch(() => ({}))) as { health?: string } | undefined;
  return body?.health === 'true';
}

/** What is not well now (empty: recovered), for a fault that ended at `since`. */
async function notWell(ctx: Context, since: number): Promise<string[]> {
  const { topo } = ctx;
  const bad: string[] = [];
  if (topo.kind === 'ha') {
    if (!(await etcdHealthy(etcdUrlOf(ctx)))) bad.push('etcd not healthy');
    if (topo.nats?.running !== true || !(await portOpen(topo.natsPort))) bad.push('nats-server not serving');
  } else {
    if (embeddedPid(ctx, 'etcd') === undefined) bad.push('no embedded etcd running');
    if (embeddedPid(ctx, 'nats') === undefined) bad.push('no embedded nats-server running');
  }
  const readiness = await Promise.all(topo.hubs.map(async (h) => h.service.running && (await ready(h.url))));
  for (const [i, ok] of readiness.entries()) if (!ok) bad.push(`${topo.hubs[i]?.name ?? i} not ready`);
  if (topo.kind === 'ha') {
    const leader = await leaderHub(ctx).catch(() => undefined);
    if (leader === undefined) bad.push('no live hub leads');
  }
  const client = topo.clients[readiness.findIndex((ok) => ok)];
  if (client === undefined) bad.push('no hub answers');
  else {
    const clusters = await clustersOf(client).catch(() => undefined);
    const unavailable = clusters?.filter((c) => c.status?.conditions?.find((x) => x.type === 'Available')?.status !== 'True').map((c) => c.metadata.name);
    if (unavailable === undefined) bad.push('clusters not readable');
    else if (unavailable.length > 0) bad.push(`not Available: ${unavailable.join(', ')}`);
  }
  const s = ctx.sampler.latest;
  const fresh = s?.addresses[0]?.filter((ip) => (ctx.churn.addRequestedAt(ip) ?? 0) > since && s.addresses.every((a) => a?.includes(ip) === true));
  if (fresh === undefined || fresh.length === 0) bad.push('no endpoint added since the fault has reached every consumer');
  if (!ctx.applies.records.some((r) => r.revision !== undefined && r.endedAt > since)) bad.push('no apply acknowledged since the fault');
  return bad;
}

async function waitRecovered(ctx: Context, since: number): Promise<{ recoveryMs: number | undefined; unrecovered: string[]; lastToRecover: string[] }> {
  let last: string[] = [];
  let previous: string[] = [];
  while (Date.now() - since < RECOVERY_GIVE_UP_MS) {
    last = await notWell(ctx, since);
    if (last.length === 0) return { recoveryMs: Date.now() - since, unrecovered: [], lastToRecover: previous };
    previous = last;
    await sleep(250);
  }
  return { recoveryMs: undefined, unrecovered: last, lastToRecover: last };
}

/**
 * Until an apply (to `hub`, when given) has reached its hub whole, unanswered, for half the time
 * that hub takes to answer one: the fault lands while the hub is writing it. Gives up after 15 s.
 */
async function waitApplyInFlight(applies: ApplyLoop, hub?: string): Promise<string | undefined> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const now = applies.inFlightNow();
    const waiting = now?.front.awaitingSince();
    const typical = now?.front.typicalServerMs() ?? 0;
    if (now !== undefined && waiting !== undefined && (hub === undefined || now.hub === hub) && Date.now() - waiting >= typical * APPLY_IN_FLIGHT_SHARE)
      return `an apply request had been with ${now.hub} for ${Date.now() - waiting} ms (it answers one in ${typical} ms typically)`;
    await sleep(5);
  }
  return undefined;
}

/** What became of the apply that was in flight when the fault began. */
function inFlightOutcome(applies: ApplyLoop, at: number): string {
  const r = applies.records.find((x) => x.startedAt <= at && x.endedAt >= at);
  if (r === undefined) return 'no apply was running';
  const outcome = r.revision !== undefined ? `acknowledged at revision ${r.revision}` : `not acknowledged (exit ${String(r.code)}: ${r.error})`;
  return `that apply (generation ${r.generation}, its CLI started ${at - r.startedAt} ms before and ran ${r.endedAt - r.startedAt} ms in all): ${outcome}`;
}

// ---- one fault, start to verdict ---------------------------------------------------------------

export async function runFault(ctx: Context, spec: FaultSpec): Promise<FaultResult> {
  const { sampler, applies, churn, topo, registry } = ctx;
  const firstRecord = applies.records.length;
  sampler.window = spec.name;
  registry.window = spec.name;
  const problems: string[] = [];
  const exitsBefore = unplannedExits(topo);
  // The fault lands while an apply is being written.
  const inFlight = await waitApplyInFlight(applies);
  ctx.log(`${spec.name}: ${spec.what}`);
  const calledAt = Date.now();
  const injected = await spec.inject(ctx);
  const injectedAt = injected.injectedAt ?? calledAt;
  const recovery = await waitRecovered(ctx, injected.endedAt);
  ctx.log(
    recovery.recoveryMs === undefined
      ? `${spec.name}: NOT recovered within ${RECOVERY_GIVE_UP_MS / 1000} s: ${recovery.unrecovered.join('; ')}`
      : `${spec.name}: recovered ${(recovery.recoveryMs / 1000).toFixed(1)} s after the fault's end`,
  );
  // A withdrawal that comes late (a TTL after a restart) still counts against this fault.
  await sleep((TTL_SECONDS + 2) * 1000);

  await applies.pause();
  await churn.pause();
  const convergeStarted = Date.now();
  const converged = await sampler.until((s) => allExactly(s, churn.exporterEndpoints()), CONVERGE_MS);
  const convergedMs = converged === undefined ? undefined : converged.at - convergeStarted;
  let endpointLost = 0;
  if (converged === undefined) {
    const s = sampler.latest;
    const want = new Set(churn.exporterEndpoints());
    endpointLost = Math.max(0, ...(s?.addresses ?? []).map((a) => (a === undefined ? want.size : [...want].filter((ip) => !a.includes(ip)).length)));
    problems.push(
      `consumers never held exactly the exporter's ${want.size} endpoints within ${CONVERGE_MS / 1000} s of the churn pausing: ${JSON.stringify(s?.addresses)}`,
    );
  }
  const records = applies.records.slice(firstRecord);
  let check: Awaited<ReturnType<typeof checkApplies>>;
  try {
    const i = (await Promise.all(topo.hubs.map((h) => ready(h.url)))).indexOf(true);
    const hub = topo.hubs[i];
    const client = topo.clients[i];
    if (client === undefined || hub === undefined) throw new Error('no hub is ready');
    check = await checkApplies(records, applies.lastAcknowledged(), client, topo.work, topo.token, hub.url);
  } catch (err) {
    check = {
      attempted: records.length,
      acknowledged: records.filter((r) => r.revision !== undefined).length,
      lost: 0,
      halfDone: 0,
      problems: [`the applies could not be checked: ${(err as Error).message}`],
      unchecked: true,
    };
  }
  problems.push(...check.problems);
  const mixed = registry.mixed.filter((r) => r.window === spec.name);
  const regressed = registry.regressed.filter((r) => r.window === spec.name);
  if (mixed.length > 0)
    problems.push(
      `${mixed.length} registry read(s) held part of an apply, e.g. ${mixed[0]?.objects ?? 0} objects at generations ${JSON.stringify(mixed[0]?.generations)}`,
    );
  if (regressed.length > 0)
    problems.push(
      `${regressed.length} registry read(s) were older than an acknowledged apply, e.g. generations ${JSON.stringify(regressed[0]?.generations)} after generation ${regressed[0]?.acknowledgedBefore ?? 0} was acknowledged`,
    );

  const withdrawals = sampler.withdrawalsIn(spec.name);
  const end = Date.now();
  const withdrawnSeconds = withdrawals.reduce((sum, w) => sum + ((w.to ?? end) - w.from), 0) / 1000;
  if (withdrawals.length > 0) {
    const first = withdrawals.slice(0, 4).map((w) => `${w.consumer} lost ${w.ip} for ${(((w.to ?? end) - w.from) / 1000).toFixed(1)} s`);
    problems.push(`${withdrawals.length} endpoint withdrawal(s): ${first.join('; ')}${withdrawals.length > 4 ? '; ...' : ''}`);
  }
  if (recovery.recoveryMs === undefined) problems.push(`not recovered: ${recovery.unrecovered.join('; ')}`);
  else if (recovery.recoveryMs > RECOVERY_BOUND_MS)
    problems.push(`recovered after ${(recovery.recoveryMs / 1000).toFixed(1)} s, over the ${RECOVERY_BOUND_MS / 1000} s bound`);
  if (spec.name === 'agent-partition') {
    if (injected.withdrawnMs === undefined || injected.withdrawnMs > WITHDRAW_BOUND_MS)
      problems.push(
        `stale endpoints withdrawn ${injected.withdrawnMs === undefined ? 'never' : `after ${(injected.withdrawnMs / 1000).toFixed(1)} s`} (bound ${WITHDRAW_BOUND_MS / 1000} s)`,
      );
    if (injected.restoredMs === undefined || injected.restoredMs > RESTORE_BOUND_MS)
      problems.push(
        `endpoints restored ${injected.restoredMs === undefined ? 'never' : `after ${(injected.restoredMs / 1000).toFixed(1)} s`} (bound ${RESTORE_BOUND_MS / 1000} s)`,
      );
  }
  const notes = [
    ...injected.notes,
    `${injected.inFlight ?? inFlight ?? 'no apply request was with a hub'} when the fault began; ${inFlightOutcome(applies, injectedAt)}`,
  ];
  if (recovery.recoveryMs !== undefined && recovery.lastToRecover.length > 0) notes.push(`last to recover: ${recovery.lastToRecover.join('; ')}`);
  const exits = unplannedExits(topo).slice(exitsBefore.length);
  if (exits.length > 0) notes.push(`exits nobody asked for: ${exits.join(', ')}`);
  const unanswered = registry.failuresIn.get(spec.name) ?? 0;
  if (unanswered > 0) notes.push(`${unanswered} of ${unanswered + (registry.readsIn.get(spec.name) ?? 0)} registry reads got no answer`);
  const failedApplies = records.filter((r) => r.revision === undefined);
  if (failedApplies.length > 0)
    notes.push(
      `${failedApplies.length} apply(s) not acknowledged: ${[...new Set(failedApplies.map((r) => `exit ${String(r.code)}: ${r.error.replace(/\s+/g, ' ').slice(0, 160)}`))].join(' | ')}`,
    );

  const lostWrites = check.lost + endpointLost + regressed.length;
  const result: FaultResult = {
    fault: spec.name,
    topology: spec.topology,
    what: spec.what,
    recoveryMs: recovery.recoveryMs,
    unrecovered: recovery.unrecovered,
    withdrawn: withdrawals.length,
    withdrawnSeconds,
    lostWrites,
    writesUnchecked: check.unchecked === true,
    halfDone: check.halfDone + mixed.length,
    appliesAcknowledged: check.acknowledged,
    appliesAttempted: check.attempted,
    convergedMs,
    maxSampleGapMs: sampler.maxGapIn.get(spec.name) ?? 0,
    withdrawnMs: injected.withdrawnMs,
    restoredMs: injected.restoredMs,
    notes,
    problems,
    pass: problems.length === 0,
  };
  churn.start();
  applies.start();
  return result;
}

/** Exits of the topology's processes that the runner did not cause, as "name: how", oldest first. */
function unplannedExits(topo: Topology): string[] {
  const services = [
    ...topo.hubs.map((h) => h.service),
    ...topo.clusters.flatMap((c) => [c.agent, c.double]),
    ...(topo.etcd !== undefined ? [topo.etcd] : []),
    ...(topo.nats !== undefined ? [topo.nats] : []),
  ];
  return services.flatMap((s) => s.events.filter((e) => e.what === 'exit' && e.asked !== true).map((e) => `${s.name} ${e.detail}`));
}
