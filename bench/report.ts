// Writes a run's results: the JSON of the run (bench-results/), the latest at docs/benchmarks.json,
// docs/benchmarks.md (tables, goals met or missed and by how much, and the analysis kept in
// bench/analysis.md) and docs/benchmarks.svg (propagation p50/p99 against cluster count,
// hand-written SVG).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Machine } from './procs.ts';

export interface PropagationRow {
  readonly clusters: number;
  readonly services: number;
  readonly endpoints: number;
  readonly changes_per_s: number;
  readonly target_changes_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly measured_changes: number;
  readonly incomplete: number;
  readonly consumers_per_change: number;
  readonly floor_ms?: number;
  readonly p50_over_floor?: number;
}

export interface ThroughputRow {
  readonly target_changes_per_s: number;
  readonly changes_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly incomplete: number;
  readonly etcd_writes_per_s: number;
  readonly etcd_puts_per_s: number;
  readonly reports_per_s: number;
  readonly cpu_cores: Record<string, number>;
  readonly generator_behind_ms: number;
  readonly sustained: boolean;
}

export interface BenchResult {
  readonly date: string;
  readonly commit: string;
  readonly mode: 'quick' | 'full';
  readonly duration_s: number;
  readonly machine: Machine;
  readonly setup: Record<string, number>;
  readonly floor_ms: number;
  readonly floor: readonly { clusters: number; etcd_put_ms: number; nats_publish_deliver_ms: number; floor_ms: number }[];
  readonly propagation: readonly PropagationRow[];
  /** The same path under a light load (nothing queues): what the path itself costs. */
  readonly propagation_light?: readonly PropagationRow[];
  readonly steps: readonly {
    clusters: number;
    register_ms: number;
    credentials_ms: number;
    startup_converge_ms: number;
    etcd_keys: number | undefined;
    idle_rss_mb: Record<string, number>;
    steady_peak_rss_mb: Record<string, number>;
    steady_hub_event_loop_lag_ms?: Record<string, number>;
    steady_agent_timings?: Record<string, number>[];
    steady_cpu_cores: Record<string, number>;
    steady_etcd_writes_per_s: number;
    steady_etcd_puts_per_s: number;
    steady_reports_per_s: number;
    generator_behind_ms: number;
  }[];
  readonly throughput: { clusters: number; steps: readonly ThroughputRow[]; max_sustained_changes_per_s: number } | undefined;
  readonly memory:
    | {
        hub_rss_mb: number;
        hub_endpoints: number;
        hub_rss_mb_per_100k_endpoints: number;
        hub_rss_mb_with_big_consumer: number;
        agent_worker_rss_mb: number;
        agent_worker_idle_rss_mb: number;
        agent_imported_endpoints: number;
        agent_rss_mb_per_100k_imported: number;
        agent_heap_mb: number;
      }
    | undefined;
  readonly resync:
    | {
        big_consumer_join_ms: number;
        cold_resync_ms: number;
        warm_resync_ms: number;
        resync_endpoints: number;
        hub_restart: { hub_ready_ms: number; every_agent_served_ms: number; rounds: number; outage_changes: number; outage_changes_lost: number };
        nats_restart: { agents: number; nats_up_ms: number; all_reconnected_and_synced_ms: number; probe_after_max_ms: number; probe_after_incomplete: number };
      }
    | undefined;
  readonly problems: readonly string[];
}

