// GlobalPolicy on the real hub (issue 10), with real etcd and NATS: journey 3's policies from
// examples/ compiled per cluster by the leader's policy controller and served at
// GET .../clusters/NAME/policy; an endpoint IP change recompiles the cluster whose rules select
// it; `causeway explain` and `causeway plan -f` through the CLI give the truth table's answers;
// contradictory rules (422 Invalid, naming both) and a team outside its scope (403) write nothing.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportKey } from '../../controlplane/api/keys.ts';
import type { ExportState } from '../../controlplane/api/messages.ts';
import type { ClusterPolicyView, ExplanationView, PolicyPlanView } from '../../controlplane/api/read-model.ts';
import type { CompiledObject } from '../../controlplane/policy/compile/index.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { causeway, EXAMPLES_DIR, REPO_ROOT } from '../harness/cli.ts';
import { startTestHub, registrySnapshot, type TestHub } from '../harness/hub.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';
import { workloadsKey } from '../../controlplane/hub/workload-store.ts';
import type { WorkloadReport } from '../../controlplane/hub/policy-world.ts';

const API = '/apis/causeway.dev/v1alpha1';

function llmServing(ips: readonly string[]): ExportState {
  return {
    namespace: 'inference',
    name: 'llm-serving',
    exportedAt: '2026-01-01T00:00:00Z',
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: ips.map((ip) => ({ addresses: [ip], ready: true, serving: true, terminating: false })),
  };
}

