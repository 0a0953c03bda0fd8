// The two topologies the chaos runner builds, every part a real process:
//
// - "ha": one etcd (its data on a tmpfs of its own, for the full-disk fault) and one nats-server
//   in operator mode, started and supervised by the runner as a service manager would run them;
//   two `causeway hub --etcd --nats` processes sharing one secret key file and one API token
//   (one leads the agent gateway, one follows); four simulated clusters, each a Kubernetes API
//   double process (test double of kube-apiserver) with a real `causeway agent` process reaching
//   nats-server through a partition proxy. onprem-inference exports inference/llm-serving; the
//   other three import it.
// - "embedded": one `causeway hub --data-dir DIR` on its embedded default (it starts its own etcd
//   and nats-server) and the same four clusters.
//
// Clusters are registered with spec.heartbeatTTLSeconds = TTL_SECONDS and their agents heartbeat
// every HEARTBEAT_MS.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Resource } from '../../controlplane/api/resources.ts';
import type { Source } from '../../controlplane/api/validate.ts';
import { HubClient, KINDS } from '../../controlplane/cli/client.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { freePort, portOpen } from '../../controlplane/embedded/child-server.ts';
import { hashToken, newToken } from '../../controlplane/hub/auth.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { appAccountJwt, identityPublicKeys, operatorJwt, systemAccountJwt } from '../../controlplane/identity/nats-identity.ts';
import { renderNatsServerConfig } from '../../controlplane/identity/nats-server-config.ts';
import { createSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { CAUSEWAY_BIN, commandEnv, EXAMPLES_DIR, REPO_ROOT } from '../harness/cli.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { TmpfsDisk } from './disk.ts';
import { FrontProxy } from './front-proxy.ts';
import { KubeClient } from './kube-client.ts';
import { PartitionProxy } from './partition-proxy.ts';
import { Service } from './service.ts';

export const TTL_SECONDS = 10;
export const HEARTBEAT_MS = 2000;
/** etcd's disk in the ha topology: room for a run's history with margin; the fault fills what is left. */
export const ETCD_DISK_MIB = 1024;

export const NS = 'inference';
export const SVC = 'llm-serving';
export const SLICE = `${SVC}-abc12`;
export const EXPORTER = 'onprem-inference';
export const CONSUMERS = ['aws-train', 'gcp-train', 'aws-serve'] as const;

export const Label = {
  ServiceName: 'multicluster.kubernetes.io/service-name',
  SourceCluster: 'multicluster.kubernetes.io/source-cluster',
} as const;

const SIMULATED_CLUSTER_MAIN = join(REPO_ROOT, 'test/harness/simulated-cluster-main.ts');

export interface ChaosCluster {
  readonly name: string;
  readonly kube: KubeClient;
  readonly double: Service;
  readonly agent: Service;
  readonly proxy: PartitionProxy;
}

export interface HubHandle {
  readonly name: string;
  readonly url: string;
  /** The load balancer's way in to this hub, which the applies take. */
  readonly front: FrontProxy;
  readonly dataDir: string;
  readonly service: Service;
}

export interface Topology {
  readonly kind: 'ha' | 'embedded';
  readonly work: string;
  readonly token: string;
  readonly hubs: readonly HubHandle[];
  /** The runner's etcd and nats-server (ha only). */
  readonly etcd: Service | undefined;
  readonly nats: Service | undefined;
  /** Where nats-server listens (the agents reach it through their partition proxies). */
  readonly natsPort: number;
  /** The runner's etcd (ha); the embedded one is the hub's own business (it speaks TLS with client certificates). */
  readonly etcdUrl: string | undefined;
  readonly disk: TmpfsDisk | undefined;
  readonly clusters: readonly ChaosCluster[];
  readonly exporter: ChaosCluster;
  readonly consumers: readonly ChaosCluster[];
  /** A client of each hub, in `hubs` order. */
  readonly clients: readonly HubClient[];
  stop(): Promise<void>;
}

/** Stops in reverse order of start; one failing does not keep the others from running. */
class Stops {
  private readonly list: (() => Promise<void> | void)[] = [];
  push(stop: () => Promise<void> | void): void {
    this.list.push(stop);
  }
  async run(): Promise<void> {
    while (this.list.length > 0) {
      try {
        await this.list.pop()?.();
      } catch (err) {
        process.stderr.write(`chaos: a stop failed: ${(err as Error).message}\n`);
      }
    }
  }
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  return res?.status === 200;
}

async function etcdHealthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  if (res?.status !== 200) return false;
  const body = (await res.json().catch(() => ({}))) as { health?: string };
  return body.health === 'true';
}

