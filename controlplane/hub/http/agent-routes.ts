// The agents' side of the API: a cluster's NATS credential, and the global services the hub has
// derived from every cluster's exports.
import { z } from 'zod';
import { NotFoundError } from '../../api/errors.ts';
import { API_VERSION } from '../../api/kinds.ts';
import { requireAdmin, visibleServices } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { flag, principalOf, queryValue } from './requests.ts';

export function registerAgentRoutes(app: HubApp, deps: HubServerDeps): void {
  const { registry, logger } = deps;

  app.post(
    `${API_PREFIX}/clusters/:name/credentials`,
    { schema: { params: z.object({ name: z.string() }), querystring: z.object({ rotate: queryValue }) } },
    async (request) => {
      const principal = principalOf(request);
      // A credential holds the agent's seed: whoever has it speaks for the cluster on NATS. Refused
      // to teams before the cluster is read, so the refusal says nothing about whether it exists.
      requireAdmin(principal, 'fetch agent credentials');
      const { name } = request.params;
      await registry.get({ kind: 'Cluster', name });
      if (deps.credentials === undefined) throw new NotFoundError('this hub issues no agent credentials');
      const rotate = flag(request.query.rotate);
      const credential = await deps.credentials.issue(name, { rotate, actor: principal });
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
    },
  );

  app.get(`${API_PREFIX}/services`, async (request) => {
    const principal = principalOf(request);
    const services = deps.services?.list() ?? [];
    const clusters = principal.role === 'admin' ? [] : (await registry.list('Cluster')).items;
    const items = visibleServices(principal, services, clusters);
    return { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: '' }, items: items.map((s) => ({ kind: 'GlobalService', ...s })) };
  });
}
