// Property: on random worlds and policy sets (egress to external CIDRs included), the compiled
// CiliumClusterwideNetworkPolicies, read by the test's own evaluator of Cilium
// (cilium-evaluator.ts), agree with the reference evaluator on every flow whenever compilation
// succeeds; and it refuses only for the reasons docs/policy.md names (format-property.ts).
import assert from 'node:assert/strict';
import { ciliumReader } from './cilium-evaluator.ts';
import { checkFormatProperty } from './format-property.ts';

const REASONS = [/takes remote peers as pod CIDRs, but pods of .* are decided differently/, /belongs to pods decided differently/];

describe('policy: compiled CiliumClusterwideNetworkPolicy agrees with the reference evaluator (fast-check)', function () {
  this.timeout(180_000);
  it('agrees whenever it compiles, and refuses only for the documented reasons', () => {
    const egressDenials = (objects: readonly { readonly spec?: unknown }[]): boolean =>
      objects.some((o) => (o.spec as { egressDeny?: unknown } | undefined)?.egressDeny !== undefined);
    const { compiled, withObjects, refused, counted } = checkFormatProperty('CiliumClusterwideNetworkPolicy', ciliumReader, REASONS, egressDenials);
    assert.ok(compiled > 1000, `compiled ${compiled}`);
    assert.ok(withObjects > 800, `with objects ${withObjects}`);
    assert.ok(counted > 100, `with egress denials ${counted}`);
    // Only the NetworkPolicy tier's refusals remain (pod CIDRs, shared addresses): rare in these worlds, but not absent.
    assert.ok(refused > 0, `refused ${refused}`);
  });
});
