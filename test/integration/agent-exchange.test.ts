// The real agent (runAgent: KubeCluster + NatsHubTransport + Agent) against the Kubernetes API
// double (a test double of kube-apiserver, test/harness/kube-api-double.ts) and a real
// nats-server in operator mode, with the agent's own credential. A small hub stand-in, connected
// as the hub user, answers reports and syncs and publishes import batches. Assertions read the
// double's state.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import {
  PROTOCOL_VERSION,
  heartbeatCodec,
  importBatchCodec,
  reportCodec,
  reportReplyCodec,
  syncRequestCodec,
  type Heartbeat,
  type ImportBatch,
  type ImportState,
  type Report,
  type SyncRequest,
} from '../../controlplane/api/messages.ts';
import { AgentSubjectKind, ClusterSubjectKind, agentSubject, clusterSubject } from '../../controlplane/api/subjects.ts';
import { issueAgentUser } from '../../controlplane/identity/nats-identity.ts';
import { silentLogger } from '../../cluster-agent/agent.ts';
import { runAgent, type RunningAgent } from '../../cluster-agent/main.ts';
import { NatsHubTransport } from '../../cluster-agent/nats-transport.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeObject } from '../harness/kube-api-double.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

/** Plays the hub on the hub's NATS user: records what the agent sends, answers as told. */
interface HubStandIn {
  readonly reports: Report[];
  readonly syncs: SyncRequest[];
  readonly heartbeats: Heartbeat[];
  readonly invalid: string[];
  answering: boolean;
  /** Replies to a sync: the first message goes to the reply subject; `pushRest` publishes the others on imports. */
  syncReply: (req: SyncRequest) => ImportBatch[];
  pushRest: boolean;
  publish(batch: ImportBatch): void;
}

async function startHubStandIn(nats: TestNats, cluster: string): Promise<HubStandIn> {
  const nc: NatsConnection = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(nats.hub.creds)) });
  onCleanup(() => nc.close());
  const hub: HubStandIn = {
    reports: [],
    syncs: [],
    heartbeats: [],
    invalid: [],
    answering: true,
    pushRest: false,
    syncReply: () => [],
    publish: (b) => {
      nc.publish(clusterSubject(cluster, ClusterSubjectKind.Imports), importBatchCodec.encode(b));
    },
  };
  nc.subscribe(agentSubject(cluster, AgentSubjectKind.Report), {
    callback: (_err, msg) => {
      const r = reportCodec.decode(msg.data, cluster);
      if (!r.ok) {
        hub.invalid.push(r.message);
        return;
      }
      hub.reports.push(r.value);
      if (hub.answering) msg.respond(reportReplyCodec.encode({ ok: true, seq: r.value.seq, revision: hub.reports.length }));
    },
  });
  nc.subscribe(agentSubject(cluster, AgentSubjectKind.Sync), {
    callback: (_err, msg) => {
      const r = syncRequestCodec.decode(msg.data, cluster);
      if (!r.ok) {
        hub.invalid.push(r.message);
        return;
      }
      hub.syncs.push(r.value);
      if (!hub.answering || msg.reply === undefined) return;
      const [first, ...rest] = hub.syncReply(r.value);
      if (first !== undefined) msg.respond(importBatchCodec.encode(first));
      for (const b of rest) nc.publish(hub.pushRest ? clusterSubject(cluster, ClusterSubjectKind.Imports) : msg.reply, importBatchCodec.encode(b));
    },
  });
  nc.subscribe(agentSubject(cluster, AgentSubjectKind.Heartbeat), {
    callback: (_err, msg) => {
      const h = heartbeatCodec.decode(msg.data, cluster);
      if (h.ok) hub.heartbeats.push(h.value);
      else hub.invalid.push(h.message);
    },
  });
  await nc.flush();
  return hub;
}

function batch(
  cluster: string,
  kind: 'snapshot' | 'delta',
  from: number,
  revision: number,
  upserts: ImportState[],
  extra: Partial<ImportBatch> = {},
): ImportBatch {
  return { v: PROTOCOL_VERSION, cluster, kind, fromRevision: from, revision, upserts, removals: [], exportStatus: [], ...extra };
}

