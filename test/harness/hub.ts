// The real hub for tests, in-process: `startHub` on a free loopback port, a fresh data dir on
// tmpfs, a real etcd (its own, or one the test file shares), team tokens through a real hub config
// file, and its JSON logs in a file next to the data dir. Stopped by the test or the root hook.
// `etcdSnapshot` and `registrySnapshot` read Causeway's keys straight from etcd, so that a test can
// prove a refused request wrote nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { HEAD_KEY, HISTORY_PREFIX, OBJECTS_PREFIX, ROOT } from '../../controlplane/api/keys.ts';
import type { LabelSelector } from '../../controlplane/api/labels.ts';
import { hashToken, newToken } from '../../controlplane/hub/auth.ts';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { onCleanup } from './cleanup.ts';
import { startTestEtcd, tempDir, type TestEtcd } from './servers.ts';

export interface TeamToken {
  readonly name: string;
  readonly namespaces?: readonly string[];
  readonly clusterSelector?: LabelSelector;
}

export interface TestHubOptions {
  /** Share an etcd between hubs of one test file; by default the hub gets an etcd of its own. */
  readonly etcd?: TestEtcd;
  /** Team tokens to put in the hub config file (stored there only as SHA-256). */
  readonly teams?: readonly TeamToken[];
  /** More sections of the hub config file, as written (`providers: { aws: { endpoint } }`). */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface TestHub {
  /** http://127.0.0.1:PORT of the hub now running (the same port after `restart`). */
  readonly url: string;
  readonly adminToken: string;
  /** Team name to its bearer token. */
  readonly tokens: Readonly<Record<string, string>>;
  readonly etcdUrl: string;
  readonly etcd: TestEtcd;
  readonly dataDir: string;
  readonly logFile: string;
  readonly hub: RunningHub;
  /** Stops the hub (not etcd) and starts it again on the same data dir, etcd, config and port. */
  restart(): Promise<void>;
  /** Stops the hub, and its etcd when the harness started that etcd for it. */
  stop(): Promise<void>;
}

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const ownEtcd = options.etcd === undefined;
  const etcd = options.etcd ?? (await startTestEtcd());
  const dir = tempDir('hub');
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'hub.log');

  const tokens: Record<string, string> = {};
  let configFile: string | undefined;
  const teams = options.teams ?? [];
  if (teams.length > 0 || options.config !== undefined) {
    const entries = teams.map((t) => {
      const token = newToken('team');
      tokens[t.name] = token;
      return {
        name: t.name,
        role: 'team',
        sha256: hashToken(token),
        namespaces: [...(t.namespaces ?? [])],
        ...(t.clusterSelector !== undefined ? { clusterSelector: t.clusterSelector } : {}),
      };
    });
    configFile = join(dir, 'hub-config.yaml');
    writeFileSync(configFile, stringify({ ...(entries.length > 0 ? { tokens: entries } : {}), ...options.config }), { mode: 0o600 });
  }

  let listen = '127.0.0.1:0';
  const launch = async (): Promise<{ hub: RunningHub; close: () => void }> => {
    const destination = pino.destination({ dest: logFile, sync: true, mkdir: true });
    const logger = pino({ name: 'causeway-hub', level: 'info' }, destination);
    try {
      const hub = await startHub({ listen, dataDir, etcd: [etcd.url], configFile, logger });
      return {
        hub,
        close: () => {
          destination.end();
        },
      };
    } catch (err) {
      destination.end();
      throw err;
    }
  };

  let current: { hub: RunningHub; close: () => void } | undefined = await launch();
  listen = new URL(current.hub.url).host;
  const adminToken = readFileSync(current.hub.adminTokenFile, 'utf8').trim();

  const stopHub = async (): Promise<void> => {
    const running = current;
    current = undefined;
    if (running === undefined) return;
    await running.hub.stop();
    running.close();
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    await stopHub();
    if (ownEtcd) await etcd.stop();
  };
  const unregister = onCleanup(stop);

  const running = (): RunningHub => {
    if (current === undefined) throw new Error('the test hub is not running');
    return current.hub;
  };
  return {
    get url() {
      return running().url;
    },
    get hub() {
      return running();
    },
    adminToken,
    tokens,
    etcdUrl: etcd.url,
    etcd,
    dataDir,
    logFile,
    restart: async () => {
      await stopHub();
      current = await launch();
    },
    stop,
  };
}

// ---- raw etcd ------------------------------------------------------------------------------

export interface EtcdSnapshot {
  /** etcd's revision at the read: any write anywhere in etcd moves it. */
  readonly revision: number;
  /** The write head's value and mod revision. */
  readonly head: { readonly value: string; readonly modRevision: number } | undefined;
  /** Every key read, with its value and revisions. */
  readonly keys: Readonly<Record<string, { readonly value: string; readonly createRevision: number; readonly modRevision: number }>>;
}

async function withStore<T>(etcdUrl: string, use: (store: EtcdStore) => Promise<T>): Promise<T> {
  const store = new EtcdStore({ endpoints: [etcdUrl] });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Every key under /causeway/v1/ (or only those under `prefixes`), read at one revision, straight from etcd. */
export function etcdSnapshot(etcdUrl: string, prefixes: readonly string[] = [ROOT]): Promise<EtcdSnapshot> {
  return withStore(etcdUrl, async (store) => {
    const { kvs, revision } = await store.range(ROOT);
    const keys: Record<string, { value: string; createRevision: number; modRevision: number }> = {};
    for (const kv of kvs) {
      if (prefixes.some((p) => kv.key.startsWith(p))) keys[kv.key] = { value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision };
    }
    const head = kvs.find((kv) => kv.key === HEAD_KEY);
    return { revision, head: head === undefined ? undefined : { value: head.value, modRevision: head.modRevision }, keys };
  });
}

/**
 * What an API write can change: every declared object, every history record and the write head.
 * The hub's background controllers keep derived state beside it (clusterset VIPs, agent
 * credentials, exports) and write objects' status (liveness, policy and network conditions) on
 * their own schedule, so a test proving that a refused request wrote nothing compares this, not
 * etcd's global revision: objects without their status (a status write moves the key's
 * modRevision, so objects keep only their createRevision), history records and the head exactly.
 * Every declaration appends a history record and moves the head, so none goes unseen.
 */
export async function registrySnapshot(etcdUrl: string): Promise<Omit<EtcdSnapshot, 'revision'>> {
  const { head, keys } = await etcdSnapshot(etcdUrl, [OBJECTS_PREFIX, HISTORY_PREFIX, HEAD_KEY]);
  const declared: Record<string, { value: string; createRevision: number; modRevision: number }> = {};
  for (const [key, kv] of Object.entries(keys)) {
    if (!key.startsWith(OBJECTS_PREFIX)) {
      declared[key] = kv;
      continue;
    }
    const { status: _status, ...object } = JSON.parse(kv.value) as Record<string, unknown>;
    declared[key] = { value: JSON.stringify(object), createRevision: kv.createRevision, modRevision: kv.createRevision };
  }
  return { head, keys: declared };
}

/** etcd compaction up to `revision` (old revisions become unreadable; watches from them fail). */
export function compactEtcd(etcdUrl: string, revision: number): Promise<void> {
  return withStore(etcdUrl, (store) => store.compact(revision));
}
