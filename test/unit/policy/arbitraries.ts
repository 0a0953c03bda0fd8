// fast-check generators of small worlds and policy sets, shared by the property tests: three
// clusters (some gpu, some taking remote peers as pod CIDRs), two namespaces with team labels, a
// few workloads and one global service; peers, ports and actions drawn from small sets so that
// rules overlap often. `policiesWithEgress` also names external CIDRs as destinations.
import fc from 'fast-check';
import type { LabelSelector } from '../../../controlplane/api/labels.ts';
import type { Peer, Policy, PortRange, World } from '../../../controlplane/policy/model.ts';

export const PORTS = [1, 21, 22, 23, 24, 79, 80, 81, 82, 181, 7999, 8000, 8001, 8002, 8100, 8101, 65_535];
export const EXTERNALS = ['203.0.113.9', '198.51.100.7', '198.51.100.200', '2001:db8::1'];

export const labelSet = fc.record({ app: fc.constantFrom('web', 'db', undefined), tier: fc.constantFrom('x', undefined) }).map((r) => {
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

const policy = (i: number, to: fc.Arbitrary<Peer> = workloadPeer): fc.Arbitrary<Policy> =>
  fc
    .record({
      tier: fc.constantFrom('platform', 'tenant', 'baseline'),
      priority: fc.constantFrom(1, 2, 3),
      action: fc.constantFrom('Allow', 'Deny', 'Pass'),
      from: fc.array(fc.oneof({ weight: 4, arbitrary: workloadPeer }, { weight: 1, arbitrary: cidrPeer }), { minLength: 1, maxLength: 2 }),
      to: fc.array(to, { minLength: 1, maxLength: 2 }),
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

export const world: fc.Arbitrary<World> = fc
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

export const policies = fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policy(i))));

/** Policies whose `to` may also name external CIDRs (egress), for the formats that compile egress. */
export const policiesWithEgress = fc
  .integer({ min: 1, max: 5 })
  .chain((n) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => policy(i, fc.oneof({ weight: 3, arbitrary: workloadPeer }, { weight: 1, arbitrary: cidrPeer })))),
  );
