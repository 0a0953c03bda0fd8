// The leader's model follows VIP assignments in etcd's order (ServiceController, on fakes of its
// ports). Its VIP controller writes the assignments, and the VIP prefix's watch (agent-gateway.ts)
// hands every replica each write in revision order. The leader used to also take its own writes
// at once: when a VIP moved twice in quick succession, the watch's late echo of the first move
// put the earlier address back after the later one, and agents were sent the flip.
import assert from 'node:assert/strict';
import type { ExportState } from '../../../controlplane/api/messages.ts';
import type { IPPoolResource } from '../../../controlplane/api/resources.ts';
import type { ResourceChange } from '../../../controlplane/hub/registry-view.ts';
import { ServiceController } from '../../../controlplane/hub/service-controller.ts';
import type { VipChange } from '../../../controlplane/hub/vip-changes.ts';
import type { VipAssignment, VipRegistry } from '../../../controlplane/ipam/vips.ts';
import { waitFor } from '../../harness/wait.ts';
import { bus, cluster, exportIndex, noop, silent, viewListing, type ExportListener, type RegistryListener } from './service-controller-fakes.ts';

const WEB = 'apps/web';
const web: ExportState = {
  namespace: 'apps',
  name: 'web',
  exportedAt: '2026-12-01T00:00:00.000Z',
  type: 'ClusterSetIP',
  ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  sessionAffinity: 'None',
  endpoints: [{ addresses: ['10.0.0.1'], ready: true, serving: true, terminating: false }],
};

const pool = (cidr: string): IPPoolResource => ({
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'IPPool',
  metadata: { name: 'vips' },
  spec: { use: 'ClusterSetIPs', cidrs: [cidr] },
});

/** A VIP registry that hands out the first address of the first pool and logs each write, as etcd would order them. */
function loggedVips(): VipRegistry & { readonly writes: VipChange[] } {
  const current = new Map<string, string>();
  const writes: VipChange[] = [];
  return {
    writes,
    ensure: (service, pools) => {
      const cidr = pools[0]?.spec.cidrs[0] ?? '';
      const ip = cidr.replace(/\.0\/\d+$/, '.1');
      const key = `${service.namespace}/${service.name}`;
      if (current.get(key) !== ip) {
        current.set(key, ip);
        writes.push({ ...service, vip: ip });
      }
      return Promise.resolve({ ...service, ip, pool: 'vips', allocatedAt: '2026-12-01T00:00:00.000Z' } satisfies VipAssignment);
    },
    release: () => Promise.resolve(undefined),
    list: () => Promise.resolve([]),
  };
}

describe('the model follows VIP assignments in etcd order (ServiceController, on fakes of its ports)', () => {
  it('never puts back an earlier VIP after a later one when a VIP moves twice before the watch catches up', async () => {
    let registryChanged: RegistryListener | undefined;
    let exportChanged: ExportListener | undefined;
    let pools = [pool('10.96.0.0/24')];
    const view = viewListing(
      () => [cluster('a'), cluster('b')],
      (l) => {
        registryChanged = l;
      },
      () => pools,
    );
    const exports = exportIndex((l) => {
      exportChanged = l;
    });
    const vips = loggedVips();
    const services = new ServiceController({ bus, vips, view, exports, logger: silent, count: noop, flushIntervalMs: 1 });
    const term = new AbortController();
    /** Every VIP the model showed for the service, in order, without repeats. */
    const seen: (string | undefined)[] = [];
    const look = (): void => {
      const ip = services.list().find((s) => `${s.namespace}/${s.name}` === WEB)?.ips[0];
      if (seen.at(-1) !== ip) seen.push(ip);
    };
    const sampler = setInterval(look, 1);
    const moveTo = (cidr: string, revision: number): void => {
      const before = pools[0];
      pools = [pool(cidr)];
      const change: ResourceChange = { ref: 'IPPool/vips', kind: 'IPPool', before, after: pools[0] };
      registryChanged?.([change], revision);
    };
    let leading: Promise<void> | undefined;
    try {
      await services.start(1);
      leading = services.lead(term.signal);
      exportChanged?.([{ cluster: 'a', service: WEB, state: web }], 2);
      await waitFor('the first assignment', () => vips.writes.length === 1);
      // The pool moves twice, and each time the VIP controller writes the service's new address,
      // before the watch has delivered any of the three writes.
      moveTo('10.97.0.0/24', 3);
      await waitFor('the second assignment', () => vips.writes.length === 2);
      moveTo('10.98.0.0/24', 4);
      await waitFor('the third assignment', () => vips.writes.length === 3);
      await new Promise((resolve) => setTimeout(resolve, 20));
      look();
      // Now the watch delivers them, in etcd's order.
      for (const [i, w] of vips.writes.entries()) {
        services.vipsChanged([w], 10 + i);
        await new Promise((resolve) => setTimeout(resolve, 10));
        look();
      }
      await waitFor('the last VIP in the model', () => services.list().find((s) => `${s.namespace}/${s.name}` === WEB)?.ips[0] === '10.98.0.1');
      assert.deepEqual(
        seen.filter((ip) => ip !== undefined),
        ['10.96.0.1', '10.97.0.1', '10.98.0.1'],
        'each address once, in the order they were assigned',
      );
    } finally {
      clearInterval(sampler);
      term.abort();
      await leading;
      services.stop();
    }
  });
});
