// The NetworkPolicy compiler: journey 3's objects, deterministic names, refusals that say why and
// which rule, and agreement with the reference evaluator under an independent NetworkPolicy
// evaluator (np-semantics.ts), whose own upstream cases come first.
import assert from 'node:assert/strict';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import type { Policy, World } from '../../../controlplane/policy/model.ts';
import { disagreements } from './agreement.ts';
import { journey3Policies, journey3World } from './journey3.ts';
import { npAllowsIngress, type NetworkPolicyObject, type NpSource } from './np-semantics.ts';

const pod = (namespace: string, labels: Record<string, string>, namespaceLabels: Record<string, string> = {}): NpSource => ({
  kind: 'pod',
  namespace,
  labels,
  namespaceLabels,
  ip: '10.0.0.9',
});
const np = (namespace: string, spec: NetworkPolicyObject['spec']): NetworkPolicyObject => ({ metadata: { name: 'x', namespace }, spec });

describe('policy: the test NetworkPolicy evaluator (upstream semantics)', () => {
  const target = { namespace: 'a', labels: { app: 'db' }, namedPorts: { pg: { port: 5432, protocol: 'TCP' } } };
  it('a pod no policy selects accepts everything; a policy that selects nothing changes nothing', () => {
    assert.equal(npAllowsIngress([], target, pod('b', {}), 'TCP', 1, false), true);
    assert.equal(npAllowsIngress([np('a', { podSelector: { matchLabels: { app: 'other' } }, ingress: [] })], target, pod('b', {}), 'TCP', 1, false), true);
    assert.equal(npAllowsIngress([np('b', { podSelector: {}, ingress: [] })], target, pod('b', {}), 'TCP', 1, false), true);
  });
  it('default deny: a selecting policy without rules denies everything', () => {
    assert.equal(npAllowsIngress([np('a', { podSelector: {}, policyTypes: ['Ingress'] })], target, pod('a', {}), 'TCP', 1, false), false);
    // An Egress-only policy does not isolate ingress.
    assert.equal(npAllowsIngress([np('a', { podSelector: {}, policyTypes: ['Egress'] })], target, pod('a', {}), 'TCP', 1, false), true);
  });
  it('namespace and pod selectors together (one peer) vs apart (two peers)', () => {
    const together = np('a', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { t: 'x' } }, podSelector: { matchLabels: { r: 'y' } } }] }],
    });
    const apart = np('a', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { t: 'x' } } }, { podSelector: { matchLabels: { r: 'y' } } }] }],
    });
    assert.equal(npAllowsIngress([together], target, pod('b', { r: 'y' }, { t: 'x' }), 'TCP', 1, false), true);
    assert.equal(npAllowsIngress([together], target, pod('b', {}, { t: 'x' }), 'TCP', 1, false), false);
    assert.equal(npAllowsIngress([apart], target, pod('b', {}, { t: 'x' }), 'TCP', 1, false), true);
    // podSelector alone means the policy's own namespace.
    assert.equal(npAllowsIngress([apart], target, pod('b', { r: 'y' }), 'TCP', 1, false), false);
    assert.equal(npAllowsIngress([apart], target, pod('a', { r: 'y' }), 'TCP', 1, false), true);
  });
  it('ipBlock with except', () => {
    const p = np('a', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }] }] });
    assert.equal(npAllowsIngress([p], target, { kind: 'address', ip: '192.0.2.1' }, 'TCP', 1, false), true);
    assert.equal(npAllowsIngress([p], target, { kind: 'address', ip: '192.0.2.200' }, 'TCP', 1, false), false);
  });
  it('named ports, port ranges, protocol defaulting to TCP', () => {
    const p = np('a', { podSelector: {}, ingress: [{ ports: [{ port: 'pg' }, { protocol: 'UDP', port: 1000, endPort: 1010 }] }] });
    assert.equal(npAllowsIngress([p], target, pod('a', {}), 'TCP', 5432, false), true);
    assert.equal(npAllowsIngress([p], target, pod('a', {}), 'TCP', 5433, false), false);
    assert.equal(npAllowsIngress([p], target, pod('a', {}), 'UDP', 1010, false), true);
    assert.equal(npAllowsIngress([p], target, pod('a', {}), 'TCP', 1005, false), false);
  });
});

const externals = ['203.0.113.9', '10.200.0.1', '2001:db8::1'];
const ports = [1, 21, 22, 23, 7999, 8000, 8001, 65_535];

