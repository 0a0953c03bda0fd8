// The ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy/BaselineAdminNetworkPolicy (v1alpha1)
// compilers: a truth table of flows × policies where the reference evaluator and the test's own
// evaluator of the compiled objects (anp-evaluator.ts, with np-semantics.ts for the NetworkPolicy
// tier) both give the row's verdict, every other flow of the world agreeing too; the objects'
// shapes; deterministic names; and the refusals, each naming the rule and why.
import assert from 'node:assert/strict';
import { compileForCluster, type CompiledObject } from '../../../controlplane/policy/compile/index.ts';
import { evaluate } from '../../../controlplane/policy/evaluate.ts';
import type { Endpoint, Policy, Protocol, Workload, World } from '../../../controlplane/policy/model.ts';
import { tieredEgress, tieredIngress, type PolicyApiObject, type Pod, type Source } from './anp-evaluator.ts';
import { journey3Policies, journey3World } from './journey3.ts';
import { tieredDisagreements } from './tiered-agreement.ts';

const FORMATS = ['ClusterNetworkPolicy', 'AdminNetworkPolicy'] as const;
const ONPREM = 'onprem-inference';
const ports = [1, 22, 79, 80, 81, 442, 443, 444, 7999, 8000, 8001, 65_535];
const externals = ['203.0.113.9', '198.51.100.7', '2001:db8::1'];

const webApps: Workload = { cluster: ONPREM, namespace: 'apps', labels: { app: 'web' }, ips: ['10.32.2.10'] };
const batchApps: Workload = { cluster: ONPREM, namespace: 'apps', labels: { app: 'batch' }, ips: ['10.32.2.20'] };
const world: World = {
  ...journey3World,
  namespaces: [...journey3World.namespaces, { cluster: ONPREM, name: 'apps', labels: { team: 'apps' } }],
  workloads: [...journey3World.workloads, webApps, batchApps],
};

const p = (namespace: string, name: string, tier: Policy['tier'], priority: number, rule: Policy['rules'][number], extra: Partial<Policy> = {}): Policy => ({
  namespace,
  name,
  tier,
  priority,
  rules: [rule],
  ...extra,
});
const policies: Policy[] = [
  ...journey3Policies,
  p('platform', 'batch-never-calls-the-model', 'platform', 10, {
    action: 'Deny',
    from: [{ namespaces: ['apps'], pods: { matchLabels: { app: 'batch' } } }],
    to: [{ namespaces: ['inference'] }],
    ports: [{ port: 8000 }],
  }),
  p('platform', 'apps-to-inference-is-the-tenants', 'platform', 20, { action: 'Pass', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] }),
  p('platform', 'apps-may-call-the-partner', 'platform', 5, {
    action: 'Allow',
    from: [{ namespaces: ['apps'] }],
    to: [{ cidrs: ['203.0.113.0/24'] }],
    ports: [{ port: 443 }],
  }),
  p('platform', 'apps-nothing-else-outside', 'platform', 6, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ cidrs: ['0.0.0.0/0'] }] }),
  p(
    'inference',
    'web-calls-the-model',
    'tenant',
    100,
    {
      action: 'Allow',
      from: [{ namespaces: ['apps'], pods: { matchLabels: { app: 'web' } } }],
      to: [{ service: { namespace: 'inference', name: 'llm-serving' } }],
      ports: [{ port: 8000 }],
    },
    { defaultDeny: { namespaces: ['inference'] } },
  ),
  p('apps', 'inference-may-call-apps', 'tenant', 100, { action: 'Allow', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['apps'] }] }),
  p('platform', 'inference-never-calls-apps', 'baseline', 100, { action: 'Deny', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['apps'] }] }),
];

