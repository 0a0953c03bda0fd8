// The Calico compiler (projectcalico.org/v3 Tiers and GlobalNetworkPolicies): a truth table of
// flows × policies where the reference evaluator and the test's own evaluator of the compiled
// objects (calico-evaluator.ts) both give the row's verdict, every other flow of the world
// agreeing too; the objects' shapes (tiers, orders, selectors, nets, ports); deterministic names;
// and the refusals, each naming the rule and why.
import assert from 'node:assert/strict';
import { compileForCluster, type CompiledObject } from '../../../controlplane/policy/compile/index.ts';
import { evaluate } from '../../../controlplane/policy/evaluate.ts';
import type { Policy, Workload, World } from '../../../controlplane/policy/model.ts';
import type { PolicyApiObject, Source } from './anp-evaluator.ts';
import { calicoEgress, calicoIngress, calicoReader as calico } from './calico-evaluator.ts';
import { EXTERNALS, ONPREM, PORTS, cniPolicies, cniWorld, endpointOf, llm, podOf, policy, table, trainerAws, webApps } from './cni-fixture.ts';
import { formatDisagreements } from './format-agreement.ts';
import { journey3Policies } from './journey3.ts';

const FORMAT = 'CalicoGlobalNetworkPolicy';

/** What the compiled objects of on-prem decide for a flow (ingress at a local pod after the source's egress when it is local; egress to an address). */
function compiled(objects: readonly CompiledObject[], from: Workload | string, to: Workload | string, protocol: string, port: number): string {
  const objs = objects as unknown as PolicyApiObject[];
  if (typeof to === 'string') return calicoEgress(objs, podOf(from as Workload), { kind: 'address', ip: to }, protocol, port);
  const src: Source =
    typeof from === 'string'
      ? { kind: 'address', ip: from }
      : from.cluster === ONPREM
        ? { kind: 'pod', pod: podOf(from) }
        : { kind: 'address', ip: from.ips[0] ?? '' };
  const egress = src.kind === 'pod' ? calicoEgress(objs, src.pod, { kind: 'pod', pod: podOf(to) }, protocol, port) : 'allowed';
  return egress === 'allowed' ? calicoIngress(objs, podOf(to), src, protocol, port) : egress;
}

const gnps = (objects: readonly CompiledObject[], key: string): Record<string, unknown>[] =>
  objects
    .filter((o) => o.kind === 'GlobalNetworkPolicy' && o.metadata.annotations['causeway.dev/policies'] === key)
    .map((o) => o.spec as Record<string, unknown>);

