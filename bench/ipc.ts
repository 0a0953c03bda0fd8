// The messages the benchmark's coordinator (run.ts) and its worker processes (worker.ts) exchange
// over the child-process IPC channel. Times are milliseconds on one clock for every process on
// this machine: performance.timeOrigin + performance.now().

/** One exported service of a simulated cluster, as the worker seeds it into its MemoryCluster. */
export interface ExportPlan {
  readonly namespace: string;
  readonly name: string;
  /** The label key consumers must carry (`<key>=in`), written to causeway.dev/export-to. */
  readonly audienceLabel: string;
  /** First endpoint's IPv4 address as an integer; endpoints take consecutive addresses. */
  readonly firstAddress: number;
  readonly endpoints: number;
}

export interface AgentPlan {
  readonly cluster: string;
  /** Index of the cluster in the coordinator's list: how events name it. */
  readonly index: number;
  readonly creds: string;
  readonly exports: readonly ExportPlan[];
  /** Endpoints the agent must hold in imported EndpointSlices once converged. */
  readonly expectedImported: number;
  /** A light consumer (light-agent.ts: the agent's hub-facing half, no Kubernetes side) instead of the full agent. */
  readonly light: boolean;
}

export interface AgentTuning {
  readonly resyncJitterMs?: number;
  /** Start the worker's agents spread evenly over this long instead of all at once. */
  readonly startSpreadMs?: number;
}

export type ToWorker =
  | { readonly type: 'start'; readonly natsUrl: string; readonly agents: readonly AgentPlan[]; readonly tuning: AgentTuning }
  | {
      readonly type: 'load';
      readonly phase: string;
      readonly rate: number;
      readonly durationMs: number;
      /** Where in its own period this worker's changes fall (0 ≤ offset < 1): the workers interleave instead of changing at the same instant. */
      readonly offset: number;
    }
  | { readonly type: 'probe'; readonly phase: string; readonly clusters: readonly number[]; readonly endpoint: number }
  | { readonly type: 'status' }
  | { readonly type: 'restart-agent'; readonly index: number; readonly cold: boolean; readonly tuning: AgentTuning }
  | { readonly type: 'mark' }
  | { readonly type: 'stop' };

export interface WorkerStatus {
  readonly agents: number;
  /** Agents holding every endpoint they should import. */
  readonly converged: number;
  readonly imported: number;
  readonly expected: number;
  /** Agents that completed a sync since the last `mark`, and that report themselves up to date. */
  readonly servedSinceMark: number;
  /**
   * Since the last `mark`, per agent, when (nowMs()) it was first connected again after being
   * disconnected, first had a sync request out that has not failed (AgentMetrics syncRequests minus
   * syncFailures: counted when sent), and first was served (that, and every condition True);
   * polled every 50 ms, each list holding only the agents that got there.
   */
  readonly sinceMark: { readonly reconnectedAt: readonly number[]; readonly syncedAt: readonly number[]; readonly servedAt: readonly number[] };
  readonly connected: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly warnings: number;
  readonly errors: number;
  readonly lastProblem: string | undefined;
  readonly metrics: Record<string, number>;
  /** Since the last load began: report round trips and import batches received, by kind. */
  readonly timings: Record<string, number>;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'started'; readonly atMs: number }
  /** Changes made at sources: [seq, clusterIndex, exportIndex, endpointIndex, timeMs] flattened. */
  | { readonly type: 'changes'; readonly phase: string; readonly data: readonly number[] }
  | { readonly type: 'probed'; readonly made: number }
  /** Changes seen applied at consumers: [seq, consumerIndex, timeMs] flattened. */
  | { readonly type: 'applied'; readonly data: readonly number[] }
  | { readonly type: 'load-done'; readonly made: number; readonly behindMs: number }
  | { readonly type: 'status'; readonly status: WorkerStatus }
  | { readonly type: 'restarted'; readonly index: number; readonly startedAtMs: number; readonly convergedAtMs: number; readonly imported: number }
  | { readonly type: 'error'; readonly message: string };

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