const pod = (w: Workload): Pod => ({
  namespace: w.namespace,
  namespaceLabels: { ...(world.namespaces.find((n) => n.cluster === w.cluster && n.name === w.namespace)?.labels ?? {}) },
  labels: { ...w.labels },
  ip: w.ips[0] ?? '',
});
const at = (cluster: string, namespace: string, app: string): Workload => {
  const w = world.workloads.find((x) => x.cluster === cluster && x.namespace === namespace && x.labels['app'] === app);
  assert.ok(w !== undefined, `${cluster}/${namespace}/${app}`);
  return w;
};
const endpoint = (w: Workload): Endpoint => ({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip: w.ips[0] });

/** What the compiled objects of on-prem decide for a flow (ingress at a local pod, with the source's egress when it is local; egress to an address). */
function compiled(objects: readonly CompiledObject[], from: Workload | string, to: Workload | string, protocol: Protocol, port: number): string {
  const objs = objects as unknown as PolicyApiObject[];
  if (typeof to === 'string') return tieredEgress(objs, pod(from as Workload), { kind: 'address', ip: to }, protocol, port);
  const src: Source =
    typeof from === 'string'
      ? { kind: 'address', ip: from }
      : from.cluster === ONPREM
        ? { kind: 'pod', pod: pod(from) }
        : { kind: 'address', ip: from.ips[0] ?? '' };
  const egress = src.kind === 'pod' ? tieredEgress(objs, src.pod, { kind: 'pod', pod: pod(to) }, protocol, port) : 'allowed';
  const ingress = tieredIngress(objs, pod(to), src, protocol, port, false);
  return egress === 'allowed' ? ingress : egress;
}

const trainerAws = at('aws-train', 'ml-training', 'trainer');
const trainerGcp = at('gcp-train', 'ml-training', 'trainer');
const webAws = at('aws-train', 'default', 'web');
const llm = at(ONPREM, 'inference', 'llm-serving');
const admin = at(ONPREM, 'inference', 'admin');
const dns = world.workloads.find((w) => w.namespace === 'kube-system') as Workload;

// [from, to, protocol, port, verdict, why]: written by hand from docs/policy.md, not computed.
const table: [Workload | string, Workload | string, Protocol, number, 'allowed' | 'denied', string][] = [
  [trainerAws, llm, 'TCP', 8000, 'allowed', 'journey 3: platform Allow of the trainers (a remote source: the NetworkPolicy tier)'],
  [trainerGcp, llm, 'TCP', 8000, 'allowed', 'journey 3, the other training cluster'],
  [trainerAws, llm, 'TCP', 22, 'denied', "inference's tenant default deny"],
  [webAws, llm, 'TCP', 8000, 'denied', 'not a trainer: the default deny'],
  [webApps, llm, 'TCP', 8000, 'allowed', 'platform Pass apps → inference, then the tenant Allow of web'],
  [batchApps, llm, 'TCP', 8000, 'denied', 'platform Deny of batch comes first (an admin-tier Deny)'],
  [webApps, llm, 'TCP', 22, 'denied', "passed to the tenant tier, where inference's default deny decides"],
  [dns, llm, 'TCP', 8000, 'denied', 'the default deny'],
  [admin, webApps, 'TCP', 80, 'allowed', "the tenant Allow of apps decides before the baseline's Deny (a NetworkPolicy must select apps)"],
  [llm, batchApps, 'UDP', 53, 'allowed', 'the same tenant Allow, every port'],
  [dns, webApps, 'TCP', 80, 'allowed', 'nothing matches'],
  [trainerGcp, webApps, 'TCP', 80, 'denied', 'journey 3 baseline: gpu clusters never reach role=inference clusters'],
  ['203.0.113.9', webApps, 'TCP', 80, 'allowed', 'an external source nothing selects'],
  [batchApps, webApps, 'TCP', 80, 'allowed', 'within apps: nothing matches'],
  [webApps, '203.0.113.9', 'TCP', 443, 'allowed', 'platform Allow to the partner CIDR, before the Deny to everything'],
  [webApps, '203.0.113.9', 'TCP', 80, 'denied', 'not port 443: the Deny to 0.0.0.0/0'],
  [webApps, '198.51.100.7', 'TCP', 443, 'denied', 'the Deny to 0.0.0.0/0'],
  [llm, '198.51.100.7', 'TCP', 443, 'allowed', 'inference pods are not constrained towards the outside'],
];

