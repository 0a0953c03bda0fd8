// `causeway demo`: a hub on its embedded default (its own etcd and nats-server on loopback), the
// example clusterset applied through the real API, and three simulated clusters — each a
// Kubernetes API test double in its own process (demo-clusters.ts) with a real agent process —
// exchanging the on-prem inference service (journey 2). Shows the result, then serves until Ctrl-C.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { KINDS } from '../api/kinds.ts';
import { ChildServer } from '../embedded/child-server.ts';
import { startHub, type RunningHub } from '../hub/hub.ts';
import { HubClient } from './client.ts';
import { startSimulatedCluster, type KubeObject, type SimulatedCluster } from './demo-clusters.ts';
import { readManifests } from './files.ts';
import { changeLine, printResources, printServices, table } from './print.ts';

export const EXAMPLES_DIR = resolve(import.meta.dirname, '../../examples');
const CAUSEWAY_BIN = resolve(import.meta.dirname, '../../bin/causeway.js');

/** The clusters of examples/ that get a simulated Kubernetes and an agent. */
const SIMULATED = ['aws-train', 'gcp-train', 'onprem-inference'] as const;
const EXPORTER = 'onprem-inference';

export interface RunningDemo {
  readonly hub: RunningHub;
  stop(): Promise<void>;
}

interface DemoContext {
  readonly hub: RunningHub;
  readonly client: HubClient;
  readonly dataDir: string;
  readonly out: (line: string) => void;
  /** Stops run in reverse order of registration: agents, then their clusters, then the hub. */
  readonly stops: (() => Promise<void>)[];
  readonly signal: AbortSignal;
}

