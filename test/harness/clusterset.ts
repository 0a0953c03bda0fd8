// A simulated clusterset for integration tests: the REAL hub (in-process `startHub` through
// startTestHub: a real etcd, and the hub's embedded default nats-server in operator mode) and N
// simulated clusters, each one Kubernetes API double (a test double of kube-apiserver,
// kube-api-double.ts) with a REAL agent (`runAgent`, in-process) that holds the cluster's own NATS
// credential as issued by the hub's API. The registry gets the example Networks, IPPools and
// Clusters (examples/), with a short heartbeat TTL so that liveness tests run in seconds.
//
// Faults: restart the hub on the same data dir and etcd, restart the hub's nats-server on the same
// config and port, stop / start / restart one agent. Everything is stopped by `stop` or, failing
// that, by the root hook.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KINDS } from '../../controlplane/api/kinds.ts';
import type { ClusterResource } from '../../controlplane/api/resources.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { runAgent, type RunningAgent } from '../../cluster-agent/main.ts';
import { stopStack } from './cleanup.ts';
import { startTestHub, type TestHub } from './hub.ts';
import { startKubeApiDouble, type KubeApiDouble, type KubeObject } from './kube-api-double.ts';
import { tempDir } from './servers.ts';
import { waitFor } from './wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

/** The demo's clusters (examples/20-clusters.yaml). */
export const AWS = 'aws-train';
export const GCP = 'gcp-train';
export const ONPREM = 'onprem-inference';

export const Label = {
  ServiceName: 'multicluster.kubernetes.io/service-name',
  SourceCluster: 'multicluster.kubernetes.io/source-cluster',
  ManagedBy: 'endpointslice.kubernetes.io/managed-by',
} as const;

export const SERVICE_IMPORTS = 'serviceimports.multicluster.x-k8s.io';
export const SERVICE_EXPORTS = 'serviceexports.multicluster.x-k8s.io';
export const ENDPOINT_SLICES = 'endpointslices.discovery.k8s.io';

export interface ClusterSetOptions {
  /** Clusters of examples/20-clusters.yaml to register and simulate; default all three. */
  readonly clusters?: readonly string[];
  /** Cluster spec.heartbeatTTLSeconds (the hub's minimum is 5). Default 5. */
  readonly heartbeatTTLSeconds?: number;
  /** The agents' heartbeat interval. Default 1000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Namespaces in every Kubernetes API double besides default and kube-system. */
  readonly namespaces?: readonly string[];
}

export interface SimulatedCluster {
  readonly name: string;
  /** The Kubernetes API double standing in for this cluster's kube-apiserver. */
  readonly double: KubeApiDouble;
  /** A real @kubernetes/client-node client of the double, to edit objects as a user would. */
  readonly kube: KubernetesObjectApi;
  readonly credsFile: string;
  readonly agentLog: string;
  /** The running agent, if any. */
  readonly agent: RunningAgent | undefined;
  /** Starts the agent with the .creds file as it is now, against the hub's current NATS URL. */
  startAgent(): Promise<RunningAgent>;
  stopAgent(): Promise<void>;
  restartAgent(): Promise<RunningAgent>;
  /** Fetches the cluster's credential from the hub (optionally rotated) into the .creds file. */
  fetchCredentials(rotate?: boolean): Promise<string>;
  /** JSON merge patch of an object in the double, through the real client. */
  mergePatch(object: KubeObject): Promise<void>;
}

export interface ClusterSet {
  readonly testHub: TestHub;
  /** The CLI's client of the hub, with the admin token (what `causeway get ...` uses). */
  readonly client: HubClient;
  readonly etcdUrl: string;
  readonly clusters: readonly SimulatedCluster[];
  cluster(name: string): SimulatedCluster;
  /** The hub's NATS URL now (read from the running hub). */
  natsUrl(): string;
  /** Stops the hub (and with it its embedded nats-server) and starts it on the same data dir, etcd and HTTP port. */
  restartHub(): Promise<void>;
  /** Stops the hub's nats-server (SIGTERM, or SIGKILL with `kill`) and starts it again on the same config, dir and port. */
  restartNats(options?: { readonly kill?: boolean }): Promise<void>;
  /** The hub's Prometheus text. */
  metrics(): Promise<string>;
  /** Cluster resources as `causeway get clusters -o json` shows them. */
  getClusters(): Promise<ClusterResource[]>;
  stop(): Promise<void>;
}

