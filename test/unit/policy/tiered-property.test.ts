// Property: on random worlds and policy sets (egress to external CIDRs included), the compiled
// ClusterNetworkPolicy and AdminNetworkPolicy output, read by the test's own evaluator of those
// APIs and of NetworkPolicy, agrees with the reference evaluator on every flow whenever compilation
// succeeds; and it refuses only for the reasons docs/policy.md names.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { EXTERNALS, PORTS, policiesWithEgress, world } from './arbitraries.ts';
import { tieredDisagreements } from './tiered-agreement.ts';

const REASONS = [
  /to external CIDRs in the tenant tier/,
  /takes remote peers as pod CIDRs, but pods of .* are decided differently/,
  /the one BaselineAdminNetworkPolicy has one subject/,
];

for (const format of ['ClusterNetworkPolicy', 'AdminNetworkPolicy'] as const) {
  describe(`policy: compiled ${format} agrees with the reference evaluator (fast-check)`, function () {
    this.timeout(120_000);
    it('agrees whenever it compiles, and refuses only for the documented reasons', () => {
      let compiled = 0;
      let refused = 0;
      let tiered = 0;
      fc.assert(
        fc.property(world, policiesWithEgress, (w, ps) => {
          for (const c of w.clusters) {
            const r = compileForCluster(ps, w, c.name, format);
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
            if (r.objects.some((o) => o.kind !== 'NetworkPolicy')) tiered++;
            assert.deepEqual(tieredDisagreements(ps, w, c.name, r.objects, PORTS, EXTERNALS), []);
          }
        }),
        { numRuns: 600, seed: 12 },
      );
      // The generators must exercise both outcomes and the admin/baseline objects, or the property says little.
      assert.ok(compiled > 1000, `compiled ${compiled}`);
      assert.ok(tiered > 500, `with ${format} objects ${tiered}`);
      assert.ok(refused > 20, `refused ${refused}`);
    });
  });
}
