// The hub's fastify instance: options, body parsers, and zod as the route schema language
// (fastify-type-provider-zod, docs/adr/0007), so that params, query and bodies are typed by the
// schema that checks them. The only folder of the hub that imports fastify.
import http from 'node:http';
import https from 'node:https';
import Fastify, { LogController, type FastifyReply } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ConvergenceSource, ProvidersView, ServicesView } from '../../api/read-model.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Store } from '../../registry/store.ts';
import type { Principal, TokenAuthenticator } from '../auth.ts';
import type { CredentialStore } from '../credentials.ts';
import type { HealthChecks } from '../health.ts';
import type { HubMetrics } from '../metrics.ts';
import type { PolicyController } from '../policy-controller.ts';
import { BODY_LIMIT, MAX_PATH_SEGMENT } from './limits.ts';
import { statusBody } from './status.ts';

export const API_PREFIX = '/apis/causeway.dev/v1alpha1';
export { BODY_LIMIT, MAX_PATH_SEGMENT } from './limits.ts';

/**
 * How long a client may take, so that slow or idle sockets cannot pile up (issue 12 §2): the whole
 * request (headers and body) must arrive within `requestTimeoutMs` (408 otherwise), its headers
 * within `headersTimeoutMs`; an idle keep-alive connection goes after `keepAliveTimeoutMs`; a
 * socket with no traffic either way goes after `connectionTimeoutMs` (watches send a newline
 * every 15 s, well inside it). None of them limits how long a response streams.
 */
export interface HttpTimeouts {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectionTimeoutMs: number;
}

/** A 1 MiB apply at 35 KB/s still arrives in 30 s. */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  connectionTimeoutMs: 60_000,
};

export interface HubServerDeps {
  readonly credentials?: CredentialStore;
  readonly services?: ServicesView;
  /** The route plan per domain and what applying it would change (`get routes`, `plan`). */
  readonly providers?: ProvidersView;
  /** Whether every cluster applied a revision (`apply --wait`). */
  readonly convergence?: ConvergenceSource;
  /** GlobalPolicy: compiled objects per cluster, explain and plan (policy-routes.ts). */
  readonly policy?: PolicyController;
  readonly registry: Registry;
  readonly store: Store;
  readonly auth: TokenAuthenticator;
  readonly metrics: HubMetrics;
  readonly logger: Logger;
  /** DEFAULT_HTTP_TIMEOUTS unless given (tests shorten them). */
  readonly timeouts?: Partial<HttpTimeouts>;
  /**
   * How long a request may take once its body is read, before it is answered 503 (deadline.ts);
   * DEFAULT_REQUEST_DEADLINE_MS unless given. Keep it above the store's own call timeout.
   */
  readonly requestDeadlineMs?: number | undefined;
  /** What /readyz checks beyond etcd answering (NATS, the servers the hub started). */
  readonly health?: HealthChecks | undefined;
  /** Serve HTTPS with this certificate (PEM); plain HTTP without. */
  readonly https?: { readonly cert: string; readonly key: string } | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type HubApp = ReturnType<typeof createApp>;

export function createApp(logger: Logger, timeouts: Partial<HttpTimeouts> = {}, tls?: { readonly cert: string; readonly key: string }) {
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...timeouts };
  // Node checks the request and headers timeouts on this interval (30 s by default, which
  // would let a 30 s timeout run to a minute).
  const serverOptions: http.ServerOptions = {
    headersTimeout: Math.min(t.headersTimeoutMs, t.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(1000, t.requestTimeoutMs / 2),
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
  };
  // Request lines would drown the audit log; latency and codes go to /metrics instead.
  // forceCloseConnections: on stop, end open watch streams and idle or never-used keep-alive
  // connections at once; otherwise one client could hold the hub's shutdown open.
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: true,
    // Longest name Kubernetes allows (a DNS-1123 subdomain) plus room: longer is not a name.
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    // The router's own refusals (a URL it cannot decode, a segment past maxParamLength) answer
    // in the same Status shape as every other refusal.
    frameworkErrors: (err, _request, reply) => {
      const e = err as { code?: string };
      const body =
        e.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? statusBody(414, 'RequestURITooLong', `a path segment is longer than ${MAX_PATH_SEGMENT} characters; no name is that long`)
          : statusBody(400, 'BadRequest', 'the URL could not be decoded');
      void (reply as unknown as FastifyReply).code(body.code).type('application/json').send(body);
    },
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    connectionTimeout: t.connectionTimeoutMs,
    // One factory for HTTP and HTTPS, so that both get every timeout above (fastify's own https
    // path drops the `http` options). Typed as http.Server: an https.Server is one, plus TLS.
    serverFactory: (handler) => {
      const server =
        tls === undefined ? http.createServer(serverOptions, handler) : https.createServer({ ...serverOptions, cert: tls.cert, key: tls.key }, handler);
      server.setTimeout(t.connectionTimeoutMs);
      return server;
    },
  }).withTypeProvider<ZodTypeProvider>();
  // Responses are not schema-checked: every body the API returns is built from the contract.
  app.setValidatorCompiler(validatorCompiler);
  for (const type of ['application/yaml', 'application/x-yaml', 'text/yaml']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => {
      done(null, body);
    });
  }
  return app;
}
