// The benchmark's goal records (docs/benchmarks.json `goals`) and the route-plan figures behind
// three of them: the ids acceptance checks read are all there, a figure measured below the goal's
// scale is never reported as met, and the route-plan topology is what bench/route-plan.ts says.
import assert from 'node:assert/strict';
import { goalRecords } from '../../../bench/goal-records.ts';
import type { BenchResult } from '../../../bench/result.ts';
import { topology } from '../../../bench/route-plan.ts';
import { buildModel } from '../../../providers/model/translate.ts';
import { planRoutes } from '../../../providers/model/route-plan.ts';

const REQUIRED = [
  'hub_p50_ms',
  'hub_p99_ms',
  'agent_sample_p99_ms',
  'light_p50_over_floor',
  'throughput_changes_per_s',
  'hub_rss_mb_per_100k_endpoints',
  'nats_restart_resync_s',
  'leader_kill_recovery_s',
  'warm_resync_100k_s',
];

function result(clusters: number, p50: number): Omit<BenchResult, 'goals'> {
  const row = {
    clusters,
    services: clusters * 10,
    endpoints: clusters * 250,
    changes_per_s: 1000,
    target_changes_per_s: 1000,
    p50_ms: p50,
    p99_ms: p50 * 3,
    max_ms: p50 * 5,
    measured_changes: 1000,
    incomplete: 0,
    consumers_per_change: 10,
    floor_ms: 1,
    p50_over_floor: p50,
  };
  return {
    date: '2026-12-01T00:00:00Z',
    commit: 'abc',
    mode: 'full',
    duration_s: 1,
    machine: { cpus: 2, cpu_model: 'x', memory_gb: 24, node: 'v24', platform: 'linux' } as unknown as BenchResult['machine'],
    setup: {},
    floor_ms: 1,
    floor: [],
    propagation: [row],
    propagation_light: [row],
    steps: [],
    throughput: undefined,
    memory: undefined,
    resync: undefined,
    problems: [],
  };
}

describe('bench goal records', () => {
  it('lists every id of the interface, with a target, a unit and met or null', () => {
    const records = goalRecords(result(1000, 40));
    assert.deepEqual(
      REQUIRED.filter((id) => !records.some((r) => r.id === id)),
      [],
    );
    const p50 = records.find((r) => r.id === 'hub_p50_ms');
    assert.deepEqual([p50?.target, p50?.measured, p50?.unit, p50?.met], [50, 40, 'ms', true]);
    // Not measured at all: null, never met.
    const rss = records.find((r) => r.id === 'hub_rss_mb_per_100k_endpoints');
    assert.deepEqual([rss?.measured, rss?.met], [null, null]);
  });

  it('never reports a figure measured below 1,000 clusters as met, however good it is', () => {
    const records = goalRecords(result(100, 5));
    const p50 = records.find((r) => r.id === 'hub_p50_ms');
    assert.deepEqual([p50?.measured, p50?.met], [5, null]);
  });

  it('takes the hub-side figures from the light consumers and the agent sample from the full agents', () => {
    const r = result(1000, 400);
    const split = {
      light: { clusters: 980, p50_ms: 30, p99_ms: 200, max_ms: 300, measured_changes: 900, incomplete: 0 },
      full: { clusters: 20, p50_ms: 90, p99_ms: 600, max_ms: 700, measured_changes: 100, incomplete: 2 },
    };
    const [row] = r.propagation;
    assert.ok(row !== undefined);
    const records = goalRecords({ ...r, propagation: [{ ...row, by_consumer: split }] });
    const of = (id: string): [number | null | undefined, boolean | null | undefined] => {
      const g = records.find((x) => x.id === id);
      return [g?.measured, g?.met];
    };
    assert.deepEqual(of('hub_p50_ms'), [30, true]);
    assert.deepEqual(of('hub_p99_ms'), [200, true]);
    // Two changes never reached a full agent: the p99 is a lower bound, a miss.
    assert.deepEqual(of('agent_sample_p99_ms'), [600, false]);
  });

  it('reports a missed goal as not met', () => {
    assert.equal(goalRecords(result(1000, 400)).find((r) => r.id === 'hub_p50_ms')?.met, false);
  });

  it('reports a figure missing at scale (never recovered within the probe) as not measured and not met, also when rendered from a run’s JSON', () => {
    // A live run holds NaN; its JSON holds null (and null / 1000 would read 0 s, met).
    for (const missing of [Number.NaN, null]) {
      const resync = {
        nats_restart: { agents: 1001, all_reconnected_and_synced_ms: missing },
        leader_kill: { flowing_ms: missing, every_agent_served_ms: missing, rounds: 153, new_leader: 'standby' },
        hub_restart: { every_agent_served_ms: missing },
        warm_resync_ms: missing,
        resync_endpoints: 100_000,
      } as unknown as BenchResult['resync'];
      const records = goalRecords({ ...result(1000, 40), resync });
      for (const id of ['nats_restart_resync_s', 'leader_kill_recovery_s', 'warm_resync_100k_s']) {
        const r = records.find((x) => x.id === id);
        assert.deepEqual([r?.measured, r?.met], [null, false], `${id} with ${String(missing)}`);
      }
      assert.match(records.find((x) => x.id === 'leader_kill_recovery_s')?.note ?? '', /not every agent was served again within the 153 rounds/);
    }
  });
});

describe('bench route-plan topology', () => {
  it('builds 1,000 clusters over 100 domains without a model problem, and every domain gets a plan', () => {
    const t = topology(1000, 100, 200);
    assert.equal(t.input.clusters.length, 1000);
    assert.equal(t.input.networks.length, 100);
    const model = buildModel(t.input);
    assert.deepEqual(model.problems, []);
    const plan = planRoutes(model, { services: t.services });
    assert.equal(plan.domains.length, 100);
    // Clouds reach the sites they link to; two clouds have no direct link, and the planner never
    // routes through a site: those pairs are reported, every other pair is planned.
    assert.deepEqual(
      plan.unreachable.filter((u) => u.from.startsWith('site-') || u.to.startsWith('site-')),
      [],
    );
    assert.ok(plan.domains.every((d) => d.problems.length === 0));
    assert.ok(plan.domains.reduce((s, d) => s + d.routes.length, 0) > 1000);
  });
});
