// The standby's warm pass (ServiceController warm): it walks the consumers again only once a change
// moved the model (a Cluster's status refresh does not), and, an optimisation, one that fails is logged and tried again, never
// reaching the hub as an unhandled rejection (which would end the process).
// The controller runs on plain fakes of its ports: a registry view, an export index, a VIP store.
import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import type { ExportChange } from '../../../controlplane/hub/exports.ts';
import { ServiceController } from '../../../controlplane/hub/service-controller.ts';
import { waitFor } from '../../harness/wait.ts';
import { bus, cluster, exportIndex, noop, silent, viewListing, vips, type RegistryListener } from './service-controller-fakes.ts';

describe('the standby warm pass (ServiceController, on fakes of its ports)', () => {
  it('walks the consumers again only after a change moved the model, not after a status refresh', async () => {
    let listings = 0;
    let registryChanged: RegistryListener | undefined;
    const view = viewListing(
      () => {
        listings += 1;
        return [cluster('a'), cluster('b')];
      },
      (l) => {
        registryChanged = l;
      },
    );
    let exportChanged: ((changes: readonly ExportChange[], revision: number) => void) | undefined;
    const exports = exportIndex((l) => {
      exportChanged = l;
    });
    const services = new ServiceController({ bus, vips, view, exports, logger: silent, count: noop, flushIntervalMs: 1, warmIntervalMs: 5 });
    try {
      await services.start(1);
      await waitFor('a first pass', () => services.warmPasses() >= 1);
      const walked = listings;
      const passes = services.warmPasses();
      await waitFor('five more passes', () => services.warmPasses() >= passes + 5);
      assert.equal(listings, walked, 'no walk over the consumers while nothing changed');
      // Liveness refreshing a's heartbeat time: the model applies it and nothing in it moves.
      const refreshed = { ...cluster('a'), status: { lastHeartbeatTime: '2026-12-01T00:00:10.000Z' } };
      registryChanged?.([{ ref: 'Cluster/a', kind: 'Cluster', before: cluster('a'), after: refreshed }], 2);
      const afterRefresh = services.warmPasses();
      await waitFor('five passes after the status refresh', () => services.warmPasses() >= afterRefresh + 5);
      assert.equal(listings, walked, 'no walk over the consumers after a status-only Cluster write');
      exportChanged?.([{ cluster: 'a', service: 'apps/web', state: undefined }], 3);
      await waitFor('a walk after the change was applied', () => listings > walked);
    } finally {
      services.stop();
    }
  });

  it('logs a pass that throws, counts no pass, and leaves the hub running', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg), debug: noop, info: noop, error: noop } as unknown as Logger;
    let listings = 0;
    // The model is built from the first listing; the warm pass's own listing fails.
    const view = viewListing(() => {
      listings += 1;
      if (listings > 1) throw new Error('registry view gone');
      return [cluster('a'), cluster('b')];
    });
    const exports = exportIndex();
    const rejections: unknown[] = [];
    const onRejection = (err: unknown): void => {
      rejections.push(err);
    };
    process.on('unhandledRejection', onRejection);
    const services = new ServiceController({ bus, vips, view, exports, logger, count: noop, flushIntervalMs: 1 });
    try {
      await services.start(1);
      await waitFor('the failed pass logged', () => warnings.includes('warming the snapshot memos failed'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections, []);
      assert.equal(services.warmPasses(), 0);
    } finally {
      services.stop();
      process.off('unhandledRejection', onRejection);
    }
  });
});
