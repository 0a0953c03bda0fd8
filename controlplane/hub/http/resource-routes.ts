// CRUD per kind, Kubernetes-shaped: list (and watch), get, create, update and delete, cluster-scoped
// under API_PREFIX/PLURAL and namespaced under API_PREFIX/namespaces/NS/PLURAL.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { NotFoundError } from '../../api/errors.ts';
import { refString } from '../../api/keys.ts';
import { API_VERSION } from '../../api/kinds.ts';
import type { Resource } from '../../api/resources.ts';
import { authorizeChange, canRead, type Principal } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { audited, declaredFor, dryRunQuery, flag, kindOf, mismatch, principalOf, queryValue, refFrom } from './requests.ts';
import { resourceVersionParam } from './bad-request.ts';
import { statusBody } from './status.ts';
import { watchStream } from './watch.ts';

const listQuery = z.object({ watch: queryValue, resourceVersion: queryValue });
const deleteQuery = z.object({ dryRun: queryValue, resourceVersion: queryValue });
const collection = z.object({ plural: z.string() });
const member = z.object({ plural: z.string(), name: z.string() });
const nsCollection = z.object({ namespace: z.string(), plural: z.string() });
const nsMember = z.object({ namespace: z.string(), plural: z.string(), name: z.string() });

export function registerResourceRoutes(app: HubApp, deps: HubServerDeps): void {
  const crud = resourceHandlers(deps);
  app.get(`${API_PREFIX}/:plural`, { schema: { params: collection, querystring: listQuery } }, (r, reply) =>
    crud.list(reply, principalOf(r), r.params.plural, undefined, r.query),
  );
  app.post(`${API_PREFIX}/:plural`, { schema: { params: collection, querystring: dryRunQuery } }, (r) =>
    crud.create(principalOf(r), r.params.plural, undefined, r.body, flag(r.query.dryRun)),
  );
  app.get(`${API_PREFIX}/:plural/:name`, { schema: { params: member } }, (r) => crud.get(principalOf(r), r.params.plural, r.params.name, undefined));
  app.put(`${API_PREFIX}/:plural/:name`, { schema: { params: member, querystring: dryRunQuery } }, (r) =>
    crud.update(principalOf(r), r.params.plural, r.params.name, undefined, r.body, flag(r.query.dryRun)),
  );
  app.delete(`${API_PREFIX}/:plural/:name`, { schema: { params: member, querystring: deleteQuery } }, (r) =>
    crud.remove(principalOf(r), r.params.plural, r.params.name, undefined, r.query),
  );
  const ns = `${API_PREFIX}/namespaces/:namespace/:plural`;
  app.get(ns, { schema: { params: nsCollection, querystring: listQuery } }, (r, reply) =>
    crud.list(reply, principalOf(r), r.params.plural, r.params.namespace, r.query),
  );
  app.post(ns, { schema: { params: nsCollection, querystring: dryRunQuery } }, (r) =>
    crud.create(principalOf(r), r.params.plural, r.params.namespace, r.body, flag(r.query.dryRun)),
  );
  app.get(`${ns}/:name`, { schema: { params: nsMember } }, (r) => crud.get(principalOf(r), r.params.plural, r.params.name, r.params.namespace));
  app.put(`${ns}/:name`, { schema: { params: nsMember, querystring: dryRunQuery } }, (r) =>
    crud.update(principalOf(r), r.params.plural, r.params.name, r.params.namespace, r.body, flag(r.query.dryRun)),
  );
  app.delete(`${ns}/:name`, { schema: { params: nsMember, querystring: deleteQuery } }, (r) =>
    crud.remove(principalOf(r), r.params.plural, r.params.name, r.params.namespace, r.query),
  );
}