function importOf(name: string, endpoints: number, from = 'aws-train'): ImportState {
  return {
    namespace: 'apps',
    name,
    type: 'ClusterSetIP',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    ips: ['10.250.0.7'],
    sessionAffinity: 'None',
    clusters: [from],
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      cluster: from,
      addresses: [`10.40.${Math.floor(i / 200)}.${(i % 200) + 1}`],
      ready: true,
      serving: true,
      terminating: false,
      zone: 'us-east-1a',
    })),
  };
}

interface Setup {
  readonly cluster: string;
  readonly double: KubeApiDouble;
  readonly objects: KubernetesObjectApi;
  readonly hub: HubStandIn;
  start(extra?: { metricsListen?: string }): Promise<RunningAgent>;
}

let counter = 0;

async function setup(nats: TestNats): Promise<Setup> {
  const cluster = `agent-${process.pid % 1000}-${++counter}`;
  const double = await startKubeApiDouble({ clusterName: cluster, keepAliveMs: 1000 });
  onCleanup(() => double.stop());
  for (const name of ['apps', 'inference']) double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const dir = tempDir('agent');
  const kubeconfig = join(dir, 'kubeconfig');
  await double.writeKubeconfig(kubeconfig);
  const creds = await issueAgentUser(nats.identity, cluster);
  const credsFile = join(dir, 'agent.creds');
  writeFileSync(credsFile, creds.creds, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(double.kubeconfigYaml());
  const hub = await startHubStandIn(nats, cluster);
  return {
    cluster,
    double,
    hub,
    objects: KubernetesObjectApi.makeApiClient(kc),
    start: async (extra = {}) => {
      const agent = await runAgent({
        ...extra,
        cluster,
        natsUrl: nats.url,
        credsFile,
        kubeconfig,
        heartbeatIntervalMs: 100,
        resyncJitterMs: 0,
        retryBaseMs: 50,
        retryMaxMs: 500,
        requestTimeoutMs: 500,
        logger: silentLogger,
      });
      onCleanup(() => agent.stop());
      return agent;
    },
  };
}

function seedExport(double: KubeApiDouble, name: string, addresses: string[], node?: string): void {
  double.seed({
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: { name, namespace: 'inference', annotations: { 'causeway.dev/export-to': 'gpu=true' } },
  });
  double.seed({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'inference' },
    spec: { ports: [{ name: 'http', port: 8000, protocol: 'TCP', targetPort: 8000 }] },
  });
  double.seed(slice(name, `${name}-abcde`, addresses, node));
}

function slice(service: string, name: string, addresses: string[], node?: string, ready = true): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: 'inference',
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready }, zone: 'dc1-a', ...(node !== undefined ? { nodeName: node } : {}) })),
  };
}

const uidOf = (o: KubeObject | undefined): unknown => o?.metadata['uid'];
const sliceNames = (double: KubeApiDouble, ns = 'apps'): string[] =>
  double
    .list('endpointslices', ns)
    .map((o) => o.metadata.name)
    .sort();

