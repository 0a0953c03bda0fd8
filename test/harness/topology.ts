// Several hub replicas really running, as a production user runs them: one real etcd and one real
// nats-server (operator mode, trusting the hubs' operator, whose identity lives in etcd) started
// by the harness, and N hubs against both with one shared secret key file. A replica is either
// in-process (`startHub`, for tests that look inside) or a `causeway hub` process (for SIGKILL).
// The registry gets the examples' Networks, IPPools and Clusters. Everything is stopped by `stop`
// or, failing that, by the root hook.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { createSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { stopStack } from './cleanup.ts';
import type { CausewayProcess } from './cli.ts';
import { electedReplica, exampleRegistry, startHubProcess } from './hub-replica.ts';
import { startTestNats, type TestNats } from './nats.ts';
import { startTestEtcd, tempDir, type TestEtcd } from './servers.ts';

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
  const { stops, stop } = stopStack([() => etcd.stop(), () => store.close()]);
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
    await client.apply(exampleRegistry(options.heartbeatTTLSeconds ?? 5), false);
    return {
      etcd,
      nats,
      replicas,
      client,
      leader: () => electedReplica(store, replicas),
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
  const child = await startHubProcess({
    name,
    work,
    dataDir,
    listen,
    etcd: [etcd.url],
    nats: [nats.url],
    secretKeyFile: keyFile,
    leaderLeaseSeconds: options.leaderLeaseSeconds,
  });
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
