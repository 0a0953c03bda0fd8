// The scale-out topology a production user runs (issue 11 §2), on loopback: a 3-member etcd
// cluster, a 3-node nats-server cluster in operator mode (full resolver, JetStream clustered),
// and N `causeway hub` processes given every etcd client URL and every NATS URL. Each etcd member
// and NATS node is killable (SIGKILL) and restartable on the same ports and data dir. The hub
// does not use JetStream yet, so the harness owns a replicas-3 probe stream: it shows that the
// cluster's JetStream forms, keeps a leader through a node loss and loses no acknowledged message.
// Everything is stopped by `stop` or, failing that, by the root hook.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer, freePort, portOpen } from '../../controlplane/embedded/child-server.ts';
import { etcdHealthy } from '../../controlplane/embedded/etcd.ts';
import { connectNats, type NatsConnection } from '../../controlplane/bus/nats-connect.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { createSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import {
  appAccountJwt,
  identityPublicKeys,
  issueHubUser,
  operatorJwt,
  systemAccountJwt,
  type IdentityState,
  type UserCredentials,
} from '../../controlplane/identity/nats-identity.ts';
import { renderNatsServerConfig } from '../../controlplane/identity/nats-server-config.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { onCleanup, stopStack } from './cleanup.ts';
import type { CausewayProcess } from './cli.ts';
import { electedReplica, exampleRegistry, startHubProcess, type HubProcessOptions } from './hub-replica.ts';
import { tempDir } from './servers.ts';
import { waitFor } from './wait.ts';

// ---- etcd ------------------------------------------------------------------------------------

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  running(): boolean;
  /** SIGKILL: a crash, not a shutdown. */
  kill(): Promise<void>;
  /** Starts it again on its ports and data dir (it rejoins as the member it was). */
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  readonly urls: readonly string[];
  /** The member that leads raft now, as the running members report it. */
  leader(): Promise<EtcdMember | undefined>;
  /** Every member running answers /health true (it has a leader and a quorum). */
  healthy(): Promise<boolean>;
  stop(): Promise<void>;
}

interface StatusReply {
  readonly header?: { readonly member_id?: string };
  readonly leader?: string;
}

async function etcdStatus(url: string): Promise<StatusReply> {
  // etcd's gRPC gateway: POST /v3/maintenance/status answers this member's id and the leader's.
  const res = await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
  return (await res.json()) as StatusReply;
}

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), peer: await freePort() })));
  const names = ports.map((_, i) => `etcd-${i}`);
  const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const members = ports.map((p, i) => {
    const name = names[i] ?? `etcd-${i}`;
    const dir = tempDir(name);
    const clientUrl = `http://127.0.0.1:${p.client}`;
    const peerUrl = `http://127.0.0.1:${p.peer}`;
    const logFile = join(dir, 'etcd.log');
    const launch = (): ChildServer =>
      ChildServer.start({
        name,
        command: 'etcd',
        // The flags of the hub's embedded etcd (embedded/etcd.ts), as members of one cluster; on a
        // restart the data dir holds the membership and the initial-cluster flags are ignored.
        args: [
          ...['--name', name, '--data-dir', join(dir, 'data')],
          ...['--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl],
          ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
          ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'causeway-scale-out'],
          ...['--max-txn-ops', '10000', '--max-request-bytes', String(8 * 1024 * 1024), '--logger', 'zap', '--log-level', 'warn'],
        ],
        logFile,
        pidFile: join(dir, 'etcd.pid'),
        dataDir: dir,
      });
    let server = launch();
    const member: EtcdMember & { ready(): Promise<void>; stop(): Promise<void> } = {
      name,
      clientUrl,
      peerUrl,
      running: () => server.running,
      kill: () => server.kill(),
      start: async () => {
        server = launch();
        await member.ready();
      },
      // Healthy once it has a leader, which needs a quorum: the members start together.
      ready: () => server.waitReady(() => etcdHealthy(clientUrl, undefined), logFile, 30_000),
      stop: () => server.stop(),
    };
    return member;
  });
  const stop = async (): Promise<void> => {
    unregister();
    await Promise.all(members.map((m) => m.stop()));
  };
  const unregister = onCleanup(stop);
  try {
    await Promise.all(members.map((m) => m.ready()));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    urls: members.map((m) => m.clientUrl),
    leader: async () => {
      for (const m of members) {
        if (!m.running()) continue;
        const status = await etcdStatus(m.clientUrl).catch(() => undefined);
        if (status?.leader === undefined) continue;
        for (const other of members) {
          if (!other.running()) continue;
          const s = await etcdStatus(other.clientUrl).catch(() => undefined);
          if (s?.header?.member_id === status.leader) return other;
        }
      }
      return undefined;
    },
    healthy: async () => {
      const running = members.filter((m) => m.running());
      const answers = await Promise.all(running.map((m) => etcdHealthy(m.clientUrl, undefined).catch(() => false)));
      return answers.every((a) => a);
    },
    stop,
  };
}

// ---- NATS ------------------------------------------------------------------------------------

