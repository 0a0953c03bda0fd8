// The hub's HTTP API: Kubernetes-shaped JSON over the registry. Authenticates every request but
// the probes, authorises against the registry's own snapshot, audits every write, and speaks
// the named error set as Kubernetes `Status` bodies.
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CausewayError, ForbiddenError, InvalidInputError, NotFoundError, type Problem } from '../api/errors.ts';
import { refString, type ObjectRef } from '../api/keys.ts';
import { API_VERSION, KINDS, resolveKind, type KindInfo } from '../api/kinds.ts';
import { expandList, parseYamlDocuments, validateDocuments, type RawDocument } from '../api/validate.ts';
import type { Resource } from '../api/resources.ts';
import type { ChangeResult, Registry, WriteResult } from '../registry/registry.ts';
import type { Store } from '../registry/store.ts';
import { authorizeChange, canRead, requireAdmin, type Principal, type TokenAuthenticator } from './auth.ts';
import type { CredentialStore } from './credentials.ts';
import type { HubMetrics } from './metrics.ts';
import type { ServicesView } from '../api/read-model.ts';

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

const applyBodySchema = z.strictObject({
  documents: z
    .array(
      z.strictObject({
        source: z.strictObject({ file: z.string().max(4096).optional(), document: z.int().min(1).optional(), path: z.string().max(256).optional() }).optional(),
        object: z.unknown(),
      }),
    )
    .max(5000),
});

const rollbackBodySchema = z.strictObject({ toRevision: z.int().min(1), dryRun: z.boolean().optional() });

