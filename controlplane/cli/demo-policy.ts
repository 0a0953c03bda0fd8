// The demo's journey-3 policy (issue 10 §5): the pods GlobalPolicy selects are started in the
// simulated clusters, their agents report them, and `explain` answers the journey's questions;
// then the NetworkPolicies the on-prem agent applied are shown.
import type { ExplanationView } from '../api/read-model.ts';
import { API_PREFIX, type HubClient } from './client.ts';
import { printExplanation } from './commands/policy.ts';
import type { KubeObject, SimulatedCluster } from './demo-clusters.ts';
import { table } from './print.ts';

/** Journey 3's workloads (issue 10 §5): the pods GlobalPolicy selects, with the IPs their kubelet would give them. */
const WORKLOADS: Readonly<Record<string, readonly { namespace: string; name: string; labels: Record<string, string>; ip: string }[]>> = {
  'aws-train': [
    { namespace: 'ml-training', name: 'trainer-0', labels: { app: 'trainer' }, ip: '10.16.1.10' },
    { namespace: 'ml-training', name: 'trainer-1', labels: { app: 'trainer' }, ip: '10.16.1.11' },
    { namespace: 'default', name: 'web-0', labels: { app: 'web' }, ip: '10.16.2.20' },
  ],
  'gcp-train': [{ namespace: 'ml-training', name: 'trainer-0', labels: { app: 'trainer' }, ip: '10.64.1.10' }],
  'onprem-inference': [
    { namespace: 'inference', name: 'llm-serving-0', labels: { app: 'llm-serving' }, ip: '10.32.1.10' },
    { namespace: 'inference', name: 'llm-serving-1', labels: { app: 'llm-serving' }, ip: '10.32.1.11' },
    { namespace: 'inference', name: 'llm-serving-2', labels: { app: 'llm-serving' }, ip: '10.32.2.12' },
  ],
};

const FLOWS = [
  { from: 'aws-train/ml-training/app=trainer', to: 'inference/llm-serving', port: '8000' },
  { from: 'aws-train/default/app=web', to: 'inference/llm-serving', port: '8000' },
  { from: 'aws-train/ml-training/app=trainer', to: 'inference/llm-serving', port: '22' },
] as const;

/**
 * Journey 3's policy, for real: the pods run (their agents report them), the hub compiles the
 * GlobalPolicies of examples/ per cluster, each agent applies its NetworkPolicies; `explain` answers
 * the journey's questions with the rule that decides.
 */
export async function showPolicy({
  client,
  out,
  clusters,
  exporter,
  until,
}: {
  client: HubClient;
  out: (line: string) => void;
  clusters: ReadonlyMap<string, SimulatedCluster>;
  exporter: string;
  until: (timeoutMs: number, check: () => Promise<boolean>) => Promise<boolean>;
}): Promise<void> {
  out("\nStarting journey 3's pods (trainers in aws-train and gcp-train, a web pod, the inference pods) ...");
  for (const [name, pods] of Object.entries(WORKLOADS)) {
    const cluster = clusters.get(name);
    if (cluster === undefined) continue;
    for (const p of pods) {
      const path = `/api/v1/namespaces/${p.namespace}/pods`;
      await cluster.create(path, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
        spec: { containers: [{ name: 'main', image: `registry.example/${p.labels.app ?? 'app'}:1` }] },
      });
      await cluster.setStatus(`${path}/${p.name}`, { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] });
    }
  }
  const query = (f: (typeof FLOWS)[number]): string => `${API_PREFIX}/explain?${new URLSearchParams({ from: f.from, to: f.to, port: f.port }).toString()}`;
  // The pods reach the hub's World with the agents' next workload reports.
  await until(20_000, async () => (await client.request<ExplanationView>('GET', query(FLOWS[0]))).verdict === 'allowed');
  for (const f of FLOWS) {
    out(`\n$ causeway explain --from ${f.from} --to ${f.to} --port ${f.port}`);
    out(printExplanation(await client.request<ExplanationView>('GET', query(f)), 'table'));
  }
  const onprem = clusters.get(exporter);
  let written: KubeObject[] = [];
  await until(20_000, async () => {
    written = (await onprem?.list('/apis/networking.k8s.io/v1/namespaces/inference/networkpolicies')) ?? [];
    return written.some((np) => np.metadata.labels?.['causeway.dev/owned-by'] !== undefined);
  });
  out(`\nIn ${exporter} (its Kubernetes API), the NetworkPolicies its agent applied:`);
  out(table([['NAMESPACE', 'NAME', 'FROM'], ...written.map((np) => [np.metadata.namespace ?? '', np.metadata.name, policyPeers(np)])]));
}

/** The ipBlocks and selectors a NetworkPolicy admits, briefly. */
function policyPeers(np: KubeObject): string {
  const ingress = ((np.spec as { ingress?: { from?: Record<string, unknown>[] }[] } | undefined)?.ingress ?? []).flatMap((r) => r.from ?? []);
  const peers = ingress.map((p) => {
    const block = p.ipBlock as { cidr?: string; except?: string[] } | undefined;
    if (block?.cidr !== undefined) return block.except === undefined ? block.cidr : `${block.cidr} except ${block.except.join(' ')}`;
    return `pods ${JSON.stringify(p.podSelector ?? {})}${p.namespaceSelector !== undefined ? ` in namespaces ${JSON.stringify(p.namespaceSelector)}` : ''}`;
  });
  return peers.length === 0 ? '(nothing)' : peers.join(', ');
}
