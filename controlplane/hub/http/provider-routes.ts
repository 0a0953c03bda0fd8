// The route plan per domain (`causeway get routes`) and what applying it would change there
// (`causeway plan`, asked of each provider with DryRun: nothing changes). Admins only: the plan names
// every network's prefixes, route tables and security groups, whatever a team's scope.
import { API_VERSION } from '../../api/kinds.ts';
import { requireAdmin } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { DEFAULT_REQUEST_DEADLINE_MS } from './deadline.ts';
import { principalOf } from './requests.ts';

export function registerProviderRoutes(app: HubApp, deps: HubServerDeps): void {
  const list = (items: readonly unknown[]) => ({ apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: '' }, items });

  app.get(`${API_PREFIX}/routes`, async (request) => {
    requireAdmin(principalOf(request), 'read the route plan');
    return list((await deps.providers?.routes(AbortSignal.timeout(deps.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS))) ?? []);
  });

  app.get(`${API_PREFIX}/plan`, async (request) => {
    requireAdmin(principalOf(request), 'plan provider changes');
    // Stops asking the provider once the request's deadline has passed.
    return list((await deps.providers?.plan(AbortSignal.timeout(deps.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS))) ?? []);
  });
}
