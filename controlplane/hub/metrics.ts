// Prometheus metrics of the hub: HTTP requests, registry writes and objects, etcd reachability,
// plus Node's process metrics. One registry per hub instance (no global default), so tests can
// run several hubs in one process.
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { HealthChecks } from './health.ts';
import { propagationMetrics, type PropagationMetrics } from './propagation-metrics.ts';

export interface HubMetrics {
  readonly registry: PromRegistry;
  readonly httpRequests: Counter<'method' | 'route' | 'code'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly registryWrites: Counter<'operation' | 'result'>;
  readonly registryObjects: Gauge<'kind'>;
  readonly etcdUp: Gauge;
  readonly watchers: Gauge;
  readonly agentMessages: Counter<'kind' | 'result'>;
  readonly importBatches: Counter<'kind'>;
  /** Errors nothing caught (a bug each): `handler` (a bus subscription), `rejection`, `exception`. */
  readonly uncaughtErrors: Counter<'kind'>;
  /** Restarts of a server the hub started (etcd-server, nats-server) after it exited unasked. */
  readonly embeddedRestarts: Counter<'server'>;
  /** Provider changes the leader applied per Network: `applied` (every change made), `drift` (of those, repairs of changes made outside Causeway). */
  readonly providerChanges: Counter<'network' | 'kind'>;
  /** Seen → applied latency, per-cluster lag and how far behind (propagation-metrics.ts). */
  readonly propagation: PropagationMetrics;
}

export function createHubMetrics(
  collectObjects: () => Promise<Record<string, number>>,
  pingStore: () => Promise<boolean>,
  checks: HealthChecks = () => Promise.resolve([]),
): HubMetrics {
  const registry = new PromRegistry();
  new Gauge({
    name: 'causeway_dependency_up',
    help: 'What /readyz checks, one series each: 1 when ready (etcd answers, the NATS connection is up, an embedded etcd-server or nats-server runs).',
    labelNames: ['dependency'] as const,
    registers: [registry],
    async collect() {
      const results = await checks().catch(() => []);
      this.reset();
      for (const c of results) this.set({ dependency: c.name }, c.ready ? 1 : 0);
    },
  });
  collectDefaultMetrics({ register: registry, prefix: 'causeway_hub_' });
  const registryObjects = new Gauge({
    name: 'causeway_registry_objects',
    help: 'Declared resources in the registry, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      const counts = await collectObjects().catch(() => undefined);
      if (counts === undefined) return;
      this.reset();
      for (const [kind, n] of Object.entries(counts)) this.set({ kind }, n);
    },
  });
  const etcdUp = new Gauge({
    name: 'causeway_etcd_up',
    help: '1 when the hub reached etcd at the last scrape.',
    registers: [registry],
    async collect() {
      this.set((await pingStore()) ? 1 : 0);
    },
  });
  return {
    registry,
    registryObjects,
    etcdUp,
    propagation: propagationMetrics(registry),
    httpRequests: new Counter({
      name: 'causeway_http_requests_total',
      help: 'HTTP requests served.',
      labelNames: ['method', 'route', 'code'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'causeway_http_request_duration_seconds',
      help: 'HTTP request latency.',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    registryWrites: new Counter({
      name: 'causeway_registry_writes_total',
      help: 'Registry write requests by operation and result (ok, noop, dry_run, invalid, conflict, forbidden, not_found, error).',
      labelNames: ['operation', 'result'] as const,
      registers: [registry],
    }),
    watchers: new Gauge({ name: 'causeway_watch_streams', help: 'Open watch streams.', registers: [registry] }),
    agentMessages: new Counter({
      name: 'causeway_agent_messages_total',
      help: 'Messages from agents by kind (report, heartbeat, sync) and result (ok, duplicate, rejected_<reason>, error).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    uncaughtErrors: new Counter({
      name: 'causeway_hub_uncaught_errors_total',
      help: 'Errors no controller caught (each one a bug): kind handler (a bus subscription), rejection, exception. The hub logs them and goes on.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    embeddedRestarts: new Counter({
      name: 'causeway_embedded_server_restarts_total',
      help: 'Times the hub started a server of its own (etcd-server, nats-server) again after it exited unasked.',
      labelNames: ['server'] as const,
      registers: [registry],
    }),
    providerChanges: new Counter({
      name: 'causeway_provider_changes_total',
      help: 'Routes and rules the leader changed in a provider, by Network: kind applied (every change), drift (repairs of what was changed outside Causeway).',
      labelNames: ['network', 'kind'] as const,
      registers: [registry],
    }),
    importBatches: new Counter({
      name: 'causeway_import_batches_total',
      help: 'Import batches sent to agents, by kind (snapshot, delta).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
  };
}
