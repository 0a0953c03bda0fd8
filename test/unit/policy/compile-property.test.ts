// Property: on random worlds and policy sets, the compiled NetworkPolicies, read by the test's own
// NetworkPolicy evaluator, agree with the reference evaluator on every flow whenever compilation
// succeeds; and compilation refuses only when it could not agree (a cluster that takes remote peers
// as pod CIDRs while pods of one remote cluster are decided differently).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { evaluate, prepare } from '../../../controlplane/policy/evaluate.ts';
import { PROTOCOLS, type Policy, type World } from '../../../controlplane/policy/model.ts';
import { disagreements } from './agreement.ts';
import { EXTERNALS, PORTS, policies, world } from './arbitraries.ts';

/** Why a refusal is justified: two pods of one remote cluster decided differently towards one local pod. */
function podCidrConflict(ps: readonly Policy[], w: World, cluster: string): boolean {
  const prepared = prepare(ps, w);
  for (const dst of w.workloads.filter((x) => x.cluster === cluster)) {
    const to = { kind: 'workload' as const, cluster, namespace: dst.namespace, labels: dst.labels };
    for (const other of w.clusters.filter((c) => c.name !== cluster)) {
      const pods = w.workloads.filter((x) => x.cluster === other.name);
      for (const protocol of PROTOCOLS) {
        for (const port of PORTS) {
          const verdicts = new Set(
            pods.map(
              (p) =>
                evaluate(prepared, w, { from: { kind: 'workload', cluster: p.cluster, namespace: p.namespace, labels: p.labels }, to, protocol, port }).verdict,
            ),
          );
          if (verdicts.size > 1) return true;
        }
      }
    }
  }
  return false;
}

describe('policy: compiled NetworkPolicy agrees with the reference evaluator (fast-check)', function () {
  this.timeout(120_000);
  it('agrees whenever it compiles, and refuses exactly when pod CIDRs cannot tell remote pods apart', () => {
    let compiled = 0;
    let refused = 0;
    let withObjects = 0;
    fc.assert(
      fc.property(world, policies, (w, ps) => {
        for (const c of w.clusters) {
          const r = compileForCluster(ps, w, c.name, 'NetworkPolicy');
          const errors = r.problems.filter((p) => p.severity === 'error');
          if (errors.length === 0) {
            compiled++;
            if (r.objects.length > 0) withObjects++;
            assert.deepEqual(disagreements(ps, w, c.name, r.objects, PORTS, EXTERNALS), []);
            if (c.remotePeers === 'podCIDRs') assert.equal(podCidrConflict(ps, w, c.name), false);
          } else {
            refused++;
            assert.deepEqual(r.objects, []);
            assert.equal(c.remotePeers, 'podCIDRs', errors.map((e) => e.message).join('; '));
            assert.equal(podCidrConflict(ps, w, c.name), true, errors.map((e) => e.message).join('; '));
          }
        }
      }),
      { numRuns: 1000, seed: 10 },
    );
    // The generators must exercise both outcomes, or the property says little.
    assert.ok(compiled > 100, `compiled ${compiled}`);
    assert.ok(refused > 0, `refused ${refused}`);
    assert.ok(withObjects > 50, `with objects ${withObjects}`);
  });
});