describe('policy: ClusterNetworkPolicy and AdminNetworkPolicy compilers', () => {
  for (const format of FORMATS) {
    it(`${format}: the truth table — reference and compiled objects give each row's verdict, and agree on every other flow`, () => {
      const r = compileForCluster(policies, world, ONPREM, format);
      assert.deepEqual(r.problems, []);
      for (const [from, to, protocol, port, verdict, why] of table) {
        const flow = {
          from: typeof from === 'string' ? ({ kind: 'external', ip: from } as const) : endpoint(from),
          to: typeof to === 'string' ? ({ kind: 'external', ip: to } as const) : endpoint(to),
          protocol,
          port,
        };
        const name = `${JSON.stringify(flow.from)} → ${JSON.stringify(flow.to)} ${protocol}/${port} (${why})`;
        assert.equal(evaluate(policies, world, flow).verdict, verdict, `reference: ${name}`);
        assert.equal(compiled(r.objects, from, to, protocol, port), verdict, `compiled: ${name}`);
      }
      assert.deepEqual(tieredDisagreements(policies, world, ONPREM, r.objects, ports, externals), []);
      for (const c of world.clusters) {
        const other = compileForCluster(policies, world, c.name, format);
        assert.deepEqual(other.problems, [], c.name);
        assert.deepEqual(tieredDisagreements(policies, world, c.name, other.objects, ports, externals), [], c.name);
      }
    });
  }

  it('ClusterNetworkPolicy: platform rules are Admin-tier objects at their priority, baseline rules Baseline ones, egress first passes pods on; tenant classes and remote sources are NetworkPolicies', () => {
    const r = compileForCluster(policies, world, ONPREM, 'ClusterNetworkPolicy');
    const cnps = r.objects.filter((o) => o.kind === 'ClusterNetworkPolicy');
    const byPolicy = (key: string) => cnps.filter((o) => o.metadata.annotations['causeway.dev/policies'] === key).map((o) => o.spec);
    assert.deepEqual(byPolicy('platform/batch-never-calls-the-model'), [
      {
        tier: 'Admin',
        priority: 10,
        subject: { namespaces: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['inference'] }] } },
        ingress: [
          {
            name: 'platform/batch-never-calls-the-model rule 0',
            action: 'Deny',
            from: [
              {
                pods: {
                  namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['apps'] }] },
                  podSelector: { matchLabels: { app: 'batch' } },
                },
              },
            ],
            protocols: [{ tcp: { destinationPort: { number: 8000 } } }],
          },
        ],
      },
    ]);
    const [egress] = byPolicy('platform/apps-nothing-else-outside') as { egress: { action: string; to: unknown[] }[] }[];
    assert.deepEqual(
      egress?.egress.map((e) => [e.action, e.to]),
      [
        ['Pass', [{ namespaces: {} }, { networks: ['10.16.0.0/16', '10.24.0.0/16', '10.32.0.0/16'] }]],
        ['Deny', [{ networks: ['0.0.0.0/0'] }]],
      ],
    );
    assert.deepEqual(
      (byPolicy('platform/inference-never-calls-apps') as { tier: string; priority: number }[]).map((s) => [s.tier, s.priority]),
      [['Baseline', 100]],
    );
    // Journey 3's rules have no source on-prem: no admin or baseline object, the NetworkPolicy tier carries them.
    assert.deepEqual(byPolicy('inference/training-to-inference'), []);
    const nps = r.objects
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => `${o.metadata.namespace ?? ''}/${JSON.stringify((o.spec as { podSelector: unknown }).podSelector)}`);
    assert.ok(nps.includes('inference/{"matchLabels":{"app":"llm-serving"}}'), nps.join(' '));
    assert.ok(
      nps.some((n) => n.startsWith('apps/')),
      'apps is selected by a NetworkPolicy (the tenant Allow), so the baseline Deny does not decide it',
    );
    // A training cluster gets the rules that name no cluster (for pods it may run later), none of journey 3's.
    const aws = compileForCluster(policies, world, 'aws-train', 'ClusterNetworkPolicy').objects.map((o) => o.metadata.annotations['causeway.dev/policies']);
    assert.deepEqual([...new Set(aws)].sort(), [
      'platform/apps-may-call-the-partner',
      'platform/apps-nothing-else-outside',
      'platform/apps-to-inference-is-the-tenants',
      'platform/batch-never-calls-the-model',
      'platform/inference-never-calls-apps',
    ]);
  });

  it('AdminNetworkPolicy: admin rules as AdminNetworkPolicies, the baseline as the one BaselineAdminNetworkPolicy "default" (Pass as Allow)', () => {
    const r = compileForCluster(policies, world, ONPREM, 'AdminNetworkPolicy');
    const kinds = [...new Set(r.objects.map((o) => `${o.apiVersion} ${o.kind}`))].sort();
    assert.deepEqual(kinds, [
      'networking.k8s.io/v1 NetworkPolicy',
      'policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy',
      'policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy',
    ]);
    const banp = r.objects.find((o) => o.kind === 'BaselineAdminNetworkPolicy');
    assert.ok(banp !== undefined);
    assert.equal(banp.metadata.name, 'default');
    assert.deepEqual(
      (banp.spec as { ingress: { action: string }[] }).ingress.map((x) => x.action),
      ['Deny'],
    );
    const anp = r.objects.find((o) => o.metadata.annotations['causeway.dev/policies'] === 'platform/apps-may-call-the-partner');
    assert.deepEqual((anp?.spec as { egress: { ports?: unknown }[] }).egress[1]?.ports, [{ portNumber: { protocol: 'TCP', port: 443 } }]);
  });

  it('a tenant Allow shadowing a baseline Deny at a class the evaluator allows everything: a NetworkPolicy still selects it', () => {
    const only = policies.filter((x) => x.name === 'inference-may-call-apps' || x.name === 'inference-never-calls-apps');
    for (const format of FORMATS) {
      const r = compileForCluster(only, world, ONPREM, format);
      const np = r.objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'apps');
      assert.deepEqual((np?.spec as { ingress: unknown[] } | undefined)?.ingress, [{}], format);
      assert.equal(compiled(r.objects, llm, webApps, 'TCP', 80), 'allowed', format);
      assert.deepEqual(tieredDisagreements(only, world, ONPREM, r.objects, ports, externals), [], format);
    }
  });

  it('two platform policies at one priority that can match one flow: each gets its rank, in the evaluator order', () => {
    const tie: Policy[] = [
      p('platform', 'b-deny', 'platform', 7, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] }),
      p('platform', 'a-allow', 'platform', 7, { action: 'Allow', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] }),
    ];
    for (const format of FORMATS) {
      const r = compileForCluster(tie, world, ONPREM, format);
      assert.deepEqual(r.problems, []);
      const priorities = r.objects.map((o) => [o.metadata.annotations['causeway.dev/policies'], (o.spec as { priority: number }).priority]);
      assert.deepEqual(priorities.sort(), [
        ['platform/a-allow', 0],
        ['platform/b-deny', 1],
      ]);
      assert.deepEqual(tieredDisagreements(tie, world, ONPREM, r.objects, ports, externals), [], format);
    }
  });

  it('a platform default deny comes after every platform rule; a Pass skips it', () => {
    const dd: Policy[] = [
      p(
        'platform',
        'lock-inference',
        'platform',
        50,
        { action: 'Pass', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] },
        { defaultDeny: { namespaces: ['inference'] } },
      ),
      p('platform', 'kube-system-in', 'platform', 60, {
        action: 'Allow',
        from: [{ namespaces: ['kube-system'] }],
        to: [{ namespaces: ['inference'] }],
        ports: [{ port: 8000 }],
      }),
    ];
    for (const format of FORMATS) {
      const r = compileForCluster(dd, world, ONPREM, format);
      assert.deepEqual(r.problems, []);
      const last = r.objects.find((o) => (o.spec as { ingress?: { name: string }[] }).ingress?.[0]?.name === 'platform/lock-inference default deny');
      assert.equal((last?.spec as { priority: number } | undefined)?.priority, 1000, format);
      assert.equal(compiled(r.objects, dns, llm, 'TCP', 8000), 'allowed');
      assert.equal(compiled(r.objects, dns, llm, 'TCP', 22), 'denied');
      assert.equal(compiled(r.objects, webApps, llm, 'TCP', 22), 'allowed', 'passed: the default deny is skipped');
      assert.equal(compiled(r.objects, trainerAws, llm, 'TCP', 22), 'denied', 'a remote source: the NetworkPolicy tier carries the default deny');
      assert.deepEqual(tieredDisagreements(dd, world, ONPREM, r.objects, ports, externals), [], format);
    }
  });

  it('names are DNS-1123, at most 63 characters, and output is byte-identical whatever the input order', () => {
    for (const format of FORMATS) {
      const a = compileForCluster(policies, world, ONPREM, format);
      const shuffled: World = {
        ...world,
        workloads: [...world.workloads].reverse(),
        clusters: [...world.clusters].reverse(),
        namespaces: [...world.namespaces].reverse(),
      };
      const b = compileForCluster([...policies].reverse(), shuffled, ONPREM, format);
      assert.equal(JSON.stringify(b), JSON.stringify(a));
      for (const o of a.objects) assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      assert.equal(new Set(a.objects.map((o) => `${o.kind}/${o.metadata.name}`)).size, a.objects.length);
      for (const o of a.objects) assert.equal(o.metadata.namespace === undefined, o.kind !== 'NetworkPolicy', `${o.kind} ${o.metadata.name}`);
    }
  });

  it('refuses a tenant Deny towards external CIDRs (no tenant egress tier, egress NetworkPolicy not compiled), naming the rule', () => {
    const ps = [p('ml-training', 'no-internet', 'tenant', 1, { action: 'Deny', from: [{ namespaces: ['ml-training'] }], to: [{ cidrs: ['0.0.0.0/0'] }] })];
    for (const format of FORMATS) {
      const r = compileForCluster(ps, world, 'aws-train', format);
      assert.deepEqual(r.objects, []);
      const [first] = r.problems;
      assert.ok(first !== undefined);
      assert.equal(first.code, 'Inexpressible');
      assert.deepEqual(first.policies, ['ml-training/no-internet']);
      assert.match(first.message, /ml-training\/no-internet rule 0 denies traffic from aws-train to external CIDRs in the tenant tier/);
      // As a platform policy it compiles, as an egress Deny.
      const platform = compileForCluster([{ ...ps[0], tier: 'platform' } as Policy], world, 'aws-train', format);
      assert.deepEqual(platform.problems, []);
      assert.deepEqual(tieredDisagreements([{ ...ps[0], tier: 'platform' } as Policy], world, 'aws-train', platform.objects, ports, externals), []);
    }
  });

  it('refuses a tenant Allow towards external CIDRs that a baseline Deny would follow', () => {
    const ps = [
      p('ml-training', 'to-the-dataset', 'tenant', 1, { action: 'Allow', from: [{ namespaces: ['ml-training'] }], to: [{ cidrs: ['198.51.100.0/24'] }] }),
      p('platform', 'nothing-outside', 'baseline', 1, {
        action: 'Deny',
        from: [{ clusters: { matchLabels: { gpu: 'true' } } }],
        to: [{ cidrs: ['0.0.0.0/0'] }],
      }),
    ];
    const r = compileForCluster(ps, world, 'aws-train', 'ClusterNetworkPolicy');
    assert.deepEqual(r.objects, []);
    const [first] = r.problems;
    assert.ok(first !== undefined);
    assert.deepEqual(first.policies, ['ml-training/to-the-dataset', 'platform/nothing-outside']);
    assert.match(first.message, /before platform\/nothing-outside rule 0 denies it in the baseline/);
  });

  it('AdminNetworkPolicy: baseline rules towards external CIDRs from different pods cannot share the one BaselineAdminNetworkPolicy', () => {
    const ps = [
      p('platform', 'web-out', 'baseline', 1, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ cidrs: ['198.51.100.0/24'] }] }),
      p('platform', 'dns-out', 'baseline', 2, { action: 'Deny', from: [{ namespaces: ['kube-system'] }], to: [{ cidrs: ['198.51.100.0/24'] }] }),
    ];
    const r = compileForCluster(ps, world, ONPREM, 'AdminNetworkPolicy');
    assert.deepEqual(r.objects, []);
    assert.match(r.problems[0]?.message ?? '', /the one BaselineAdminNetworkPolicy has one subject/);
    // ClusterNetworkPolicy has as many Baseline objects as it needs.
    const cnp = compileForCluster(ps, world, ONPREM, 'ClusterNetworkPolicy');
    assert.deepEqual(cnp.problems, []);
    assert.deepEqual(tieredDisagreements(ps, world, ONPREM, cnp.objects, ports, externals), []);
  });

  it('AdminNetworkPolicy: baseline ingress rules of different subjects are decided in the NetworkPolicy tier instead', () => {
    const ps = [
      p('platform', 'no-apps-from-inference', 'baseline', 1, { action: 'Deny', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['apps'] }] }),
      p('platform', 'no-dns-from-apps', 'baseline', 2, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['kube-system'] }] }),
    ];
    const r = compileForCluster(ps, world, ONPREM, 'AdminNetworkPolicy');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.objects.map((o) => o.kind),
      ['NetworkPolicy', 'NetworkPolicy'],
    );
    assert.deepEqual(tieredDisagreements(ps, world, ONPREM, r.objects, ports, externals), []);
  });

  it('refuses a tier whose policies cannot be ordered in 1001 priorities, and a rule too long for one object', () => {
    const many = Array.from({ length: 1002 }, (_, i) =>
      p('platform', `p${String(i).padStart(4, '0')}`, 'platform', 3, {
        action: i % 2 === 0 ? 'Allow' : 'Deny',
        from: [{ namespaces: ['apps'] }],
        to: [{ namespaces: ['inference'] }],
      }),
    );
    const r = compileForCluster(many, world, ONPREM, 'ClusterNetworkPolicy');
    assert.deepEqual(r.objects, []);
    assert.match(r.problems[0]?.message ?? '', /1002 policies at priorities that ClusterNetworkPolicy cannot order/);
    const wide = [
      p('platform', 'wide', 'platform', 1, {
        action: 'Deny',
        from: Array.from({ length: 700 }, (_, i) => ({ namespaces: [`ns-${i}`] })),
        to: [{ namespaces: ['inference'] }],
      }),
    ];
    const w = compileForCluster(wide, world, ONPREM, 'ClusterNetworkPolicy');
    assert.deepEqual(w.objects, []);
    assert.match(w.problems[0]?.message ?? '', /platform\/wide needs 28 ingress rules in one ClusterNetworkPolicy \(at most 25\)/);
    // 100 rules per AdminNetworkPolicy: the same rule fits.
    assert.deepEqual(compileForCluster(wide, world, ONPREM, 'AdminNetworkPolicy').problems, []);
  });

  it('inherits the NetworkPolicy tier’s refusals: pod CIDRs that cannot tell remote pods apart', () => {
    const byCidr: World = { ...world, clusters: world.clusters.map((c) => (c.name === ONPREM ? { ...c, remotePeers: 'podCIDRs' as const } : c)) };
    for (const format of FORMATS) {
      const r = compileForCluster(journey3Policies, byCidr, ONPREM, format);
      assert.deepEqual(r.objects, []);
      assert.match(r.problems[0]?.message ?? '', /takes remote peers as pod CIDRs/);
    }
  });
});
