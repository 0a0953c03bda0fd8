// The demo's own causeway processes: the hub, on its embedded default over TLS, and one agent per
// simulated cluster (each beside its Kubernetes API test double, demo-clusters.ts), every one a
// child process the demo stops in reverse order of start. What the demo shows of them is demo.ts's.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ChildServer, freePort } from '../embedded/child-server.ts';
import { ADMIN_TOKEN_FILE, HUB_URL_FILE } from '../hub/config.ts';
import { CA_CERT_FILE } from '../identity/tls-files.ts';
import { HubClient } from './client.ts';
import { startSimulatedCluster, type SimulatedCluster } from './demo-clusters.ts';

const CAUSEWAY_BIN = resolve(import.meta.dirname, '../../bin/causeway.js');

/** The demo's hub: a `causeway hub` process on the demo's data dir. */
export interface DemoHub {
  readonly url: string;
  readonly pid: number | undefined;
  /** tls://127.0.0.1:PORT of its embedded nats-server (the port is kept in <data-dir>/nats/port). */
  readonly natsUrl: string;
  /** The CA its API and nats-server certificates are signed by. */
  readonly caFile: string;
  readonly adminTokenFile: string;
  readonly logFile: string;
}

/** The hub's own shutdown is bounded at 15 s (SHUTDOWN_DEADLINE_MS); give it that before SIGKILL. */
export const HUB_STOP_GRACE_MS = 16_000;

/** Starts `causeway hub` as a child process and waits until it answers /readyz over TLS. */
export async function startHubProcess(
  dataDir: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<{ process: ChildServer; hub: DemoHub }> {
  const logFile = join(dataDir, 'hub.log');
  const urlFile = join(dataDir, HUB_URL_FILE);
  // A URL left by an earlier run is not this hub's.
  rmSync(urlFile, { force: true });
  const child = ChildServer.start({ name: 'hub', command: process.execPath, args: [CAUSEWAY_BIN, ...args], env, logFile, pidFile: join(dataDir, 'hub.pid') });
  let hub: DemoHub | undefined;
  try {
    await child.waitReady(
      async () => {
        if (!existsSync(urlFile)) return false;
        const url = readFileSync(urlFile, 'utf8').trim();
        const caFile = join(dataDir, CA_CERT_FILE);
        const port = readFileSync(join(dataDir, 'nats', 'port'), 'utf8').trim();
        const candidate: DemoHub = {
          url,
          pid: child.pid,
          natsUrl: `tls://127.0.0.1:${port}`,
          caFile,
          adminTokenFile: join(dataDir, ADMIN_TOKEN_FILE),
          logFile,
        };
        const probe = new HubClient(url, undefined, { ca: readFileSync(caFile, 'utf8') });
        await probe.request('GET', '/readyz');
        hub = candidate;
        return true;
      },
      logFile,
      60_000,
    );
  } catch (err) {
    await child.stop(HUB_STOP_GRACE_MS);
    throw err;
  }
  if (hub === undefined) throw new Error('unreachable: ready without a hub');
  return { process: child, hub };
}

/** A simulated cluster and the address its agent serves clusterset.local on. */
export type DemoCluster = SimulatedCluster & { readonly dns: string };

/** What the demo's steps share: its hub and a client of it, its data dir, its output, its stops and its signal. */
export interface DemoContext {
  readonly hub: DemoHub;
  readonly client: HubClient;
  readonly dataDir: string;
  readonly out: (line: string) => void;
  /** Stops run in reverse order of registration: agents, then their clusters, then the hub, then the provider doubles. */
  readonly stops: (() => Promise<void>)[];
  readonly signal: AbortSignal;
}

/** One simulated Kubernetes API per example cluster, each with its agent as a child process. */
export async function startClusters(names: readonly string[], { hub, client, dataDir, out, stops, signal }: DemoContext): Promise<Map<string, DemoCluster>> {
  out('\nStarting three simulated clusters (Kubernetes API test doubles), each with a real agent process ...');
  const clusters = new Map<string, DemoCluster>();
  const agents: ChildServer[] = [];
  // Agents first, all at once; then their clusters (spliced in after the hub); the hub last.
  stops.push(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  for (const cluster of names) {
    const dir = join(dataDir, 'clusters', cluster);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const simulated = await startSimulatedCluster({ name: cluster, dir, namespaces: ['default', 'kube-system', 'inference', 'ml-training'], signal });
    stops.splice(2, 0, () => simulated.stop());
    // Each agent serves clusterset.local for its cluster, where that cluster's CoreDNS would forward the zone.
    const dns = `127.0.0.1:${await freePort()}`;
    clusters.set(cluster, Object.assign(simulated, { dns }));
    const credential = await client.credentials(cluster, false);
    const credsFile = join(dir, 'agent.creds');
    writeFileSync(credsFile, credential.creds, { mode: 0o600 });
    const agent = ChildServer.start({
      name: `agent ${cluster}`,
      command: process.execPath,
      args: [
        CAUSEWAY_BIN,
        'agent',
        '--cluster',
        cluster,
        '--nats',
        hub.natsUrl,
        '--ca',
        hub.caFile,
        '--creds',
        credsFile,
        '--kubeconfig',
        simulated.kubeconfig,
        '--dns-listen',
        dns,
      ],
      logFile: join(dir, 'agent.log'),
      pidFile: join(dir, 'agent.pid'),
    });
    agents.push(agent);
    out(
      `  ${cluster.padEnd(17)} Kubernetes API ${simulated.url}, agent pid ${agent.pid ?? '?'}, clusterset.local DNS ${dns} (log ${rel(join(dir, 'agent.log'))})`,
    );
  }
  return clusters;
}

/** A path as the demo prints it: relative to the working directory. */
export function rel(p: string): string {
  return relative(process.cwd(), p) || '.';
}
