// `causeway demo`: a hub on its embedded default (its own etcd and nats-server on loopback) as a
// process of its own, over TLS with the CA it makes under its data dir; the example clusterset
// applied through the real API; and three simulated clusters — each a Kubernetes API test double in
// its own process (demo-clusters.ts) with a real agent process (demo-processes.ts) — exchanging the
// on-prem inference service (journey 2). Shows the result, then serves until Ctrl-C. The hub can be
// killed and started again under it, as a user would try: the agents reconnect.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KINDS } from '../api/kinds.ts';
import { Resolver } from 'node:dns/promises';
import { HubClient } from './client.ts';
import type { KubeObject, SimulatedCluster } from './demo-clusters.ts';
import { showPolicy } from './demo-policy.ts';
import { HUB_STOP_GRACE_MS, rel, startClusters, startHubProcess, type DemoCluster, type DemoContext, type DemoHub } from './demo-processes.ts';
import { startProviderDoubles, type DemoFabric, type DemoProviders } from './demo-providers.ts';
import { readManifests } from './files.ts';
import { changeLine, printPlan, printResources, printRoutes, printServices, table } from './print.ts';
import type { DomainPlanView } from '../api/read-model.ts';

export const EXAMPLES_DIR = resolve(import.meta.dirname, '../../examples');

/** The clusters of examples/ that get a simulated Kubernetes and an agent. */
const SIMULATED = ['aws-train', 'gcp-train', 'onprem-inference'] as const;
const EXPORTER = 'onprem-inference';

export interface RunningDemo {
  readonly hub: DemoHub;
  stop(): Promise<void>;
}