function resourceHandlers(deps: HubServerDeps) {
  const { registry } = deps;
  const authorizer = (principal: Principal) => ({
    authorize: (c: Parameters<typeof authorizeChange>[1]) => {
      authorizeChange(principal, c);
    },
    visible: (r: Resource) => canRead(principal, r),
  });
  return {
    async list(reply: FastifyReply, principal: Principal, plural: string, namespace: string | undefined, q: z.infer<typeof listQuery>): Promise<unknown> {
      const info = kindOf(plural);
      if (namespace !== undefined && !info.namespaced) throw new NotFoundError(`${info.kind} is not namespaced`);
      const visible = (r: Resource): boolean => canRead(principal, r) && (namespace === undefined || r.metadata.namespace === namespace);
      // A list reads the latest state whatever it names, but one that cannot be a revision is a mistake worth saying.
      if (q.resourceVersion !== undefined && q.resourceVersion !== '' && q.resourceVersion !== '0') resourceVersionParam(q.resourceVersion);
      if (q.watch === 'true' || q.watch === '1') {
        await watchStream(deps, reply, info, visible, q.resourceVersion);
        return reply;
      }
      const { items, revision } = await registry.list(info.kind);
      return { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: String(revision) }, items: items.filter(visible) };
    },

    async get(principal: Principal, plural: string, name: string, namespace: string | undefined): Promise<Resource> {
      const ref = refFrom(plural, name, namespace);
      const r = await registry.get(ref);
      // Out of scope reads look like absence: a team learns nothing of other teams' objects.
      if (!canRead(principal, r)) throw new NotFoundError(`${refString(ref)} not found`);
      return r;
    },

    async create(principal: Principal, plural: string, namespace: string | undefined, body: unknown, dryRun: boolean): Promise<unknown> {
      const info = kindOf(plural);
      const declared = declaredFor(principal, { documents: [{ object: body }] });
      const [d] = declared;
      if (d === undefined || d.resource.kind !== info.kind) throw mismatch(`kind ${info.kind}`, d?.resource.kind);
      if (namespace !== undefined && d.resource.metadata.namespace !== namespace)
        throw mismatch(`metadata.namespace "${namespace}"`, d.resource.metadata.namespace);
      const result = await audited(deps, 'create', principal, dryRun, () =>
        registry.apply(declared, principal, { mode: 'create', dryRun, ...authorizer(principal) }),
      );
      return result.changes[0]?.after;
    },

    async update(principal: Principal, plural: string, name: string, namespace: string | undefined, body: unknown, dryRun: boolean): Promise<unknown> {
      const ref = refFrom(plural, name, namespace);
      const declared = declaredFor(principal, { documents: [{ object: body }] });
      const [d] = declared;
      if (d === undefined || d.resource.kind !== ref.kind || d.resource.metadata.name !== ref.name || d.resource.metadata.namespace !== ref.namespace) {
        const m = d?.resource.metadata;
        throw mismatch(
          refString(ref),
          d !== undefined && m !== undefined ? `${d.resource.kind}/${m.namespace !== undefined ? `${m.namespace}/` : ''}${m.name}` : undefined,
        );
      }
      const result = await audited(deps, 'update', principal, dryRun, () =>
        registry.apply(declared, principal, { mode: 'update', dryRun, ...authorizer(principal) }),
      );
      return result.changes[0]?.after;
    },

    async remove(principal: Principal, plural: string, name: string, namespace: string | undefined, q: z.infer<typeof deleteQuery>): Promise<unknown> {
      const ref = refFrom(plural, name, namespace);
      const dryRun = flag(q.dryRun);
      if (q.resourceVersion !== undefined) resourceVersionParam(q.resourceVersion);
      const result = await audited(deps, 'delete', principal, dryRun, () =>
        registry.delete(ref, principal, {
          dryRun,
          ...(q.resourceVersion !== undefined ? { resourceVersion: q.resourceVersion } : {}),
          ...authorizer(principal),
        }),
      );
      return { ...statusBody(200, 'Deleted', `${refString(ref)} deleted`), status: 'Success', details: { revision: result.revision } };
    },
  };
}
