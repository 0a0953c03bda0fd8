// A benchmark worker process: hosts a share of the simulated clusters, each the REAL agent
// (cluster-agent/agent.ts) with an in-memory Kubernetes side (BenchCluster, a MemoryCluster) and
// the real NATS transport with the cluster's own credential — or, for a plan marked light, a
// light consumer (light-agent.ts: the same transport, codec, reporter and sync, no Kubernetes side). On command it makes endpoint changes
// at a paced, open-loop rate in the clusters it hosts, and it reports every change it makes and
// every change its agents apply, with timestamps, to the coordinator (run.ts) over IPC.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, type AgentLogger } from '../cluster-agent/agent.ts';
import type { KubeObject } from '../cluster-agent/objects.ts';
import { NatsHubTransport } from '../cluster-agent/nats-transport.ts';
import { BenchCluster } from './bench-cluster.ts';
import { octets } from './dataset.ts';
import { LightAgent } from './light-agent.ts';
import { LightCluster } from './light-cluster.ts';
import { summarize } from './stats.ts';
import { nowMs, type AgentPlan, type AgentTuning, type FromWorker, type ToWorker, type WorkerStatus } from './ipc.ts';

interface Hosted {
  readonly plan: AgentPlan;
  cluster: BenchCluster | LightCluster;
  transport: NatsHubTransport;
  agent: Agent | LightAgent;
  /** The source EndpointSlice of each export, mutated in place and written with put(). */
  readonly slices: KubeObject[];
  syncBase: number;
  /** Since the last `mark` (status().sinceMark): whether it was seen disconnected, and when it got where. */
  sinceMark: { down: boolean; reconnectedAt?: number; syncedAt?: number; servedAt?: number };
}

const workerIndex = Number(process.env.BENCH_WORKER_INDEX ?? '0');
let natsUrl = '';
const hosted: Hosted[] = [];
let seqCounter = 0;
let warnings = 0;
let errors = 0;
let lastProblem: string | undefined;
let changeBuffer: number[] = [];
let phase = 'idle';
let reportRtts: number[] = [];
let reportSizes: number[] = [];
const batchKinds = { snapshot: 0, delta: 0, 'delta-solicited': 0 };
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
let appliedBuffer: number[] = [];

function send(msg: FromWorker): void {
  process.send?.(msg);
}

function flush(): void {
  if (changeBuffer.length > 0) {
    send({ type: 'changes', phase, data: changeBuffer });
    changeBuffer = [];
  }
  if (appliedBuffer.length > 0) {
    send({ type: 'applied', data: appliedBuffer });
    appliedBuffer = [];
  }
}
const flusher = setInterval(flush, 50);

const describe = (obj: object): string => {
  const err = (obj as { err?: unknown }).err;
  return err instanceof Error ? err.message : JSON.stringify(obj).slice(0, 300);
};
const logger: AgentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (obj, msg) => {
    warnings += 1;
    lastProblem = `${msg}: ${describe(obj)}`;
  },
  error: (obj, msg) => {
    errors += 1;
    lastProblem = `${msg}: ${describe(obj)}`;
  },
};

