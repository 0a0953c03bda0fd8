// GlobalPolicy's two legs end to end (issue 10 §2, §5): the REAL hub (real etcd, its embedded
// real nats-server in operator mode) and REAL agents, each with its own NATS credential, against
// Kubernetes API doubles (test doubles of kube-apiserver; Pods and NetworkPolicies are served
// and validated by them). A pod created in aws-train reaches the hub's World through the agent's
// workloads report and changes onprem-inference's compiled NetworkPolicy, which its agent writes
// into its cluster; a pod IP change updates every cluster's policy that names it; a deleted
// policy's objects go with the next snapshot. A cluster's credential cannot report another
// cluster's workloads, and malformed or oversized reports are refused, counted, and write nothing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect, credsAuthenticator, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { KINDS } from '../../controlplane/api/kinds.ts';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type Workloads } from '../../controlplane/api/messages.ts';
import { agentInboxPrefix, AgentSubjectKind, agentSubject } from '../../controlplane/api/subjects.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { WORKLOADS_PREFIX } from '../../controlplane/hub/workload-store.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { AWS, ONPREM, exportedService, startClusterSet, type ClusterSet, type SimulatedCluster } from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const NETPOL = 'networkpolicies.networking.k8s.io';

/** A Pod as a user creates it, then running with `ip` as its kubelet would write it. */
function runPod(c: SimulatedCluster, namespace: string, name: string, labels: Record<string, string>, ip: string): void {
  if (c.double.get('pods', namespace, name) === undefined) {
    c.double.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: 'main', image: 'example' }] } });
  }
  c.double.setStatus('pods', namespace, name, { phase: 'Running', podIP: ip, podIPs: [{ ip }] });
}

const ownedPolicies = (c: SimulatedCluster): KubeObject[] => c.double.list(NETPOL).filter((o) => o.metadata.labels?.['causeway.dev/owned-by'] === 'agent');
const text = (c: SimulatedCluster): string => JSON.stringify(ownedPolicies(c).map((o) => o.spec));

async function connectWith(set: ClusterSet, cluster: string, creds: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: set.natsUrl(),
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    inboxPrefix: agentInboxPrefix(cluster),
    name: `test-as-${cluster}`,
    reconnect: false,
  });
  onCleanup(() => nc.close());
  return nc;
}

function workloads(cluster: string, ip: string, extra: Partial<Workloads> = {}): Workloads {
  return {
    v: PROTOCOL_VERSION,
    cluster,
    session: 'forger-session-1',
    seq: 1,
    namespaces: [{ name: 'ml-training', labels: {} }],
    pods: [{ namespace: 'ml-training', name: 'forged', labels: { app: 'trainer' }, ips: [ip] }],
    ...extra,
  };
}

