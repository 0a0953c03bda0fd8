// plan's policy impact: flows that change per cluster, compiled objects that change, exit codes.
import assert from 'node:assert/strict';
import { impact } from '../../../controlplane/policy/impact.ts';
import type { Policy } from '../../../controlplane/policy/model.ts';
import { journey3Policies, journey3World } from './journey3.ts';

describe('policy: impact (plan)', () => {
  it('nothing proposed differs: exit 0', () => {
    const r = impact({ current: journey3Policies, proposed: [...journey3Policies].reverse(), world: journey3World });
    assert.equal(r.classification, 'unchanged');
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.clusters, []);
  });
  it('a change that widens access lists the new flows and exits 5', () => {
    const widened: Policy[] = journey3Policies.map((p) =>
      p.name === 'training-to-inference'
        ? { ...p, rules: p.rules.map((r) => ({ ...r, ports: [{ protocol: 'TCP' as const, port: 8000, endPort: 8001 }] })) }
        : p,
    );
    const r = impact({ current: journey3Policies, proposed: widened, world: journey3World });
    assert.equal(r.exitCode, 5);
    const onprem = r.clusters.find((c) => c.cluster === 'onprem-inference');
    assert.ok(onprem !== undefined);
    assert.deepEqual(
      onprem.flows.map((f) => `${f.from} → ${f.to} ${f.protocol} ${f.port}-${f.endPort}: ${f.before} → ${f.after}`),
      [
        'aws-train/ml-training/app=trainer → onprem-inference/inference/app=llm-serving TCP 8001-8001: denied → allowed',
        'gcp-train/ml-training/app=trainer → onprem-inference/inference/app=llm-serving TCP 8001-8001: denied → allowed',
      ],
    );
    assert.deepEqual(
      onprem.objects.map((o) => o.change),
      ['changed'],
    );
    assert.equal(r.clusters.length, 1);
  });
  it('a change that alters no flow exits 4', () => {
    // A second, redundant Deny at a lower priority: the manifests change, no verdict does.
    const redundant: Policy = {
      namespace: 'inference',
      name: 'redundant',
      tier: 'baseline',
      priority: 1000,
      rules: [
        {
          action: 'Deny',
          from: [{ clusters: { matchLabels: { gpu: 'true' } }, namespaces: ['default'] }],
          to: [{ clusters: { matchLabels: { role: 'inference' } } }],
        },
      ],
    };
    const r = impact({ current: journey3Policies, proposed: [...journey3Policies, redundant], world: journey3World });
    assert.equal(r.classification, 'no-flow-changes');
    assert.equal(r.exitCode, 4);
    assert.ok(r.clusters.every((c) => c.flows.length === 0));
  });
});