describe('agent against the Kubernetes API double (test double) and a real nats-server', function () {
  this.timeout(60_000);
  let nats: TestNats;
  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await nats.stop();
  });

  it('reports a ServiceExport in full first (ports, endpoints, node GPU labels, export-to), then an endpoint change incrementally', async () => {
    const s = await setup(nats);
    s.double.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'gpu-1', labels: { 'nvidia.com/gpu.product': 'H100', 'kubernetes.io/os': 'linux' } } });
    seedExport(s.double, 'llm-serving', ['10.1.0.5', '10.1.0.6'], 'gpu-1');
    const agent = await s.start();
    const full = await waitFor('a full report', () => s.hub.reports.find((r) => r.full && r.upserts.length > 0));
    const se = s.double.get('serviceexports', 'inference', 'llm-serving');
    assert.deepEqual(full.upserts, [
      {
        namespace: 'inference',
        name: 'llm-serving',
        exportedAt: new Date(String(se?.metadata['creationTimestamp'])).toISOString(),
        type: 'ClusterSetIP',
        ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
        sessionAffinity: 'None',
        // The API server (and so the double) defaults it on every Service but ExternalName.
        internalTrafficPolicy: 'Cluster',
        exportTo: { matchLabels: { gpu: 'true' } },
        endpoints: ['10.1.0.5', '10.1.0.6'].map((a) => ({
          addresses: [a],
          ready: true,
          serving: true,
          terminating: false,
          nodeName: 'gpu-1',
          zone: 'dc1-a',
          labels: { 'nvidia.com/gpu.product': 'H100' },
        })),
        endpointPorts: [{ name: 'http', port: 8000, protocol: 'TCP' }],
      },
    ]);
    assert.equal(full.seq, 1);

    await s.objects.patch(
      slice('llm-serving', 'llm-serving-abcde', ['10.1.0.5', '10.1.0.6'], 'gpu-1', false),
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    const incremental = await waitFor('an incremental report', () => s.hub.reports.find((r) => !r.full && r.upserts.length > 0));
    assert.deepEqual(
      incremental.upserts[0]?.endpoints.map((e) => e.ready),
      [false, false],
    );
    assert.ok(incremental.seq > full.seq);
    assert.deepEqual(s.hub.invalid, []);
    const hb = await waitFor('a heartbeat saying Kubernetes is reachable', () =>
      s.hub.heartbeats.find((h) => h.conditions?.find((c) => c.type === 'KubernetesReachable')?.status === 'True'),
    );
    assert.equal(hb.agentVersion, '0.1.0');
    assert.ok(agent.metrics.reportsSent >= 2);
  });

  it('applies a snapshot as ServiceImport + EndpointSlices in the double, a delta changes them, a gap triggers a sync, removal deletes only owned objects', async () => {
    const s = await setup(nats);
    s.hub.syncReply = (req) =>
      req.afterRevision === 0
        ? [batch(s.cluster, 'snapshot', 0, 10, [importOf('web', 150)])]
        : [batch(s.cluster, 'delta', req.afterRevision, 20, [importOf('web', 2)])];
    const agent = await s.start();
    await waitFor('two slices', () => sliceNames(s.double).length === 2);
    const si = s.double.get('serviceimports', 'apps', 'web');
    assert.deepEqual(si?.['spec'], {
      type: 'ClusterSetIP',
      ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
      ips: ['10.250.0.7'],
      sessionAffinity: 'None',
    });
    assert.equal(si.metadata.labels?.['causeway.dev/owned-by'], 'agent');
    await waitFor(
      'the ServiceImport status',
      () => JSON.stringify(s.double.get('serviceimports', 'apps', 'web')?.['status']) === JSON.stringify({ clusters: [{ cluster: 'aws-train' }] }),
    );
    assert.deepEqual(sliceNames(s.double), ['web-aws-train-ipv4-0', 'web-aws-train-ipv4-1']);
    const first = s.double.get('endpointslices', 'apps', 'web-aws-train-ipv4-0');
    assert.deepEqual(first?.metadata.labels, {
      'causeway.dev/owned-by': 'agent',
      'multicluster.kubernetes.io/service-name': 'web',
      'multicluster.kubernetes.io/source-cluster': 'aws-train',
      'endpointslice.kubernetes.io/managed-by': 'agent.causeway.dev',
    });
    assert.equal((first.endpoints as unknown[]).length, 100);
    assert.deepEqual((first.endpoints as unknown[])[0], {
      addresses: ['10.40.0.1'],
      conditions: { ready: true, serving: true, terminating: false },
      zone: 'us-east-1a',
      hints: { forZones: [{ name: 'us-east-1a' }] },
    });
    await waitFor('applied revision 10', () => agent.agent.appliedRevision() === 10);

    s.hub.publish(batch(s.cluster, 'delta', 10, 11, [importOf('web', 3)]));
    await waitFor(
      'one slice of three',
      () => sliceNames(s.double).length === 1 && (s.double.get('endpointslices', 'apps', 'web-aws-train-ipv4-0')?.['endpoints'] as unknown[]).length === 3,
    );

    s.hub.publish(batch(s.cluster, 'delta', 15, 16, [importOf('web', 9)]));
    await waitFor('a sync from revision 11', () => s.hub.syncs.find((r) => r.afterRevision === 11));
    await waitFor('the synced delta applied', () => (s.double.get('endpointslices', 'apps', 'web-aws-train-ipv4-0')?.['endpoints'] as unknown[]).length === 2);
    await waitFor('applied revision 20', () => agent.agent.appliedRevision() === 20);

    s.double.seed({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-by-hand', namespace: 'apps', labels: { 'multicluster.kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [],
    });
    s.hub.publish(batch(s.cluster, 'delta', 20, 21, [], { removals: [{ namespace: 'apps', name: 'web' }] }));
    await waitFor('the import removed', () => s.double.get('serviceimports', 'apps', 'web') === undefined);
    await waitFor('only the unowned slice left', () => sliceNames(s.double).join() === 'web-by-hand');
  });

  it('keeps every object while the hub is silent and across a NATS restart, and keeps retrying', async () => {
    const s = await setup(nats);
    seedExport(s.double, 'llm-serving', ['10.1.0.5']);
    s.hub.syncReply = () => [batch(s.cluster, 'snapshot', 0, 5, [importOf('web', 120)])];
    const agent = await s.start();
    await waitFor('applied revision 5', () => agent.agent.appliedRevision() === 5);
    const before = s.double
      .list('endpointslices', 'apps')
      .map((o) => `${o.metadata.name}:${String(uidOf(o))}`)
      .sort();

    s.hub.answering = false;
    const reportsBefore = s.hub.reports.length;
    s.double.seed(slice('llm-serving', 'llm-serving-more', ['10.1.0.7']));
    s.hub.publish(batch(s.cluster, 'delta', 7, 8, [importOf('web', 1)]));
    await waitFor('retried reports and syncs', () => s.hub.reports.length >= reportsBefore + 2 && s.hub.syncs.filter((r) => r.afterRevision === 5).length >= 2);
    await waitFor('failed reports counted', () => agent.metrics.reportFailures >= 2);

    await nats.restart();
    await waitFor('reports after the NATS restart', () => s.hub.reports.length >= reportsBefore + 4);
    const after = s.double
      .list('endpointslices', 'apps')
      .map((o) => `${o.metadata.name}:${String(uidOf(o))}`)
      .sort();
    assert.deepEqual(after, before, 'nothing withdrawn or recreated while the hub was away');
    assert.equal(agent.metrics.objectsDeleted, 0);

    s.hub.answering = true;
    s.hub.syncReply = (req) => [batch(s.cluster, 'delta', req.afterRevision, 9, [importOf('web', 1)])];
    await waitFor('a full report once the hub answers', () =>
      s.hub.reports.some((r, i) => i >= reportsBefore && r.full && r.upserts[0]?.endpoints.length === 2),
    );
    await waitFor('converged after the hub returned', () => agent.agent.appliedRevision() === 9);
    assert.deepEqual(sliceNames(s.double), ['web-aws-train-ipv4-0']);
  });

  it('a restarted agent adopts existing objects and converges from a chunked snapshot without recreating them', async () => {
    const s = await setup(nats);
    s.hub.syncReply = () => [batch(s.cluster, 'snapshot', 0, 30, [importOf('web', 150), importOf('old', 2)])];
    const first = await s.start();
    await waitFor('first agent applied', () => first.agent.appliedRevision() === 30);
    await first.stop();
    const uids = new Map(s.double.list('endpointslices', 'apps').map((o) => [o.metadata.name, uidOf(o)]));
    const importUid = uidOf(s.double.get('serviceimports', 'apps', 'web'));
    assert.equal(uids.size, 3);

    s.hub.pushRest = true;
    s.hub.syncReply = () => [
      batch(s.cluster, 'snapshot', 0, 31, [importOf('web', 150)], { chunk: { index: 0, count: 2 } }),
      batch(s.cluster, 'snapshot', 0, 31, [], { chunk: { index: 1, count: 2 } }),
    ];
    s.hub.answering = false;
    const second = await s.start();
    await waitFor('the restarted agent asks for a snapshot', () => s.hub.syncs.filter((r) => r.afterRevision === 0).length >= 2);
    await waitFor('adoption', () => second.metrics.objectsAdopted === 5);
    assert.equal(s.double.get('serviceimports', 'apps', 'old') !== undefined, true, 'nothing deleted before the snapshot');
    s.hub.answering = true;
    await waitFor('the restarted agent converged', () => second.agent.appliedRevision() === 31);
    await waitFor('the stale import deleted', () => s.double.get('serviceimports', 'apps', 'old') === undefined);
    assert.equal(uidOf(s.double.get('serviceimports', 'apps', 'web')), importUid);
    for (const name of ['web-aws-train-ipv4-0', 'web-aws-train-ipv4-1'])
      assert.equal(uidOf(s.double.get('endpointslices', 'apps', name)), uids.get(name), `${name} kept its uid`);
    assert.equal(second.metrics.objectsApplied, 0, 'matching adopted objects are not rewritten');
  });

  it('a sync while no hub is subscribed fails at once ("no responders") instead of waiting out its first-reply window', async () => {
    const name = `agent-${process.pid % 1000}-alone`;
    const transport = new NatsHubTransport({ cluster: name, servers: nats.url, creds: (await issueAgentUser(nats.identity, name)).creds });
    const ac = new AbortController();
    onCleanup(async () => {
      ac.abort();
      await transport.close();
    });
    await transport.start({ imports: () => undefined, connection: () => undefined }, ac.signal);
    await waitFor('connected', () => transport.connected());
    const started = performance.now();
    await assert.rejects(transport.sync({ v: PROTOCOL_VERSION, cluster: name, session: 'session-alone', afterRevision: 0 }, ac.signal), /no responders/);
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `failed after ${Math.round(ms)} ms; the first-reply window is 10 s`);
  });

  it('serves its counters and revisions on /metrics at the metricsListen address, and closes it on stop', async () => {
    const s = await setup(nats);
    s.hub.syncReply = () => [batch(s.cluster, 'snapshot', 0, 12, [importOf('web', 3)])];
    const agent = await s.start({ metricsListen: '127.0.0.1:0' });
    const url = agent.metricsUrl;
    assert.ok(url !== undefined);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await waitFor('applied revision 12', () => agent.agent.appliedRevision() === 12);
    const scrape = async (): Promise<string> => {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      return res.text();
    };
    const text = await waitFor('the scrape shows revision 12', async () => {
      const t = await scrape();
      return t.includes(`causeway_agent_applied_revision{cluster="${s.cluster}"} 12`) ? t : undefined;
    });
    assert.match(text, new RegExp(`^causeway_agent_state_revision\\{cluster="${s.cluster}"\\} 12$`, 'm'));
    assert.match(text, new RegExp(`^causeway_agent_failing_services\\{cluster="${s.cluster}"\\} 0$`, 'm'));
    assert.match(text, new RegExp(`^causeway_agent_objects_applied_total\\{cluster="${s.cluster}"\\} ${agent.metrics.objectsApplied}$`, 'm'));
    assert.ok(agent.metrics.objectsApplied >= 2);
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
    await agent.stop();
    await assert.rejects(fetch(url), 'the server is closed with the agent');
  });

  it('restarts its informers after the double drops watches, fails with 500 and compacts history', async () => {
    const s = await setup(nats);
    seedExport(s.double, 'llm-serving', ['10.1.0.5']);
    await s.start();
    await waitFor('the full report', () => s.hub.reports.find((r) => r.full && r.upserts.length === 1));
    // ServiceExports, Services, EndpointSlices, Nodes, and (for policy) Namespaces and Pods.
    const watches = 6;
    await waitFor('watches open', () => s.double.openWatches() === watches);

    s.double.failNext(3, { match: (method) => method === 'GET' });
    assert.equal(s.double.dropWatches(), watches);
    await waitFor('watches reopened', () => s.double.openWatches() === watches, 15_000);
    s.double.seed(slice('llm-serving', 'llm-serving-2', ['10.1.0.9']));
    await waitFor('a report after the informer restart', () => s.hub.reports.find((r) => r.upserts[0]?.endpoints.length === 2));

    s.double.closeWatches();
    s.double.seed(slice('llm-serving', 'llm-serving-3', ['10.1.0.10']));
    s.double.compact();
    await waitFor('a report after the relist (410)', () => s.hub.reports.find((r) => r.upserts[0]?.endpoints.length === 3), 15_000);
  });
});