export async function runDemo(options: { listen: string; dataDir: string }, out: (line: string) => void): Promise<RunningDemo> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const ac = new AbortController();
  out("Starting what the demo's Networks name: the EC2 and Compute API test doubles, and a real gobgpd peering with a real BIRD (the on-prem fabric) ...");
  const providers = await startProviderDoubles(dataDir, ac.signal);
  out(`  AWS (EC2 double) ${providers.aws.endpoint}, region ${providers.aws.region}`);
  out(`  GCP (Compute double) ${providers.gcp.endpoint}, project ${providers.gcp.project}`);
  out(
    `  on-prem fabric: gobgpd API ${providers.bgp.gobgpApi}, BIRD peer ${providers.bgp.peer.address}:${providers.bgp.peer.port} AS${providers.bgp.peer.asn} (birdc -s ${providers.bgp.birdSocket})`,
  );
  out(`Starting the hub (its own process) with its embedded etcd and nats-server, over TLS (data in ${rel(dataDir)}) ...`);
  const hubArgs = ['hub', '--listen', options.listen, '--data-dir', dataDir, '--tls', '--config', providers.configFile];
  const started = await startHubProcess(dataDir, hubArgs, providers.env).catch(async (err: unknown) => {
    await providers.stop();
    throw err;
  });
  const { process: hubProcess, hub } = started;
  const stops: (() => Promise<void>)[] = [() => providers.stop(), () => hubProcess.stop(HUB_STOP_GRACE_MS)];
  const stop = async (): Promise<void> => {
    ac.abort();
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  // Killing the hub under the demo is allowed: say how to bring it back; the agents reconnect.
  void hubProcess.whenExited().then((exit) => {
    if (ac.signal.aborted) return;
    out(`\nThe hub (pid ${hub.pid ?? '?'}) exited (${exit.signal ?? `code ${String(exit.code)}`}). The clusters and agents keep running; start it again with:`);
    const env = Object.entries(providers.env).map(([k, v]) => `${k}=${v}`);
    out(`  ${[...env, 'npx causeway', ...hubArgs.map((a) => (a.startsWith(dataDir) ? rel(a) : a))].join(' ')}`);
    out('and the agents reconnect to it by themselves.');
  });
  try {
    const client = new HubClient(hub.url, readFileSync(hub.adminTokenFile, 'utf8').trim(), { ca: readFileSync(hub.caFile, 'utf8') });
    const ctx: DemoContext = { hub, client, dataDir, out, stops, signal: ac.signal };
    await applyExamples(ctx, providers.bgp);
    const clusters = await startClusters(SIMULATED, ctx);
    const consumers = await exportAndWait(ctx, clusters);
    await showResult(ctx, clusters, consumers);
    await showDns(ctx, clusters);
    await showPolicy({ client: ctx.client, out: ctx.out, clusters, exporter: EXPORTER, until });
    // After the policy: it narrows the cloud firewall rules to the pods it allows (issue 10 §2).
    await showProviders(ctx);
    const demoFile = writeDemoJson(ctx, clusters, providers);
    out('');
    out(`Hub:        ${hub.url}   (pid ${hub.pid ?? '?'}; nats ${hub.natsUrl}; try kill -9 on it, then start it again)`);
    out(`CA:         ${rel(hub.caFile)}   (the API and NATS speak TLS; the CLI trusts it by default)`);
    out(`Token file: ${rel(hub.adminTokenFile)}   (the CLI reads it by default)`);
    out(`Hub logs:   ${rel(hub.logFile)}`);
    out(`Demo:       ${rel(demoFile)}   (the hub, token, CA, and each cluster's kubeconfig and DNS address)`);
    out('');
    out('Try, in another terminal:');
    out('  npx causeway get services');
    out('  npx causeway get clusters -o yaml');
    out('  npx causeway describe cluster onprem-inference');
    out('  npx causeway history');
    out('  npx causeway get routes');
    out('  npx causeway explain --from aws-train/ml-training/app=trainer --to inference/llm-serving --port 8000 -o json');
    out('  npx causeway plan                      (exit 0: every provider matches the plan)');
    out('');
    out('Serving until Ctrl-C.');
    return { hub, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const DNS_NAME = 'llm-serving.inference.svc.clusterset.local';

/** What aws-train's applications would get for the service's clusterset name, from its agent's DNS. */
async function showDns({ out }: DemoContext, clusters: ReadonlyMap<string, DemoCluster>): Promise<void> {
  const aws = clusters.get('aws-train');
  if (aws === undefined) return;
  const [host, port] = [aws.dns.slice(0, aws.dns.lastIndexOf(':')), aws.dns.slice(aws.dns.lastIndexOf(':') + 1)];
  let answer: { address: string; ttl: number }[] = [];
  // SERVFAIL before the agent's first snapshot, NXDOMAIN until the import is applied: ask until it answers.
  await until(10_000, async () => {
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([aws.dns]);
    answer = await resolver.resolve4(DNS_NAME, { ttl: true });
    return answer.length > 0;
  });
  out(`\n$ dig @${host} -p ${port} ${DNS_NAME}   (aws-train's agent DNS)`);
  out(answer.length > 0 ? answer.map((a) => `${DNS_NAME}.  ${a.ttl}  IN  A  ${a.address}`).join('\n') : '  no answer within 10 s: see the agent log');
}

/**
 * The hub programs the providers once the export gives it something to route: wait until `plan`
 * has nothing pending in any domain, then show what the route plan holds and that nothing is left.
 */
async function showProviders({ client, out }: DemoContext): Promise<void> {
  const started = Date.now();
  let pending: DomainPlanView[] = [];
  const settled = await until(30_000, async () => {
    const { items } = await client.plan();
    pending = items.filter((d) => d.changes.length > 0 || d.conditions.some((c) => c.type === 'Degraded' && c.status === 'True'));
    return items.length > 0 && pending.length === 0;
  });
  out('\n$ causeway get routes');
  out(printRoutes((await client.routes()).items, 'table'));
  out('\n$ causeway plan');
  out(printPlan((await client.plan()).items, 'table'));
  out(
    settled
      ? `  every provider domain matches the plan (${Date.now() - started} ms after the export was seen)`
      : `  still pending after 30 s in ${pending.map((d) => d.metadata.name).join(', ')}: see \`causeway describe network NAME\` and the hub log`,
  );
}

/** `<data-dir>/demo.json`: where each simulated environment is, for a user's own tools or scripts. */
function writeDemoJson({ hub, dataDir }: DemoContext, clusters: ReadonlyMap<string, DemoCluster>, providers: DemoProviders): string {
  const file = join(dataDir, 'demo.json');
  const demo = {
    hub: hub.url,
    tokenFile: hub.adminTokenFile,
    caFile: hub.caFile,
    nats: hub.natsUrl,
    clusters: Object.fromEntries([...clusters].map(([name, c]) => [name, { kubeconfig: c.kubeconfig, dns: c.dns }])),
    aws: providers.aws,
    gcp: providers.gcp,
    bgp: { birdSocket: providers.bgp.birdSocket, gobgpApi: providers.bgp.gobgpApi },
  };
  writeFileSync(file, `${JSON.stringify(demo, null, 2)}\n`, { mode: 0o644 });
  return file;
}

/** The examples' on-prem site names a fabric router by a documentation address; the demo's is its BIRD. */
function atDemoFabric(object: unknown, fabric: DemoFabric): unknown {
  const o = object as { kind?: string; metadata?: { name?: string }; spec?: { onprem?: Record<string, unknown> } };
  if (o.kind !== 'Network' || o.spec?.onprem === undefined) return object;
  return { ...o, spec: { ...o.spec, onprem: { ...o.spec.onprem, peers: [fabric.peer] } } };
}

async function applyExamples({ client, out }: DemoContext, fabric: DemoFabric): Promise<void> {
  out(`\nApplying ${rel(EXAMPLES_DIR)}/ (the on-prem site's peer set to the demo's BIRD, ${fabric.peer.address}:${fabric.peer.port}) ...`);
  const docs = readManifests([EXAMPLES_DIR], false);
  const result = await client.apply(
    docs.map((d) => ({
      source: { ...d.source, ...(d.source.file !== undefined ? { file: rel(d.source.file) } : {}) },
      object: atDemoFabric(d.object, fabric),
    })),
    false,
  );
  for (const c of result.changes) out(`  ${changeLine(c, false)}`);
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
