// Property: on random worlds and policy sets, the compiled NetworkPolicies, read by the test's own
// NetworkPolicy evaluator, agree with the reference evaluator on every flow whenever compilation
// succeeds; and compilation refuses only when it could not agree (a cluster that takes remote peers
// as pod CIDRs while pods of one remote cluster are decided differently).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LabelSelector } from '../../../controlplane/api/labels.ts';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { evaluate, prepare } from '../../../controlplane/policy/evaluate.ts';
import { PROTOCOLS, type Peer, type Policy, type PortRange, type World } from '../../../controlplane/policy/model.ts';
import { disagreements } from './agreement.ts';

const PORTS = [1, 21, 22, 23, 24, 79, 80, 81, 82, 181, 7999, 8000, 8001, 8002, 8100, 8101, 65_535];
const EXTERNALS = ['203.0.113.9', '198.51.100.7', '198.51.100.200', '2001:db8::1'];

const labelSet = fc.record({ app: fc.constantFrom('web', 'db', undefined), tier: fc.constantFrom('x', undefined) }).map((r) => {
  const out: Record<string, string> = {};
  if (r.app !== undefined) out['app'] = r.app;
  if (r.tier !== undefined) out['tier'] = r.tier;
  return out;
});

const selector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: fc.constantFrom({ app: 'web' }, { app: 'db' }, { tier: 'x' }, { gpu: 'true' }, { team: 'y' }) }),
  fc.record({
    matchExpressions: fc
      .tuple(fc.constantFrom('app', 'tier', 'gpu', 'team'), fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist'))
      .map(([key, operator]) => [
        operator === 'In' || operator === 'NotIn' ? { key, operator, values: key === 'app' ? ['web'] : ['x', 'true', 'y'] } : { key, operator },
      ]),
  }),
);

const workloadPeer: fc.Arbitrary<Peer> = fc
  .record(
    {
      clusters: selector,
      namespaces: fc.constantFrom(['a'], ['b'], ['a', 'b']),
      namespaceSelector: selector,
      pods: selector,
      service: fc.constant({ namespace: 'a', name: 's' }),
    },
    { requiredKeys: [] },
  )
  .map((p) => (p.service !== undefined ? { ...p, pods: undefined } : p))
  .filter((p) => Object.values(p).some((v) => v !== undefined));
const cidrPeer: fc.Arbitrary<Peer> = fc.record({ cidrs: fc.constantFrom(['198.51.100.0/24'], ['198.51.100.0/25'], ['0.0.0.0/0'], ['2001:db8::/32']) });

const ports: fc.Arbitrary<PortRange[] | undefined> = fc.option(
  fc.array(
    fc
      .record({ protocol: fc.constantFrom('TCP', 'UDP', undefined), port: fc.constantFrom(22, 80, 8000), span: fc.constantFrom(0, 1, 100) })
      .map((p): PortRange => ({
        ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
        port: p.port,
        ...(p.span === 0 ? {} : { endPort: p.port + p.span }),
      })),
    { minLength: 1, maxLength: 2 },
  ),
  { nil: undefined },
);

const policy = (i: number): fc.Arbitrary<Policy> =>
  fc
    .record({
      tier: fc.constantFrom('platform', 'tenant', 'baseline'),
      priority: fc.constantFrom(1, 2, 3),
      action: fc.constantFrom('Allow', 'Deny', 'Pass'),
      from: fc.array(fc.oneof({ weight: 4, arbitrary: workloadPeer }, { weight: 1, arbitrary: cidrPeer }), { minLength: 1, maxLength: 2 }),
      to: fc.array(workloadPeer, { minLength: 1, maxLength: 2 }),
      ports,
      defaultDeny: fc.option(fc.constantFrom(['a'], ['b']), { freq: 4, nil: undefined }),
    })
    .map((r) => ({
      namespace: 'a',
      name: `p${i}`,
      tier: r.tier,
      priority: r.priority,
      rules: [{ action: r.action, from: r.from, to: r.to, ...(r.ports === undefined ? {} : { ports: r.ports }) }],
      ...(r.defaultDeny === undefined ? {} : { defaultDeny: { namespaces: r.defaultDeny } }),
    }));

const world: fc.Arbitrary<World> = fc
  .record({
    gpu: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    byCidr: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    nsTeams: fc.array(fc.constantFrom('x', 'y'), { minLength: 6, maxLength: 6 }),
    workloads: fc.array(fc.record({ cluster: fc.nat(2), ns: fc.constantFrom('a', 'b'), labels: labelSet }), { minLength: 1, maxLength: 7 }),
    exporters: fc.subarray(['c0', 'c1', 'c2']),
  })
  .map((r) => ({
    clusters: [0, 1, 2].map((i) => ({
      name: `c${i}`,
      labels: r.gpu[i] === true ? { gpu: 'true' } : {},
      podCIDRs: [`10.${i}.0.0/16`],
      ...(r.byCidr[i] === true ? { remotePeers: 'podCIDRs' as const } : {}),
    })),
    namespaces: [0, 1, 2].flatMap((i) => ['a', 'b'].map((n, j) => ({ cluster: `c${i}`, name: n, labels: { team: r.nsTeams[i * 2 + j] ?? 'x' } }))),
    workloads: r.workloads.map((w, i) => ({ cluster: `c${w.cluster}`, namespace: w.ns, labels: w.labels, ips: [`10.${w.cluster}.0.${i + 1}`] })),
    services: [{ namespace: 'a', name: 's', selector: { matchLabels: { app: 'db' } }, exporters: r.exporters }],
  }));

const policies = fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policy(i))));

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
