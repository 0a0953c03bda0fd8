// The hub's coalescing of registry and export changes (issue 11 §1: "the first change after an idle
// period is sent at once; batching grows only under load"): the pure delay it schedules, and what
// opens a window in the ServiceController.
import assert from 'node:assert/strict';
import type { ExportState } from '../../../controlplane/api/messages.ts';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { ServiceController, flushDelay } from '../../../controlplane/hub/service-controller.ts';
import { waitFor } from '../../harness/wait.ts';
import { bus, cluster, exportIndex, noop, silent, viewListing, vips, type ExportListener, type RegistryListener } from './service-controller-fakes.ts';

describe('coalescing of changes before they are applied and delivered', () => {
  const WINDOW = 20;

  it('sends the first change at once: never flushed before, or quiet for a window or more', () => {
    assert.equal(flushDelay(1000, Number.NEGATIVE_INFINITY, WINDOW), 0);
    assert.equal(flushDelay(1000, 980, WINDOW), 0);
    assert.equal(flushDelay(1000, 500, WINDOW), 0);
  });

  it('under load, waits for the rest of the window that began with the last flush', () => {
    assert.equal(flushDelay(1001, 1000, WINDOW), 19);
    assert.equal(flushDelay(1015, 1000, WINDOW), 5);
    assert.equal(flushDelay(1000, 1000, WINDOW), 20);
  });

  it('never waits longer than one window, whatever the clock says', () => {
    assert.equal(flushDelay(1000, 5000, WINDOW), 20);
  });

  it('a steady stream of changes is applied once per window, not once per change', () => {
    // Changes every millisecond for 100 ms; each schedules a flush only when none is pending.
    let lastFlush = Number.NEGATIVE_INFINITY;
    let pendingAt: number | undefined;
    const flushes: number[] = [];
    for (let t = 0; t <= 100; t++) {
      pendingAt ??= t + flushDelay(t, lastFlush, WINDOW);
      if (t >= pendingAt) {
        flushes.push(t);
        lastFlush = t;
        pendingAt = undefined;
      }
    }
    assert.deepEqual(flushes, [0, 20, 40, 60, 80, 100]);
  });
});

describe('the coalescing window in the ServiceController (on fakes of its ports)', () => {
  const WEB = 'apps/web';
  const web = (ip: string): ExportState => ({
    namespace: 'apps',
    name: 'web',
    exportedAt: '2026-12-01T00:00:00.000Z',
    type: 'ClusterSetIP',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: [{ addresses: [ip], ready: true, serving: true, terminating: false }],
  });
  const endpointsOfWeb = (services: ServiceController): number | undefined => services.list().find((s) => `${s.namespace}/${s.name}` === WEB)?.endpoints;
  const turns = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('opens only after a flush that changed what a cluster is sent: a status-only Cluster write holds nothing back', async () => {
    let registryChanged: RegistryListener | undefined;
    let exportChanged: ExportListener | undefined;
    const a = cluster('a');
    const b = cluster('b');
    const view = viewListing(
      () => [a, b],
      (l) => {
        registryChanged = l;
      },
    );
    const exports = exportIndex((l) => {
      exportChanged = l;
    });
    // A window far longer than the test: whatever waits for it is not applied within the test.
    const services = new ServiceController({ bus, vips, view, exports, logger: silent, count: noop, flushIntervalMs: 60_000 });
    try {
      await services.start(1);
      // Liveness refreshing a's heartbeat time: the Cluster changed, nothing any cluster is sent did.
      const refreshed: ClusterResource = { ...a, status: { lastHeartbeatTime: '2026-12-01T00:00:10.000Z' } };
      registryChanged?.([{ ref: 'Cluster/a', kind: 'Cluster', before: a, after: refreshed }], 2);
      await turns(20);
      exportChanged?.([{ cluster: 'a', service: WEB, state: web('10.0.0.1') }], 3);
      await waitFor('the export applied at once after the status-only write', () => endpointsOfWeb(services) === 1, 2000);
      // That flush changed what b imports: the window is open now, and the next change waits in it.
      exportChanged?.(
        [{ cluster: 'a', service: WEB, state: { ...web('10.0.0.1'), endpoints: [...web('10.0.0.1').endpoints, ...web('10.0.0.2').endpoints] } }],
        4,
      );
      await turns(100);
      assert.equal(endpointsOfWeb(services), 1, 'a change right after one that reached a consumer waits for the window');
    } finally {
      services.stop();
    }
  });
});
