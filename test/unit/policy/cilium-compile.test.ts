// The Cilium compiler (cilium.io/v2 CiliumClusterwideNetworkPolicy): a truth table of flows ×
// policies where the reference evaluator and the test's own evaluator of the compiled objects
// (cilium-evaluator.ts) both give the row's verdict, every other flow of the world agreeing too;
// how order is resolved into order-free allow lists (ingress) and deny rules (egress); names; and
// the refusals, each naming why.
import assert from 'node:assert/strict';
import { compileForCluster, type CompiledObject } from '../../../controlplane/policy/compile/index.ts';
import { evaluate } from '../../../controlplane/policy/evaluate.ts';
import type { Policy, Workload, World } from '../../../controlplane/policy/model.ts';
import type { PolicyApiObject, Source } from './anp-evaluator.ts';
import { ciliumEgress, ciliumIngress, ciliumReader as cilium } from './cilium-evaluator.ts';
import { EXTERNALS, ONPREM, PORTS, admin, cniPolicies, cniWorld, dns, endpointOf, llm, podOf, policy, table, webApps } from './cni-fixture.ts';
import { formatDisagreements } from './format-agreement.ts';
import { journey3Policies } from './journey3.ts';

const FORMAT = 'CiliumClusterwideNetworkPolicy';

/** What the compiled objects of on-prem decide for a flow (ingress at a local pod after the source's egress when it is local; egress to an address). */
function compiled(objects: readonly CompiledObject[], from: Workload | string, to: Workload | string, protocol: string, port: number): string {
  const objs = objects as unknown as PolicyApiObject[];
  if (typeof to === 'string') return ciliumEgress(objs, podOf(from as Workload), { kind: 'address', ip: to }, protocol, port);
  const src: Source =
    typeof from === 'string'
      ? { kind: 'address', ip: from }
      : from.cluster === ONPREM
        ? { kind: 'pod', pod: podOf(from) }
        : { kind: 'address', ip: from.ips[0] ?? '' };
  const egress = src.kind === 'pod' ? ciliumEgress(objs, src.pod, { kind: 'pod', pod: podOf(to) }, protocol, port) : 'allowed';
  return egress === 'allowed' ? ciliumIngress(objs, podOf(to), src, protocol, port) : egress;
}

const specs = (objects: readonly CompiledObject[], key: string): Record<string, unknown>[] =>
  objects.filter((o) => o.metadata.annotations['causeway.dev/policies'] === key).map((o) => o.spec as Record<string, unknown>);