const fmt = (n: number | undefined | null, digits = 0): string => {
  // NaN is written to JSON as null: "not measured".
  if (typeof n !== 'number' || Number.isNaN(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};

interface Goal {
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

function goals(r: BenchResult): Goal[] {
  const top = r.propagation[r.propagation.length - 1];
  const at1000 = top !== undefined && top.clusters >= 1000;
  const where = top === undefined ? '' : ` (at ${fmt(top.clusters)} clusters${at1000 ? '' : ', not 1,000'})`;
  const out: Goal[] = [];
  if (top !== undefined) {
    out.push({
      goal: 'Propagation p50',
      target: '≤ 100 ms at 1,000 clusters / 250,000 endpoints / 1,000 changes/s',
      measured: `${fmt(top.p50_ms, 1)} ms${where}`,
      met: at1000 ? top.p50_ms <= 100 : undefined,
      note: by(top.p50_ms, 100),
    });
    out.push({
      goal: 'Propagation p99',
      target: '≤ 500 ms',
      measured: `${fmt(top.p99_ms, 1)} ms${where}`,
      met: at1000 ? top.p99_ms <= 500 && top.incomplete === 0 : undefined,
      note: by(top.p99_ms, 500),
    });
    const ratio = top.p50_ms / r.floor_ms;
    out.push({
      goal: 'p50 within 10× the floor',
      target: `≤ ${fmt(10 * r.floor_ms, 2)} ms (floor ${fmt(r.floor_ms, 2)} ms)`,
      measured: `${fmt(ratio, 1)}× the floor`,
      met: ratio <= 10,
      note: by(ratio, 10),
    });
  }
  if (r.throughput !== undefined) {
    const t = r.throughput.max_sustained_changes_per_s;
    const row = r.throughput.steps.find((s) => s.sustained && s.changes_per_s === t);
    out.push({
      goal: 'Throughput',
      target: '≥ 10,000 endpoint changes/s with p99 < 1 s',
      measured: `${fmt(t)} changes/s (at ${fmt(r.throughput.clusters)} clusters)`,
      met: t >= 10_000,
      note: t === 0 ? 'no rate sustained' : by(t, 10_000, false),
    });
    if (row !== undefined) {
      out.push({
        goal: 'etcd transactions coalesced',
        target: 'well below the change rate',
        measured: `${fmt(row.etcd_writes_per_s)} etcd writes/s at ${fmt(row.changes_per_s)} changes/s (${fmt(row.etcd_writes_per_s / row.changes_per_s, 2)} per change)`,
        met: row.etcd_writes_per_s < row.changes_per_s / 2,
        note: '',
      });
    }
  }
  if (r.memory !== undefined) {
    out.push({
      goal: 'Hub memory',
      target: '≤ 300 MB per 100,000 endpoints',
      measured: `${fmt(r.memory.hub_rss_mb_per_100k_endpoints)} MB per 100,000 (RSS ${fmt(r.memory.hub_rss_mb)} MB with ${fmt(r.memory.hub_endpoints)} endpoints)`,
      met: r.memory.hub_rss_mb_per_100k_endpoints <= 300,
      note: by(r.memory.hub_rss_mb_per_100k_endpoints, 300),
    });
    out.push({
      goal: 'Agent memory',
      target: '≤ 100 MB per 100,000 imported endpoints',
      measured: `${fmt(r.memory.agent_rss_mb_per_100k_imported)} MB per 100,000 (${fmt(r.memory.agent_imported_endpoints)} imported)`,
      met: r.memory.agent_rss_mb_per_100k_imported <= 100,
      note: by(r.memory.agent_rss_mb_per_100k_imported, 100),
    });
  }
  if (r.resync !== undefined) {
    const scale = r.resync.resync_endpoints / 100_000;
    const at100k = r.resync.resync_endpoints >= 100_000;
    const suffix = at100k ? '' : ` (with ${fmt(r.resync.resync_endpoints)} endpoints, not 100,000)`;
    out.push({
      goal: 'Cold resync',
      target: '≤ 10 s for 100,000 endpoints',
      measured: `${fmt(r.resync.cold_resync_ms)} ms${suffix}`,
      met: at100k ? r.resync.cold_resync_ms <= 10_000 : undefined,
      note: by(r.resync.cold_resync_ms, 10_000 * Math.min(1, scale)),
    });
    out.push({
      goal: 'Warm resync',
      target: '≤ 1 s for 100,000 endpoints',
      measured: `${fmt(r.resync.warm_resync_ms)} ms${suffix}`,
      met: at100k ? r.resync.warm_resync_ms <= 1000 : undefined,
      note: by(r.resync.warm_resync_ms, 1000 * Math.min(1, scale)),
    });
  }
  return out;
}

function table(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  if (head === undefined) return '';
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const cores = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${fmt(v, 2)}`)
    .join(', ');
const rss = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');

export function markdown(r: BenchResult, analysis: string): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push('# Benchmarks', '');
  lines.push(
    'Generated by `npm run bench` (`bench/run.ts`); `npm run bench:quick` is the few-minute variant. Everything runs on this one machine on 127.0.0.1: a real etcd, a real nats-server (operator mode, per-agent credentials), the real hub (`causeway hub`, its own process) and the real agent code (`Agent` + `NatsHubTransport`) with an in-memory Kubernetes side (`MemoryCluster`), spread over worker processes.',
    '',
  );
  lines.push(
    table([
      ['run', 'value'],
      ['date', r.date],
      ['commit', `\`${r.commit}\``],
      ['mode', `${r.mode} (${fmt(r.duration_s)} s)`],
      ['machine', `${m.cpus} × ${m.cpuModel}, ${fmt(m.memoryGiB, 1)} GiB, ${m.os}, Node ${m.node}`],
      [
        'workload',
        `${r.setup.services_per_cluster} services per cluster × ${r.setup.endpoints_per_service} endpoints; each service imported by ${r.setup.consumers_per_service} clusters (its group, \`causeway.dev/export-to\`); ${fmt(r.setup.steady_changes_per_s)} endpoint changes/s open-loop for ${r.setup.steady_seconds} s (first ${r.setup.warmup_seconds} s not counted); ${r.setup.worker_processes} agent worker processes`,
      ],
    ]),
    '',
  );

  lines.push('## Goals', '');
  lines.push(
    table([
      ['goal', 'target', 'measured', 'met', 'by how much'],
      ...goals(r).map((g) => [g.goal, g.target, g.measured, g.met === undefined ? 'not measured at that scale' : g.met ? '**yes**' : '**no**', g.note]),
    ]),
    '',
  );

  lines.push('## Propagation', '');
  lines.push(
    'From the endpoint change written to the source cluster (its `MemoryCluster`) to the EndpointSlice written by the agent of every cluster importing the service; one clock (all on this machine).',
    '',
  );
  lines.push(
    table([
      ['clusters', 'services', 'endpoints', 'changes/s (made)', 'p50 ms', 'p99 ms', 'max ms', 'changes measured', 'incomplete', 'floor ms', 'p50 / floor'],
      ...r.propagation.map((p) => [
        fmt(p.clusters),
        fmt(p.services),
        fmt(p.endpoints),
        fmt(p.changes_per_s),
        fmt(p.p50_ms, 1),
        fmt(p.p99_ms, 1),
        fmt(p.max_ms, 1),
        fmt(p.measured_changes),
        fmt(p.incomplete),
        fmt(p.floor_ms, 2),
        `${fmt(p.p50_over_floor, 1)}×`,
      ]),
    ]),
    '',
  );
  lines.push('![propagation p50 and p99 against cluster count](benchmarks.svg)', '');
  if (r.propagation_light !== undefined) {
    lines.push(
      `The same measurement under a light load (${fmt(r.propagation_light[0]?.target_changes_per_s)} changes/s), where nothing queues: what the path itself costs.`,
      '',
    );
    lines.push(
      table([
        ['clusters', 'changes/s (made)', 'p50 ms', 'p99 ms', 'max ms', 'changes measured', 'incomplete', 'p50 / floor'],
        ...r.propagation_light.map((p) => [
          fmt(p.clusters),
          fmt(p.changes_per_s),
          fmt(p.p50_ms, 1),
          fmt(p.p99_ms, 1),
          fmt(p.max_ms, 1),
          fmt(p.measured_changes),
          fmt(p.incomplete),
          `${fmt(p.p50_over_floor, 1)}×`,
        ]),
      ]),
      '',
    );
  }

  lines.push('## The floor', '');
  lines.push(
    "Measured in the same run on each step's servers while idle: the median of one etcd put through `EtcdStore` plus the median of one NATS publish → deliver between two connections.",
    '',
  );
  lines.push(
    table([
      ['clusters (step)', 'etcd put ms', 'NATS publish→deliver ms', 'floor ms'],
      ...r.floor.map((f) => [fmt(f.clusters), fmt(f.etcd_put_ms, 3), fmt(f.nats_publish_deliver_ms, 3), fmt(f.floor_ms, 3)]),
    ]),
    '',
  );

  if (r.throughput !== undefined) {
    lines.push('## Throughput', '');
    lines.push(
      `Rate stepped up at ${fmt(r.throughput.clusters)} clusters until p99 ≥ 1 s, a change is lost, or the generators cannot make the rate. Highest sustained: **${fmt(r.throughput.max_sustained_changes_per_s)} changes/s**. etcd writes are raft proposals committed (etcd's own /metrics) per second during the load.`,
      '',
    );
    lines.push(
      table([
        ['target/s', 'made/s', 'p50 ms', 'p99 ms', 'max ms', 'incomplete', 'reports/s', 'etcd writes/s', 'etcd puts/s', 'CPU cores by process', 'sustained'],
        ...r.throughput.steps.map((t) => [
          fmt(t.target_changes_per_s),
          fmt(t.changes_per_s),
          fmt(t.p50_ms, 1),
          fmt(t.p99_ms, 1),
          fmt(t.max_ms, 1),
          fmt(t.incomplete),
          fmt(t.reports_per_s),
          fmt(t.etcd_writes_per_s),
          fmt(t.etcd_puts_per_s),
          cores(t.cpu_cores),
          t.sustained ? 'yes' : 'no',
        ]),
      ]),
      '',
    );
  }

  if (r.memory !== undefined) {
    lines.push('## Memory', '');
    lines.push(
      table([
        ['what', 'value'],
        [
          'hub RSS (idle, converged)',
          `${fmt(r.memory.hub_rss_mb)} MB with ${fmt(r.memory.hub_endpoints)} endpoints → **${fmt(r.memory.hub_rss_mb_per_100k_endpoints)} MB per 100,000**`,
        ],
        ['hub RSS with the big consumer added', `${fmt(r.memory.hub_rss_mb_with_big_consumer)} MB`],
        [
          'agent worker RSS (one agent)',
          `${fmt(r.memory.agent_worker_rss_mb)} MB importing ${fmt(r.memory.agent_imported_endpoints)} endpoints; ${fmt(r.memory.agent_worker_idle_rss_mb)} MB before it started; heap ${fmt(r.memory.agent_heap_mb)} MB`,
        ],
        [
          'agent per 100,000 imported endpoints',
          `**${fmt(r.memory.agent_rss_mb_per_100k_imported)} MB** (growth over the idle worker; includes the in-memory Kubernetes side, which in production is the API server's memory, not the agent's)`,
        ],
      ]),
      '',
    );
  }

  if (r.resync !== undefined) {
    lines.push('## Resync', '');
    const x = r.resync;
    lines.push(
      table([
        ['what', 'time'],
        [`big consumer joins (new cluster, ${fmt(x.resync_endpoints)} endpoints to import, default 0–2 s start jitter)`, `${fmt(x.big_consumer_join_ms)} ms`],
        [`cold: agent restarted with an empty cluster, ${fmt(x.resync_endpoints)} endpoints (jitter 0)`, `**${fmt(x.cold_resync_ms)} ms**`],
        [`warm: agent restarted, cluster kept (adopts, compares, writes nothing) (jitter 0)`, `**${fmt(x.warm_resync_ms)} ms**`],
        ['hub crash (SIGKILL) → new hub process ready', `${fmt(x.hub_restart.hub_ready_ms)} ms`],
        [
          'hub crash → every agent served again (from the crash until a round of changes, one per cluster, made every second, is applied by every consumer)',
          `${fmt(x.hub_restart.every_agent_served_ms)} ms (${fmt(x.hub_restart.rounds)} rounds)`,
        ],
        [
          'changes made while no hub ran that never reached every consumer',
          `${fmt(x.hub_restart.outage_changes_lost)} of ${fmt(x.hub_restart.outage_changes)}`,
        ],
        [
          `nats-server crash and restart: ${fmt(x.nats_restart.agents)} agents reconnect at once → all reconnected and synced`,
          `${fmt(x.nats_restart.all_reconnected_and_synced_ms)} ms (nats-server up after ${fmt(x.nats_restart.nats_up_ms)} ms)`,
        ],
        [
          'then a change in every cluster, applied by every consumer',
          `${fmt(x.nats_restart.probe_after_max_ms)} ms max (${fmt(x.nats_restart.probe_after_incomplete)} incomplete)`,
        ],
      ]),
      '',
    );
  }

  lines.push('## Per step', '');
  lines.push(
    table([
      [
        'clusters',
        'register (1 apply)',
        'credentials',
        'agents start → converged',
        'etcd keys',
        'steady reports/s',
        'steady etcd writes/s',
        'CPU cores during steady load',
        'peak RSS MB during steady load',
      ],
      ...r.steps.map((s) => [
        fmt(s.clusters),
        `${fmt(s.register_ms)} ms`,
        `${fmt(s.credentials_ms)} ms`,
        `${fmt(s.startup_converge_ms)} ms`,
        fmt(s.etcd_keys),
        fmt(s.steady_reports_per_s),
        fmt(s.steady_etcd_writes_per_s),
        cores(s.steady_cpu_cores),
        rss(s.steady_peak_rss_mb),
      ]),
    ]),
    '',
  );
  const timed = r.steps.filter((s) => s.steady_agent_timings !== undefined);
  if (timed.length > 0) {
    lines.push(
      "Inside the steady load: the hub's event-loop lag (its /metrics) and, per agent worker process, the report round trip (agent → hub → agent, one report in flight per agent) and the worker's own event-loop delay.",
      '',
    );
    lines.push(
      table([
        [
          'clusters',
          'hub event-loop lag p50 / p99 / max ms',
          'report round trip p50 / p99 ms (per worker)',
          'worker event-loop delay p50 / p99 ms (per worker)',
          'services per report',
        ],
        ...timed.map((s) => {
          const t = s.steady_agent_timings ?? [];
          const l = s.steady_hub_event_loop_lag_ms ?? {};
          return [
            fmt(s.clusters),
            `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} / ${fmt(l.max, 1)}`,
            t.map((x) => `${fmt(x.reportRttP50Ms)} / ${fmt(x.reportRttP99Ms)}`).join('; '),
            t.map((x) => `${fmt(x.eventLoopDelayP50Ms)} / ${fmt(x.eventLoopDelayP99Ms)}`).join('; '),
            t.map((x) => fmt(x.servicesPerReport, 1)).join('; '),
          ];
        }),
      ]),
      '',
    );
  }
  if (r.problems.length > 0) {
    lines.push('## Problems seen in this run', '');
    for (const p of r.problems) lines.push(`- ${p}`);
    lines.push('');
  }
  if (analysis.trim() !== '') lines.push(analysis.trim(), '');
  return lines.join('\n');
}