/** The API token both hubs accept (a config-file token, as behind a load balancer). */
function writeHubConfig(work: string): { configFile: string; token: string } {
  const token = newToken();
  const configFile = join(work, 'hub-config.yaml');
  writeFileSync(configFile, stringify({ tokens: [{ name: 'chaos-runner', role: 'admin', sha256: hashToken(token) }] }), { mode: 0o600 });
  return { configFile, token };
}

async function startHub(name: string, work: string, extra: readonly string[], configFile: string, stops: Stops): Promise<HubHandle> {
  const port = await freePort();
  const dataDir = join(work, name);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const url = `http://127.0.0.1:${port}`;
  const service = new Service({
    name,
    command: process.execPath,
    args: [CAUSEWAY_BIN, 'hub', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--config', configFile, ...extra],
    logFile: join(work, `${name}.log`),
    cwd: work,
    env: commandEnv({}),
    restart: true,
    ready: () => httpOk(`${url}/readyz`),
  });
  stops.push(() => service.stop());
  await service.start(90_000);
  const front = await FrontProxy.start(port);
  stops.push(() => front.stop());
  return { name, url, front, dataDir, service };
}

/** Networks and pools of examples/, the three example clusters and a fourth consumer, all with the chaos TTL. */
function registryDocuments(): { source: Source; object: unknown }[] {
  const docs = readManifests([join(EXAMPLES_DIR, '00-networks.yaml'), join(EXAMPLES_DIR, '10-pools.yaml'), join(EXAMPLES_DIR, '20-clusters.yaml')], false);
  const extra = {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name: 'aws-serve', labels: { env: 'prod' } },
    spec: { provider: 'aws', region: 'us-east-1', network: 'aws-train-vpc', podCIDRs: ['10.18.0.0/16'], serviceCIDRs: ['10.19.0.0/20'] },
  };
  return [...docs.map((d) => ({ source: d.source, object: d.object })), { source: { file: 'chaos', document: 1 }, object: extra }].map((d) => {
    const o = d.object as { kind?: string; spec?: Record<string, unknown> };
    return o.kind === 'Cluster' ? { ...d, object: { ...o, spec: { ...o.spec, heartbeatTTLSeconds: TTL_SECONDS } } } : d;
  });
}

async function startCluster(name: string, work: string, natsPort: number, client: HubClient, stops: Stops): Promise<ChaosCluster> {
  const kubeconfig = join(work, `${name}.kubeconfig`);
  const double = new Service({
    name: `${name}-kube-api-double`,
    command: process.execPath,
    args: [SIMULATED_CLUSTER_MAIN, '--name', name, '--kubeconfig', kubeconfig, '--namespace', 'default', '--namespace', 'kube-system', '--namespace', NS],
    logFile: join(work, `${name}.kube-api-double.log`),
    cwd: work,
    env: commandEnv({}),
    restart: false,
    ready: () => Promise.resolve(existsSync(kubeconfig)),
  });
  stops.push(() => double.stop());
  await double.start();
  const kube = new KubeClient(kubeconfig);
  stops.push(() => {
    kube.close();
  });
  const credsFile = join(work, `${name}.creds`);
  const credential = await client.credentials(name, false);
  writeFileSync(credsFile, credential.creds, { mode: 0o600 });
  const proxy = await PartitionProxy.start(natsPort);
  stops.push(() => proxy.stop());
  const agent = new Service({
    name: `${name}-agent`,
    command: process.execPath,
    args: [
      CAUSEWAY_BIN,
      'agent',
      '--cluster',
      name,
      '--nats',
      `nats://127.0.0.1:${proxy.port}`,
      '--creds',
      credsFile,
      '--kubeconfig',
      kubeconfig,
      '--heartbeat-interval',
      String(HEARTBEAT_MS),
    ],
    logFile: join(work, `${name}.agent.log`),
    cwd: work,
    env: commandEnv({}),
    // As a Deployment would: an agent that dies is started again (and the report says so).
    restart: true,
  });
  stops.push(() => agent.stop());
  await agent.start();
  return { name, kube, double, agent, proxy };
}