export async function runDemo(options: { listen: string; dataDir: string }, out: (line: string) => void): Promise<RunningDemo> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(dataDir, 'hub.log');
  // The terminal is for the demo's story; the hub's JSON logs go to a file.
  const logger = pino({ name: 'causeway-hub' }, pino.destination({ dest: logFile, mkdir: true, sync: false }));
  out(`Starting the hub with its embedded etcd and nats-server (data in ${rel(dataDir)}) ...`);
  const hub = await startHub({ listen: options.listen, dataDir, logger });
  const ac = new AbortController();
  const stops: (() => Promise<void>)[] = [() => hub.stop()];
  const stop = async (): Promise<void> => {
    ac.abort();
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const client = new HubClient(hub.url, readFileSync(hub.adminTokenFile, 'utf8').trim());
    const ctx: DemoContext = { hub, client, dataDir, out, stops, signal: ac.signal };
    await applyExamples(ctx);
    const clusters = await startClusters(ctx);
    const consumers = await exportAndWait(ctx, clusters);
    await showResult(ctx, clusters, consumers);
    out('');
    out(`Hub:        ${hub.url}   (etcd ${hub.etcdUrls.join(',')}, nats ${hub.natsUrl})`);
    out(`Token file: ${rel(hub.adminTokenFile)}   (the CLI reads it by default)`);
    out(`Hub logs:   ${rel(logFile)}`);
    out('');
    out('Try, in another terminal:');
    out('  npx causeway get services');
    out('  npx causeway get clusters -o yaml');
    out('  npx causeway describe cluster onprem-inference');
    out('  npx causeway history');
    out('');
    out('Serving until Ctrl-C.');
    return { hub, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function rel(p: string): string {
  return relative(process.cwd(), p) || '.';
}

async function applyExamples({ client, out }: DemoContext): Promise<void> {
  out(`\nApplying ${rel(EXAMPLES_DIR)}/ ...`);
  const docs = readManifests([EXAMPLES_DIR], false);
  const result = await client.apply(
    docs.map((d) => ({ source: { ...d.source, ...(d.source.file !== undefined ? { file: rel(d.source.file) } : {}) }, object: d.object })),
    false,
  );
  for (const c of result.changes) out(`  ${changeLine(c, false)}`);
}

/** One simulated Kubernetes API per example cluster, each with its agent as a child process. */
async function startClusters({ hub, client, dataDir, out, stops, signal }: DemoContext): Promise<Map<string, SimulatedCluster>> {
  out('\nStarting three simulated clusters (Kubernetes API test doubles), each with a real agent process ...');
  const clusters = new Map<string, SimulatedCluster>();
  const agents: ChildServer[] = [];
  // Agents first, all at once; then their clusters (spliced in after the hub); the hub last.
  stops.push(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  for (const cluster of SIMULATED) {
    const dir = join(dataDir, 'clusters', cluster);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const simulated = await startSimulatedCluster({ name: cluster, dir, namespaces: ['default', 'kube-system', 'inference', 'ml-training'], signal });
    stops.splice(1, 0, () => simulated.stop());
    clusters.set(cluster, simulated);
    const credential = await client.credentials(cluster, false);
    const credsFile = join(dir, 'agent.creds');
    writeFileSync(credsFile, credential.creds, { mode: 0o600 });
    const agent = ChildServer.start({
      name: `agent ${cluster}`,
      command: process.execPath,
      args: [CAUSEWAY_BIN, 'agent', '--cluster', cluster, '--nats', hub.natsUrl, '--creds', credsFile, '--kubeconfig', simulated.kubeconfig],
      logFile: join(dir, 'agent.log'),
      pidFile: join(dir, 'agent.pid'),
    });
    agents.push(agent);
    out(`  ${cluster.padEnd(17)} Kubernetes API ${simulated.url}, agent pid ${agent.pid ?? '?'} (log ${rel(join(dir, 'agent.log'))})`);
  }
  return clusters;
}

/** Creates the exported service in the on-prem cluster and waits for its import elsewhere; returns the importers. */
async function exportAndWait({ out }: DemoContext, clusters: ReadonlyMap<string, SimulatedCluster>): Promise<string[]> {
  out(`\nExporting inference/llm-serving (TCP 8000) from ${EXPORTER} with a ServiceExport ...`);
  const onprem = clusters.get(EXPORTER);
  if (onprem !== undefined) for (const [path, o] of llmServing()) await onprem.create(path, o);
  const consumers = SIMULATED.filter((c) => c !== EXPORTER);
  const started = Date.now();
  const imported = await until(30_000, async () => {
    const counts = await Promise.all(consumers.map(async (c) => addressesOf(await llmSlices(clusters.get(c))).length));
    return counts.every((n) => n === 3);
  });
  out(imported ? `  imported into ${consumers.join(' and ')} in ${Date.now() - started} ms` : '  not imported within 30 s: see the agent logs above');
  return consumers;
}

async function showResult({ client, out }: DemoContext, clusters: ReadonlyMap<string, SimulatedCluster>, consumers: readonly string[]): Promise<void> {
  // Agents heartbeat every few seconds; show the clusters once each has been heard from.
  await until(15_000, async () => {
    const { items } = await client.list(KINDS.Cluster);
    return items.every((c) => c.status?.conditions?.some((x) => x.type === 'Available' && x.status === 'True') === true);
  });
  out('\n$ causeway get clusters');
  out(printResources(KINDS.Cluster, (await client.list(KINDS.Cluster)).items, 'table'));
  out('\n$ causeway get services');
  out(printServices((await client.services()).items, 'table'));
  for (const c of consumers) {
    const simulated = clusters.get(c);
    const si = await simulated?.get(`${MCS}/namespaces/inference/serviceimports/llm-serving`);
    const slices = await llmSlices(simulated);
    out(`\nIn ${c} (its Kubernetes API):`);
    const spec = (si?.spec ?? {}) as { ips?: string[]; ports?: { port: number; protocol: string }[] };
    const ports = (spec.ports ?? []).map((p) => `${p.port}/${p.protocol}`).join(',');
    out(
      table([
        ['KIND', 'NAME', 'DETAIL'],
        ['ServiceImport', 'inference/llm-serving', si === undefined ? '<missing>' : `ips ${(spec.ips ?? []).join(',') || '<none>'}, ports ${ports}`],
        ...slices.map((s) => [
          'EndpointSlice',
          `inference/${s.metadata.name}`,
          `from ${s.metadata.labels?.['multicluster.kubernetes.io/source-cluster'] ?? '?'}: ${addressesOf([s]).join(', ')}`,
        ]),
      ]),
    );
  }
}

/** Polls `check` until it holds or `timeoutMs` passes; a failing check counts as not yet. */
async function until(timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const ok = (): Promise<boolean> => check().catch(() => false);
  while (Date.now() < deadline) {
    if (await ok()) return true;
    await sleep(100);
  }
  return ok();
}

const MCS = '/apis/multicluster.x-k8s.io/v1alpha1';

/** The EndpointSlices the agent wrote for the imported llm-serving (MCS labels). */
async function llmSlices(cluster: SimulatedCluster | undefined): Promise<KubeObject[]> {
  if (cluster === undefined) return [];
  const selector = encodeURIComponent('multicluster.kubernetes.io/service-name=llm-serving');
  return cluster.list(`/apis/discovery.k8s.io/v1/namespaces/inference/endpointslices?labelSelector=${selector}`);
}

function addressesOf(slices: readonly KubeObject[]): string[] {
  return slices.flatMap((s) => ((s.endpoints ?? []) as { addresses?: string[] }[]).flatMap((e) => e.addresses ?? []));
}

/** The on-prem inference service as its cluster has it: Service, ServiceExport, EndpointSlice (collection path, object). */
function llmServing(): [string, KubeObject][] {
  const labels = { 'kubernetes.io/service-name': 'llm-serving', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
  return [
    [
      '/api/v1/namespaces/inference/services',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'llm-serving', namespace: 'inference', labels: { app: 'llm-serving' } },
        spec: { selector: { app: 'llm-serving' }, ports: [{ name: 'http', port: 8000, protocol: 'TCP', targetPort: 8000 }] },
      },
    ],
    [
      `${MCS}/namespaces/inference/serviceexports`,
      { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'llm-serving', namespace: 'inference' } },
    ],
    [
      '/apis/discovery.k8s.io/v1/namespaces/inference/endpointslices',
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'llm-serving-7f9c2', namespace: 'inference', labels },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
        endpoints: [
          { addresses: ['10.32.1.10'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'gpu-node-1', zone: 'fra1-a' },
          { addresses: ['10.32.1.11'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'gpu-node-2', zone: 'fra1-a' },
          { addresses: ['10.32.2.12'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'gpu-node-3', zone: 'fra1-b' },
        ],
      },
    ],
  ];
}