export interface NatsNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  running(): boolean;
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(): Promise<void>;
  /** Starts it again on its ports and dirs, the config re-rendered from the identity. */
  start(): Promise<void>;
  /** The names of the clients connected to this node (its monitoring port's /connz). */
  clients(): Promise<string[]>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  readonly urls: readonly string[];
  readonly hub: UserCredentials;
  /** Every running node routes to every other running node. */
  routed(): Promise<boolean>;
  stop(): Promise<void>;
}

const PROBE_STREAM = 'SCALEOUT_PROBE';

export async function startNatsCluster(identity: IdentityState, size = 3): Promise<NatsCluster> {
  const keys = identityPublicKeys(identity);
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort(), monitor: await freePort() })));
  const nodes = ports.map((p, i) => {
    const name = `nats_${i}`;
    const dir = tempDir(`nats-${i}`);
    const resolverDir = join(dir, 'jwt');
    mkdirSync(resolverDir, { recursive: true });
    const configFile = join(dir, 'nats.conf');
    const logFile = join(dir, 'nats.log');
    const routes = ports.filter((_, j) => j !== i).map((o) => `"nats-route://127.0.0.1:${o.route}"`);
    const writeConfig = async (): Promise<void> => {
      // The single server's operator-mode config (every node preloads the same account JWTs into
      // its own full resolver), plus the cluster's routes and a monitoring port.
      const base = renderNatsServerConfig({
        serverName: name,
        port: p.client,
        operatorJwt: await operatorJwt(identity),
        systemAccount: keys.systemAccount,
        preload: { [keys.systemAccount]: await systemAccountJwt(identity), [keys.appAccount]: await appAccountJwt(identity) },
        resolverDir,
        jetStreamDir: join(dir, 'jetstream'),
        jetStreamMaxMemory: 64 * 1024 * 1024,
        jetStreamMaxFile: 256 * 1024 * 1024,
      });
      const cluster = ['cluster: {', '  name: causeway', `  listen: "127.0.0.1:${p.route}"`, `  routes: [${routes.join(', ')}]`, '}', ''];
      writeFileSync(configFile, [base, ...cluster, `http: "127.0.0.1:${p.monitor}"`, ''].join('\n'), { mode: 0o600 });
    };
    let server: ChildServer | undefined;
    const launch = async (): Promise<ChildServer> => {
      await writeConfig();
      const child = ChildServer.start({ name, command: 'nats-server', args: ['-c', configFile], logFile, pidFile: join(dir, 'nats.pid'), dataDir: dir });
      await child.waitReady(() => portOpen(p.client), logFile);
      return child;
    };
    const monitor = async <T>(path: string): Promise<T> =>
      (await (await fetch(`http://127.0.0.1:${p.monitor}${path}`, { signal: AbortSignal.timeout(1000) })).json()) as T;
    const node: NatsNode & { launched(): Promise<void>; routes(): Promise<number> } = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      port: p.client,
      running: () => server?.running === true,
      kill: async () => {
        await server?.kill();
      },
      stop: async () => {
        await server?.stop();
      },
      start: async () => {
        server = await launch();
      },
      clients: async () => (await monitor<{ connections?: { name?: string }[] }>('/connz?limit=4096')).connections?.map((c) => c.name ?? '') ?? [],
      launched: async () => {
        server = await launch();
      },
      routes: async () => (await monitor<{ num_routes?: number }>('/routez')).num_routes ?? 0,
    };
    return node;
  });
  const stop = async (): Promise<void> => {
    unregister();
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const unregister = onCleanup(stop);
  try {
    await Promise.all(nodes.map((n) => n.launched()));
  } catch (err) {
    await stop();
    throw err;
  }
  const routed = async (): Promise<boolean> => {
    const running = nodes.filter((n) => n.running());
    const counts = await Promise.all(running.map((n) => n.routes().catch(() => -1)));
    return counts.every((c) => c >= running.length - 1);
  };
  await waitFor('the NATS nodes to route to each other', routed, 20_000);
  return { nodes, urls: nodes.map((n) => n.url), hub: await issueHubUser(identity), routed, stop };
}

/**
 * The replicas-3 probe stream, through the app account's JetStream API (as the hub user). It is
 * created once the cluster's JetStream has a meta leader; `publish` answers the stream sequence
 * of an acknowledged message, `info` the stream's state and replicas.
 */
export interface JetStreamProbe {
  publish(payload: string): Promise<number>;
  info(): Promise<StreamInfo>;
  close(): Promise<void>;
}

export interface StreamInfo {
  readonly state: { readonly messages: number; readonly last_seq: number };
  readonly cluster?: { readonly leader?: string; readonly replicas?: readonly { readonly name: string; readonly current: boolean }[] };
}

interface ApiReply {
  readonly error?: { readonly description?: string };
  readonly seq?: number;
}