function seed(cluster: BenchCluster | LightCluster, plan: AgentPlan): KubeObject[] {
  const slices: KubeObject[] = [];
  for (const e of plan.exports) {
    cluster.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: e.name, namespace: e.namespace },
      spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
    });
    cluster.put({
      apiVersion: 'multicluster.x-k8s.io/v1alpha1',
      kind: 'ServiceExport',
      metadata: { name: e.name, namespace: e.namespace, annotations: { 'causeway.dev/export-to': `${e.audienceLabel}=in` } },
    });
    const slice: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${e.name}-bench`,
        namespace: e.namespace,
        labels: { 'kubernetes.io/service-name': e.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: e.endpoints }, (_, i) => ({
        addresses: [octets(e.firstAddress + i).join('.')],
        conditions: { ready: true, serving: true, terminating: false },
        hostname: 'init',
        zone: 'bench-a',
      })),
    };
    cluster.put(slice);
    slices.push(slice);
  }
  return slices;
}

function startAgent(plan: AgentPlan, cluster: BenchCluster | LightCluster, tuning: AgentTuning): { transport: NatsHubTransport; agent: Agent | LightAgent } {
  const transport = new NatsHubTransport({
    cluster: plan.cluster,
    servers: natsUrl,
    creds: plan.creds,
    onRejected: (subject, reason) => {
      warnings += 1;
      lastProblem = `rejected on ${subject}: ${reason}`;
    },
    onError: (what, err) => {
      warnings += 1;
      lastProblem = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    },
  });
  const jitter = tuning.resyncJitterMs !== undefined ? { resyncJitterMs: tuning.resyncJitterMs } : {};
  const agent =
    cluster instanceof LightCluster
      ? new LightAgent(cluster, transport, { cluster: plan.cluster, logger, ...jitter })
      : new Agent(cluster, transport, { cluster: plan.cluster, logger, ...jitter });
  // Timings of the agent's two hub-facing steps: report round trips, and import batches arriving.
  const report = transport.report.bind(transport);
  transport.report = async (r, signal) => {
    const t = nowMs();
    try {
      return await report(r, signal);
    } finally {
      reportRtts.push(nowMs() - t);
      reportSizes.push(r.upserts.length);
    }
  };
  const handleBatch = agent.handleBatch.bind(agent);
  agent.handleBatch = (b, solicited) => {
    batchKinds[b.kind === 'snapshot' ? 'snapshot' : solicited ? 'delta-solicited' : 'delta'] += 1;
    handleBatch(b, solicited);
  };
  return { transport, agent };
}

function onApplied(index: number): (seq: number, atMs: number) => void {
  return (seq, atMs) => {
    appliedBuffer.push(seq, index, atMs);
  };
}

async function start(agents: readonly AgentPlan[], tuning: AgentTuning): Promise<void> {
  for (const plan of agents) {
    const cluster = plan.light ? new LightCluster(onApplied(plan.index)) : new BenchCluster(onApplied(plan.index));
    const slices = seed(cluster, plan);
    const { transport, agent } = startAgent(plan, cluster, tuning);
    hosted.push({ plan, cluster, transport, agent, slices, syncBase: 0, sinceMark: { down: false } });
  }
  const spread = tuning.startSpreadMs ?? 0;
  await Promise.all(
    hosted.map(async (h, k) => {
      if (spread > 0) await new Promise((resolve) => setTimeout(resolve, (spread * k) / hosted.length));
      await h.agent.start();
    }),
  );
}

/** One change: endpoint `ep` of export `e` of cluster `h` gets a new marker, written as a controller would. */
function change(h: Hosted, e: number, ep: number): void {
  const slice = h.slices[e];
  const endpoints = slice?.endpoints as { hostname: string }[] | undefined;
  const endpoint = endpoints?.[ep];
  if (slice === undefined || endpoint === undefined) return;
  const seq = ++seqCounter * 16 + workerIndex;
  endpoint.hostname = `m${seq}`;
  const at = nowMs();
  h.cluster.put(slice);
  changeBuffer.push(seq, h.plan.index, e, ep, at);
}

function randomChange(sources: readonly Hosted[]): void {
  const h = sources[Math.floor(Math.random() * sources.length)];
  if (h === undefined) return;
  const e = Math.floor(Math.random() * h.plan.exports.length);
  const endpoints = h.plan.exports[e]?.endpoints ?? 0;
  change(h, e, Math.floor(Math.random() * endpoints));
}

/**
 * Open loop: changes are made on schedule whatever the system does with them. The k-th change
 * (from 0) is due at (k + offset) / rate s.
 */
function load(rate: number, durationMs: number, offset: number): void {
  reportRtts = [];
  reportSizes = [];
  batchKinds.snapshot = 0;
  batchKinds.delta = 0;
  batchKinds['delta-solicited'] = 0;
  loopDelay.reset();
  const sources = hosted.filter((h) => h.plan.exports.length > 0);
  const begin = nowMs();
  let made = 0;
  const total = Math.floor((rate * durationMs) / 1000);
  let behindMs = 0;
  const tick = (): void => {
    const elapsed = nowMs() - begin;
    const due = Math.min(total, Math.max(0, Math.floor((rate * elapsed) / 1000 + 1 - offset)));
    if (due - made > rate / 100) behindMs = Math.max(behindMs, ((due - made) / rate) * 1000);
    while (made < due) {
      randomChange(sources);
      made += 1;
    }
    // Open loop with a fixed window: a starved generator stops on time and says how much it made.
    if (made >= total || elapsed >= durationMs) {
      clearInterval(timer);
      flush();
      send({ type: 'load-done', made, behindMs });
    }
  };
  const timer = setInterval(tick, 2);
  if (rate <= 0 || sources.length === 0) {
    clearInterval(timer);
    send({ type: 'load-done', made: 0, behindMs: 0 });
  }
}

function successfulSyncs(a: Agent | LightAgent): number {
  return a.metrics.syncRequests - a.metrics.syncFailures;
}

function upToDate(a: Agent | LightAgent): boolean {
  const conditions = a.heartbeat().conditions ?? [];
  return conditions.every((c) => c.type === 'KubernetesReachable' || c.status === 'True');
}

let sinceMarkTimer: NodeJS.Timeout | undefined;

/** Polls every 50 ms, for up to 300 s or until every agent was served, where each agent got since the mark. */
function followSinceMark(): void {
  if (sinceMarkTimer !== undefined) clearInterval(sinceMarkTimer);
  const until = nowMs() + 300_000;
  const poll = (): void => {
    const now = nowMs();
    let served = 0;
    for (const h of hosted) {
      const m = h.sinceMark;
      if (!h.transport.connected()) m.down = true;
      else if (m.down) m.reconnectedAt ??= now;
      if (successfulSyncs(h.agent) > h.syncBase) {
        m.syncedAt ??= now;
        if (upToDate(h.agent)) m.servedAt ??= now;
      }
      if (m.servedAt !== undefined) served += 1;
    }
    if ((served === hosted.length || now > until) && sinceMarkTimer !== undefined) clearInterval(sinceMarkTimer);
  };
  sinceMarkTimer = setInterval(poll, 50);
}

function status(): WorkerStatus {
  const metrics: Record<string, number> = {};
  let converged = 0;
  let imported = 0;
  let expected = 0;
  let served = 0;
  let connected = 0;
  for (const h of hosted) {
    const n = h.cluster.importedEndpoints();
    imported += n;
    expected += h.plan.expectedImported;
    if (n === h.plan.expectedImported) converged += 1;
    if (successfulSyncs(h.agent) > h.syncBase && upToDate(h.agent)) served += 1;
    if (h.transport.connected()) connected += 1;
    for (const [k, v] of Object.entries(h.agent.metrics) as [string, number][]) metrics[k] = (metrics[k] ?? 0) + v;
  }
  const mem = process.memoryUsage();
  return {
    agents: hosted.length,
    converged,
    imported,
    expected,
    servedSinceMark: served,
    sinceMark: {
      reconnectedAt: hosted.flatMap((h) => (h.sinceMark.reconnectedAt !== undefined ? [h.sinceMark.reconnectedAt] : [])),
      syncedAt: hosted.flatMap((h) => (h.sinceMark.syncedAt !== undefined ? [h.sinceMark.syncedAt] : [])),
      servedAt: hosted.flatMap((h) => (h.sinceMark.servedAt !== undefined ? [h.sinceMark.servedAt] : [])),
    },
    connected,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    warnings,
    errors,
    lastProblem,
    metrics,
    timings: {
      reports: reportRtts.length,
      reportRttP50Ms: summarize(reportRtts).p50,
      reportRttP99Ms: summarize(reportRtts).p99,
      servicesPerReport: reportSizes.length === 0 ? 0 : reportSizes.reduce((a, b) => a + b, 0) / reportSizes.length,
      eventLoopDelayP50Ms: loopDelay.percentile(50) / 1e6,
      eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      eventLoopDelayMaxMs: loopDelay.max / 1e6,
      ...batchKinds,
    },
  };
}

async function restartAgent(index: number, cold: boolean, tuning: AgentTuning): Promise<void> {
  const h = hosted.find((x) => x.plan.index === index);
  if (h === undefined) throw new Error(`agent ${index} is not hosted here`);
  await h.agent.stop();
  await h.transport.close();
  if (cold || h.cluster instanceof LightCluster) {
    await h.cluster.stop();
    h.cluster = h.plan.light ? new LightCluster(onApplied(index)) : new BenchCluster(onApplied(index));
    h.slices.splice(0, h.slices.length, ...seed(h.cluster, h.plan));
  } else {
    h.cluster.recount();
  }
  // A restarted agent is a new process: its predecessor's garbage is not its to collect. (What the
  // worker's heap still holds, the in-memory cluster and the other agents, it still traces.)
  globalThis.gc?.();
  const startedAtMs = nowMs();
  const { transport, agent } = startAgent(h.plan, h.cluster, tuning);
  h.transport = transport;
  h.agent = agent;
  await agent.start();
  for (;;) {
    if (h.cluster.importedEndpoints() === h.plan.expectedImported && agent.stateRevision() > 0 && upToDate(agent)) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  send({ type: 'restarted', index, startedAtMs, convergedAtMs: nowMs(), imported: h.cluster.importedEndpoints() });
}

async function stop(): Promise<void> {
  clearInterval(flusher);
  await Promise.all(
    hosted.map(async (h) => {
      await h.agent.stop().catch(() => undefined);
      await h.transport.close().catch(() => undefined);
      await h.cluster.stop();
    }),
  );
}

const fail = (err: unknown): void => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
};

process.on('message', (raw) => {
  const msg = raw as ToWorker;
  switch (msg.type) {
    case 'start':
      natsUrl = msg.natsUrl;
      start(msg.agents, msg.tuning).then(() => {
        send({ type: 'started', atMs: nowMs() });
      }, fail);
      break;
    case 'load':
      flush();
      phase = msg.phase;
      load(msg.rate, msg.durationMs, msg.offset);
      break;
    case 'probe': {
      flush();
      phase = msg.phase;
      let made = 0;
      for (const index of msg.clusters) {
        const h = hosted.find((x) => x.plan.index === index);
        if (h !== undefined && h.plan.exports.length > 0) {
          change(h, 0, msg.endpoint % (h.plan.exports[0]?.endpoints ?? 1));
          made += 1;
        }
      }
      flush();
      send({ type: 'probed', made });
      break;
    }
    case 'status':
      send({ type: 'status', status: status() });
      break;
    case 'mark':
      for (const h of hosted) {
        h.syncBase = successfulSyncs(h.agent);
        h.sinceMark = { down: false };
      }
      followSinceMark();
      send({ type: 'status', status: status() });
      break;
    case 'restart-agent':
      restartAgent(msg.index, msg.cold, msg.tuning).catch(fail);
      break;
    case 'stop':
      stop().then(
        () => {
          process.exit(0);
        },
        () => {
          process.exit(1);
        },
      );
      break;
  }
});
// The coordinator went away (crash, Ctrl-C): nothing here may outlive it.
process.on('disconnect', () => {
  process.exit(1);
});
send({ type: 'ready' });
