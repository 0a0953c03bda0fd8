// How full each IPPool is (`causeway get pools`): size, used, quarantined, free and holders, derived
// from the registry, the release records and the clusterset VIP claims. Admins only, like the route
// plan: the holders name every cluster and service, whatever a team's scope.
import { API_VERSION } from '../../api/kinds.ts';
import type { ClusterResource, IPPoolResource } from '../../api/resources.ts';
import { DEFAULT_BLOCK_QUARANTINE_MS } from '../../ipam/releases.ts';
import { poolUsage } from '../../ipam/pool-usage.ts';
import { DEFAULT_VIP_QUARANTINE_MS } from '../../ipam/vips.ts';
import { VipStore } from '../../registry/vip-store.ts';
import { requireAdmin } from '../auth.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { principalOf } from './requests.ts';

export function registerPoolRoutes(app: HubApp, deps: HubServerDeps): void {
  app.get(`${API_PREFIX}/pools`, async (request) => {
    requireAdmin(principalOf(request), 'read IP pool usage');
    const [{ items, revision }, releases, vipClaims] = await Promise.all([
      deps.registry.list(),
      deps.registry.blockReleases(),
      new VipStore(deps.store).listClaims(),
    ]);
    const pools = items.filter((r): r is IPPoolResource => r.kind === 'IPPool');
    const clusters = items.filter((r): r is ClusterResource => r.kind === 'Cluster');
    const usage = poolUsage({
      pools,
      clusters,
      vipClaims,
      releases,
      now: new Date(),
      vipQuarantineMs: DEFAULT_VIP_QUARANTINE_MS,
      blockQuarantineMs: DEFAULT_BLOCK_QUARANTINE_MS,
    });
    return { apiVersion: API_VERSION, kind: 'List', metadata: { resourceVersion: String(revision) }, items: usage };
  });
}
