// Waiting in the coordinator: poll a condition until a deadline, and the conditions a step waits
// for before it measures: the agents converged (every endpoint imported), the hub assigned every
// service its clusterset VIP, and the agents settled (no more writes).
import { setTimeout as sleep } from 'node:timers/promises';
import { VIPS_PREFIX } from '../controlplane/api/keys.ts';
import type { EtcdStore } from '../controlplane/registry/etcd-store.ts';
import { nowMs, type WorkerStatus } from './ipc.ts';
import { statusOf, type WorkerHandle } from './pool.ts';

/** Polls `check` every `everyMs` until it holds (resolves with the time it took) or throws after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 250): Promise<number> {
  const start = nowMs();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return nowMs() - start;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(everyMs);
  }
}

export function sum(statuses: readonly WorkerStatus[], f: (s: WorkerStatus) => number): number {
  return statuses.reduce((n, s) => n + f(s), 0);
}

/** Waits until every agent holds every endpoint it should import; resolves with the time it took. */
export async function converge(workers: readonly WorkerHandle[], timeoutMs: number): Promise<number> {
  return until(
    'agents converged',
    timeoutMs,
    async () => {
      const s = await statusOf(workers);
      return sum(s, (x) => x.converged) === sum(s, (x) => x.agents);
    },
    500,
  );
}

/** Waits until the agents stop writing (VIPs assigned, statuses written): the quiet before a measurement. */
export async function settle(workers: readonly WorkerHandle[], timeoutMs: number): Promise<void> {
  let last = -1;
  let quiet = 0;
  await until(
    'agents settled',
    timeoutMs,
    async () => {
      const s = await statusOf(workers);
      const writes = sum(s, (x) => (x.metrics.objectsApplied ?? 0) + (x.metrics.statusesApplied ?? 0) + (x.metrics.objectsDeleted ?? 0));
      quiet = writes === last ? quiet + 1 : 0;
      last = writes;
      return quiet >= 3;
    },
    1000,
  ).catch(() => undefined);
}

/**
 * Waits until etcd holds a clusterset VIP assignment for each of `services` (every bench service is
 * ClusterSetIP); resolves with the time it took. Agents converge on endpoints before the hub has
 * allocated every VIP (at 10,000 services that takes tens of seconds), and each assignment is a
 * change delivered to the service's audience: a load measured meanwhile measures the allocation.
 */
export async function vipsAssigned(store: EtcdStore, services: number, timeoutMs: number): Promise<number> {
  return until('clusterset VIPs assigned', timeoutMs, async () => (await store.range(VIPS_PREFIX)).kvs.length >= services, 500);
}