/** The exporter's Service, ServiceExport and EndpointSlice, created through its Kubernetes API. */
export async function createExport(c: ChaosCluster, endpoints: readonly string[]): Promise<void> {
  await c.kube.create(`/api/v1/namespaces/${NS}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: SVC, namespace: NS, labels: { app: SVC } },
    spec: { selector: { app: SVC }, ports: [{ name: 'http', port: 8000, targetPort: 8000, protocol: 'TCP' }] },
  });
  await c.kube.create(`/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${NS}/serviceexports`, {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: { name: SVC, namespace: NS },
  });
  await c.kube.create(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, sliceObject(endpoints));
}

export function sliceObject(endpoints: readonly string[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: SLICE,
      namespace: NS,
      labels: { 'kubernetes.io/service-name': SVC, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    endpoints: endpointList(endpoints),
  };
}

export function endpointList(endpoints: readonly string[]): object[] {
  return endpoints.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } }));
}

/** The ready addresses of the imported EndpointSlices of the service in a consumer, read from its Kubernetes API. */
export async function importedAddresses(c: ChaosCluster): Promise<string[]> {
  const slices = await c.kube.list(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, `${Label.ServiceName}=${SVC}`);
  const out: string[] = [];
  for (const s of slices) {
    for (const e of (s.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[]) {
      if (e.conditions?.ready === true) out.push(...e.addresses);
    }
  }
  return out.sort();
}

async function registerAndStartClusters(work: string, natsPort: number, client: HubClient, stops: Stops): Promise<ChaosCluster[]> {
  await client.apply(registryDocuments(), false);
  const clusters: ChaosCluster[] = [];
  // One at a time: four node processes starting at once on two cores time each other out.
  for (const name of [EXPORTER, ...CONSUMERS]) clusters.push(await startCluster(name, work, natsPort, client, stops));
  return clusters;
}

export async function startHaTopology(work: string): Promise<Topology> {
  const stops = new Stops();
  try {
    mkdirSync(work, { recursive: true, mode: 0o700 });
    const disk = TmpfsDisk.mount(join(work, 'etcd-disk'), ETCD_DISK_MIB);
    stops.push(() => {
      disk.unmount();
    });
    const clientPort = await freePort();
    const peerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    // The flags the hub's embedded etcd uses (controlplane/embedded/etcd.ts), as docs/operations.md asks of an external one.
    const etcd = new Service({
      name: 'etcd',
      command: 'etcd',
      args: [
        '--name',
        'chaos',
        '--data-dir',
        join(disk.dir, 'data'),
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `chaos=${peer}`,
        '--max-txn-ops',
        '10000',
        '--max-request-bytes',
        String(8 * 1024 * 1024),
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ],
      logFile: join(work, 'etcd.log'),
      restart: true,
      ready: () => etcdHealthy(etcdUrl),
    });
    stops.push(() => etcd.stop());
    await etcd.start();

    // nats-server trusts the operator whose identity the hubs keep in etcd: create it first (as
    // the first hub would), then render the server's config from it (as bench/env.ts does).
    const store = new EtcdStore({ endpoints: [etcdUrl] });
    const identity = await new CredentialStore(store).identity().finally(() => store.close());
    const keys = identityPublicKeys(identity);
    const natsPort = await freePort();
    const natsDir = join(work, 'nats');
    mkdirSync(join(natsDir, 'jwt'), { recursive: true, mode: 0o700 });
    const natsConfig = join(natsDir, 'nats.conf');
    writeFileSync(
      natsConfig,
      renderNatsServerConfig({
        serverName: 'causeway_chaos',
        port: natsPort,
        operatorJwt: await operatorJwt(identity),
        systemAccount: keys.systemAccount,
        preload: { [keys.systemAccount]: await systemAccountJwt(identity), [keys.appAccount]: await appAccountJwt(identity) },
        resolverDir: join(natsDir, 'jwt'),
        jetStreamDir: join(natsDir, 'jetstream'),
        jetStreamMaxMemory: 256 * 1024 * 1024,
        jetStreamMaxFile: 1024 * 1024 * 1024,
      }),
      { mode: 0o600 },
    );
    const nats = new Service({
      name: 'nats-server',
      command: 'nats-server',
      args: ['-c', natsConfig],
      logFile: join(work, 'nats.log'),
      restart: true,
      ready: () => portOpen(natsPort),
    });
    stops.push(() => nats.stop());
    await nats.start();

    const keyFile = join(work, 'secrets.key');
    createSecretKeyFile(keyFile);
    const { configFile, token } = writeHubConfig(work);
    const external = ['--etcd', etcdUrl, '--nats', `nats://127.0.0.1:${natsPort}`, '--secret-key-file', keyFile];
    const hubs: HubHandle[] = [];
    for (const name of ['hub-a', 'hub-b']) {
      hubs.push(await startHub(name, work, external, configFile, stops));
    }
    const clients = hubs.map((h) => new HubClient(h.url, token));
    const clusters = await registerAndStartClusters(work, natsPort, clients[0] ?? fail('no hub'), stops);
    return topology('ha', work, token, hubs, clients, etcd, nats, natsPort, etcdUrl, disk, clusters, stops);
  } catch (err) {
    await stops.run();
    throw err;
  }
}

