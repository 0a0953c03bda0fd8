// apply, diff, history and rollback: the routes that write or explain the registry as a whole.
import { z } from 'zod';
import { InvalidInputError } from '../../api/errors.ts';
import type { ObjectRef } from '../../api/keys.ts';
import { API_VERSION } from '../../api/kinds.ts';
import type { Resource } from '../../api/resources.ts';
import type { HistoryEntry } from '../../registry/registry.ts';
import { authorizeChange, canRead, requireAdmin, type Principal } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { audited, changeView, declaredFor, dryRunQuery, flag, kindOf, positiveInt, principalOf, queryValue, resultView } from './requests.ts';

const historyQuery = z.object({ kind: queryValue, name: queryValue, namespace: queryValue, limit: queryValue });
const rollbackBody = z.strictObject({ toRevision: z.int().min(1), dryRun: z.boolean().optional() });

export function registerRegistryRoutes(app: HubApp, deps: HubServerDeps): void {
  const { registry } = deps;
  const authorizer = (principal: Principal) => ({
    authorize: (c: Parameters<typeof authorizeChange>[1]) => {
      authorizeChange(principal, c);
    },
    visible: (r: Resource) => canRead(principal, r),
  });

  app.post(`${API_PREFIX}/apply`, { schema: { querystring: dryRunQuery } }, async (request) => {
    const principal = principalOf(request);
    const dryRun = flag(request.query.dryRun);
    // Parsed inside `audited`, so that refused input is counted like any other refusal.
    return resultView(
      await audited(deps, 'apply', principal, dryRun, () =>
        registry.apply(declaredFor(principal, request.body), principal, { dryRun, ...authorizer(principal) }),
      ),
    );
  });

  app.post(`${API_PREFIX}/diff`, async (request) => {
    const principal = principalOf(request);
    const changes = await registry.diff(declaredFor(principal, request.body), authorizer(principal));
    return { apiVersion: API_VERSION, kind: 'Diff', changes: changes.map(changeView) };
  });

  app.get(`${API_PREFIX}/history`, { schema: { querystring: historyQuery } }, async (request) => {
    const principal = principalOf(request);
    const q = request.query;
    const limit = q.limit !== undefined ? positiveInt(q.limit, 'limit') : undefined;
    let ref: ObjectRef | undefined;
    if (q.kind !== undefined) {
      const info = kindOf(q.kind);
      if (q.name === undefined) throw new InvalidInputError([{ field: 'name', message: 'history of one object needs both kind and name' }]);
      ref = { kind: info.kind, name: q.name, ...(info.namespaced ? { namespace: q.namespace ?? 'default' } : {}) };
    }
    // What the caller may read of each entry; admins see every entry, credential hand-outs
    // included (they change no object). The limit counts what is visible.
    const select = (e: HistoryEntry): HistoryEntry | undefined => {
      if (principal.role === 'admin') return e;
      const changes = e.changes.filter((c) => [c.before, c.after].some((r) => r !== undefined && canRead(principal, r)));
      return changes.length > 0 ? { ...e, changes } : undefined;
    };
    const visible = await registry.history({ ...(ref !== undefined ? { ref } : {}), ...(limit !== undefined ? { limit } : {}), select });
    return { apiVersion: API_VERSION, kind: 'History', items: visible };
  });

  app.post(
    `${API_PREFIX}/rollback`,
    {
      schema: { querystring: dryRunQuery, body: rollbackBody },
      // Before the body is validated: a team token learns it may not roll back, whatever it sent.
      preValidation: async (request) => {
        requireAdmin(principalOf(request), 'roll back the registry');
        return Promise.resolve();
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const dryRun = request.body.dryRun === true || flag(request.query.dryRun);
      return resultView(await audited(deps, 'rollback', principal, dryRun, () => registry.rollback(request.body.toRevision, principal, { dryRun })));
    },
  );
}
