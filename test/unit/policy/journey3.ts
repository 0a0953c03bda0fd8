// Journey 3 as plain policy data (examples/40-policies.yaml, examples/20-clusters.yaml): training
// clusters in AWS and GCP, inference on-prem, the platform Allow and the baseline Deny.
import { policyFromResource, type Policy, type Workload, type World } from '../../../controlplane/policy/model.ts';
import type { GlobalPolicyResource } from '../../../controlplane/api/resources.ts';

export const allowTraining: GlobalPolicyResource = {
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'GlobalPolicy',
  metadata: { name: 'training-to-inference', namespace: 'inference' },
  spec: {
    tier: 'platform',
    priority: 100,
    action: 'Allow',
    from: [{ clusters: { matchLabels: { gpu: 'true' } }, namespaces: ['ml-training'] }],
    to: [{ service: { namespace: 'inference', name: 'llm-serving' } }],
    ports: [{ protocol: 'TCP', port: 8000 }],
  },
};

export const denyTrainingToOnprem: GlobalPolicyResource = {
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'GlobalPolicy',
  metadata: { name: 'deny-training-to-onprem', namespace: 'inference' },
  spec: {
    tier: 'baseline',
    action: 'Deny',
    from: [{ clusters: { matchLabels: { gpu: 'true' } } }],
    to: [{ clusters: { matchLabels: { role: 'inference' } } }],
  },
};

export const journey3Policies: Policy[] = [allowTraining, denyTrainingToOnprem].map(policyFromResource);

export const trainerAws: Workload = { cluster: 'aws-train', namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.16.1.10'] };
export const trainerGcp: Workload = { cluster: 'gcp-train', namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.24.1.10'] };
export const webAws: Workload = { cluster: 'aws-train', namespace: 'default', labels: { app: 'web' }, ips: ['10.16.2.20'] };
export const llm: Workload = { cluster: 'onprem-inference', namespace: 'inference', labels: { app: 'llm-serving' }, ips: ['10.32.1.10', '10.32.1.11'] };
export const llmAdmin: Workload = { cluster: 'onprem-inference', namespace: 'inference', labels: { app: 'admin' }, ips: ['10.32.1.20'] };
export const dnsOnprem: Workload = { cluster: 'onprem-inference', namespace: 'kube-system', labels: { k8s: 'dns' }, ips: ['10.32.0.10'] };

export const journey3World: World = {
  clusters: [
    { name: 'aws-train', labels: { gpu: 'true', env: 'prod' }, podCIDRs: ['10.16.0.0/16'], network: 'aws-train-vpc' },
    { name: 'gcp-train', labels: { gpu: 'true', env: 'prod' }, podCIDRs: ['10.24.0.0/16'], network: 'gcp-train-vpc' },
    { name: 'onprem-inference', labels: { role: 'inference', env: 'prod' }, podCIDRs: ['10.32.0.0/16'], network: 'onprem-fra' },
  ],
  namespaces: [
    { cluster: 'aws-train', name: 'ml-training', labels: {} },
    { cluster: 'aws-train', name: 'default', labels: {} },
    { cluster: 'gcp-train', name: 'ml-training', labels: {} },
    { cluster: 'onprem-inference', name: 'inference', labels: { team: 'inference' } },
    { cluster: 'onprem-inference', name: 'kube-system', labels: {} },
  ],
  workloads: [trainerAws, trainerGcp, webAws, llm, llmAdmin, dnsOnprem],
  services: [
    {
      namespace: 'inference',
      name: 'llm-serving',
      selector: { matchLabels: { app: 'llm-serving' } },
      exporters: ['onprem-inference'],
      ports: [{ protocol: 'TCP', port: 8000 }],
    },
  ],
};
