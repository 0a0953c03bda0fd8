// The agent's two legs of GlobalPolicy (issue 10 §2, §5) against the in-memory Kubernetes port
// (MemoryCluster) and an in-memory hub, on a ManualClock: the workloads report (complete,
// coalesced, only when changed, in parts when large) and the compiled-policy snapshots applied as
// owned NetworkPolicies (newest (term, seq) wins, parts gathered, deletes only from a complete
// snapshot, someone else's object left alone, a refused object a condition and a retry — never a
// crash). Assertions read what MemoryCluster holds, what the hub received and the heartbeat.
import assert from 'node:assert/strict';
import {
  PROTOCOL_VERSION,
  type ClusterPolicyMessage,
  type PolicyObject,
  type PolicyRequest,
  type ReportReply,
  type Workloads,
} from '../../../controlplane/api/messages.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import type { PodObject } from '../../../cluster-agent/objects.ts';
import { SnapshotAssembler, planPolicies } from '../../../cluster-agent/planners/policy-plan.ts';
import { planWorkloadParts, workloadSet } from '../../../cluster-agent/planners/workload-plan.ts';
import { agentsOnClock } from './agents-on-clock.ts';
import { CLUSTER, FakeTransport, drive, settle } from './fake-hub.ts';

class PolicyHub extends FakeTransport {
  readonly workloadReports: Workloads[] = [];
  readonly policyRequests: PolicyRequest[] = [];
  onWorkloads: (w: Workloads) => Promise<ReportReply> = (w) => Promise.resolve({ ok: true, seq: w.seq, revision: 1 });
  workloads(w: Workloads): Promise<ReportReply> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.workloadReports.push(w);
    return this.onWorkloads(w);
  }
  requestPolicy(r: PolicyRequest): void {
    this.policyRequests.push(r);
  }
  pushPolicy(p: ClusterPolicyMessage): void {
    this.events?.policy?.(p);
  }
}

const pod = (namespace: string, name: string, labels: Record<string, string>, ip: string | undefined, extra: Record<string, unknown> = {}): PodObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels },
  spec: {},
  status: ip === undefined ? { phase: 'Pending' } : { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  ...extra,
});

const np = (name: string, port: number, namespace = 'inference'): PolicyObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace, labels: { 'causeway.dev/compiled-from': 'globalpolicy' }, annotations: {} },
  specJson: JSON.stringify({
    podSelector: { matchLabels: { app: 'llm-serving' } },
    policyTypes: ['Ingress'],
    ingress: [{ ports: [{ protocol: 'TCP', port }] }],
  }),
});

const snapshot = (term: number, seq: number, objects: PolicyObject[], part?: { index: number; count: number }): ClusterPolicyMessage => ({
  v: PROTOCOL_VERSION,
  cluster: CLUSTER,
  term,
  seq,
  format: 'NetworkPolicy',
  ...(part === undefined ? {} : { part }),
  objects,
});

