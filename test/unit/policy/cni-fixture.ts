// The world and policies the Calico and Cilium compiler tests share: journey 3 with an `apps`
// namespace on-prem, and rules that exercise what those formats must get right — every tier's
// order, Pass, a tenant default deny, an Allow at higher priority carving an exception out of a
// later Deny (order-dependent), egress to external CIDRs in the platform and the tenant tier.
import assert from 'node:assert/strict';
import type { Endpoint, Policy, Workload, World } from '../../../controlplane/policy/model.ts';
import type { Pod } from './anp-evaluator.ts';
import { journey3Policies, journey3World } from './journey3.ts';

export const ONPREM = 'onprem-inference';
export const PORTS = [1, 22, 79, 80, 81, 442, 443, 444, 7999, 8000, 8001, 65_535];
export const EXTERNALS = ['203.0.113.9', '198.51.100.7', '192.0.2.1', '2001:db8::1'];

const webApps: Workload = { cluster: ONPREM, namespace: 'apps', labels: { app: 'web' }, ips: ['10.32.2.10'] };
const batchApps: Workload = { cluster: ONPREM, namespace: 'apps', labels: { app: 'batch' }, ips: ['10.32.2.20'] };
export const cniWorld: World = {
  ...journey3World,
  namespaces: [...journey3World.namespaces, { cluster: ONPREM, name: 'apps', labels: { team: 'apps' } }],
  workloads: [...journey3World.workloads, webApps, batchApps],
};

export const policy = (
  namespace: string,
  name: string,
  tier: Policy['tier'],
  priority: number,
  rule: Policy['rules'][number],
  extra: Partial<Policy> = {},
): Policy => ({
  namespace,
  name,
  tier,
  priority,
  rules: [rule],
  ...extra,
});

export const cniPolicies: Policy[] = [
  ...journey3Policies,
  policy('platform', 'batch-never-calls-the-model', 'platform', 10, {
    action: 'Deny',
    from: [{ namespaces: ['apps'], pods: { matchLabels: { app: 'batch' } } }],
    to: [{ namespaces: ['inference'] }],
    ports: [{ port: 8000 }],
  }),
  policy('platform', 'apps-to-inference-is-the-tenants', 'platform', 20, {
    action: 'Pass',
    from: [{ namespaces: ['apps'] }],
    to: [{ namespaces: ['inference'] }],
  }),
  policy('platform', 'apps-may-call-the-partner', 'platform', 5, {
    action: 'Allow',
    from: [{ namespaces: ['apps'] }],
    to: [{ cidrs: ['203.0.113.0/24'] }],
    ports: [{ port: 443 }],
  }),
  policy('platform', 'apps-nothing-else-outside', 'platform', 6, { action: 'Deny', from: [{ namespaces: ['apps'] }], to: [{ cidrs: ['0.0.0.0/0'] }] }),
  // Order-dependent: the admin pod's DNS carved out of the Deny that follows it.
  policy('platform', 'admin-may-resolve', 'platform', 30, {
    action: 'Allow',
    from: [{ namespaces: ['inference'], pods: { matchLabels: { app: 'admin' } } }],
    to: [{ namespaces: ['kube-system'] }],
    ports: [{ protocol: 'UDP', port: 53 }],
  }),
  policy('platform', 'inference-keeps-off-kube-system', 'platform', 40, {
    action: 'Deny',
    from: [{ namespaces: ['inference'] }],
    to: [{ namespaces: ['kube-system'] }],
  }),
  policy(
    'inference',
    'web-calls-the-model',
    'tenant',
    100,
    {
      action: 'Allow',
      from: [{ namespaces: ['apps'], pods: { matchLabels: { app: 'web' } } }],
      to: [{ service: { namespace: 'inference', name: 'llm-serving' } }],
      ports: [{ port: 8000, endPort: 8001 }],
    },
    { defaultDeny: { namespaces: ['inference'] } },
  ),
  // A tenant rule towards external CIDRs (the network-policy-api formats refuse it).
  policy('inference', 'no-scraping-the-docs-site', 'tenant', 50, {
    action: 'Deny',
    from: [{ namespaces: ['inference'] }],
    to: [{ cidrs: ['198.51.100.0/24'] }],
  }),
  policy('apps', 'inference-may-call-apps', 'tenant', 100, { action: 'Allow', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['apps'] }] }),
  policy('platform', 'inference-never-calls-apps', 'baseline', 100, { action: 'Deny', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['apps'] }] }),
];