export async function startClusterSet(options: ClusterSetOptions = {}): Promise<ClusterSet> {
  const names = options.clusters ?? [AWS, GCP, ONPREM];
  const ttl = options.heartbeatTTLSeconds ?? 5;
  const dir = tempDir('clusterset');
  const testHub = await startTestHub();
  const { stops, stop } = stopStack([() => testHub.stop()]);
  try {
    const client = new HubClient(testHub.url, testHub.adminToken);
    const docs = readManifests([join(EXAMPLES, '00-networks.yaml'), join(EXAMPLES, '10-pools.yaml'), join(EXAMPLES, '20-clusters.yaml')], false)
      .filter((d) => {
        const o = d.object as { kind?: string; metadata?: { name?: string } };
        return o.kind !== 'Cluster' || names.includes(o.metadata?.name ?? '');
      })
      .map((d) => {
        const o = d.object as { kind?: string; spec?: Record<string, unknown> };
        return o.kind === 'Cluster' ? { ...d, object: { ...o, spec: { ...o.spec, heartbeatTTLSeconds: ttl } } } : d;
      });
    await client.apply(
      docs.map((d) => ({ source: d.source, object: d.object })),
      false,
    );

    const clusters: SimulatedCluster[] = [];
    for (const name of names) {
      const double = await startKubeApiDouble({
        clusterName: name,
        keepAliveMs: 1000,
        namespaces: ['default', 'kube-system', ...(options.namespaces ?? ['inference', 'apps'])],
      });
      stops.splice(1, 0, () => double.stop());
      const kubeconfig = join(dir, `${name}.kubeconfig`);
      await double.writeKubeconfig(kubeconfig);
      const kc = new KubeConfig();
      kc.loadFromString(double.kubeconfigYaml());
      const kube = KubernetesObjectApi.makeApiClient(kc);
      const credsFile = join(dir, `${name}.creds`);
      const agentLog = join(dir, `${name}.agent.log`);
      let agent: RunningAgent | undefined;
      let closeLog: (() => void) | undefined;
      const stopAgent = async (): Promise<void> => {
        const a = agent;
        agent = undefined;
        if (a !== undefined) await a.stop();
        closeLog?.();
        closeLog = undefined;
      };
      stops.push(stopAgent);
      const fetchCredentials = async (rotate = false): Promise<string> => {
        const credential = await client.credentials(name, rotate);
        writeFileSync(credsFile, credential.creds, { mode: 0o600 });
        return credential.creds;
      };
      const startAgent = async (): Promise<RunningAgent> => {
        if (agent !== undefined) throw new Error(`the agent of ${name} is already running`);
        const destination = pino.destination({ dest: agentLog, sync: true, mkdir: true });
        const logger = pino({ name: `agent-${name}`, level: 'info' }, destination);
        try {
          agent = await runAgent({
            cluster: name,
            natsUrl: testHub.hub.natsUrl,
            credsFile,
            kubeconfig,
            heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
            resyncJitterMs: 100,
            retryBaseMs: 100,
            retryMaxMs: 1000,
            requestTimeoutMs: 2000,
            logger,
          });
        } catch (err) {
          destination.end();
          throw err;
        }
        closeLog = () => {
          destination.end();
        };
        return agent;
      };
      await fetchCredentials();
      clusters.push({
        name,
        double,
        kube,
        credsFile,
        agentLog,
        get agent() {
          return agent;
        },
        startAgent,
        stopAgent,
        restartAgent: async () => {
          await stopAgent();
          return startAgent();
        },
        fetchCredentials,
        mergePatch: async (object) => {
          await kube.patch(object, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
        },
      });
    }
    await Promise.all(clusters.map((c) => c.startAgent()));

    const set: ClusterSet = {
      testHub,
      client,
      etcdUrl: testHub.etcdUrl,
      clusters,
      cluster: (name) => {
        const c = clusters.find((x) => x.name === name);
        if (c === undefined) throw new Error(`no simulated cluster ${name}`);
        return c;
      },
      natsUrl: () => testHub.hub.natsUrl,
      restartHub: async () => {
        await testHub.restart();
      },
      restartNats: async (restartOptions = {}) => {
        // The hub supervises its embedded nats-server (issue 13 §2): stop or kill it, and the hub
        // starts it again on the same port, config and data, as it would after a crash.
        const nats = testHub.hub.embedded.nats;
        if (nats === undefined) throw new Error('the hub runs no embedded nats-server');
        const restarts = nats.restarts;
        const child = nats.server.server;
        if (restartOptions.kill === true) await child.kill();
        else child.signal('SIGTERM');
        await waitFor('the hub to start its nats-server again', () => nats.restarts > restarts && nats.state === 'running', 15_000);
      },
      metrics: async () => {
        const res = await fetch(`${testHub.url}/metrics`);
        return res.text();
      },
      getClusters: async () => (await client.list(KINDS.Cluster)).items as ClusterResource[],
      stop,
    };
    return set;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---- objects in the simulated clusters ---------------------------------------------------------

export interface EndpointSpec {
  readonly ip: string;
  readonly ready?: boolean;
  readonly zone?: string;
  readonly node?: string;
}

export interface ExportedServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly ports?: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[];
  readonly headless?: boolean;
  readonly exportTo?: string;
  readonly endpoints: readonly EndpointSpec[];
  /** Name of the EndpointSlice; default `<name>-abc12`. */
  readonly sliceName?: string;
}

/** A Service, its ServiceExport and one EndpointSlice, as a cluster would have them. */
export function exportedService(s: ExportedServiceSpec): KubeObject[] {
  const ports = (s.ports ?? [{ name: 'http', port: 8000, protocol: 'TCP' }]).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace, labels: { app: s.name } },
      spec: {
        selector: { app: s.name },
        ...(s.headless === true ? { clusterIP: 'None' } : {}),
        ports: ports.map((p) => ({ ...p, targetPort: p.port })),
      },
    },
    {
      apiVersion: 'multicluster.x-k8s.io/v1alpha1',
      kind: 'ServiceExport',
      metadata: { name: s.name, namespace: s.namespace, ...(s.exportTo !== undefined ? { annotations: { 'causeway.dev/export-to': s.exportTo } } : {}) },
    },
    endpointSlice(s),
  ];
}