export function buildHubServer(deps: HubServerDeps) {
  const { registry, store, auth, metrics, logger } = deps;
  // Request lines would drown the audit log; latency and codes go to /metrics instead.
  // forceCloseConnections: on stop, end open watch streams and idle or never-used keep-alive
  // connections at once; otherwise one client could hold the hub's shutdown open.
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: true,
  });

  for (const type of ['application/yaml', 'application/x-yaml', 'text/yaml']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => {
      done(null, body);
    });
  }

  app.addHook('onRequest', (request, _reply, done) => {
    const open = request.url === '/healthz' || request.url === '/readyz' || request.url === '/metrics';
    try {
      if (!open) request.principal = auth.authenticate(request.headers.authorization);
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
    await reply.code(status.code).type('application/json').send(status);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(statusBody(404, 'NotFound', `no route for ${request.method} ${request.url}`));
  });

  // ---- probes and metrics ------------------------------------------------------------------

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await store.ping(AbortSignal.timeout(1000));
      return { status: 'ready' };
    } catch (err) {
      return reply.code(503).send(statusBody(503, 'ServiceUnavailable', `etcd is not answering: ${(err as Error).message}`));
    }
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  // ---- who am I ----------------------------------------------------------------------------

  app.get(`${API_PREFIX}/whoami`, (request) => principalOf(request));

  // ---- apply, diff, history, rollback ------------------------------------------------------

  app.post(`${API_PREFIX}/apply`, async (request) => {
    const principal = principalOf(request);
    const dryRun = flag(request, 'dryRun');
    // Parsed inside `audited`, so that refused input is counted like any other refusal.
    return resultView(
      await audited('apply', principal, dryRun, () =>
        registry.apply(declaredFrom(request.body), principal, {
          dryRun,
          authorize: (c) => {
            authorizeChange(principal, c);
          },
        }),
      ),
    );
  });

  app.post(`${API_PREFIX}/diff`, async (request) => {
    const principal = principalOf(request);
    const changes = await registry.diff(declaredFrom(request.body), {
      authorize: (c) => {
        authorizeChange(principal, c);
      },
    });
    return { apiVersion: API_VERSION, kind: 'Diff', changes: changes.map(changeView) };
  });

  app.get(`${API_PREFIX}/history`, async (request) => {
    const principal = principalOf(request);
    const q = request.query as Record<string, string | undefined>;
    const limit = q.limit !== undefined ? positiveInt(q.limit, 'limit') : undefined;
    let ref: ObjectRef | undefined;
    if (q.kind !== undefined) {
      const info = kindOf(q.kind);
      if (q.name === undefined) throw new InvalidInputError([{ field: 'name', message: 'history of one object needs both kind and name' }]);
      ref = { kind: info.kind, name: q.name, ...(info.namespaced ? { namespace: q.namespace ?? 'default' } : {}) };
    }
    const entries = await registry.history({ ...(ref !== undefined ? { ref } : {}) });
    const visible = entries
      .map((e) => ({
        ...e,
        changes: e.changes.filter((c) => principal.role === 'admin' || [c.before, c.after].some((r) => r !== undefined && canRead(principal, r))),
      }))
      .filter((e) => e.changes.length > 0)
      .slice(0, limit ?? Infinity);
    return { apiVersion: API_VERSION, kind: 'History', items: visible };
  });

  app.post(`${API_PREFIX}/rollback`, async (request) => {
    const principal = principalOf(request);
    requireAdmin(principal, 'roll back the registry');
    const body = rollbackBodySchema.safeParse(request.body);
    if (!body.success) throw new InvalidInputError(body.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })));
    const dryRun = body.data.dryRun === true || flag(request, 'dryRun');
    return resultView(await audited('rollback', principal, dryRun, () => registry.rollback(body.data.toRevision, principal, { dryRun })));
  });

  // ---- agents: credentials and the services they exchange -----------------------------------

  app.post(`${API_PREFIX}/clusters/:name/credentials`, async (request) => {
    const principal = principalOf(request);
    const { name } = request.params as { name: string };
    const cluster = await registry.get({ kind: 'Cluster', name });
    if (!canRead(principal, cluster)) throw new NotFoundError(`Cluster/${name} not found`);
    authorizeChange(principal, { ref: { kind: 'Cluster', name }, action: 'updated', before: cluster, after: cluster });
    if (deps.credentials === undefined) throw new NotFoundError('this hub issues no agent credentials');
    const rotate = flag(request, 'rotate');
    const credential = await deps.credentials.issue(name, { rotate });
    logger.info(
      {
        audit: true,
        actor: principal.name,
        role: principal.role,
        operation: rotate ? 'rotate-credentials' : 'get-credentials',
        objects: [`Cluster/${name}`],
        publicKey: credential.publicKey,
      },
      'agent credential',
    );
    return { apiVersion: API_VERSION, kind: 'AgentCredential', ...credential };
  });

  app.get(`${API_PREFIX}/services`, (request) => {
    const principal = principalOf(request);
    const items = (deps.services?.list() ?? []).filter((s) => principal.role === 'admin' || principal.namespaces.includes(s.namespace));
    return { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: '' }, items: items.map((s) => ({ kind: 'GlobalService', ...s })) };
  });

  // ---- CRUD per kind -----------------------------------------------------------------------

  const list = async (request: FastifyRequest, reply: FastifyReply, namespace: string | undefined): Promise<unknown> => {
    const principal = principalOf(request);
    const info = kindOf((request.params as { plural: string }).plural);
    if (namespace !== undefined && !info.namespaced) throw new NotFoundError(`${info.kind} is not namespaced`);
    const q = request.query as Record<string, string | undefined>;
    const visible = (r: Resource): boolean => canRead(principal, r) && (namespace === undefined || r.metadata.namespace === namespace);
    if (q.watch === 'true' || q.watch === '1') {
      await watchStream(reply, info, visible, q.resourceVersion);
      return reply;
    }
    const { items, revision } = await registry.list(info.kind);
    return { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: String(revision) }, items: items.filter(visible) };
  };

  const get = async (request: FastifyRequest, namespace: string | undefined): Promise<Resource> => {
    const principal = principalOf(request);
    const ref = refFrom(request, namespace);
    const r = await registry.get(ref);
    // Out of scope reads look like absence: a team learns nothing of other teams' objects.
    if (!canRead(principal, r)) throw new NotFoundError(`${refString(ref)} not found`);
    return r;
  };

  const create = async (request: FastifyRequest, namespace: string | undefined): Promise<unknown> => {
    const principal = principalOf(request);
    const info = kindOf((request.params as { plural: string }).plural);
    const declared = declaredFrom({ documents: [{ object: request.body }] });
    const [d] = declared;
    if (d === undefined || d.resource.kind !== info.kind) throw mismatch(`kind ${info.kind}`, d?.resource.kind);
    if (namespace !== undefined && d.resource.metadata.namespace !== namespace)
      throw mismatch(`metadata.namespace "${namespace}"`, d.resource.metadata.namespace);
    const result = await audited('create', principal, flag(request, 'dryRun'), () =>
      registry.apply(declared, principal, {
        mode: 'create',
        dryRun: flag(request, 'dryRun'),
        authorize: (c) => {
          authorizeChange(principal, c);
        },
      }),
    );
    return result.changes[0]?.after;
  };

  const update = async (request: FastifyRequest, namespace: string | undefined): Promise<unknown> => {
    const principal = principalOf(request);
    const ref = refFrom(request, namespace);
    const declared = declaredFrom({ documents: [{ object: request.body }] });
    const [d] = declared;
    if (d === undefined || d.resource.kind !== ref.kind || d.resource.metadata.name !== ref.name || d.resource.metadata.namespace !== ref.namespace) {
      throw mismatch(
        refString(ref),
        d !== undefined
          ? `${d.resource.kind}/${d.resource.metadata.namespace ?? ''}${d.resource.metadata.namespace !== undefined ? '/' : ''}${d.resource.metadata.name}`
          : undefined,
      );
    }
    const result = await audited('update', principal, flag(request, 'dryRun'), () =>
      registry.apply(declared, principal, {
        mode: 'update',
        dryRun: flag(request, 'dryRun'),
        authorize: (c) => {
          authorizeChange(principal, c);
        },
      }),
    );
    return result.changes[0]?.after;
  };

  const remove = async (request: FastifyRequest, namespace: string | undefined): Promise<unknown> => {
    const principal = principalOf(request);
    const ref = refFrom(request, namespace);
    const q = request.query as Record<string, string | undefined>;
    const result = await audited('delete', principal, flag(request, 'dryRun'), () =>
      registry.delete(ref, principal, {
        dryRun: flag(request, 'dryRun'),
        ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
        authorize: (c) => {
          authorizeChange(principal, c);
        },
      }),
    );
    return { ...statusBody(200, 'Deleted', `${refString(ref)} deleted`), status: 'Success', details: { revision: result.revision } };
  };

  app.get(`${API_PREFIX}/:plural`, (req, reply) => list(req, reply, undefined));
  app.post(`${API_PREFIX}/:plural`, (req) => create(req, undefined));
  app.get(`${API_PREFIX}/:plural/:name`, (req) => get(req, undefined));
  app.put(`${API_PREFIX}/:plural/:name`, (req) => update(req, undefined));
  app.delete(`${API_PREFIX}/:plural/:name`, (req) => remove(req, undefined));
  const ns = (req: FastifyRequest): string => (req.params as { namespace: string }).namespace;
  app.get(`${API_PREFIX}/namespaces/:namespace/:plural`, (req, reply) => list(req, reply, ns(req)));
  app.post(`${API_PREFIX}/namespaces/:namespace/:plural`, (req) => create(req, ns(req)));
  app.get(`${API_PREFIX}/namespaces/:namespace/:plural/:name`, (req) => get(req, ns(req)));
  app.put(`${API_PREFIX}/namespaces/:namespace/:plural/:name`, (req) => update(req, ns(req)));
  app.delete(`${API_PREFIX}/namespaces/:namespace/:plural/:name`, (req) => remove(req, ns(req)));

  // ---- helpers that need the deps -------------------------------------------------------------

  async function audited(operation: string, principal: Principal, dryRun: boolean, run: () => Promise<WriteResult>): Promise<WriteResult> {
    let result: WriteResult;
    try {
      result = await Promise.resolve().then(run);
    } catch (err) {
      metrics.registryWrites.inc({ operation, result: resultLabel(err) });
      throw err;
    }
    const written = result.changes.filter((c) => c.action !== 'unchanged');
    metrics.registryWrites.inc({ operation, result: dryRun ? 'dry_run' : written.length === 0 ? 'noop' : 'ok' });
    if (!dryRun && written.length > 0) {
      logger.info(
        {
          audit: true,
          actor: principal.name,
          role: principal.role,
          operation,
          revision: result.revision,
          objects: written.map((c) => `${c.action} ${refString(c.ref)}`),
        },
        'registry changed',
      );
    }
    return result;
  }

  async function watchStream(reply: FastifyReply, info: KindInfo, visible: (r: Resource) => boolean, fromVersion: string | undefined): Promise<void> {
    const ac = new AbortController();
    // The response closes when the client goes away (the request's own close fires once it is read).
    reply.raw.on('close', () => {
      ac.abort();
    });
    let after = fromVersion !== undefined && fromVersion !== '' && fromVersion !== '0' ? positiveInt(fromVersion, 'resourceVersion') : undefined;
    const initial: Resource[] = [];
    if (after === undefined) {
      const listed = await registry.list(info.kind);
      after = listed.revision;
      initial.push(...listed.items.filter(visible));
    }
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'transfer-encoding': 'chunked' });
    // Send the headers now: a watch with nothing to report yet must still answer at once.
    out.flushHeaders();
    const send = (type: string, object: unknown): void => {
      out.write(`${JSON.stringify({ type, object })}\n`);
    };
    for (const r of initial) send('ADDED', r);
    // A newline now and then keeps proxies and clients from timing the stream out.
    const keepAlive = setInterval(() => {
      out.write('\n');
    }, 15_000);
    metrics.watchers.inc();
    try {
      for await (const batch of registry.watch(info.kind, after, ac.signal)) {
        for (const e of batch) if (visible(e.object)) send(e.type, e.object);
      }
    } catch (err) {
      if (!ac.signal.aborted) {
        // GoneError becomes a 410 Status event: the client relists, as with Kubernetes.
        send('ERROR', statusOf(err));
      }
    } finally {
      clearInterval(keepAlive);
      metrics.watchers.dec();
      out.end();
    }
  }

  return app;
}

