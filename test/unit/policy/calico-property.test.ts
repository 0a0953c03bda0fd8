// Property: on random worlds and policy sets (egress to external CIDRs included), the compiled
// Calico Tiers and GlobalNetworkPolicies, read by the test's own evaluator of Calico
// (calico-evaluator.ts), agree with the reference evaluator on every flow whenever compilation
// succeeds; and it refuses only for the reasons docs/policy.md names.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { EXTERNALS, PORTS, policiesWithEgress, world } from './arbitraries.ts';
import { calicoReader as calico } from './calico-evaluator.ts';
import { formatDisagreements } from './format-agreement.ts';

const REASONS = [/takes remote peers as pod CIDRs, but .* selects pods of .* by namespace, labels or service/];

describe('policy: compiled Calico GlobalNetworkPolicy agrees with the reference evaluator (fast-check)', function () {
  this.timeout(180_000);
  it('agrees whenever it compiles, and refuses only for the documented reasons', () => {
    let compiled = 0;
    let refused = 0;
    let withObjects = 0;
    fc.assert(
      fc.property(world, policiesWithEgress, (w, ps) => {
        for (const c of w.clusters) {
          const r = compileForCluster(ps, w, c.name, 'CalicoGlobalNetworkPolicy');
          const errors = r.problems.filter((p) => p.severity === 'error');
          if (errors.length > 0) {
            refused++;
            assert.deepEqual(r.objects, []);
            for (const e of errors)
              assert.ok(
                REASONS.some((re) => re.test(e.message)),
                e.message,
              );
            continue;
          }
          compiled++;
          if (r.objects.length > 0) withObjects++;
          assert.deepEqual(formatDisagreements(calico, ps, w, c.name, r.objects, PORTS, EXTERNALS), []);
        }
      }),
      { numRuns: 600, seed: 12 },
    );
    assert.ok(compiled > 1000, `compiled ${compiled}`);
    assert.ok(withObjects > 900, `with objects ${withObjects}`);
    assert.ok(refused > 10, `refused ${refused}`);
  });
});
