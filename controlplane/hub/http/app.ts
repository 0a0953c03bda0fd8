// The hub's fastify instance: options, body parsers, and zod as the route schema language
// (fastify-type-provider-zod, docs/adr/0007), so that params, query and bodies are typed by the
// schema that checks them. The only folder of the hub that imports fastify.
import Fastify, { LogController } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ServicesView } from '../../api/read-model.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Store } from '../../registry/store.ts';
import type { Principal, TokenAuthenticator } from '../auth.ts';
import type { CredentialStore } from '../credentials.ts';
import type { HubMetrics } from '../metrics.ts';

export const API_PREFIX = '/apis/causeway.dev/v1alpha1';
export const BODY_LIMIT = 1024 * 1024;

export interface HubServerDeps {
  readonly credentials?: CredentialStore;
  readonly services?: ServicesView;
  readonly registry: Registry;
  readonly store: Store;
  readonly auth: TokenAuthenticator;
  readonly metrics: HubMetrics;
  readonly logger: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type HubApp = ReturnType<typeof createApp>;

export function createApp(logger: Logger) {
  // Request lines would drown the audit log; latency and codes go to /metrics instead.
  // forceCloseConnections: on stop, end open watch streams and idle or never-used keep-alive
  // connections at once; otherwise one client could hold the hub's shutdown open.
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: true,
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
