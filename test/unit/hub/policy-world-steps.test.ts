// The hub's endpoint changes as the core takes them (policy-world.ts endpointSteps): a rebuilt
// World's workloads diffed against those compiled last, one change at a time — a pod whose
// address alone changed is one move, others removals and additions — and the core's incremental
// recompile over those steps ends where a compile of the rebuilt World from scratch does.
import assert from 'node:assert/strict';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { compileAll, recompileAfterEndpointChange } from '../../../controlplane/policy/compile/incremental.ts';
import type { Workload, World } from '../../../controlplane/policy/model.ts';
import { endpointSteps } from '../../../controlplane/hub/policy-world.ts';
import { journey3Policies, journey3World } from '../policy/journey3.ts';

/** The world as buildWorld would give it again: new objects, the same content. */
function rebuilt(ws: readonly Workload[]): Workload[] {
  return ws.map((w) => ({ ...w, labels: { ...w.labels }, ips: [...w.ips] }));
}

describe('hub: endpoint steps of a rebuilt World', () => {
  const ws = journey3World.workloads;

  it('nothing changed: no step', () => {
    assert.deepEqual(endpointSteps(ws, rebuilt(ws)), []);
  });

  it('a pod with a new address is one move; the last step keeps the unchanged objects, in the new order', () => {
    const next = rebuilt(ws);
    const moved = { ...(next[0] as Workload), ips: ['10.16.9.9'] };
    next[0] = moved;
    next.reverse();
    const steps = endpointSteps(ws, next);
    assert.equal(steps.length, 1);
    assert.equal(steps[0]?.before, ws[0]);
    assert.equal(steps[0]?.after, moved);
    const last = (steps[0] as { workloads: readonly Workload[] }).workloads;
    assert.deepEqual(last, next);
    // Every workload but the moved one is the object compiled before (the compiler's caches hold).
    assert.ok(last.every((w) => w === moved || ws.includes(w)));
  });

  it('a relabelled pod is a removal and an addition; a new one an addition; a duplicate counts', () => {
    const next = rebuilt(ws);
    const relabelled = { ...(next[1] as Workload), labels: { app: 'other' } };
    next[1] = relabelled;
    const extra: Workload = { cluster: 'onprem-inference', namespace: 'inference', labels: { app: 'llm-serving' }, ips: ['10.32.1.99'] };
    const twin = { ...(ws[2] as Workload) };
    next.push(extra, twin);
    const steps = endpointSteps(ws, next);
    assert.deepEqual(
      steps.map((s) => [s.before === undefined ? '-' : 'before', s.after === undefined ? '-' : 'after']),
      [
        ['before', '-'],
        ['-', 'after'],
        ['-', 'after'],
        ['-', 'after'],
      ],
    );
    assert.equal(steps[0]?.before, ws[1]);
    assert.deepEqual(
      steps.slice(1).map((s) => s.after),
      [relabelled, extra, twin],
    );
    assert.equal(steps[steps.length - 1]?.workloads.length, next.length);
  });

  it('the core over the steps ends where a compile of the rebuilt World does', () => {
    let state = compileAll(journey3Policies, journey3World);
    const next = rebuilt(ws);
    next[0] = { ...(next[0] as Workload), ips: ['10.16.9.9'] };
    next[1] = { ...(next[1] as Workload), labels: { app: 'web', track: 'canary' } };
    next.splice(3, 1);
    next.push({ cluster: 'gcp-train', namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.24.9.9'] });
    for (const step of endpointSteps(ws, next)) {
      state = recompileAfterEndpointChange(state, { ...state.prepared.index.world, workloads: step.workloads }, step).compilation;
    }
    const world: World = { ...journey3World, workloads: next };
    for (const c of world.clusters) {
      assert.equal(JSON.stringify(state.results.get(c.name)), JSON.stringify(compileForCluster(journey3Policies, world, c.name)), c.name);
    }
  });
});