export async function jetStreamProbe(nats: NatsCluster): Promise<JetStreamProbe> {
  const nc: NatsConnection = await connectNats({ servers: nats.urls, name: 'scale-out-probe', creds: nats.hub.creds, waitOnFirstConnect: true });
  const decoder = new TextDecoder();
  const api = async <T extends ApiReply>(subject: string, body: unknown): Promise<T> => {
    const reply = JSON.parse(decoder.decode((await nc.request(subject, JSON.stringify(body), { timeout: 2000 })).data)) as T;
    if (reply.error !== undefined) throw new Error(`${subject}: ${reply.error.description ?? 'error'}`);
    return reply;
  };
  await waitFor(
    'a replicas-3 JetStream stream on the NATS cluster',
    () => api(`$JS.API.STREAM.CREATE.${PROBE_STREAM}`, { name: PROBE_STREAM, subjects: ['scaleout.probe'], num_replicas: 3, storage: 'file' }).then(() => true),
    30_000,
  );
  return {
    publish: async (payload) => (await api<ApiReply & { seq: number }>('scaleout.probe', payload)).seq,
    info: () => api<ApiReply & StreamInfo>(`$JS.API.STREAM.INFO.${PROBE_STREAM}`, {}),
    close: () => nc.close(),
  };
}

// ---- hubs ------------------------------------------------------------------------------------

export interface ScaleOutHub {
  readonly name: string;
  readonly url: string;
  readonly replicaId: string;
  process(): CausewayProcess;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts it again on the same data dir and address. */
  start(): Promise<void>;
}

export interface ScaleOutOptions {
  readonly hubs?: number;
  readonly leaderLeaseSeconds?: number;
  readonly heartbeatTTLSeconds?: number;
  /** More manifests to apply after the examples' Networks, IPPools and Clusters. */
  readonly manifests?: readonly object[];
}

export interface ScaleOut {
  readonly etcd: EtcdCluster;
  readonly nats: NatsCluster;
  readonly hubs: readonly ScaleOutHub[];
  readonly client: HubClient;
  /** A client of the etcd cluster with every member's URL, as the hubs have. */
  readonly store: EtcdStore;
  /** The hub whose candidate holds the election now (read from etcd), if any. */
  leader(): Promise<ScaleOutHub | undefined>;
  stop(): Promise<void>;
}

export async function startScaleOut(options: ScaleOutOptions = {}): Promise<ScaleOut> {
  const { stops, stop } = stopStack();
  try {
    const etcd = await startEtcdCluster(3);
    stops.push(() => etcd.stop());
    const store = new EtcdStore({ endpoints: etcd.urls });
    stops.push(() => store.close());
    const nats = await startNatsCluster(await new CredentialStore(store).identity(), 3);
    stops.push(() => nats.stop());
    const keyFile = join(tempDir('scale-out-keys'), 'secrets.key');
    createSecretKeyFile(keyFile);
    const hubs: (ScaleOutHub & { readonly dataDir: string })[] = [];
    for (let i = 0; i < (options.hubs ?? 2); i++) {
      const hub = await startHub(`hub-${String.fromCharCode(97 + i)}`, etcd, nats, keyFile, options);
      stops.push(() => hub.stop());
      hubs.push(hub);
    }
    const first = hubs[0];
    if (first === undefined) throw new Error('no hubs');
    const client = new HubClient(first.url, readFileSync(join(first.dataDir, 'admin.token'), 'utf8').trim());
    const docs = exampleRegistry(options.heartbeatTTLSeconds ?? 10);
    await client.apply([...docs, ...(options.manifests ?? []).map((object, i) => ({ source: { file: 'scale-out', document: i + 1 }, object }))], false);
    return {
      etcd,
      nats,
      hubs,
      client,
      store,
      leader: () => electedReplica(store, hubs),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startHub(
  name: string,
  etcd: EtcdCluster,
  nats: NatsCluster,
  keyFile: string,
  options: ScaleOutOptions,
): Promise<ScaleOutHub & { readonly dataDir: string; stop(): Promise<void> }> {
  const work = tempDir(name);
  const dataDir = join(work, 'data');
  const listen = `127.0.0.1:${await freePort()}`;
  const url = `http://${listen}`;
  const hubProcess: HubProcessOptions = {
    name,
    work,
    dataDir,
    listen,
    etcd: etcd.urls,
    nats: nats.urls,
    secretKeyFile: keyFile,
    leaderLeaseSeconds: options.leaderLeaseSeconds,
  };
  let child: CausewayProcess | undefined = await startHubProcess(hubProcess);
  const running = (): CausewayProcess => {
    if (child === undefined) throw new Error(`${name} is not running`);
    return child;
  };
  return {
    name,
    url,
    dataDir,
    replicaId: readFileSync(join(dataDir, 'replica.id'), 'utf8').trim(),
    process: running,
    kill: async () => {
      const killed = running();
      await killed.stop('SIGKILL', 5000);
      if (process.env['CAUSEWAY_KEEP_TEST_DIRS'] === '1') writeFileSync(join(work, `hub-killed-${Date.now()}.log`), killed.stdout() + killed.stderr());
    },
    start: async () => {
      child = await startHubProcess(hubProcess);
    },
    stop: async () => {
      if (child !== undefined && !child.hasExited()) await child.stop('SIGTERM', 20_000);
      if (process.env['CAUSEWAY_KEEP_TEST_DIRS'] === '1' && child !== undefined) writeFileSync(join(work, 'hub.log'), child.stdout() + child.stderr());
    },
  };
}
