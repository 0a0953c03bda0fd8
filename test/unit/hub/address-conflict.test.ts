// The AddressConflict condition: the pure planner (table-driven) and the controller against the
// registry on the in-memory store fake. An overlap only a later observation creates (a Network's
// status.observedPrefixes, written by the NetworkController from the adapter's result) is set on
// both objects and cleared once the observation no longer overlaps.
import assert from 'node:assert/strict';
import type { Condition } from '../../../controlplane/api/conditions.ts';
import type { Resource } from '../../../controlplane/api/resources.ts';
import { AddressConflictController } from '../../../controlplane/hub/controllers/address-conflict-controller.ts';
import { addressCondition, conflictsByObject } from '../../../controlplane/hub/controllers/address-conflict-plan.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { Registry } from '../../../controlplane/registry/registry.ts';
import { cluster, declared, network } from '../../fixtures/resources.ts';
import { waitFor } from '../../harness/wait.ts';

const admin = { name: 'alice', role: 'admin' };
const T = new Date('2026-11-23T00:00:00Z');

describe('AddressConflict planner', () => {
  const conflict: Condition = { type: 'AddressConflict', status: 'True', reason: 'AddressOverlap', message: 'x', lastTransitionTime: T.toISOString() };
  const cases: { name: string; current: Condition[]; overlaps: string[]; expect: string | undefined }[] = [
    { name: 'no overlap, never had one: nothing to write', current: [], overlaps: [], expect: undefined },
    { name: 'an overlap: True', current: [], overlaps: ['A overlaps B'], expect: 'True/AddressOverlap' },
    { name: 'the overlap went: False', current: [conflict], overlaps: [], expect: 'False/NoOverlap' },
    {
      name: 'already False and still none: nothing to write',
      current: [{ ...conflict, status: 'False', reason: 'NoOverlap' }],
      overlaps: [],
      expect: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const next = addressCondition(c.current, c.overlaps, T);
      assert.equal(next === undefined ? undefined : `${next.status}/${next.reason}`, c.expect);
    });
  }

  it('lists three overlaps and counts the rest', () => {
    const next = addressCondition([], ['a', 'b', 'c', 'd', 'e'], T);
    assert.match(next?.message ?? '', /^a; b; c; and 2 more; move the cluster/);
  });

  it('names both sides for both objects', () => {
    const [vpc, other, a] = declared(network('vpc'), network('other'), cluster('a', '10.1.0.0/16', '10.2.0.0/20', { network: 'vpc' })).map((d) => d.resource);
    const set = [vpc, { ...other, status: { observedPrefixes: ['10.1.0.0/20'] } }, a] as Resource[];
    const by = conflictsByObject(set);
    assert.deepEqual([...by.keys()].sort(), ['Cluster/a', 'Network/other']);
    assert.deepEqual(by.get('Cluster/a'), [
      'Cluster "a" podCIDRs[0] 10.1.0.0/16 overlaps Network "other" observed prefix status.observedPrefixes[0] 10.1.0.0/20',
    ]);
    assert.deepEqual(by.get('Network/other'), by.get('Cluster/a'));
  });
});

describe('AddressConflictController (registry on the in-memory store fake)', () => {
  it('sets the condition on both objects when an observation creates an overlap, and clears it when it goes', async () => {
    const registry = new Registry(new MemoryStore());
    await registry.apply(declared(network('vpc'), network('other'), cluster('a', '10.1.0.0/16', '10.2.0.0/20', { network: 'vpc' })), admin);
    let snapshot: Resource[] = (await registry.list()).items;
    const controller = new AddressConflictController({ resources: () => snapshot, registry, warn: () => undefined, now: () => T });
    const ac = new AbortController();
    const running = controller.lead(ac.signal);
    const condition = async (kind: 'Cluster' | 'Network', name: string): Promise<Condition | undefined> =>
      (await registry.get({ kind, name })).status?.conditions?.find((c) => c.type === 'AddressConflict');
    const observe = async (prefixes: string[]): Promise<void> => {
      await registry.updateStatus({ kind: 'Network', name: 'other' }, (n) => ({ ...n.status, observedPrefixes: prefixes }));
      snapshot = (await registry.list()).items;
      controller.changed(['Network']);
    };
    try {
      await observe(['10.1.128.0/17']);
      for (const [kind, name] of [
        ['Cluster', 'a'],
        ['Network', 'other'],
      ] as const) {
        const c = await waitFor(`AddressConflict on ${kind}/${name}`, async () => {
          const c = await condition(kind, name);
          return c?.status === 'True' ? c : undefined;
        });
        assert.match(
          c.message,
          /Cluster "a" podCIDRs\[0\] 10\.1\.0\.0\/16 overlaps Network "other" observed prefix status\.observedPrefixes\[0\] 10\.1\.128\.0\/17/,
        );
      }
      assert.equal(await condition('Network', 'vpc'), undefined);
      await observe(['172.31.0.0/16']);
      for (const [kind, name] of [
        ['Cluster', 'a'],
        ['Network', 'other'],
      ] as const) {
        await waitFor(`AddressConflict cleared on ${kind}/${name}`, async () => (await condition(kind, name))?.status === 'False');
      }
    } finally {
      ac.abort();
      await running;
    }
  });
});
