// Several hub replicas really running, as a production user runs them: one real etcd and one real
// nats-server (operator mode, trusting the hubs' operator, whose identity lives in etcd) started
// by the harness, and N hubs against both with one shared secret key file. A replica is either
// in-process (`startHub`, for tests that look inside) or a `causeway hub` process (for SIGKILL).
// The registry gets the examples' Networks, IPPools and Clusters. Everything is stopped by `stop`
// or, failing that, by the root hook.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { LEADER_ELECTION } from '../../controlplane/hub/agent-gateway.ts';
import { createSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { onCleanup } from './cleanup.ts';
import { startCauseway, type CausewayProcess } from './cli.ts';
import { startTestNats, type TestNats } from './nats.ts';
import { startTestEtcd, tempDir, type TestEtcd } from './servers.ts';
import { waitFor } from './wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

export interface HubReplica {
  readonly name: string;
  readonly url: string;
  readonly dataDir: string;
  readonly adminToken: string;
  /** The in-process hub; undefined for a process. */
  readonly hub: RunningHub | undefined;
  /** The `causeway hub` process; undefined in-process. */
  readonly process: CausewayProcess | undefined;
  /** This replica's id (`<data-dir>/replica.id`), the start of its candidate in the election. */
  readonly replicaId: string;
  stop(): Promise<void>;
}

export interface HubReplicasOptions {
  readonly replicas?: number;
  readonly mode: 'in-process' | 'process';
  /** --leader-lease in seconds; default the hub's. */
  readonly leaderLeaseSeconds?: number;
  /** Cluster spec.heartbeatTTLSeconds of the examples' clusters; default 5. */
  readonly heartbeatTTLSeconds?: number;
}

export interface HubReplicas {
  readonly etcd: TestEtcd;
  readonly nats: TestNats;
  readonly replicas: readonly HubReplica[];
  /** A client of the first replica's API with its admin token. */
  readonly client: HubClient;
  /** The replica whose candidate holds the election now (read from etcd), if any. */
  leader(): Promise<HubReplica | undefined>;
  stop(): Promise<void>;
}

export async function startHubReplicas(options: HubReplicasOptions): Promise<HubReplicas> {
  const etcd = await startTestEtcd();
  const store = new EtcdStore({ endpoints: [etcd.url] });
  const stops: (() => Promise<void>)[] = [() => etcd.stop(), () => store.close()];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  const unregister = onCleanup(stop);
  try {
    const nats = await startTestNats({ identity: await new CredentialStore(store).identity() });
    stops.push(() => nats.stop());
    const keyFile = join(tempDir('hub-replicas-keys'), 'secrets.key');
    createSecretKeyFile(keyFile);
    const replicas: HubReplica[] = [];
    for (let i = 0; i < (options.replicas ?? 2); i++) {
      const replica = await startReplica(`hub-${String.fromCharCode(97 + i)}`, etcd, nats, keyFile, options);
      stops.push(() => replica.stop());
      replicas.push(replica);
    }
    const first = replicas[0];
    if (first === undefined) throw new Error('no replicas');
    const client = new HubClient(first.url, first.adminToken);
    const ttl = options.heartbeatTTLSeconds ?? 5;
    const docs = readManifests([join(EXAMPLES, '00-networks.yaml'), join(EXAMPLES, '10-pools.yaml'), join(EXAMPLES, '20-clusters.yaml')], false).map((d) => {
      const o = d.object as { kind?: string; spec?: Record<string, unknown> };
      return { source: d.source, object: o.kind === 'Cluster' ? { ...o, spec: { ...o.spec, heartbeatTTLSeconds: ttl } } : o };
    });
    await client.apply(docs, false);
    return {
      etcd,
      nats,
      replicas,
      client,
      leader: async () => {
        const { kvs } = await store.range(`election/${LEADER_ELECTION}/`);
        // etcd3's election: the oldest campaign key (lowest create revision) leads.
        const held = [...kvs].sort((a, b) => a.createRevision - b.createRevision)[0];
        return held === undefined ? undefined : replicas.find((r) => held.value.startsWith(`${r.replicaId}/`));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startReplica(name: string, etcd: TestEtcd, nats: TestNats, keyFile: string, options: HubReplicasOptions): Promise<HubReplica> {
  const work = tempDir(name);
  const dataDir = join(work, 'data');
  const listen = `127.0.0.1:${await freePort()}`;
  const url = `http://${listen}`;
  const replicaId = (): string => readFileSync(join(dataDir, 'replica.id'), 'utf8').trim();
  if (options.mode === 'in-process') {
    const destination = pino.destination({ dest: join(work, 'hub.log'), sync: true, mkdir: true });
    const hub = await startHub({
      listen,
      dataDir,
      etcd: [etcd.url],
      nats: nats.url,
      secretKeyFile: keyFile,
      leaderLeaseSeconds: options.leaderLeaseSeconds,
      logger: pino({ name: `causeway-${name}`, level: 'info' }, destination),
    });
    return {
      name,
      url,
      dataDir,
      adminToken: readFileSync(hub.adminTokenFile, 'utf8').trim(),
      hub,
      process: undefined,
      replicaId: replicaId(),
      stop: async () => {
        await hub.stop();
        destination.end();
      },
    };
  }
  const args = ['hub', '--listen', listen, '--data-dir', dataDir, '--etcd', etcd.url, '--nats', nats.url, '--secret-key-file', keyFile];
  if (options.leaderLeaseSeconds !== undefined) args.push('--leader-lease', `${options.leaderLeaseSeconds}s`);
  const child = startCauseway(args, { cwd: work });
  await waitFor(
    `${name} /readyz 200`,
    async () => {
      if (child.hasExited()) throw new Error(`${name} exited: ${child.stderr()}`);
      return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;
    },
    30_000,
  );
  await waitFor(`${name} agent gateway`, () => child.stdout().includes('"msg":"agent gateway listening"'), 15_000);
  return {
    name,
    url,
    dataDir,
    adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    hub: undefined,
    process: child,
    replicaId: replicaId(),
    stop: async () => {
      if (!child.hasExited()) await child.stop('SIGTERM', 20_000);
    },
  };
}