describe('policy: CiliumClusterwideNetworkPolicy compiler', () => {
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
      assert.deepEqual(formatDisagreements(cilium, cniPolicies, cniWorld, c.name, other.objects, PORTS, EXTERNALS), [], c.name);
    }
  });

  it('an Allow carving an exception out of a later Deny becomes an order-free allow list: no deny rule, no order', () => {
    const carve = cniPolicies.filter((p) => p.name === 'admin-may-resolve' || p.name === 'inference-keeps-off-kube-system');
    const r = compileForCluster(carve, cniWorld, ONPREM, FORMAT);
    assert.deepEqual(r.problems, []);
    const [kubeSystem, ...rest] = r.objects.map(
      (o) => o.spec as { endpointSelector: unknown; ingress: { fromEndpoints?: unknown[]; toPorts?: unknown }[]; ingressDeny?: unknown },
    );
    assert.deepEqual(rest, []);
    assert.deepEqual(kubeSystem?.endpointSelector, { matchLabels: { 'io.kubernetes.pod.namespace': 'kube-system' } });
    assert.equal(kubeSystem.ingressDeny, undefined);
    // The admin pod is admitted on UDP 53 only; other inference pods nowhere; the rest everywhere.
    const admits = (ns: string, app: string): unknown[] =>
      kubeSystem.ingress
        .filter((x) => JSON.stringify(x.fromEndpoints ?? []).includes(`"io.kubernetes.pod.namespace":"${ns}","app":"${app}"`))
        .map((x) => x.toPorts ?? 'every port');
    assert.deepEqual(admits('inference', 'admin'), [[{ ports: [{ port: '53', protocol: 'UDP' }] }]]);
    assert.deepEqual(admits('inference', 'llm-serving'), []);
    assert.equal(compiled(r.objects, webApps, dns, 'TCP', 80), 'allowed');
    assert.equal(compiled(r.objects, admin, dns, 'UDP', 53), 'allowed');
    assert.equal(compiled(r.objects, admin, dns, 'TCP', 53), 'denied');
    assert.equal(compiled(r.objects, llm, dns, 'UDP', 53), 'denied');
    assert.deepEqual(formatDisagreements(cilium, carve, cniWorld, ONPREM, r.objects, PORTS, EXTERNALS), []);
  });

  it('egress towards external CIDRs: the pods each region and port interval denies, as egressDeny without default deny', () => {
    const r = compileForCluster(cniPolicies, cniWorld, ONPREM, FORMAT);
    const [apps] = specs(r.objects, 'platform/apps-nothing-else-outside');
    assert.deepEqual(apps?.endpointSelector, { matchLabels: { 'io.kubernetes.pod.namespace': 'apps' } });
    assert.deepEqual(apps.enableDefaultDeny, { ingress: false, egress: false });
    const rules = apps.egressDeny as { toCIDRSet: { cidr: string }[]; toPorts?: unknown }[];
    // TCP 443 stays open towards the partner: its region is denied on every other port only.
    assert.deepEqual(
      rules.map((x) => [x.toCIDRSet.map((c) => c.cidr), x.toPorts]),
      [
        [
          ['0.0.0.0/0', '198.51.100.0/24', '203.0.113.0/24'],
          [
            {
              ports: [
                { port: '0', protocol: 'SCTP' },
                { port: '1', endPort: 442, protocol: 'TCP' },
                { port: '444', endPort: 65_535, protocol: 'TCP' },
                { port: '0', protocol: 'UDP' },
              ],
            },
          ],
        ],
        [['0.0.0.0/0', '198.51.100.0/24'], [{ ports: [{ port: '443', protocol: 'TCP' }] }]],
      ],
    );
    // The tenant Deny of the docs site (refused by the network-policy-api formats) compiles here.
    const [docs] = specs(r.objects, 'inference/no-scraping-the-docs-site');
    assert.deepEqual(docs?.egressDeny, [{ toCIDRSet: [{ cidr: '198.51.100.0/24' }] }]);
    assert.equal(compiled(r.objects, webApps, '203.0.113.9', 'TCP', 443), 'allowed');
    assert.equal(compiled(r.objects, webApps, '203.0.113.9', 'TCP', 444), 'denied');
  });

  it('a Deny after Allows is written as the selectors none of them take (negated requirements)', () => {
    const ps: Policy[] = [
      policy('platform', 'web-out', 'platform', 1, { action: 'Allow', from: [{ pods: { matchLabels: { app: 'web' } } }], to: [{ cidrs: ['0.0.0.0/0'] }] }),
      policy('platform', 'nothing-out', 'platform', 2, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ cidrs: ['0.0.0.0/0'] }] }),
    ];
    const r = compileForCluster(ps, cniWorld, ONPREM, FORMAT);
    assert.deepEqual(
      r.objects.map((o) => (o.spec as { endpointSelector: unknown }).endpointSelector),
      [{ matchLabels: { 'io.kubernetes.pod.namespace': 'apps' }, matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }],
    );
    assert.deepEqual(formatDisagreements(cilium, ps, cniWorld, ONPREM, r.objects, PORTS, EXTERNALS), []);
  });

  it('output is byte-identical whatever the input order, and names are unique DNS-1123 labels', () => {
    const a = compileForCluster(cniPolicies, cniWorld, ONPREM, FORMAT);
    const shuffled: World = {
      ...cniWorld,
      workloads: [...cniWorld.workloads].reverse(),
      clusters: [...cniWorld.clusters].reverse(),
      namespaces: [...cniWorld.namespaces].reverse(),
    };
    assert.equal(JSON.stringify(compileForCluster([...cniPolicies].reverse(), shuffled, ONPREM, FORMAT)), JSON.stringify(a));
    assert.equal(new Set(a.objects.map((o) => o.metadata.name)).size, a.objects.length);
    for (const o of a.objects) {
      assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      assert.equal(o.metadata.namespace, undefined);
    }
  });

  it('inherits the NetworkPolicy compiler’s refusals: pod CIDRs that cannot tell remote pods apart', () => {
    const byCidr: World = { ...cniWorld, clusters: cniWorld.clusters.map((c) => (c.name === ONPREM ? { ...c, remotePeers: 'podCIDRs' as const } : c)) };
    const r = compileForCluster(journey3Policies, byCidr, ONPREM, FORMAT);
    assert.deepEqual(r.objects, []);
    assert.equal(r.problems[0]?.code, 'Inexpressible');
    assert.match(r.problems[0].message, /takes remote peers as pod CIDRs, but pods of aws-train are decided differently/);
  });

  it('refuses egress denials that need more selectors than it writes, naming the policies', () => {
    // Nine Allows of two requirements each before one Deny: 2^9 selectors take none of them.
    const allows = Array.from({ length: 9 }, (_, i) =>
      policy('platform', `allow-${i}`, 'platform', i, {
        action: 'Allow',
        from: [{ pods: { matchLabels: { [`k${i}`]: 'a', [`j${i}`]: 'b' } } }],
        to: [{ cidrs: ['198.51.100.0/24'] }],
      }),
    );
    const ps = [
      ...allows,
      policy('platform', 'deny-rest', 'platform', 100, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ cidrs: ['198.51.100.0/24'] }] }),
    ];
    const r = compileForCluster(ps, cniWorld, ONPREM, FORMAT);
    assert.deepEqual(r.objects, []);
    assert.equal(r.problems[0]?.code, 'Inexpressible');
    assert.deepEqual(r.problems[0].policies, ['platform/deny-rest']);
    assert.match(
      r.problems[0].message,
      /the egress denials towards external CIDRs from onprem-inference need 512 Cilium selectors \(at most 256 are written\)/,
    );
  });
});
