// The VIP controller's loop, on the VipStore port over the in-memory store fake: a ClusterSetIP
// service gets its VIP, a service gone releases it into quarantine, a full pool is not retried
// until the pools change, and a new term looks at every service. The VIPs the controller knows
// come back through a watch of the VIP prefix, as the hub's model takes them (agent-gateway.ts).
import assert from 'node:assert/strict';
import type { IPPoolResource } from '../../../controlplane/api/resources.ts';
import { VIPS_PREFIX } from '../../../controlplane/api/keys.ts';
import { VipController } from '../../../controlplane/hub/controllers/vip-controller.ts';
import { vipChanges } from '../../../controlplane/hub/vip-changes.ts';
import { WatchedPrefix } from '../../../controlplane/hub/watched.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { VipStore } from '../../../controlplane/registry/vip-store.ts';
import { waitFor } from '../../harness/wait.ts';

function pool(cidrs: string[]): IPPoolResource {
  return { apiVersion: 'causeway.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'vips' }, spec: { use: 'ClusterSetIPs', cidrs } };
}

describe('VipController loop (VipStore on the in-memory store fake)', () => {
  let vips: VipStore;
  let services: Map<string, 'ClusterSetIP' | 'Headless'>;
  let model: Map<string, string>;
  let pools: IPPoolResource[];
  let controller: VipController;
  let term: AbortController;
  let leading: Promise<void>;
  let watching: Promise<void>;
  let warnings: { service: unknown; retryInMs: unknown }[];

  beforeEach(async () => {
    const store = new MemoryStore();
    vips = new VipStore(store);
    services = new Map([['inference/a', 'ClusterSetIP']]);
    model = new Map();
    term = new AbortController();
    const watch = new WatchedPrefix(store, VIPS_PREFIX);
    watch.onChange((changes) => {
      for (const c of vipChanges(changes)) {
        const key = `${c.namespace}/${c.name}`;
        if (c.vip === undefined) model.delete(key);
        else model.set(key, c.vip);
      }
    });
    watching = watch.run(term.signal);
    await watch.ready();
    warnings = [];
    pools = [pool(['10.96.0.0/30'])];
    controller = new VipController({
      vips,
      pools: () => pools,
      service: (key) => ({ wanted: services.get(key) === 'ClusterSetIP', known: model.get(key) }),
      keys: () => new Set([...services.keys(), ...model.keys()]),
      warn: (fields) => {
        warnings.push({ service: fields.service, retryInMs: fields.retryInMs });
      },
    });
    leading = controller.lead(term.signal);
  });
  afterEach(async () => {
    term.abort();
    await Promise.all([leading, watching]);
  });

  it('allocates on a new term (resync), releases when the service goes, and leaves Headless services alone', async () => {
    await waitFor('a VIP for a', () => model.get('inference/a') === '10.96.0.1');
    services.set('inference/h', 'Headless');
    controller.changed('inference/h');
    services.delete('inference/a');
    controller.changed('inference/a');
    await waitFor('a released', () => !model.has('inference/a'));
    assert.deepEqual(await vips.list(), []);
    assert.deepEqual(await vips.listClaims(), [{ ip: '10.96.0.1', service: 'inference/a', releasedAt: (await vips.listClaims())[0]?.releasedAt }]);
    assert.equal(model.has('inference/h'), false);
  });

  it('does not retry a full pool, and allocates once the pools grow', async () => {
    await waitFor('a VIP for a', () => model.has('inference/a'));
    for (const n of ['b', 'c']) {
      services.set(`inference/${n}`, 'ClusterSetIP');
      controller.changed(`inference/${n}`);
    }
    await waitFor('b allocated', () => model.has('inference/b'));
    // The /30 has two usable addresses: c cannot have one, and is not retried in a loop.
    await waitFor('c refused', () => warnings.some((w) => w.service === 'inference/c'));
    assert.deepEqual(warnings, [{ service: 'inference/c', retryInMs: undefined }]);
    assert.equal(controller.failing(), 0);
    assert.equal(model.has('inference/c'), false);
    pools = [pool(['10.96.0.0/30', '10.97.0.0/30'])];
    controller.changedAll();
    await waitFor('c allocated from the new CIDR', () => model.get('inference/c') === '10.97.0.1');
  });
});