// ---- request helpers ---------------------------------------------------------------------------

function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new ForbiddenError('no principal');
  return request.principal;
}

function kindOf(word: string): KindInfo {
  const info = resolveKind(word);
  if (info === undefined) {
    throw new NotFoundError(
      `the server has no resource type "${word}"; known: ${Object.values(KINDS)
        .map((k) => k.plural)
        .join(', ')}`,
    );
  }
  return info;
}

function refFrom(request: FastifyRequest, namespace: string | undefined): ObjectRef {
  const { plural, name } = request.params as { plural: string; name: string };
  const info = kindOf(plural);
  if (info.namespaced && namespace === undefined)
    throw new NotFoundError(`${info.kind} is namespaced: use ${API_PREFIX}/namespaces/NAMESPACE/${info.plural}/${name}`);
  if (!info.namespaced && namespace !== undefined) throw new NotFoundError(`${info.kind} is not namespaced`);
  return { kind: info.kind, name, ...(namespace !== undefined ? { namespace } : {}) };
}

function flag(request: FastifyRequest, name: string): boolean {
  const v = (request.query as Record<string, string | undefined>)[name];
  return v !== undefined && v !== 'false' && v !== '0';
}

function positiveInt(v: string, field: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw new InvalidInputError([{ field, value: v, message: 'expected a positive whole number' }]);
  }
  return Number(v);
}

