// Incremental recompilation: an endpoint change names only the (cluster, policy) pairs whose
// compiled output it can alter, the core touches only clusters whose output it alters
// (compile/incremental.ts), and every other cluster's output is indeed unchanged.
import assert from 'node:assert/strict';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { compileAll, recompileAfterEndpointChange } from '../../../controlplane/policy/compile/incremental.ts';
import { affectedBy, dependencies } from '../../../controlplane/policy/dependencies.ts';
import type { Workload, World } from '../../../controlplane/policy/model.ts';
import { journey3Policies, journey3World, trainerAws, webAws } from './journey3.ts';

/** The clusters the core compiles or patches after the change. */
function touched(world: World, before: Workload | undefined, after: Workload | undefined): string[] {
  const r = recompileAfterEndpointChange(compileAll(journey3Policies, world), withChange(world, before, after), { before, after });
  return [...r.recompiled, ...r.patched].sort();
}

function withChange(world: World, before: Workload | undefined, after: Workload | undefined): World {
  const rest = world.workloads.filter((w) => w !== before);
  return { ...world, workloads: after === undefined ? rest : [...rest, after] };
}

describe('policy: dependencies', () => {
  const index = dependencies(journey3Policies, journey3World);
  const cases: [string, Workload | undefined, Workload | undefined, string[]][] = [
    ['a trainer moves to a new address', trainerAws, { ...trainerAws, ips: ['10.16.7.7'] }, ['onprem-inference']],
    ['a web pod in a training cluster goes away', webAws, undefined, ['onprem-inference']],
    [
      // Its own pods are written as selectors, and it joins a class that is there.
      'a new llm-serving pod appears on-prem',
      undefined,
      { cluster: 'onprem-inference', namespace: 'inference', labels: { app: 'llm-serving' }, ips: ['10.32.1.99'] },
      [],
    ],
  ];
  for (const [name, before, after, expected] of cases) {
    it(`${name}: touches ${expected.join(', ') || 'nothing'}, and nothing else changes`, () => {
      assert.deepEqual(touched(journey3World, before, after), expected);
      const next = withChange(journey3World, before, after);
      for (const c of journey3World.clusters.filter((x) => !expected.includes(x.name))) {
        assert.equal(
          JSON.stringify(compileForCluster(journey3Policies, next, c.name)),
          JSON.stringify(compileForCluster(journey3Policies, journey3World, c.name)),
          c.name,
        );
      }
    });
  }
  it('names the policies that select the endpoint', () => {
    assert.deepEqual(affectedBy(index, { before: trainerAws, after: { ...trainerAws, ips: ['10.16.7.7'] } }), [
      { cluster: 'onprem-inference', policy: 'inference/deny-training-to-onprem' },
      { cluster: 'onprem-inference', policy: 'inference/training-to-inference' },
    ]);
    assert.deepEqual(affectedBy(index, { after: { ...webAws, cluster: 'nowhere' } }), []);
  });
  it('a pod no rule selects in an untargeted cluster recompiles nothing', () => {
    const world: World = { ...journey3World, clusters: [...journey3World.clusters, { name: 'dev', labels: {}, podCIDRs: ['10.40.0.0/16'] }] };
    const pod: Workload = { cluster: 'dev', namespace: 'x', labels: {}, ips: ['10.40.0.5'] };
    assert.deepEqual(touched(world, undefined, pod), []);
    assert.equal(
      JSON.stringify(compileForCluster(journey3Policies, withChange(world, undefined, pod), 'onprem-inference')),
      JSON.stringify(compileForCluster(journey3Policies, world, 'onprem-inference')),
    );
  });
});
