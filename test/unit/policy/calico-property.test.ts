// Property: on random worlds and policy sets (egress to external CIDRs included), the compiled
// Calico Tiers and GlobalNetworkPolicies, read by the test's own evaluator of Calico
// (calico-evaluator.ts), agree with the reference evaluator on every flow whenever compilation
// succeeds; and it refuses only for the reasons docs/policy.md names (format-property.ts).
import assert from 'node:assert/strict';
import { calicoReader } from './calico-evaluator.ts';
import { checkFormatProperty } from './format-property.ts';

const REASONS = [/takes remote peers as pod CIDRs, but .* selects pods of .* by namespace, labels or service/];

describe('policy: compiled Calico GlobalNetworkPolicy agrees with the reference evaluator (fast-check)', function () {
  this.timeout(180_000);
  it('agrees whenever it compiles, and refuses only for the documented reasons', () => {
    const { compiled, withObjects, refused } = checkFormatProperty('CalicoGlobalNetworkPolicy', calicoReader, REASONS);
    assert.ok(compiled > 1000, `compiled ${compiled}`);
    assert.ok(withObjects > 900, `with objects ${withObjects}`);
    assert.ok(refused > 10, `refused ${refused}`);
  });
});