function mismatch(expected: string, got: string | undefined): InvalidInputError {
  return new InvalidInputError([{ field: '', message: `the body must be ${expected}`, ...(got !== undefined ? { value: got } : {}) }]);
}

/** Apply and diff bodies: `{documents: [{source, object}]}` as JSON, or YAML text. */
function declaredFrom(body: unknown): { resource: Resource; source: RawDocument['source'] }[] {
  let docs: RawDocument[];
  if (typeof body === 'string') {
    const parsed = parseYamlDocuments(body, 'request body');
    if (!parsed.ok) throw new InvalidInputError(parsed.problems);
    docs = parsed.value;
  } else {
    const parsed = applyBodySchema.safeParse(body ?? null);
    if (!parsed.success) {
      throw new InvalidInputError([
        { field: 'documents', message: 'expected {"documents": [{"source": {...}, "object": {...}}, ...]} or a YAML body (Content-Type: application/yaml)' },
      ]);
    }
    docs = parsed.data.documents.flatMap((d, i) => expandList({ source: { document: i + 1, ...stripUndefined(d.source ?? {}) }, object: d.object }));
  }
  if (docs.length === 0) throw new InvalidInputError([{ field: '', message: 'no documents to apply' }]);
  const v = validateDocuments(docs);
  if (!v.ok) throw new InvalidInputError(v.problems);
  return v.value;
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

function resultView(result: WriteResult): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: 'ApplyResult', revision: result.revision, dryRun: result.dryRun, changes: result.changes.map(changeView) };
}

function changeView(c: ChangeResult): Record<string, unknown> {
  return {
    kind: c.ref.kind,
    ...(c.ref.namespace !== undefined ? { namespace: c.ref.namespace } : {}),
    name: c.ref.name,
    action: c.action,
    ...(c.before !== undefined ? { before: c.before } : {}),
    ...(c.after !== undefined ? { after: c.after } : {}),
  };
}

// ---- errors as Kubernetes Status ---------------------------------------------------------------

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  status: 'Failure' | 'Success';
  code: number;
  reason: string;
  message: string;
  details?: { problems?: readonly Problem[]; revision?: number };
}

function statusBody(code: number, reason: string, message: string, problems?: readonly Problem[]): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, ...(problems !== undefined ? { details: { problems } } : {}) };
}

function statusOf(err: unknown): StatusBody {
  if (err instanceof InvalidInputError) return statusBody(err.httpStatus, err.reason, err.message, err.problems);
  if (err instanceof CausewayError) return statusBody(err.httpStatus, err.reason, err.message);
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return statusBody(413, 'RequestEntityTooLarge', `request body is larger than ${BODY_LIMIT} bytes (1 MiB); split the apply into smaller sets`);
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return statusBody(415, 'UnsupportedMediaType', e.message ?? 'unsupported media type: send application/json or application/yaml');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return statusBody(e.statusCode, 'BadRequest', e.message ?? 'bad request');
  }
  return statusBody(500, 'InternalError', e.message ?? 'internal error');
}

function resultLabel(err: unknown): string {
  if (err instanceof CausewayError) {
    switch (err.reason) {
      case 'Invalid':
        return 'invalid';
      case 'Conflict':
      case 'AlreadyExists':
        return 'conflict';
      case 'Forbidden':
      case 'Unauthorized':
        return 'forbidden';
      case 'NotFound':
        return 'not_found';
      case 'Expired':
      case 'ServiceUnavailable':
        return 'error';
    }
  }
  return 'error';
}
