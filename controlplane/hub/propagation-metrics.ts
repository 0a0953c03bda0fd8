// The hub's convergence metrics (issue 11 §3), on its Prometheus registry: how long changes take to
// be applied — per consuming cluster and everywhere — (controllers/propagation-clock.ts decides),
// how far each cluster is behind, and the changes given up on. Only the leader delivers, so only
// the leader's figures move; a standby's histograms stay empty and its gauges read 0.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Observed } from './controllers/propagation-clock.ts';

export interface PropagationSource {
  /** Registered clusters. */
  readonly clusters: () => Iterable<string>;
  /** Milliseconds the cluster's oldest unacknowledged change has waited. */
  readonly lagMs: (cluster: string) => number;
  /** Revisions between what the leader last sent the cluster and what its agent applied; undefined: unknown. */
  readonly behind: (cluster: string) => number | undefined;
  readonly expired: () => number;
  /** Passes a standby has made over every consumer to fill the snapshot memos (ServiceController warm). */
  readonly warmPasses: () => number;
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface PropagationMetrics {
  observe(o: Observed): void;
  /** Where the gauges read from: the agent gateway, once it runs. */
  bind(source: PropagationSource): void;
}

const NONE: PropagationSource = { clusters: () => [], lagMs: () => 0, behind: () => undefined, expired: () => 0, warmPasses: () => 0 };

export function propagationMetrics(registry: Registry): PropagationMetrics {
  let source = NONE;
  const applied = new Histogram({
    name: 'causeway_propagation_seconds',
    help: "From the hub seeing an export change to a consuming cluster's agent acknowledging it applied it (its heartbeat's applied revision); one observation per consuming cluster.",
    buckets: BUCKETS,
    registers: [registry],
  });
  const everywhere = new Histogram({
    name: 'causeway_propagation_everywhere_seconds',
    help: 'From the hub seeing an export change to every cluster whose imports it changed having acknowledged it.',
    buckets: BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'causeway_cluster_propagation_lag_seconds',
    help: 'Per cluster: how long its oldest change not yet acknowledged by its agent has waited (0: up to date).',
    labelNames: ['cluster'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of source.clusters()) this.set({ cluster: c }, source.lagMs(c) / 1000);
    },
  });
  new Gauge({
    name: 'causeway_cluster_behind_revisions',
    help: 'Per cluster: registry revisions between the imports the leader last sent it and what its agent last said it applied (0: applied).',
    labelNames: ['cluster'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of source.clusters()) {
        const b = source.behind(c);
        if (b !== undefined) this.set({ cluster: c }, b);
      }
    },
  });
  new Counter({
    name: 'causeway_propagation_expired_total',
    help: 'Changes given up on timing (older than 10 min, or too many open) before every consuming cluster acknowledged them.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.expired());
    },
  });
  new Counter({
    name: 'causeway_standby_warm_passes_total',
    help: "Passes this replica made, while not leading, to keep warm the memos a new leader's snapshots read (each consumer's services, each view class's import digest); a pass with nothing moved in the model since the last one (a Cluster's status refresh moves nothing) does nothing.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.warmPasses());
    },
  });
  return {
    observe(o) {
      for (const ms of o.applied) applied.observe(ms / 1000);
      for (const ms of o.everywhere) everywhere.observe(ms / 1000);
    },
    bind(s) {
      source = s;
    },
  };
}