describe('policy: NetworkPolicy compiler', () => {
  it('journey 3: on-prem gets exact policies, the training clusters need none, and both agree with the evaluator', () => {
    for (const c of journey3World.clusters) {
      const r = compileForCluster(journey3Policies, journey3World, c.name, 'NetworkPolicy');
      assert.deepEqual(r.problems, [], c.name);
      assert.deepEqual(disagreements(journey3Policies, journey3World, c.name, r.objects, ports, externals), [], c.name);
      if (c.name !== 'onprem-inference') assert.equal(r.objects.length, 0, c.name);
    }
    const onprem = compileForCluster(journey3Policies, journey3World, 'onprem-inference');
    // llm-serving pods, the other inference pods, and kube-system: every on-prem pod is protected.
    assert.deepEqual(
      onprem.objects.map((o) => `${o.metadata.namespace ?? ''}/${JSON.stringify((o.spec as { podSelector: unknown }).podSelector)}`),
      [
        'inference/{"matchLabels":{"app":"admin"}}',
        'inference/{"matchLabels":{"app":"llm-serving"}}',
        'kube-system/{"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]}',
      ],
    );
    const llmPolicy = onprem.objects.find((o) => JSON.stringify(o.spec).includes('llm-serving'));
    assert.ok(llmPolicy !== undefined);
    const ingress = (llmPolicy.spec as { ingress: { from: { ipBlock?: { cidr: string } }[]; ports?: unknown }[] }).ingress;
    const trainerRule = ingress.find((r) => r.ports !== undefined && JSON.stringify(r.ports) === JSON.stringify([{ protocol: 'TCP', port: 8000 }]));
    assert.ok(trainerRule !== undefined, JSON.stringify(ingress));
    assert.deepEqual(
      trainerRule.from.flatMap((p) => (p.ipBlock === undefined || !p.ipBlock.cidr.endsWith('/32') ? [] : [p.ipBlock.cidr])),
      ['10.16.1.10/32', '10.24.1.10/32'],
    );
    assert.equal(llmPolicy.metadata.annotations['causeway.dev/policies'], 'inference/deny-training-to-onprem,inference/training-to-inference');
  });

  it('pods the hub has not heard of fail closed: a training cluster that reported no pods yet is denied on-prem, never let through by omission', () => {
    const unreported: World = { ...journey3World, workloads: journey3World.workloads.filter((w) => w.cluster !== 'aws-train') };
    const r = compileForCluster(journey3Policies, unreported, 'onprem-inference');
    assert.deepEqual(r.problems, []);
    const llm = r.objects.find((o) => JSON.stringify(o.spec).includes('llm-serving'));
    assert.ok(llm !== undefined, 'llm-serving is still protected');
    // aws-train's whole pod CIDR is carved out of every block that admits the rest of the world.
    const ingress = (llm.spec as { ingress: { from: { ipBlock?: { cidr: string; except?: string[] } }[] }[] }).ingress;
    const wide = ingress.flatMap((rule) => rule.from).filter((p) => p.ipBlock?.cidr === '0.0.0.0/0');
    assert.ok(wide.length > 0 && wide.every((p) => p.ipBlock?.except?.includes('10.16.0.0/16') === true), JSON.stringify(ingress));
    assert.ok(!JSON.stringify(llm.spec).includes('"10.16.0.0/16"}'), 'no rule admits aws-train pods as such');
  });

  it('names are DNS-1123, at most 63 characters, and output is byte-identical whatever the input order', () => {
    const a = compileForCluster(journey3Policies, journey3World, 'onprem-inference');
    const shuffled: World = { ...journey3World, workloads: [...journey3World.workloads].reverse(), clusters: [...journey3World.clusters].reverse() };
    const b = compileForCluster([...journey3Policies].reverse(), shuffled, 'onprem-inference');
    assert.equal(JSON.stringify(a), JSON.stringify(b));
    for (const o of a.objects) assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });

  it('an endpoint address change changes only the blocks that carry it', () => {
    const moved: World = {
      ...journey3World,
      workloads: journey3World.workloads.map((w) => (w.cluster === 'aws-train' && w.labels['app'] === 'trainer' ? { ...w, ips: ['10.16.9.9'] } : w)),
    };
    const before = compileForCluster(journey3Policies, journey3World, 'onprem-inference');
    const after = compileForCluster(journey3Policies, moved, 'onprem-inference');
    assert.deepEqual(
      after.objects.map((o) => o.metadata.name),
      before.objects.map((o) => o.metadata.name),
    );
    assert.ok(JSON.stringify(after).includes('10.16.9.9/32'));
    assert.ok(!JSON.stringify(after).includes('10.16.1.10/32'));
    assert.deepEqual(disagreements(journey3Policies, moved, 'onprem-inference', after.objects, ports, externals), []);
  });

  it('refuses pod-CIDR remote peers when pods of one remote cluster are decided differently, naming the rules', () => {
    const world: World = {
      ...journey3World,
      clusters: journey3World.clusters.map((c) => (c.name === 'onprem-inference' ? { ...c, remotePeers: 'podCIDRs' as const } : c)),
    };
    const r = compileForCluster(journey3Policies, world, 'onprem-inference');
    assert.deepEqual(r.objects, []);
    const p = r.problems.find((x) => x.severity === 'error' && x.code === 'Inexpressible');
    assert.ok(p !== undefined);
    assert.match(p.message, /pod CIDRs/);
    assert.deepEqual(p.policies, ['inference/deny-training-to-onprem', 'inference/training-to-inference']);
  });

  it('pod-CIDR remote peers compile when a remote cluster is decided alike, and agree', () => {
    const denyAll: Policy[] = [
      {
        namespace: 'p',
        name: 'no-gpu',
        tier: 'platform',
        priority: 1,
        rules: [{ action: 'Deny', from: [{ clusters: { matchLabels: { gpu: 'true' } } }], to: [{ namespaces: ['inference'] }] }],
      },
    ];
    const world: World = {
      ...journey3World,
      clusters: journey3World.clusters.map((c) => (c.name === 'onprem-inference' ? { ...c, remotePeers: 'podCIDRs' as const } : c)),
    };
    const r = compileForCluster(denyAll, world, 'onprem-inference');
    assert.deepEqual(r.problems, []);
    assert.ok(r.objects.length > 0);
    assert.deepEqual(disagreements(denyAll, world, 'onprem-inference', r.objects, ports, externals), []);
  });

  it('refuses a Deny to external CIDRs: egress is not compiled into NetworkPolicy yet', () => {
    const ps: Policy[] = [
      {
        namespace: 'ml-training',
        name: 'no-internet',
        tier: 'tenant',
        priority: 1,
        rules: [{ action: 'Deny', from: [{ namespaces: ['ml-training'] }], to: [{ cidrs: ['0.0.0.0/0'] }] }],
      },
    ];
    const r = compileForCluster(ps, journey3World, 'aws-train');
    assert.deepEqual(r.objects, []);
    assert.match(r.problems[0]?.message ?? '', /ml-training\/no-internet rule 0 denies traffic from aws-train to external CIDRs/);
    // Clusters where the rule selects no source are unaffected.
    assert.deepEqual(
      compileForCluster(ps, { ...journey3World, workloads: journey3World.workloads.filter((w) => w.namespace !== 'ml-training') }, 'aws-train').problems,
      [],
    );
  });

  it('compiles journey 3 in every output format it names (Calico and Cilium: calico-compile.test.ts, cilium-compile.test.ts)', () => {
    const kinds = (format: Parameters<typeof compileForCluster>[3]): string[] => {
      const r = compileForCluster(journey3Policies, journey3World, 'onprem-inference', format);
      assert.deepEqual(r.problems, [], format);
      return [...new Set(r.objects.map((o) => `${o.apiVersion} ${o.kind}`))].sort();
    };
    assert.deepEqual(kinds('CalicoGlobalNetworkPolicy'), ['projectcalico.org/v3 GlobalNetworkPolicy', 'projectcalico.org/v3 Tier']);
    assert.deepEqual(kinds('CiliumClusterwideNetworkPolicy'), ['cilium.io/v2 CiliumClusterwideNetworkPolicy']);
  });

  it('external CIDRs with a nested carve-out and a default deny', () => {
    const ps: Policy[] = [
      {
        namespace: 'inference',
        name: 'ext',
        tier: 'platform',
        priority: 1,
        rules: [{ action: 'Allow', from: [{ cidrs: ['10.200.0.0/24'] }], to: [{ namespaces: ['inference'] }], ports: [{ port: 8000, endPort: 8001 }] }],
      },
      {
        namespace: 'inference',
        name: 'ext-deny',
        tier: 'platform',
        priority: 2,
        rules: [{ action: 'Deny', from: [{ cidrs: ['10.200.0.0/16'] }], to: [{ namespaces: ['inference'] }] }],
      },
      {
        namespace: 'inference',
        name: 'dd',
        tier: 'tenant',
        priority: 1,
        rules: [{ action: 'Allow', from: [{ namespaces: ['kube-system'] }], to: [{ namespaces: ['inference'] }] }],
        defaultDeny: { namespaces: ['inference'] },
      },
    ];
    const r = compileForCluster(ps, journey3World, 'onprem-inference');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(disagreements(ps, journey3World, 'onprem-inference', r.objects, ports, [...externals, '10.200.0.5', '10.200.1.5']), []);
  });
});
