// Cloud enforcement's decision (controlplane/policy/cloud.ts) on journey 3: which sources of a
// consuming cluster the cloud firewalls may let through towards a service port — the whole cluster,
// the pods policy allows, or nothing — checked against the reference evaluator's verdicts.
import assert from 'node:assert/strict';
import { cloudNarrowing } from '../../../controlplane/policy/cloud.ts';
import type { World } from '../../../controlplane/policy/model.ts';
import { journey3Policies, journey3World } from './journey3.ts';

const LLM = { namespace: 'inference', name: 'llm-serving' };

describe('policy: what the cloud firewalls let through (cloudNarrowing)', () => {
  const narrow = cloudNarrowing(journey3Policies, journey3World);

  it('aws-train on 8000: the trainer only — its web pod is denied, so the cluster as a whole is not opened', () => {
    assert.deepEqual(narrow('aws-train', LLM, 'TCP', 8000), { kind: 'addresses', addresses: ['10.16.1.10'] });
  });

  it('gcp-train on 8000: the trainer only — a pod the hub does not know yet would be denied by the baseline Deny', () => {
    assert.deepEqual(narrow('gcp-train', LLM, 'TCP', 8000), { kind: 'addresses', addresses: ['10.24.1.10'] });
  });

  it('port 22: nothing at all', () => {
    assert.deepEqual(narrow('aws-train', LLM, 'TCP', 22), { kind: 'addresses', addresses: [] });
    assert.deepEqual(narrow('gcp-train', LLM, 'TCP', 22), { kind: 'addresses', addresses: [] });
  });

  it('a cluster no rule denies keeps its pod CIDRs (whole cluster), and so does everyone without policies', () => {
    const world: World = {
      ...journey3World,
      clusters: [...journey3World.clusters, { name: 'dev', labels: {}, podCIDRs: ['10.80.0.0/16'], network: 'dev-vpc' }],
      workloads: [...journey3World.workloads, { cluster: 'dev', namespace: 'default', labels: { app: 'x' }, ips: ['10.80.0.5'] }],
    };
    assert.deepEqual(cloudNarrowing(journey3Policies, world)('dev', LLM, 'TCP', 8000), { kind: 'cluster' });
    assert.deepEqual(cloudNarrowing([], journey3World)('aws-train', LLM, 'TCP', 22), { kind: 'cluster' });
  });
});