/** Journey 3's pods (issue 10 §5), as the agents' workload reports will carry them. */
const WORKLOADS: Record<string, WorkloadReport> = {
  'aws-train': {
    namespaces: [
      { name: 'ml-training', labels: {} },
      { name: 'default', labels: {} },
    ],
    pods: [
      { namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.16.1.10'] },
      { namespace: 'default', labels: { app: 'web' }, ips: ['10.16.2.20'] },
    ],
  },
  'gcp-train': { namespaces: [{ name: 'ml-training', labels: {} }], pods: [{ namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.24.1.10'] }] },
  'onprem-inference': {
    namespaces: [{ name: 'inference', labels: { team: 'inference' } }],
    pods: [
      { namespace: 'inference', labels: { app: 'llm-serving' }, ips: ['10.32.1.10'] },
      { namespace: 'inference', labels: { app: 'llm-serving' }, ips: ['10.32.1.11'] },
      { namespace: 'inference', labels: { app: 'admin' }, ips: ['10.32.1.20'] },
    ],
    serviceSelectors: { 'inference/llm-serving': { matchLabels: { app: 'llm-serving' } } },
  },
};

describe('GlobalPolicy on the hub: compiled per cluster, explain, plan (real etcd and NATS)', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let store: EtcdStore;
  const cli = (args: string[], token?: string) => causeway(args, { cwd: REPO_ROOT, server: hub.url, token: token ?? hub.adminToken, timeoutMs: 60_000 });
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
  const api = async <T>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${hub.url}${API}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? hub.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const clusterPolicy = async (name: string) => (await api<ClusterPolicyView>('GET', `/clusters/${name}/policy`)).body;
  const explainJson = async (args: string[]) => {
    const r = await cli(['explain', ...args, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ExplanationView;
  };

  before(async () => {
    hub = await startTestHub({ teams: [{ name: 'inference-team', namespaces: ['inference'], clusterSelector: { matchLabels: { role: 'inference' } } }] });
    store = new EtcdStore({ endpoints: [hub.etcdUrl] });
    const applied = await cli(['apply', '-f', EXAMPLES_DIR]);
    assert.equal(applied.code, 0, applied.stderr);
    await store.txn(
      [],
      [
        { type: 'put', key: exportKey('onprem-inference', 'inference', 'llm-serving'), value: JSON.stringify(llmServing(['10.32.1.10', '10.32.1.11'])) },
        ...Object.entries(WORKLOADS).map(([c, r]) => ({ type: 'put' as const, key: workloadsKey(c), value: JSON.stringify(r) })),
      ],
    );
  });
  after(async () => {
    await store.close();
    await hub.stop();
  });

  it('compiles NetworkPolicies for the inference cluster that admit only the training clusters on TCP 8000, and says so on the Cluster', async () => {
    const p = await waitFor('onprem-inference compiled with the llm-serving endpoints', async () => {
      const v = await clusterPolicy('onprem-inference');
      return v.current && v.objects.length > 0 ? v : undefined;
    });
    assert.equal(p.format, 'NetworkPolicy');
    const text = JSON.stringify(p.objects);
    assert.match(text, /"port":8000/);
    assert.match(text, /causeway\.dev\/compiled-from/);
    assert.deepEqual(p.policies, ['inference/deny-training-to-onprem', 'inference/training-to-inference']);
    // Healthy clusters carry no policy condition: nothing is written on the common path.
    const cluster = (await api<Resource>('GET', '/clusters/onprem-inference')).body;
    assert.equal(
      cluster.status?.conditions?.find((c) => c.type === 'PolicyCompiled'),
      undefined,
    );
    // A team that may read the cluster reads its policy; one that may not gets the 404 of absence.
    assert.equal((await api('GET', '/clusters/onprem-inference/policy', undefined, hub.tokens['inference-team'])).status, 200);
    assert.equal((await api('GET', '/clusters/aws-train/policy', undefined, hub.tokens['inference-team'])).status, 404);
  });

  it('recompiles when a trainer pod moves to a new address, in the cluster whose rules select it', async () => {
    const before = await clusterPolicy('onprem-inference');
    assert.match(JSON.stringify(before.objects), /10\.16\.1\.10\/32/);
    const moved: WorkloadReport = {
      ...(WORKLOADS['aws-train'] as WorkloadReport),
      pods: [
        { namespace: 'ml-training', labels: { app: 'trainer' }, ips: ['10.16.1.99'] },
        { namespace: 'default', labels: { app: 'web' }, ips: ['10.16.2.20'] },
      ],
    };
    await store.txn([], [{ type: 'put', key: workloadsKey('aws-train'), value: JSON.stringify(moved) }]);
    const after = await waitFor('the new address in the onprem-inference policy', async () => {
      const v = await clusterPolicy('onprem-inference');
      return JSON.stringify(v.objects).includes('10.16.1.99/32') ? v : undefined;
    });
    assert.equal(after.current, true);
    assert.doesNotMatch(JSON.stringify(after.objects), /10\.16\.1\.10\//);
  });

  it('explain: a trainer reaches inference/llm-serving on TCP 8000, decided by the platform Allow', async () => {
    const e = await explainJson(['--from', 'aws-train/ml-training/app=trainer', '--to', 'inference/llm-serving', '--port', '8000']);
    assert.equal(e.verdict, 'allowed');
    assert.deepEqual(e.decidedBy, { policy: 'inference/training-to-inference', tier: 'platform', rule: 0 });
    assert.deepEqual(
      e.chain.map((c) => c.layer),
      ['export-import', 'route', 'cloud-firewall', 'policy'],
    );
    const exportLayer = e.chain.find((c) => c.layer === 'export-import');
    assert.equal(exportLayer?.result, 'allowed');
    assert.match(exportLayer.detail, /exported by onprem-inference/);
  });

  it('explain: port 22, or a web pod, is denied by the baseline Deny, which the answer names', async () => {
    for (const args of [
      ['--from', 'aws-train/ml-training/app=trainer', '--to', 'inference/llm-serving', '--port', '22'],
      ['--from', 'aws-train/default/app=web', '--to', 'inference/llm-serving', '--port', '8000/TCP'],
    ]) {
      const e = await explainJson(args);
      assert.equal(e.verdict, 'denied', args.join(' '));
      assert.equal(e.chain.find((c) => c.layer === 'policy')?.result, 'denied');
      assert.deepEqual(e.decidedBy, { policy: 'inference/deny-training-to-onprem', tier: 'baseline', rule: 0 });
    }
    const table = await cli(['explain', '--from', 'aws-train/ml-training/app=trainer', '--to', 'inference/llm-serving', '--port', '22']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /DENIED/);
    assert.match(table.stdout, /decided by inference\/deny-training-to-onprem \(baseline tier\) rule 0/);
  });

  it('explain: bad flags exit 2 naming the flag and the expected form; the API answers 400', async () => {
    const cases: [string[], RegExp][] = [
      [['--from', 'aws-train', '--to', 'inference/llm-serving', '--port', '8000'], /--from: expected CLUSTER\/NAMESPACE\/LABELS/],
      [['--from', 'aws-train/ml-training/app=trainer', '--to', 'x', '--port', '8000'], /--to: expected a global service NAMESPACE\/NAME/],
      [['--from', 'aws-train/ml-training/app=trainer', '--to', 'inference/llm-serving', '--port', '80000'], /--port: expected a port 1-65535/],
      [['--from', 'aws-train/ml-training/app=trainer', '--to', 'inference/llm-serving', '--port', '8000/ICMP'], /--port: expected/],
    ];
    for (const [args, want] of cases) {
      const r = await cli(['explain', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
    const bad = await api<{ message: string }>('GET', '/explain?from=a&to=inference/llm-serving&port=8000');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /from: expected CLUSTER\/NAMESPACE\/LABELS/);
    const unknown = await api<{ message: string }>('GET', '/explain?from=nowhere/ns/app=x&to=inference/llm-serving&port=8000');
    assert.equal(unknown.status, 404);
  });

  it('plan -f: a change that widens access lists the new flows and exits 5; the examples as they are exit 0; nothing is applied', async () => {
    const same = await cli(['plan', '-f', EXAMPLES_DIR]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /nothing changes/);

    const dir = tempDir('plan');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'wider.yaml'),
      [
        'apiVersion: causeway.dev/v1alpha1',
        'kind: GlobalPolicy',
        'metadata: {name: training-to-inference, namespace: inference}',
        'spec:',
        '  tier: platform',
        '  priority: 100',
        '  action: Allow',
        '  from: [{clusters: {matchLabels: {gpu: "true"}}}]',
        '  to: [{service: {namespace: inference, name: llm-serving}}]',
        '  ports: [{protocol: TCP, port: 8000}, {protocol: TCP, port: 22}]',
        '',
      ].join('\n'),
    );
    const before = await registrySnapshot(hub.etcdUrl);
    const wider = await cli(['plan', '-f', dir, '-o', 'json']);
    assert.equal(wider.code, 5, wider.stderr);
    const plan = JSON.parse(wider.stdout) as PolicyPlanView;
    assert.equal(plan.kind, 'List');
    assert.equal(plan.classification, 'flow-changes');
    assert.deepEqual(plan.changes, ['GlobalPolicy/inference/training-to-inference updated']);
    const onprem = plan.items.find((i) => i.metadata.name === 'onprem-inference');
    assert.ok(onprem !== undefined, JSON.stringify(plan.items.map((i) => i.metadata.name)));
    assert.ok(
      onprem.flows.some((f) => f.port <= 22 && f.endPort >= 22 && f.before === 'denied' && f.after === 'allowed'),
      JSON.stringify(onprem.flows),
    );
    assert.ok(onprem.objects.length > 0);
    const tableRun = await cli(['plan', '-f', dir]);
    assert.equal(tableRun.code, 5);
    assert.match(tableRun.stdout, /cluster onprem-inference:/);
    assert.match(tableRun.stdout, /review before applying \(exit 5\)/);
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before, 'plan wrote nothing');

    const bad = await cli(['plan', '-f', join(dir, 'missing.yaml')]);
    assert.notEqual(bad.code, 0);
  });

  it('refuses contradictory rules with a 422 (Invalid) naming both, and a team policy outside its namespaces with a 403; nothing is written', async () => {
    const before = await registrySnapshot(hub.etcdUrl);
    const contradict = await api<{ message: string }>('POST', '/apply', {
      documents: [
        {
          source: { file: 'deny.yaml', document: 1 },
          object: {
            apiVersion: 'causeway.dev/v1alpha1',
            kind: 'GlobalPolicy',
            metadata: { name: 'deny-training', namespace: 'inference' },
            spec: {
              tier: 'platform',
              priority: 100,
              action: 'Deny',
              from: [{ clusters: { matchLabels: { gpu: 'true' } } }],
              to: [{ service: { namespace: 'inference', name: 'llm-serving' } }],
            },
          },
        },
      ],
    });
    assert.equal(contradict.status, 422);
    assert.match(contradict.body.message, /inference\/deny-training rule 0 \(Deny\)/);
    assert.match(contradict.body.message, /inference\/training-to-inference rule 0 \(Allow\)/);
    assert.match(contradict.body.message, /deny\.yaml/);

    const outside = await api<{ message: string }>(
      'POST',
      '/apply',
      {
        documents: [
          {
            source: { file: 'team.yaml', document: 1 },
            object: {
              apiVersion: 'causeway.dev/v1alpha1',
              kind: 'GlobalPolicy',
              metadata: { name: 'open-training', namespace: 'inference' },
              spec: { tier: 'tenant', action: 'Allow', from: [{ namespaces: ['inference'] }], to: [{ namespaces: ['ml-training'] }] },
            },
          },
        ],
      },
      hub.tokens['inference-team'],
    );
    assert.equal(outside.status, 403);
    assert.match(outside.body.message, /outside the team's namespaces \(inference\)/);
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before, 'nothing was written');
  });

  it('marks a policy whose peer selects nothing with Effective False / SelectsNothing', async () => {
    const r = await api('POST', '/apply', {
      documents: [
        {
          object: {
            apiVersion: 'causeway.dev/v1alpha1',
            kind: 'GlobalPolicy',
            metadata: { name: 'batch', namespace: 'inference' },
            spec: { tier: 'tenant', action: 'Allow', from: [{ pods: { matchLabels: { app: 'batch' } } }], to: [{ namespaces: ['inference'] }] },
          },
        },
      ],
    });
    assert.equal(r.status, 200);
    const cond = await waitFor('the Effective condition', async () => {
      const p = (await api<Resource>('GET', '/namespaces/inference/globalpolicies/batch')).body;
      return p.status?.conditions?.find((c) => c.type === 'Effective');
    });
    assert.equal(cond.status, 'False');
    assert.equal(cond.reason, 'SelectsNothing');
    assert.match(cond.message, /inference\/batch rule 0 from\[0\] selects no workload/);
  });

  it('a cluster switching to the Cilium and then the Calico format gets their objects; one its format refuses gets PolicyCompiled False naming why, and keeps its last good objects', async () => {
    const setPolicy = async (policy: Record<string, string>): Promise<void> => {
      const current = (await api<Resource>('GET', '/clusters/onprem-inference')).body;
      const { resourceVersion: _rv, ...metadata } = current.metadata;
      const put = await api('PUT', '/clusters/onprem-inference', {
        apiVersion: current.apiVersion,
        kind: 'Cluster',
        metadata,
        spec: { ...current.spec, policy },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
    };
    const compiledAs = (format: string): Promise<CompiledObject[]> =>
      waitFor(`onprem-inference compiled as ${format}`, async () => {
        const v = await clusterPolicy('onprem-inference');
        return v.current && v.format === format && v.objects.length > 0 ? (v.objects as unknown as CompiledObject[]) : undefined;
      });
    await setPolicy({ format: 'CiliumClusterwideNetworkPolicy' });
    const cilium = await compiledAs('CiliumClusterwideNetworkPolicy');
    assert.deepEqual([...new Set(cilium.map((o) => `${o.apiVersion} ${o.kind}`))], ['cilium.io/v2 CiliumClusterwideNetworkPolicy']);
    // The aws trainer's address (moved to .99 above) is admitted on TCP 8000 to the model's pods.
    assert.match(
      JSON.stringify(cilium),
      /\{"cidr":"10\.16\.1\.99\/32"\}(,\{"cidr":"[^"]+"\})*\],"toPorts":\[\{"ports":\[\{"port":"8000","protocol":"TCP"\}\]\}\]/,
    );

    await setPolicy({ format: 'CalicoGlobalNetworkPolicy' });
    const calico = await compiledAs('CalicoGlobalNetworkPolicy');
    assert.deepEqual([...new Set(calico.map((o) => `${o.apiVersion} ${o.kind}`))].sort(), [
      'projectcalico.org/v3 GlobalNetworkPolicy',
      'projectcalico.org/v3 Tier',
    ]);
    assert.deepEqual(
      calico.filter((o) => o.kind === 'Tier').map((o) => o.metadata.name),
      ['causeway-baseline', 'causeway-platform', 'causeway-tenant'],
    );

    // Remote peers as pod CIDRs cannot carry the platform Allow of ml-training (a namespace of the gpu clusters): refused, naming the rule.
    await setPolicy({ format: 'CalicoGlobalNetworkPolicy', remotePeers: 'podCIDRs' });
    const cond = await waitFor('PolicyCompiled False on the Cluster', async () => {
      const r = (await api<Resource>('GET', '/clusters/onprem-inference')).body;
      return r.status?.conditions?.find((c) => c.type === 'PolicyCompiled' && c.status === 'False');
    });
    assert.equal(cond.reason, 'Inexpressible');
    assert.match(
      cond.message,
      /takes remote peers as pod CIDRs, but inference\/training-to-inference rule 0 selects pods of (aws|gcp)-train by namespace, labels or service/,
    );
    const after = await clusterPolicy('onprem-inference');
    assert.equal(after.current, false);
    assert.deepEqual(after.objects, calico, 'the last good objects stay');
  });
});
