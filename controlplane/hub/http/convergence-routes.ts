// Whether every cluster applied what the registry holds as of a revision (`causeway apply --wait`
// polls it with the revision its apply returned). A team sees the clusters its scope reads.
import { z } from 'zod';
import { canRead } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { DEFAULT_REQUEST_DEADLINE_MS } from './deadline.ts';
import { positiveInt, principalOf, queryValue } from './requests.ts';

const convergenceQuery = z.object({ revision: queryValue });

export function registerConvergenceRoutes(app: HubApp, deps: HubServerDeps): void {
  app.get(`${API_PREFIX}/convergence`, { schema: { querystring: convergenceQuery } }, async (request) => {
    const principal = principalOf(request);
    const revision = positiveInt(request.query.revision ?? '', 'revision');
    const source = deps.convergence;
    if (source === undefined)
      return { apiVersion: 'causeway.dev/v1alpha1', kind: 'Convergence', revision, modelRevision: null, converged: false, clusters: [] };
    return source.convergence(revision, AbortSignal.timeout(deps.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS), (c) => canRead(principal, c));
  });
}
