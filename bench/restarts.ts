// Crashes of the servers while the agents run: the hub killed (SIGKILL) and a new hub process
// started while etcd and NATS stay up; nats-server killed and restarted on the same port, so that
// every agent reconnects and resyncs at once. Each says how long until every agent is served again.
import { nowMs, type WorkerStatus } from './ipc.ts';
import { probe, probeAll, servedAgain } from './load.ts';
import { warmPasses } from './env.ts';
import { log } from './log.ts';
import { statusOf, type WorkerHandle } from './pool.ts';
import { round } from './procs.ts';
import type { BenchResult, Timeline, TimelineStage } from './result.ts';
import type { StepContext } from './step-context.ts';
import { settle, sum, until } from './waits.ts';

type Resync = NonNullable<BenchResult['resync']>;

/** The hub crashes (SIGKILL) while every cluster changes one endpoint; a new hub starts at once. */
export async function restartHub(ctx: StepContext, all: readonly WorkerHandle[], problems: string[]): Promise<Resync['hub_restart'] | undefined> {
  const { env, tracker } = ctx;
  log('  hub restart: SIGKILL, a change in every cluster, new hub process');
  try {
    // First crash: one change in every cluster while no hub runs, then nothing: are they delivered?
    await env.hub.kill();
    await probe(ctx, 'hub-outage', 1);
    await env.hub.start();
    await tracker.drain('hub-outage', 30_000);
    const outage = tracker.result('hub-outage');
    tracker.abandon('hub-outage');
    log(
      `  hub crash with a change in every cluster during the outage: ${outage.made - outage.incomplete} of ${outage.made} delivered to every consumer (last after ${round(outage.max, 0)} ms from the change)`,
    );
    await settle(all, 30_000);
    // Second crash: rounds of changes in slices of the clusters until every slice went all the way.
    await env.hub.kill();
    const tKill = nowMs();
    const hubStarted = env.hub.start().then(() => nowMs() - tKill);
    const served = await servedAgain(ctx, 'hub-restart', tKill, 500, 90_000);
    const hubReadyMs = await hubStarted;
    const hubProbe = { max: served.servedMs, incomplete: outage.incomplete, rounds: served.rounds };
    for (let r = 0; r < served.rounds; r++) tracker.abandon(`hub-restart-${r}`);
    log(
      `  hub ready again after ${Math.round(hubReadyMs)} ms; changes flowing again ${served.flowingMs} ms and every agent served again ${hubProbe.max} ms after the crash (${hubProbe.rounds} rounds)`,
    );
    if (hubProbe.incomplete > 0)
      problems.push(
        `hub restart: ${hubProbe.incomplete} of ${outage.made} changes made while no hub ran were not applied by every consumer within 30 s of the new hub starting (nothing else changed afterwards)`,
      );
    return {
      hub_ready_ms: round(hubReadyMs, 0),
      every_agent_served_ms: hubProbe.max,
      rounds: hubProbe.rounds,
      outage_changes: outage.made,
      outage_changes_lost: hubProbe.incomplete,
    };
  } catch (err) {
    problems.push(`hub restart: ${(err as Error).message}`);
    log(`  hub restart failed: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Two replicas, as production runs them: a standby hub starts beside the leader, then the leader
 * is SIGKILLed; rounds of changes (servedAgain: a slice of the clusters every 500 ms) say when
 * changes flow again and when every agent is served again. The killed replica then comes back as
 * the standby.
 */
export async function killLeader(ctx: StepContext, all: readonly WorkerHandle[], problems: string[]): Promise<Resync['leader_kill'] | undefined> {
  const { env, tracker } = ctx;
  try {
    if (env.standby === undefined) await env.startStandby();
    await settle(all, 30_000);
    // A standby that has run for a while has warmed its snapshot memos; one just started must
    // finish its first pass before it is measured as one (ServiceController warm).
    const standbyUrl = env.standby?.url;
    if (standbyUrl !== undefined) await until('the standby warmed its snapshot memos', 60_000, async () => (await warmPasses(standbyUrl)) >= 1, 250);
    const leader = await env.leader();
    if (leader !== 'hub') throw new Error(`expected the first replica to lead before the kill, found ${leader ?? 'no leader'}`);
    log('  leader kill: a standby runs; SIGKILL of the leading hub');
    await Promise.all(all.map((w) => w.mark()));
    await env.hub.kill();
    const tKill = nowMs();
    // When the standby's campaign won: the lease's part of the figure, apart from the takeover's.
    const leads = until('the standby leads', 90_000, async () => (await env.leader()) === 'standby', 50).catch(() => Number.NaN);
    const served = await servedAgain(ctx, 'leader-kill', tKill, 500, 90_000);
    for (let r = 0; r < served.rounds; r++) tracker.abandon(`leader-kill-${r}`);
    const after = await env.leader();
    const leadsMs = round(await leads, 0);
    const timeline = sinceMarkTimeline(await statusOf(all), tKill);
    log(
      `  leader kill: the ${after ?? 'no replica'} leads (its campaign won ${leadsMs} ms after the kill); changes flowing again ${served.flowingMs} ms and every agent served again ${served.servedMs} ms after the kill (${served.rounds} rounds)`,
    );
    log(`  leader kill, per agent from the kill (p50 / p90 / max ms): ${JSON.stringify(timeline)}`);
    await env.hub.start();
    return {
      flowing_ms: served.flowingMs,
      every_agent_served_ms: served.servedMs,
      rounds: served.rounds,
      new_leader: after ?? 'none',
      leads_ms: leadsMs,
      timeline,
    };
  } catch (err) {
    problems.push(`leader kill: ${(err as Error).message}`);
    log(`  leader kill failed: ${(err as Error).message}`);
    return undefined;
  }
}

/** What the report says of the nats-server restart when no hub ran to measure it with. */
export function natsRestartNotMeasured(agents: number): Resync['nats_restart'] {
  return { agents, nats_up_ms: Number.NaN, all_reconnected_and_synced_ms: Number.NaN, probe_after_max_ms: Number.NaN, probe_after_incomplete: 0 };
}

/** When the agents got there after `fromMs` (WorkerStatus.sinceMark): p50, p90 and max of each stage, and how many got there. */
function sinceMarkTimeline(statuses: readonly WorkerStatus[], fromMs: number): Timeline {
  const stage = (pick: (s: WorkerStatus) => readonly number[]): TimelineStage => {
    const times = statuses.flatMap((s) => pick(s).map((t) => t - fromMs)).sort((a, b) => a - b);
    const at = (q: number): number => round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN, 0);
    return { agents: times.length, p50_ms: at(0.5), p90_ms: at(0.9), max_ms: round(times.at(-1) ?? Number.NaN, 0) };
  };
  return {
    reconnected: stage((s) => s.sinceMark.reconnectedAt),
    synced: stage((s) => s.sinceMark.syncedAt),
    served: stage((s) => s.sinceMark.servedAt),
  };
}

/** nats-server restarts (SIGKILL, same port): every agent reconnects and resyncs at once. */
export async function restartNats(ctx: StepContext, all: readonly WorkerHandle[], problems: string[]): Promise<Resync['nats_restart']> {
  const { env, ds } = ctx;
  let reconnectMs = Number.NaN;
  await settle(all, 30_000);
  // Served again means a sync completed after the restart.
  await Promise.all(all.map((w) => w.mark()));
  const tNats = nowMs();
  await env.restartNats();
  const natsUpMs = nowMs() - tNats;
  try {
    reconnectMs =
      natsUpMs +
      (await until(
        'every agent reconnected and synced',
        300_000,
        async () => {
          const s = await statusOf(all);
          return sum(s, (x) => x.servedSinceMark) === sum(s, (x) => x.agents) && sum(s, (x) => x.connected) === sum(s, (x) => x.agents);
        },
        250,
      ));
  } catch (err) {
    problems.push((err as Error).message);
  }
  const timeline = sinceMarkTimeline(await statusOf(all), tNats);
  const afterProbe = await probeAll(ctx, 'after-reconnect', 120_000);
  log(
    `  nats-server restart: ${ds.shape.clusters + 1} agents reconnected and synced in ${Math.round(reconnectMs)} ms; a change in every cluster then propagated in ${afterProbe.max} ms max`,
  );
  log(`  nats-server restart, per agent from the kill (p50 / p90 / max ms): ${JSON.stringify(timeline)}`);
  return {
    agents: ds.shape.clusters + 1,
    nats_up_ms: round(natsUpMs, 0),
    all_reconnected_and_synced_ms: round(reconnectMs, 0),
    probe_after_max_ms: afterProbe.max,
    probe_after_incomplete: afterProbe.incomplete,
    timeline,
  };
}
