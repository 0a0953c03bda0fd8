// Incremental recompilation after one endpoint change, as a property: on random worlds, policy
// sets and changes (a workload moves, is relabelled, goes away or appears), every cluster that
// `recompileAfterEndpointChange` leaves alone compiles, from scratch, to exactly what it had, and
// every cluster it recompiles gets what a fresh compile gives. So skipping is never a shortcut
// that misses an output change.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster, type PolicyFormat } from '../../../controlplane/policy/compile/index.ts';
import { compileAll, recompileAfterEndpointChange } from '../../../controlplane/policy/compile/incremental.ts';
import type { ClusterInfo, Workload, World } from '../../../controlplane/policy/model.ts';
import { labelSet, policies, policiesWithEgress, world } from './arbitraries.ts';
import { journey3Policies, journey3World, trainerAws } from './journey3.ts';

type Change = { kind: 'move' | 'relabel' | 'remove' | 'add'; pick: number; cluster: number; host: number; labels: Record<string, string>; ns: 'a' | 'b' };

const change: fc.Arbitrary<Change> = fc.record({
  kind: fc.constantFrom('move', 'relabel', 'remove', 'add'),
  pick: fc.nat(20),
  cluster: fc.nat(2),
  // Hosts 1..8 collide with existing addresses now and then; 300 lies outside every pod CIDR's low hosts but inside; -1 outside the pod CIDR.
  host: fc.constantFrom(1, 2, 3, 50, 51, -1),
  labels: labelSet,
  ns: fc.constantFrom('a', 'b'),
});

function apply(w: World, c: Change): { world: World; before?: Workload; after?: Workload } {
  const k = c.pick % w.workloads.length;
  const old = w.workloads[k] as Workload;
  const addr = (cluster: string): string => (c.host < 0 ? `192.168.77.${c.pick + 1}` : `10.${cluster.slice(1)}.0.${c.host}`);
  const replace = (next: Workload | undefined): World => ({
    ...w,
    workloads: next === undefined ? w.workloads.filter((_, j) => j !== k) : w.workloads.map((x, j) => (j === k ? next : x)),
  });
  switch (c.kind) {
    case 'move': {
      const after = { ...old, ips: [addr(old.cluster)] };
      return { world: replace(after), before: old, after };
    }
    case 'relabel': {
      const after = { ...old, labels: c.labels, namespace: c.ns };
      return { world: replace(after), before: old, after };
    }
    case 'remove':
      return { world: replace(undefined), before: old };
    case 'add': {
      const cluster = `c${c.cluster}`;
      const after = { cluster, namespace: c.ns, labels: c.labels, ips: [addr(cluster)] };
      return { world: { ...w, workloads: [...w.workloads, after] }, after };
    }
  }
}

describe('policy: incremental recompilation', function () {
  this.timeout(120_000);
  it('journey 3: a trainer moving patches on-prem only (compiling nothing), and on-prem gets the new address', () => {
    const state = compileAll(journey3Policies, journey3World);
    const after = { ...trainerAws, ips: ['10.16.7.7'] };
    const next: World = { ...journey3World, workloads: journey3World.workloads.map((w) => (w === trainerAws ? after : w)) };
    const r = recompileAfterEndpointChange(state, next, { before: trainerAws, after });
    assert.deepEqual(r.recompiled, []);
    assert.deepEqual(r.patched, ['onprem-inference']);
    assert.deepEqual(r.changed, ['onprem-inference']);
    assert.ok(JSON.stringify(r.compilation.results.get('onprem-inference')).includes('10.16.7.7/32'));
    assert.equal(JSON.stringify(r.compilation.results.get('onprem-inference')), JSON.stringify(compileForCluster(journey3Policies, next, 'onprem-inference')));
  });

  it('what it skips is unchanged and what it recompiles is a fresh compile (fast-check)', () => {
    let skipped = 0;
    let recompiled = 0;
    fc.assert(
      fc.property(world, policies, fc.array(change, { minLength: 1, maxLength: 3 }), (w0, ps, changes) => {
        let state = compileAll(ps, w0);
        let w = w0;
        for (const c of changes) {
          if (w.workloads.length === 0) break;
          const next = apply(w, c);
          const r = recompileAfterEndpointChange(state, next.world, { before: next.before, after: next.after });
          for (const cl of next.world.clusters) {
            const fresh = JSON.stringify(compileForCluster(ps, next.world, cl.name));
            const kept = JSON.stringify(r.compilation.results.get(cl.name));
            assert.equal(kept, fresh, `${cl.name} (${r.recompiled.includes(cl.name) ? 'recompiled' : 'skipped'}) after ${JSON.stringify(c)}`);
            if (r.recompiled.includes(cl.name) || r.patched.includes(cl.name)) recompiled++;
            else skipped++;
          }
          state = r.compilation;
          w = next.world;
        }
      }),
      { numRuns: 400, seed: 11 },
    );
    // Both paths must be exercised, or the property says little.
    assert.ok(skipped > 100, `skipped ${skipped}`);
    assert.ok(recompiled > 100, `recompiled ${recompiled}`);
  });

  it('the same with a different output format per cluster (ClusterNetworkPolicy, AdminNetworkPolicy, NetworkPolicy; fast-check)', () => {
    const formats = ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'NetworkPolicy'] as const;
    const formatOf = (c: ClusterInfo): PolicyFormat => formats[Number(c.name.slice(1)) % formats.length] ?? 'NetworkPolicy';
    let skipped = 0;
    fc.assert(
      fc.property(world, policiesWithEgress, fc.array(change, { minLength: 1, maxLength: 3 }), (w0, ps, changes) => {
        let state = compileAll(ps, w0, formatOf);
        let w = w0;
        for (const c of changes) {
          if (w.workloads.length === 0) break;
          const next = apply(w, c);
          const r = recompileAfterEndpointChange(state, next.world, { before: next.before, after: next.after });
          for (const cl of next.world.clusters) {
            const fresh = JSON.stringify(compileForCluster(ps, next.world, cl.name, formatOf(cl)));
            assert.equal(JSON.stringify(r.compilation.results.get(cl.name)), fresh, `${cl.name} (${formatOf(cl)}) after ${JSON.stringify(c)}`);
            if (!r.recompiled.includes(cl.name)) skipped++;
          }
          state = r.compilation;
          w = next.world;
        }
      }),
      { numRuns: 300, seed: 13 },
    );
    assert.ok(skipped > 50, `skipped ${skipped}`);
  });
});