const policies = (kube: MemoryCluster): string[] =>
  kube
    .list('NetworkPolicy')
    .map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`)
    .sort();
const portOf = (kube: MemoryCluster, name: string): unknown =>
  (kube.object('NetworkPolicy', 'inference', name)?.spec as { ingress?: { ports?: { port?: number }[] }[] } | undefined)?.ingress?.[0]?.ports?.[0]?.port;

describe('agent: workloads report and compiled policy (MemoryCluster, in-memory hub, ManualClock)', () => {
  const agents = agentsOnClock({ workloadsCoalesceMs: 50, policyAskRetryMs: 1000 });

  it('reports namespaces with labels and running pods with IPs, complete; a pod IP change is one more report, no change none', async () => {
    const kube = new MemoryCluster();
    kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ml-training', labels: { team: 'ml' } } });
    kube.put(pod('ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.10'));
    kube.put(pod('ml-training', 'trainer-pending', { app: 'trainer' }, undefined));
    kube.put(pod('ml-training', 'host', { app: 'x' }, '192.168.0.4', { spec: { hostNetwork: true } }));
    const hub = new PolicyHub();
    agents.start(kube, hub);
    const first = await drive(agents.clock, 'a workloads report', () => hub.workloadReports[0]);
    assert.equal(first.cluster, CLUSTER);
    assert.deepEqual(first.namespaces, [{ name: 'ml-training', labels: { team: 'ml' } }]);
    assert.deepEqual(first.pods, [{ namespace: 'ml-training', name: 'trainer-0', labels: { app: 'trainer' }, ips: ['10.16.1.10'] }]);
    // Three changes in a burst: one report.
    kube.put(pod('ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.99'));
    kube.put(pod('ml-training', 'trainer-1', { app: 'trainer' }, '10.16.1.11'));
    kube.remove('Pod', 'ml-training', 'trainer-pending');
    const second = await drive(agents.clock, 'the moved pod reported', () => hub.workloadReports[1]);
    assert.deepEqual(
      second.pods.map((p) => `${p.name}=${p.ips.join(',')}`),
      ['trainer-0=10.16.1.99', 'trainer-1=10.16.1.11'],
    );
    assert.ok(second.seq > first.seq);
    // A change the report does not carry (a pod's annotation): no report.
    kube.put({
      ...pod('ml-training', 'trainer-1', { app: 'trainer' }, '10.16.1.11'),
      metadata: { name: 'trainer-1', namespace: 'ml-training', labels: { app: 'trainer' }, annotations: { a: 'b' } },
    });
    for (let i = 0; i < 20; i++) {
      agents.clock.advance(50);
      await settle();
    }
    assert.equal(hub.workloadReports.length, 2);
  });

  it('a workloads report that timed out but was stored is not taken for acknowledged: a set changed back is sent again', async () => {
    const kube = new MemoryCluster();
    kube.put(pod('ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.10'));
    const hub = new PolicyHub();
    // The hub's set as stored: every report is taken, and the second one's reply is lost.
    let stored: string[] = [];
    hub.onWorkloads = (w) => {
      stored = w.pods.map((p) => `${p.name}=${p.ips.join(',')}`);
      return w.seq === 2 ? Promise.reject(new Error('TIMEOUT')) : Promise.resolve({ ok: true, seq: w.seq, revision: w.seq });
    };
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the first set acknowledged', () => agent.metrics.workloadReportsSent === 1);
    kube.put(pod('ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.99'));
    await drive(agents.clock, 'the report whose reply is lost', () => hub.workloadReports.length === 2);
    kube.put(pod('ml-training', 'trainer-0', { app: 'trainer' }, '10.16.1.10'));
    await drive(agents.clock, 'the set as it is now acknowledged', () => agent.metrics.workloadReportsSent === 2);
    assert.deepEqual(stored, ['trainer-0=10.16.1.10']);
  });

  it('retries a refused workloads report on backoff, and sends a large set in parts of one seq', async () => {
    const kube = new MemoryCluster();
    for (let i = 0; i < 300; i++)
      kube.put(pod('ml-training', `trainer-${i}`, { app: 'trainer', idx: String(i) }, `10.16.${Math.floor(i / 200)}.${(i % 200) + 1}`));
    const hub = new PolicyHub();
    let refuse = 2;
    hub.onWorkloads = (w) => Promise.resolve(refuse-- > 0 ? { ok: false, reason: 'Unavailable', message: 'try again' } : { ok: true, seq: w.seq, revision: 1 });
    agents.start(kube, hub, { maxReportBytes: 8 * 1024 });
    const parts = await drive(agents.clock, 'every part of one seq acknowledged', () => {
      const last = hub.workloadReports.at(-1);
      return last?.part !== undefined && last.part.index === last.part.count - 1 ? hub.workloadReports.filter((w) => w.seq === last.seq) : undefined;
    });
    assert.ok(parts.length > 1, 'sent in parts');
    assert.deepEqual(
      parts.map((p) => p.part?.index),
      parts.map((_, i) => i),
    );
    assert.equal(parts.flatMap((p) => p.pods).length, 300);
    assert.ok(parts.every((p) => new TextEncoder().encode(JSON.stringify(p)).byteLength < 12 * 1024));
  });

  it('applies a snapshot as owned NetworkPolicies; a newer one replaces it and deletes what it no longer names; an older one is ignored', async () => {
    const kube = new MemoryCluster();
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'asked for the policy', () => hub.policyRequests.length > 0);
    assert.deepEqual(policies(kube), []);
    hub.pushPolicy(snapshot(5, 1, [np('causeway-a', 8000), np('causeway-b', 9000)]));
    await drive(agents.clock, 'two policies', () => policies(kube).length === 2);
    assert.equal(kube.object('NetworkPolicy', 'inference', 'causeway-a')?.metadata.labels?.['causeway.dev/owned-by'], 'agent');
    await drive(agents.clock, 'applied in the heartbeat', () => agent.heartbeat().policy?.seq === 1);
    // Someone else's NetworkPolicy is never touched.
    kube.put({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'users-own', namespace: 'inference' }, spec: { podSelector: {} } });
    hub.pushPolicy(snapshot(5, 2, [np('causeway-a', 8001)]));
    await drive(
      agents.clock,
      'b deleted, a updated',
      () => policies(kube).join() === 'inference/causeway-a,inference/users-own' && portOf(kube, 'causeway-a') === 8001,
    );
    hub.pushPolicy(snapshot(5, 1, [np('causeway-a', 8000), np('causeway-b', 9000)]));
    // A later leader's term wins over a higher seq of an earlier one.
    hub.pushPolicy(snapshot(7, 1, [np('causeway-c', 7000)]));
    await drive(agents.clock, 'term 7 applied', () => agent.heartbeat().policy?.term === 7);
    assert.deepEqual(policies(kube), ['inference/causeway-c', 'inference/users-own']);
    const c = agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied');
    assert.equal(c?.status, 'True');
  });

  it('deletes only after every part of a snapshot arrived; a part of another (term, seq) does not complete it', async () => {
    const kube = new MemoryCluster();
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(3, 1, [np('causeway-a', 8000), np('causeway-b', 9000)]));
    await drive(agents.clock, 'two policies', () => policies(kube).length === 2);
    hub.pushPolicy(snapshot(3, 2, [np('causeway-a', 8000)], { index: 0, count: 2 }));
    hub.pushPolicy(snapshot(3, 3, [], { index: 1, count: 2 }));
    for (let i = 0; i < 20; i++) {
      agents.clock.advance(50);
      await settle();
    }
    assert.deepEqual(policies(kube), ['inference/causeway-a', 'inference/causeway-b'], 'nothing deleted from an incomplete snapshot');
    hub.pushPolicy(snapshot(3, 3, [], { index: 0, count: 2 }));
    await drive(agents.clock, 'the complete seq 3 (no objects) applied', () => agent.heartbeat().policy?.seq === 3);
    assert.deepEqual(policies(kube), []);
  });

  it('a refused NetworkPolicy (a missing namespace) is a False condition and a retry with backoff, and the rest stays; once the namespace exists it applies', async () => {
    const kube = new MemoryCluster({ namespaces: ['inference'] });
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(1, 1, [np('causeway-a', 8000)]));
    await drive(agents.clock, 'a applied', () => policies(kube).length === 1);
    hub.pushPolicy(snapshot(1, 2, [np('causeway-b', 9000), np('causeway-x', 1, 'missing')]));
    const failed = await drive(agents.clock, 'a False condition', () =>
      agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied' && x.status === 'False'),
    );
    assert.equal(failed.reason, 'ApplyFailed');
    assert.match(failed.message, /missing\/causeway-x/);
    // Stale ones stay until the whole snapshot applies.
    assert.deepEqual(policies(kube), ['inference/causeway-a', 'inference/causeway-b']);
    const errors = agent.metrics.policyApplyErrors;
    for (let i = 0; i < 20; i++) {
      agents.clock.advance(10);
      await settle();
    }
    assert.ok(
      agent.metrics.policyApplyErrors - errors < 5,
      `retried with backoff, not spinning (${agent.metrics.policyApplyErrors - errors} attempts in 200 ms)`,
    );
    kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'missing' } });
    await drive(agents.clock, 'applied once the namespace exists', () => agent.heartbeat().policy?.seq === 2, 20_000);
    assert.deepEqual(policies(kube), ['inference/causeway-b', 'missing/causeway-x']);
  });

  it('asks for the policy again until a snapshot arrives, and again after a reconnect', async () => {
    const kube = new MemoryCluster();
    const hub = new PolicyHub();
    agents.start(kube, hub);
    await drive(agents.clock, 'asked twice', () => hub.policyRequests.length >= 2, 5000);
    hub.pushPolicy(snapshot(1, 1, []));
    await settle();
    const asked = hub.policyRequests.length;
    for (let i = 0; i < 30; i++) {
      agents.clock.advance(100);
      await settle();
    }
    assert.equal(hub.policyRequests.length, asked, 'answered: no more asking');
    hub.setUp(false);
    hub.setUp(true);
    await drive(agents.clock, 'asked after the reconnect', () => hub.policyRequests.length > asked);
  });
});

describe('agent planners: workload set and policy plan (pure)', () => {
  it('workloadSet: sorted, host-network, finished and address-less pods left out, exported services give selectors', () => {
    const set = workloadSet(
      [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b', labels: { x: '1' } } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
      ],
      [
        pod('b', 'z', { app: 'z' }, '10.0.0.2'),
        pod('a', 'y', { app: 'y' }, '10.0.0.1'),
        pod('a', 'done', {}, '10.0.0.3', { status: { phase: 'Succeeded', podIP: '10.0.0.3' } }),
        pod('a', 'h', {}, '10.0.0.4', { spec: { hostNetwork: true } }),
        pod('a', 'bad', {}, 'not-an-ip'),
      ],
      [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'a' }, spec: { selector: { app: 'y' } } }],
    );
    assert.deepEqual(
      set.namespaces.map((n) => n.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      set.pods.map((p) => p.name),
      ['y', 'z'],
    );
    assert.equal(set.skipped, 1);
    assert.deepEqual(set.serviceSelectors, [{ namespace: 'a', name: 's', matchLabels: { app: 'y' } }]);
    assert.equal(planWorkloadParts(set, 900 * 1024).length, 1);
    assert.equal(planWorkloadParts(set, 900 * 1024)[0]?.part, undefined);
  });

  it('planPolicies: applies what differs, deletes owned only, leaves names others own', () => {
    const own = (name: string, port: number) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: 'n', uid: `u-${name}`, labels: { 'causeway.dev/owned-by': 'agent' } },
      spec: { port },
    });
    const plan = planPolicies([own('a', 1), own('b', 2), own('c', 3)], [own('a', 1), own('b', 9), own('old', 4)], new Set(['n/c']));
    assert.deepEqual(
      plan.apply.map((o) => o.metadata.name),
      ['b'],
    );
    assert.deepEqual(plan.delete, [{ namespace: 'n', name: 'old', uid: 'u-old' }]);
    assert.deepEqual(plan.notOwned, ['n/c']);
  });

  it('SnapshotAssembler: completes only when every part of one stamp is in; older stamps dropped', () => {
    const a = new SnapshotAssembler();
    assert.equal(a.add(snapshot(2, 5, [np('x', 1)], { index: 1, count: 2 })), undefined);
    assert.equal(a.add(snapshot(2, 4, [np('old', 1)], { index: 0, count: 2 })), undefined);
    const done = a.add(snapshot(2, 5, [np('y', 1)], { index: 0, count: 2 }));
    assert.deepEqual(
      done?.objects.map((o) => o.metadata.name),
      ['y', 'x'],
    );
  });
});
