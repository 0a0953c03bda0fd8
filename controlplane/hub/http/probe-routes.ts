// What needs no token: liveness, readiness (etcd answers) and Prometheus metrics; and whoami.
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { principalOf } from './requests.ts';
import { statusBody } from './status.ts';

/** Served without authentication (the onRequest hook skips them). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

export function registerProbeRoutes(app: HubApp, deps: Pick<HubServerDeps, 'store' | 'metrics'>): void {
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await deps.store.ping(AbortSignal.timeout(1000));
      return { status: 'ready' };
    } catch (err) {
      return reply.code(503).send(statusBody(503, 'ServiceUnavailable', `etcd is not answering: ${(err as Error).message}`));
    }
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  app.get(`${API_PREFIX}/whoami`, (request) => principalOf(request));
}