describe('compiled policy to agents and workloads from agents (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(120_000);
  let set: ClusterSet;
  let aws: SimulatedCluster;
  let onprem: SimulatedCluster;

  before(async () => {
    set = await startClusterSet({ clusters: [AWS, ONPREM], heartbeatTTLSeconds: 15, namespaces: ['inference', 'ml-training', 'apps'] });
    aws = set.cluster(AWS);
    onprem = set.cluster(ONPREM);
    const docs = readManifests([join(EXAMPLES, '40-policies.yaml')], false);
    await set.client.apply(
      docs.map((d) => ({ source: d.source, object: d.object })),
      false,
    );
    // llm-serving on-prem: the Service (selecting app=llm-serving), its export and endpoints, and its pods.
    for (const o of exportedService({ namespace: 'inference', name: 'llm-serving', endpoints: [{ ip: '10.32.1.10' }, { ip: '10.32.1.11' }] }))
      onprem.double.seed(o);
    runPod(onprem, 'inference', 'llm-serving-0', { app: 'llm-serving' }, '10.32.1.10');
    runPod(onprem, 'inference', 'llm-serving-1', { app: 'llm-serving' }, '10.32.1.11');
  });
  after(async () => {
    await set.stop();
  });

  it("a trainer pod created in aws-train reaches onprem-inference's NetworkPolicy, written by its agent (owned, server-side applied)", async () => {
    runPod(aws, 'ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.10');
    await waitFor('the trainer address in an onprem-inference NetworkPolicy', () => text(onprem).includes('10.16.1.10/32'), 30_000);
    const np = ownedPolicies(onprem).find((o) => JSON.stringify(o.spec).includes('10.16.1.10/32'));
    assert.ok(np !== undefined);
    assert.equal(np.metadata.namespace, 'inference');
    assert.match(JSON.stringify(np.spec), /"port":8000/);
    const managers = (np.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`);
    assert.deepEqual(managers, ['causeway-agent/Apply']);
    // The agent says which snapshot it applied.
    await waitFor('the applied snapshot in the heartbeat', () => onprem.agent?.agent.heartbeat().policy);
  });

  it('a pod IP change updates the policy in every cluster that names it; the old address is gone', async () => {
    const before = [aws, onprem].filter((c) => text(c).includes('10.16.1.10/32')).map((c) => c.name);
    assert.ok(before.includes(ONPREM));
    runPod(aws, 'ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.99');
    await waitFor(
      'every policy that named the trainer moved to its new address',
      () => before.every((name) => text(set.cluster(name)).includes('10.16.1.99/32') && !text(set.cluster(name)).includes('10.16.1.10/32')),
      30_000,
    );
  });

  it("a deleted GlobalPolicy's NetworkPolicies are deleted with the next snapshot; someone else's stay", async () => {
    onprem.double.seed({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'users-own', namespace: 'inference' },
      spec: { podSelector: {} },
    });
    const applied = onprem.agent?.agent.heartbeat().policy;
    assert.ok(applied !== undefined);
    await set.client.delete(KINDS.GlobalPolicy, 'training-to-inference', 'inference', false);
    await waitFor('no onprem NetworkPolicy admits the trainers any more', () => !text(onprem).includes('10.16.1.99/32'), 30_000);
    // The agent marks a snapshot applied once its last delete has returned, a moment after the
    // double shows it gone: wait for the mark rather than read it at once (a clean-clone CI run
    // read it in between).
    await waitFor(
      'a newer snapshot applied: the one that deleted them',
      () => {
        const after = onprem.agent?.agent.heartbeat().policy;
        return after !== undefined && (after.term > applied.term || after.seq > applied.seq);
      },
      10_000,
    );
    assert.ok(onprem.double.get(NETPOL, 'inference', 'users-own') !== undefined, 'a NetworkPolicy without the ownership label is never touched');
  });

  it("aws-train's credential cannot report onprem-inference's workloads: the server refuses the subject, the hub refuses a foreign body", async () => {
    const nc = await connectWith(set, AWS, readFileSync(aws.credsFile, 'utf8'));
    const stored = async () => (await etcdSnapshot(set.etcdUrl, [WORKLOADS_PREFIX])).keys;
    const before = await stored();
    await assert.rejects(
      nc.request(agentSubject(ONPREM, AgentSubjectKind.Workloads), JSON.stringify(workloads(ONPREM, '10.32.1.50')), { timeout: 5000 }),
      (err: unknown) => {
        for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return true;
        return false;
      },
    );
    const nc2 = await connectWith(set, AWS, readFileSync(aws.credsFile, 'utf8'));
    const subject = agentSubject(AWS, AgentSubjectKind.Workloads);
    const padded = JSON.stringify({ ...workloads(AWS, '10.16.9.9'), pad: 'x'.repeat(MAX_MESSAGE_BYTES + 1024) });
    const hostile: { what: string; body: string | Uint8Array; reason: string }[] = [
      { what: 'a body claiming onprem-inference', body: JSON.stringify(workloads(ONPREM, '10.32.1.50')), reason: 'wrong-cluster' },
      { what: 'malformed JSON', body: '{"v":1,"cluster":"aws-train",', reason: 'malformed' },
      { what: 'an oversized report', body: new TextEncoder().encode(padded), reason: 'oversized' },
      { what: 'a CIDR as a pod address', body: JSON.stringify(workloads(AWS, '10.16.0.0/16')), reason: 'invalid' },
    ];
    for (const h of hostile) {
      const reply = await nc2.request(subject, h.body, { timeout: 5000 });
      const body = reply.json<{ ok: boolean; reason?: string }>();
      assert.deepEqual([body.ok, body.reason], [false, h.reason], `${h.what}: ${JSON.stringify(body)}`);
    }
    assert.deepEqual(await stored(), before, 'nothing written');
    // A pod address outside aws-train's pod CIDRs (onprem's llm-serving address) is dropped: the report is stored without it.
    const reply = await nc2.request(subject, JSON.stringify(workloads(AWS, '10.32.1.10', { session: 'forger-session-2', seq: 5 })), { timeout: 5000 });
    assert.equal(reply.json<{ ok: boolean }>().ok, true);
    const parts = Object.entries(await stored()).filter(([k]) => k.startsWith(`${WORKLOADS_PREFIX}${AWS}/`));
    assert.ok(parts.length > 0);
    assert.ok(
      parts.every(([, v]) => !v.value.includes('10.32.1.10')),
      "another cluster's address never reaches the store",
    );
    const metrics = await set.metrics();
    assert.match(metrics, /workloads.*rejected_wrong_cluster|rejected_wrong_cluster.*workloads/);
    assert.match(metrics, /pod.*rejected_outside_cluster_ranges|rejected_outside_cluster_ranges.*pod/);
  });
});
