// The hub's HTTP API: Kubernetes-shaped JSON over the registry. Authenticates every request but
// the probes, authorises against the registry's own snapshot, audits every write, and speaks
// the named error set as Kubernetes `Status` bodies (status.ts). Routes live in *-routes.ts.
import { registerAgentRoutes } from './agent-routes.ts';
import { createApp, type HubApp, type HubServerDeps } from './app.ts';
import { addRequestDeadline, DEFAULT_REQUEST_DEADLINE_MS } from './deadline.ts';
import { registerConvergenceRoutes } from './convergence-routes.ts';
import { registerPolicyRoutes } from './policy-routes.ts';
import { registerPoolRoutes } from './pool-routes.ts';
import { OPEN_PATHS, registerProbeRoutes } from './probe-routes.ts';
import { registerProviderRoutes } from './provider-routes.ts';
import { registerRegistryRoutes } from './registry-routes.ts';
import { registerResourceRoutes } from './resource-routes.ts';
import { statusBody, statusOf } from './status.ts';

export { API_PREFIX, BODY_LIMIT, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts, type HubServerDeps } from './app.ts';
export { DEFAULT_REQUEST_DEADLINE_MS } from './deadline.ts';

export function buildHubServer(deps: HubServerDeps): HubApp {
  const { auth, metrics } = deps;
  const app = createApp(deps.logger, deps.timeouts, deps.https);

  app.addHook('onRequest', (request, _reply, done) => {
    try {
      if (!OPEN_PATHS.has(request.url)) request.principal = auth.authenticate(request.headers.authorization);
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, code: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler(async (err: unknown, request, reply) => {
    const status = statusOf(err);
    if (status.code >= 500) request.log.error({ err }, 'request failed');
    // Refused before its body was read (401, 413, 415, ...): close the socket rather than wait
    // for the rest of a body nobody will read.
    if (!request.raw.complete) void reply.header('connection', 'close');
    await reply.code(status.code).type('application/json').send(status);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(statusBody(404, 'NotFound', `no route for ${request.method} ${request.url}`));
  });

  // Before the routes: it wraps each route as it is registered.
  addRequestDeadline(app, deps.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS, deps.store);
  registerProbeRoutes(app, deps);
  registerRegistryRoutes(app, deps);
  registerAgentRoutes(app, deps);
  registerProviderRoutes(app, deps);
  registerPoolRoutes(app, deps);
  registerConvergenceRoutes(app, deps);
  registerPolicyRoutes(app, deps);
  registerResourceRoutes(app, deps);
  return app;
}