export async function startEmbeddedTopology(work: string): Promise<Topology> {
  const stops = new Stops();
  try {
    mkdirSync(work, { recursive: true, mode: 0o700 });
    const { configFile, token } = writeHubConfig(work);
    const hub = await startHub('hub', work, [], configFile, stops);
    const natsPort = Number(readFileSync(join(hub.dataDir, 'nats', 'port'), 'utf8').trim());
    const client = new HubClient(hub.url, token);
    const clusters = await registerAndStartClusters(work, natsPort, client, stops);
    return topology('embedded', work, token, [hub], [client], undefined, undefined, natsPort, undefined, undefined, clusters, stops);
  } catch (err) {
    await stops.run();
    throw err;
  }
}

function topology(
  kind: Topology['kind'],
  work: string,
  token: string,
  hubs: HubHandle[],
  clients: HubClient[],
  etcd: Service | undefined,
  nats: Service | undefined,
  natsPort: number,
  etcdUrl: string | undefined,
  disk: TmpfsDisk | undefined,
  clusters: ChaosCluster[],
  stops: Stops,
): Topology {
  const exporter = clusters.find((c) => c.name === EXPORTER) ?? fail('no exporter');
  return {
    kind,
    work,
    token,
    hubs,
    etcd,
    nats,
    natsPort,
    etcdUrl,
    disk,
    clusters,
    exporter,
    consumers: clusters.filter((c) => c !== exporter),
    clients,
    stop: () => stops.run(),
  };
}

function fail(message: string): never {
  throw new Error(message);
}

/** Cluster resources as one hub answers them. */
export async function clustersOf(client: HubClient): Promise<Resource[]> {
  return (await client.list(KINDS.Cluster)).items;
}