/** Propagation p50 and p99 (log scale) against cluster count (log scale), with the goals. */
export function svg(rows: readonly PropagationRow[]): string {
  const W = 640;
  const H = 400;
  const left = 70;
  const right = 150;
  const top = 40;
  const bottom = 60;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xs = rows.map((r) => r.clusters);
  const values = rows.flatMap((r) => [r.p50_ms, r.p99_ms]).filter((v) => Number.isFinite(v) && v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(1, ...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(1000, ...values)));
  const xMin = 10 ** Math.floor(Math.log10(Math.min(10, ...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(1000, ...xs)));
  const x = (v: number): number => left + ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw;
  const y = (v: number): number => top + ph - ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(
    `<text x="${left}" y="22" font-size="14" font-weight="bold">Propagation latency against cluster count (${rows.map((r) => `${r.changes_per_s}`).join('/')} changes/s)</text>`,
  );
  for (let v = xMin; v <= xMax; v *= 10) {
    out.push(`<line x1="${x(v)}" y1="${top}" x2="${x(v)}" y2="${top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x(v)}" y="${top + ph + 18}" text-anchor="middle">${v.toLocaleString('en-US')}</text>`);
  }
  for (let v = yMin; v <= yMax; v *= 10) {
    out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + pw}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toLocaleString('en-US')}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 18}" text-anchor="middle">clusters (log scale)</text>`);
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">milliseconds (log scale)</text>`);
  const goal = (v: number, label: string, colour: string): void => {
    out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + pw}" y2="${y(v)}" stroke="${colour}" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + pw + 6}" y="${y(v) + 4}" fill="${colour}">${label}</text>`);
  };
  goal(100, 'p50 goal 100 ms', '#1f77b4');
  goal(500, 'p99 goal 500 ms', '#d62728');
  const series = (key: 'p50_ms' | 'p99_ms', colour: string, label: string, dy: number): void => {
    const pts = rows.filter((r) => Number.isFinite(r[key])).map((r) => `${x(r.clusters).toFixed(1)},${y(r[key]).toFixed(1)}`);
    if (pts.length > 1) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const r of rows) {
      if (!Number.isFinite(r[key])) continue;
      out.push(`<circle cx="${x(r.clusters).toFixed(1)}" cy="${y(r[key]).toFixed(1)}" r="4" fill="${colour}"/>`);
      out.push(
        `<text x="${(x(r.clusters) + 6).toFixed(1)}" y="${(y(r[key]) + dy).toFixed(1)}" fill="${colour}">${r[key].toLocaleString('en-US', { maximumFractionDigits: 0 })}</text>`,
      );
    }
    out.push(`<text x="${left + pw + 6}" y="${top + (key === 'p50_ms' ? 12 : 28)}" fill="${colour}" font-weight="bold">${label}</text>`);
  };
  series('p50_ms', '#1f77b4', 'p50', 14);
  series('p99_ms', '#d62728', 'p99', -6);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function writeReports(r: BenchResult, root: string, runFile: string): string {
  mkdirSync(dirname(runFile), { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  writeFileSync(runFile, json);
  const docs = join(root, 'docs');
  writeFileSync(join(docs, 'benchmarks.json'), json);
  const analysisFile = join(root, 'bench', 'analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
  writeFileSync(join(docs, 'benchmarks.md'), `${markdown(r, analysis)}\n`);
  writeFileSync(join(docs, 'benchmarks.svg'), svg(r.propagation));
  return runFile;
}
