// The shape of a run's results as written to bench-results/<run>.json and docs/benchmarks.json:
// run.ts fills it in, the report's sections (markdown.ts, goals.ts, chart.ts) read it. NaN is
// written to JSON as null and read back as "not measured".
import type { Machine } from './procs.ts';
import type { PolicyFigures } from './policy.ts';
import type { RoutePlanFigures } from './route-plan.ts';

/** Latency of one class of changes: those whose consumers are all light, or all full agents. */
export interface ConsumerLatency {
  /** Clusters of that class in the step. */
  readonly clusters: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly measured_changes: number;
  readonly incomplete: number;
}

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
  /**
   * Split by who consumes: `light` — changes of light consumers' groups (the hub, etcd and NATS,
   * and the agents' transport and codec); `full` — changes of full agents' groups (end to end,
   * the in-memory Kubernetes side included). Absent where every cluster is a full agent.
   */
  readonly by_consumer?: { readonly light: ConsumerLatency; readonly full: ConsumerLatency };
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

/** One goal as docs/benchmarks.json's `goals` lists it (bench/goal-records.ts). */
export interface GoalRecord {
  readonly id: string;
  readonly target: number;
  /** `<=` (lower is better) or `>=`. */
  readonly comparison: '<=' | '>=';
  readonly measured: number | null;
  readonly unit: string;
  readonly met: boolean | null;
  /** Where and how it was measured, and what bounds it. */
  readonly note: string;
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
    /** The hub's report counters during the steady load, by result (absent in runs before 2026-12-02). */
    steady_report_outcomes?: Record<string, number>;
    generator_behind_ms: number;
  }[];
  readonly throughput: { clusters: number; steps: readonly ThroughputRow[]; max_sustained_changes_per_s: number } | undefined;
  readonly memory:
    | {
        hub_rss_mb: number;
        hub_endpoints: number;
        hub_rss_mb_per_100k_endpoints: number;
        hub_rss_mb_with_big_consumer: number;
        /** The hub's V8 heap in use and reserved, and its memory outside the heap, when hub_rss_mb was read (absent before 2026-12-02). */
        hub_heap_used_mb?: number;
        hub_heap_total_mb?: number;
        hub_external_mb?: number;
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
        /** The leader SIGKILLed while a standby replica runs: until changes reach every consumer again. */
        leader_kill?: {
          flowing_ms?: number;
          every_agent_served_ms: number;
          rounds: number;
          new_leader: string;
          /** When the standby's campaign won, from the kill (the lease's share). */
          leads_ms?: number;
          /** Per agent, from the kill: when it had a sync request out (to the new leader) and when it was served (WorkerStatus.sinceMark). */
          timeline?: Timeline;
        };
        nats_restart: {
          agents: number;
          nats_up_ms: number;
          all_reconnected_and_synced_ms: number;
          probe_after_max_ms: number;
          probe_after_incomplete: number;
          /** Per agent, from the kill: when it was connected again, had a sync request out, and was served (WorkerStatus.sinceMark). */
          timeline?: Timeline;
        };
      }
    | undefined;
  /** The route plan's figures (issue 9 §8), measured in-process. */
  readonly route_plan?: RoutePlanFigures;
  /** Policy compilation and explain (issue 10 §7), measured in-process. */
  readonly policy?: PolicyFigures;
  /** Clusters and endpoints of the top step. */
  readonly clusters?: number;
  readonly endpoints?: number;
  /** Every goal as a record (issue 11's interface). */
  readonly goals?: readonly GoalRecord[];
  readonly problems: readonly string[];
}

/** One stage of a restart, over the agents: how many got there, and when (ms from the restart). */
export interface TimelineStage {
  readonly agents: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly max_ms: number;
}

export interface Timeline {
  readonly reconnected: TimelineStage;
  readonly synced: TimelineStage;
  readonly served: TimelineStage;
}
