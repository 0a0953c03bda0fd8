// What needs no token: liveness, readiness (etcd answers) and Prometheus metrics; and whoami.
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { principalOf } from './requests.ts';
import { notReadyMessage, type HealthCheck } from '../health.ts';
import { statusBody } from './status.ts';

/** Served without authentication (the onRequest hook skips them). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

export function registerProbeRoutes(app: HubApp, deps: Pick<HubServerDeps, 'store' | 'metrics' | 'health'>): void {
  app.get('/healthz', () => ({ status: 'ok' }));
  // Ready when etcd answers and every other check passes; a 503 names each that fails.
  app.get('/readyz', async (_request, reply) => {
    const etcd: HealthCheck = await deps.store.ping(AbortSignal.timeout(1000)).then(
      () => ({ name: 'etcd', ready: true, message: 'ok' }),
      (err: unknown) => ({ name: 'etcd', ready: false, message: notAnswering(err) }),
    );
    const checks = [etcd, ...((await deps.health?.().catch(() => [])) ?? [])];
    if (checks.every((c) => c.ready)) return { status: 'ready', checks };
    return reply.code(503).send({ ...statusBody(503, 'ServiceUnavailable', notReadyMessage(checks)), details: { checks } });
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  app.get(`${API_PREFIX}/whoami`, (request) => principalOf(request));
}

/** The store's own failures already say "etcd is not answering: …"; the probe's 1 s running out says only "aborted". */
function notAnswering(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('etcd is not answering')) return message;
  return `etcd is not answering: ${message === 'aborted' ? 'no answer within 1000 ms' : message}`;
}
