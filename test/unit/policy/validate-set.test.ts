// Set-level problems: contradictions at one priority, selectors that match nothing, tenant scope.
import assert from 'node:assert/strict';
import { validateSet } from '../../../controlplane/policy/validate-set.ts';
import type { Policy } from '../../../controlplane/policy/model.ts';
import { journey3Policies, journey3World } from './journey3.ts';

const p = (name: string, tier: Policy['tier'], priority: number, rule: Policy['rules'][number], namespace = 'inference'): Policy => ({
  namespace,
  name,
  tier,
  priority,
  rules: [rule],
});

describe('policy: validateSet', () => {
  it('journey 3 is clean', () => {
    assert.deepEqual(validateSet(journey3Policies, journey3World), []);
  });
  it('contradictory rules at one priority in one tier: an error naming both', () => {
    const ps = [
      p('a', 'platform', 5, { action: 'Allow', from: [{ namespaces: ['ml-training'] }], to: [{ namespaces: ['inference'] }] }),
      p('b', 'platform', 5, { action: 'Deny', from: [{ clusters: { matchLabels: { gpu: 'true' } } }], to: [{ namespaces: ['inference'] }] }),
      // Same priority but provably disjoint (other namespaces): fine.
      p('c', 'platform', 5, { action: 'Deny', from: [{ namespaces: ['default'] }], to: [{ namespaces: ['kube-system'] }] }),
    ];
    const errors = validateSet(ps, journey3World).filter((x) => x.severity === 'error');
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]?.policies, ['inference/a', 'inference/b']);
    assert.match(errors.map((e) => e.message).join('\n'), /inference\/a rule 0 \(Allow\) and inference\/b rule 0 \(Deny\)/);
  });
  it('a selector that matches nothing is a warning', () => {
    const r = validateSet(
      [p('x', 'platform', 1, { action: 'Allow', from: [{ pods: { matchLabels: { app: 'nope' } } }], to: [{ namespaces: ['inference'] }] })],
      journey3World,
    );
    assert.deepEqual(
      r.map((x) => [x.severity, x.code, x.message]),
      [['warning', 'SelectsNothing', 'inference/x rule 0 from[0] selects no workload (yet)']],
    );
  });
  it('a tenant selecting outside its namespaces is refused; inside, or denying its own egress, is fine', () => {
    const team = { role: 'team' as const, namespaces: ['ml-training'] };
    const outside = p('open', 'tenant', 1, { action: 'Allow', from: [{ namespaces: ['ml-training'] }], to: [{ namespaces: ['inference'] }] }, 'ml-training');
    const inside = p('in', 'tenant', 1, { action: 'Allow', from: [{ clusters: {} }], to: [{ namespaces: ['ml-training'] }] }, 'ml-training');
    const egress = p('egress', 'tenant', 2, { action: 'Deny', from: [{ namespaces: ['ml-training'] }], to: [{ namespaces: ['inference'] }] }, 'ml-training');
    const platform = p(
      'plat',
      'platform',
      1,
      { action: 'Allow', from: [{ namespaces: ['ml-training'] }], to: [{ namespaces: ['ml-training'] }] },
      'ml-training',
    );
    const errors = validateSet([outside, inside, egress, platform], journey3World, team).filter((x) => x.severity === 'error');
    assert.deepEqual(
      errors.map((e) => e.policies?.[0]),
      ['ml-training/open', 'ml-training/plat'],
    );
    assert.deepEqual(validateSet([outside], journey3World, { role: 'admin', namespaces: [] }), []);
  });
  it('a tenant Allow that a platform Deny decides first is reported', () => {
    const deny = p('no', 'platform', 1, { action: 'Deny', from: [{ namespaces: ['default'] }], to: [{ namespaces: ['ml-training'] }] });
    const allow = p('yes', 'tenant', 1, { action: 'Allow', from: [{ clusters: {} }], to: [{ namespaces: ['ml-training'] }] }, 'ml-training');
    const r = validateSet([deny, allow], journey3World);
    assert.deepEqual(
      r.map((x) => x.code),
      ['ShadowedByPlatformDeny'],
    );
  });
});