/** The Service's own EndpointSlice (as the EndpointSlice controller writes it). */
export function endpointSlice(s: ExportedServiceSpec): KubeObject {
  const ports = (s.ports ?? [{ name: 'http', port: 8000, protocol: 'TCP' }]).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: s.sliceName ?? `${s.name}-abc12`,
      namespace: s.namespace,
      labels: { 'kubernetes.io/service-name': s.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports,
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.node !== undefined ? { nodeName: e.node } : {}),
      ...(e.zone !== undefined ? { zone: e.zone } : {}),
    })),
  };
}

export interface ImportedEndpoint {
  readonly ip: string;
  readonly ready: boolean;
  readonly sourceCluster: string;
  readonly slice: string;
}

/** The imported EndpointSlices of a service in a cluster (those labelled with the MCS service name). */
export function importedSlices(c: SimulatedCluster, namespace: string, service: string): KubeObject[] {
  return c.double.list(ENDPOINT_SLICES, namespace).filter((s) => s.metadata.labels?.[Label.ServiceName] === service);
}

/** Every endpoint of the imported slices, sorted by address. */
export function importedEndpoints(c: SimulatedCluster, namespace: string, service: string): ImportedEndpoint[] {
  return importedSlices(c, namespace, service)
    .flatMap((s) =>
      ((s.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[]).flatMap((e) =>
        e.addresses.map((ip) => ({
          ip,
          ready: e.conditions?.ready === true,
          sourceCluster: s.metadata.labels?.[Label.SourceCluster] ?? '',
          slice: s.metadata.name,
        })),
      ),
    )
    .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

/** `ip` for a ready endpoint, `ip(not-ready)` otherwise, sorted: compact to compare. */
export function endpointSummary(c: SimulatedCluster, namespace: string, service: string): string[] {
  return importedEndpoints(c, namespace, service).map((e) => (e.ready ? e.ip : `${e.ip}(not-ready)`));
}

export function serviceImport(c: SimulatedCluster, namespace: string, name: string): KubeObject | undefined {
  return c.double.get(SERVICE_IMPORTS, namespace, name);
}

export function conditionOf(object: object | undefined, type: string): { status: string; reason: string; message: string } | undefined {
  const conditions =
    (((object as { status?: unknown } | undefined)?.status ?? {}) as { conditions?: { type: string; status: string; reason: string; message: string }[] })
      .conditions ?? [];
  return conditions.find((c) => c.type === type);
}

/** Waits until every listed cluster shows exactly `expected` (endpointSummary) for the service. */
export async function waitForEndpoints(
  clusters: readonly SimulatedCluster[],
  namespace: string,
  service: string,
  expected: readonly string[],
  timeoutMs = 15_000,
): Promise<void> {
  const want = JSON.stringify([...expected].sort());
  await waitFor(
    `${namespace}/${service} endpoints ${want} in ${clusters.map((c) => c.name).join(', ')}`,
    () => {
      const bad = clusters.filter((c) => JSON.stringify(endpointSummary(c, namespace, service)) !== want);
      if (bad.length === 0) return true;
      throw new Error(bad.map((c) => `${c.name} has ${JSON.stringify(endpointSummary(c, namespace, service))}`).join('; '));
    },
    timeoutMs,
  );
}

/**
 * Samples `probe` every `everyMs` while `during` runs (and for `afterMs` after it), returning every
 * sample: for asserting that something held all along a fault, not just at the end.
 */
export async function sampleWhile<T>(probe: () => T, during: () => Promise<void>, options: { everyMs?: number; afterMs?: number } = {}): Promise<T[]> {
  const samples: T[] = [probe()];
  const timer = setInterval(() => {
    samples.push(probe());
  }, options.everyMs ?? 25);
  try {
    await during();
    const until = Date.now() + (options.afterMs ?? 0);
    await waitFor('the sampling window to pass', () => Date.now() >= until, (options.afterMs ?? 0) + 5000);
  } finally {
    clearInterval(timer);
  }
  samples.push(probe());
  return samples;
}