export function at(cluster: string, namespace: string, key: string, value: string): Workload {
  const w = cniWorld.workloads.find((x) => x.cluster === cluster && x.namespace === namespace && x.labels[key] === value);
  assert.ok(w !== undefined, `${cluster}/${namespace}/${value}`);
  return w;
}

export const endpointOf = (w: Workload): Endpoint => ({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip: w.ips[0] });

export const podOf = (w: Workload): Pod => ({
  namespace: w.namespace,
  namespaceLabels: { ...(cniWorld.namespaces.find((n) => n.cluster === w.cluster && n.name === w.namespace)?.labels ?? {}) },
  labels: { ...w.labels },
  ip: w.ips[0] ?? '',
});

export const trainerAws = at('aws-train', 'ml-training', 'app', 'trainer');
export const trainerGcp = at('gcp-train', 'ml-training', 'app', 'trainer');
export const webAws = at('aws-train', 'default', 'app', 'web');
export const llm = at(ONPREM, 'inference', 'app', 'llm-serving');
export const admin = at(ONPREM, 'inference', 'app', 'admin');
export const dns = at(ONPREM, 'kube-system', 'k8s', 'dns');
export { webApps, batchApps };

export type Row = [Workload | string, Workload | string, 'TCP' | 'UDP' | 'SCTP', number, 'allowed' | 'denied', string];

// [from, to, protocol, port, verdict, why]: written by hand from docs/policy.md, not computed.
export const table: Row[] = [
  [trainerAws, llm, 'TCP', 8000, 'allowed', 'journey 3: platform Allow of the trainers (a remote source)'],
  [trainerGcp, llm, 'TCP', 8000, 'allowed', 'journey 3, the other training cluster'],
  [trainerAws, llm, 'TCP', 22, 'denied', "inference's tenant default deny"],
  [webAws, llm, 'TCP', 8000, 'denied', 'not a trainer: the default deny'],
  [webApps, llm, 'TCP', 8000, 'allowed', 'platform Pass apps → inference, then the tenant Allow of web'],
  [webApps, llm, 'TCP', 8001, 'allowed', 'the tenant Allow is a port range'],
  [batchApps, llm, 'TCP', 8000, 'denied', 'platform Deny of batch comes first'],
  [webApps, llm, 'TCP', 22, 'denied', "passed to the tenant tier, where inference's default deny decides"],
  [dns, llm, 'TCP', 8000, 'denied', 'the default deny'],
  [admin, dns, 'UDP', 53, 'allowed', 'the platform Allow at priority 30 carves DNS out of the Deny at 40'],
  [admin, dns, 'TCP', 53, 'denied', 'not UDP: the platform Deny at 40'],
  [llm, dns, 'UDP', 53, 'denied', 'not the admin pod: the platform Deny at 40'],
  [admin, webApps, 'TCP', 80, 'allowed', "the tenant Allow of apps decides before the baseline's Deny"],
  [llm, batchApps, 'UDP', 53, 'allowed', 'the same tenant Allow, every port'],
  [dns, webApps, 'TCP', 80, 'allowed', 'nothing matches'],
  [trainerGcp, webApps, 'TCP', 80, 'denied', 'journey 3 baseline: gpu clusters never reach role=inference clusters'],
  ['203.0.113.9', webApps, 'TCP', 80, 'allowed', 'an external source nothing selects'],
  [batchApps, webApps, 'TCP', 80, 'allowed', 'within apps: nothing matches'],
  [webApps, '203.0.113.9', 'TCP', 443, 'allowed', 'platform Allow to the partner CIDR, before the Deny to everything'],
  [webApps, '203.0.113.9', 'TCP', 80, 'denied', 'not port 443: the Deny to 0.0.0.0/0'],
  [webApps, '198.51.100.7', 'TCP', 443, 'denied', 'the Deny to 0.0.0.0/0'],
  [llm, '198.51.100.7', 'TCP', 443, 'denied', 'the tenant Deny of the docs site (egress in the tenant tier)'],
  [llm, '192.0.2.1', 'TCP', 443, 'allowed', 'inference pods are not constrained towards the rest of the outside'],
];