describe('policy: Calico GlobalNetworkPolicy compiler', () => {
  it('the truth table — reference and compiled objects give each row its verdict, and agree on every other flow of every cluster', () => {
    const r = compileForCluster(cniPolicies, cniWorld, ONPREM, FORMAT);
    assert.deepEqual(r.problems, []);
    for (const [from, to, protocol, port, verdict, why] of table) {
      const flow = {
        from: typeof from === 'string' ? ({ kind: 'external', ip: from } as const) : endpointOf(from),
        to: typeof to === 'string' ? ({ kind: 'external', ip: to } as const) : endpointOf(to),
        protocol,
        port,
      };
      const name = `${JSON.stringify(flow.from)} → ${JSON.stringify(flow.to)} ${protocol}/${port} (${why})`;
      assert.equal(evaluate(cniPolicies, cniWorld, flow).verdict, verdict, `reference: ${name}`);
      assert.equal(compiled(r.objects, from, to, protocol, port), verdict, `compiled: ${name}`);
    }
    for (const c of cniWorld.clusters) {
      const other = compileForCluster(cniPolicies, cniWorld, c.name, FORMAT);
      assert.deepEqual(other.problems, [], c.name);
      assert.deepEqual(formatDisagreements(calico, cniPolicies, cniWorld, c.name, other.objects, PORTS, EXTERNALS), [], c.name);
    }
  });

  it('writes one Tier per GlobalPolicy tier (defaultAction Pass) and each rule at its priority, in Calico selector syntax', () => {
    const r = compileForCluster(cniPolicies, cniWorld, ONPREM, FORMAT);
    const tiers = r.objects.filter((o) => o.kind === 'Tier').map((o) => [o.metadata.name, o.spec]);
    assert.deepEqual(tiers, [
      ['causeway-baseline', { order: 300, defaultAction: 'Pass' }],
      ['causeway-platform', { order: 100, defaultAction: 'Pass' }],
      ['causeway-tenant', { order: 200, defaultAction: 'Pass' }],
    ]);
    assert.deepEqual(gnps(r.objects, 'platform/batch-never-calls-the-model'), [
      {
        tier: 'causeway-platform',
        order: 10,
        namespaceSelector: "kubernetes.io/metadata.name in {'inference'}",
        selector: 'all()',
        types: ['Ingress'],
        ingress: [
          {
            action: 'Deny',
            protocol: 'TCP',
            source: { namespaceSelector: "kubernetes.io/metadata.name in {'apps'}", selector: "app == 'batch'" },
            destination: { ports: [8000] },
          },
        ],
      },
    ]);
    // Journey 3's platform Allow: the trainers of both gpu clusters by address; the service as its selector.
    const [allow] = gnps(r.objects, 'inference/training-to-inference');
    assert.equal(allow?.selector, "app == 'llm-serving'");
    assert.deepEqual(allow.ingress, [
      { action: 'Allow', protocol: 'TCP', source: { nets: ['10.16.1.10/32', '10.24.1.10/32'] }, destination: { ports: [8000] } },
    ]);
    // The baseline Deny names whole clusters: their pod CIDRs.
    const [deny] = gnps(r.objects, 'inference/deny-training-to-onprem');
    assert.deepEqual(deny?.ingress, [{ action: 'Deny', source: { nets: ['10.16.0.0/16', '10.24.0.0/16'] } }]);
    // Egress to external CIDRs: the CIDRs minus every in-cluster address.
    const [outside] = gnps(r.objects, 'platform/apps-nothing-else-outside');
    assert.deepEqual(outside, {
      tier: 'causeway-platform',
      order: 6,
      namespaceSelector: "kubernetes.io/metadata.name in {'apps'}",
      selector: 'all()',
      types: ['Egress'],
      egress: [{ action: 'Deny', destination: { nets: ['0.0.0.0/0'], notNets: ['10.16.0.0/16', '10.24.0.0/16', '10.32.0.0/16'] } }],
    });
    // The tenant default deny: after every rule of its tier.
    const dd = gnps(r.objects, 'inference/web-calls-the-model').find((s) => s.order === 1001);
    assert.deepEqual(dd?.ingress, [{ action: 'Deny' }]);
    assert.equal(dd.tier, 'causeway-tenant');
    for (const o of r.objects.filter((x) => x.kind === 'GlobalNetworkPolicy')) assert.match(o.metadata.name, /^causeway-(platform|tenant|baseline)\.causeway-/);
  });

  it('two policies at one priority that can match one flow are ordered as the evaluator orders them', () => {
    const tie: Policy[] = [
      policy('platform', 'b-deny', 'platform', 7, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] }),
      policy('platform', 'a-allow', 'platform', 7, { action: 'Allow', from: [{ namespaces: ['apps'] }], to: [{ namespaces: ['inference'] }] }),
    ];
    const r = compileForCluster(tie, cniWorld, ONPREM, FORMAT);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.objects
        .filter((o) => o.kind === 'GlobalNetworkPolicy')
        .map((o) => [o.metadata.annotations['causeway.dev/policies'], (o.spec as { order: number }).order])
        .sort(),
      [
        ['platform/a-allow', 7],
        ['platform/b-deny', 7.001],
      ],
    );
    assert.equal(compiled(r.objects, webApps, llm, 'TCP', 8000), 'allowed');
    assert.deepEqual(formatDisagreements(calico, tie, cniWorld, ONPREM, r.objects, PORTS, EXTERNALS), []);
  });

  it('output is byte-identical whatever the input order, and names are unique', () => {
    const a = compileForCluster(cniPolicies, cniWorld, ONPREM, FORMAT);
    const shuffled: World = {
      ...cniWorld,
      workloads: [...cniWorld.workloads].reverse(),
      clusters: [...cniWorld.clusters].reverse(),
      namespaces: [...cniWorld.namespaces].reverse(),
    };
    const b = compileForCluster([...cniPolicies].reverse(), shuffled, ONPREM, FORMAT);
    assert.equal(JSON.stringify(b), JSON.stringify(a));
    assert.equal(new Set(a.objects.map((o) => `${o.kind}/${o.metadata.name}`)).size, a.objects.length);
    for (const o of a.objects) assert.equal(o.metadata.namespace, undefined);
  });

  it('compiles what the network-policy-api formats refuse: a tenant Deny towards external CIDRs', () => {
    const ps = [policy('ml-training', 'no-internet', 'tenant', 1, { action: 'Deny', from: [{ namespaces: ['ml-training'] }], to: [{ cidrs: ['0.0.0.0/0'] }] })];
    assert.match(compileForCluster(ps, cniWorld, 'aws-train', 'ClusterNetworkPolicy').problems[0]?.message ?? '', /in the tenant tier/);
    const r = compileForCluster(ps, cniWorld, 'aws-train', FORMAT);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(formatDisagreements(calico, ps, cniWorld, 'aws-train', r.objects, PORTS, EXTERNALS), []);
  });

  it('refuses a cluster taking remote peers as pod CIDRs when a rule selects pods of a remote cluster by more than the cluster, naming the rule', () => {
    const byCidr: World = { ...cniWorld, clusters: cniWorld.clusters.map((c) => (c.name === ONPREM ? { ...c, remotePeers: 'podCIDRs' as const } : c)) };
    const r = compileForCluster(journey3Policies, byCidr, ONPREM, FORMAT);
    assert.deepEqual(r.objects, []);
    assert.equal(r.problems[0]?.code, 'Inexpressible');
    assert.deepEqual(r.problems[0].policies, ['inference/training-to-inference']);
    assert.equal(r.problems[0].rule, 0);
    assert.match(
      r.problems[0].message,
      /onprem-inference takes remote peers as pod CIDRs, but inference\/training-to-inference rule 0 selects pods of aws-train by namespace, labels or service/,
    );
    // Whole clusters are pod CIDRs there: the baseline Deny alone compiles.
    const baseline = journey3Policies.filter((p) => p.tier === 'baseline');
    const ok = compileForCluster(baseline, byCidr, ONPREM, FORMAT);
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(formatDisagreements(calico, baseline, byCidr, ONPREM, ok.objects, PORTS, EXTERNALS), []);
  });

  it('refuses an address shared by a pod a rule selects and one it does not, naming the rule', () => {
    const shared: World = { ...cniWorld, workloads: [...cniWorld.workloads, { ...trainerAws, namespace: 'default', labels: { app: 'other' } }] };
    const r = compileForCluster(journey3Policies, shared, ONPREM, FORMAT);
    assert.deepEqual(r.objects, []);
    assert.match(
      r.problems[0]?.message ?? '',
      /address 10\.16\.1\.10 belongs to pods inference\/training-to-inference rule 0 selects .* and does not .*: Calico nets cannot tell them apart/,
    );
  });
});
