// The servers of one benchmark step: a real etcd and a real nats-server started with the hub's
// own embedded launchers (same flags, same operator-mode config), and the real hub as a child
// process of its own (`causeway hub --etcd … --nats …`) so that its RSS and CPU are its own and
// it can be killed and restarted while etcd and NATS stay up, as a hub replica would be.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubClient } from '../controlplane/cli/client.ts';
import { freePort } from '../controlplane/embedded/child-server.ts';
import { startEtcd, type EmbeddedEtcd } from '../controlplane/embedded/etcd.ts';
import { startNats, type EmbeddedNats } from '../controlplane/embedded/nats.ts';
import { LEADER_ELECTION } from '../controlplane/hub/agent-gateway.ts';
import { CredentialStore } from '../controlplane/hub/credentials.ts';
import { SECRET_KEY_FILE, readSecretKeyFile } from '../controlplane/identity/secret-key-file.ts';
import { issueHubUser, type IdentityState } from '../controlplane/identity/nats-identity.ts';
import { EtcdStore } from '../controlplane/registry/etcd-store.ts';
import { exitOf, exitWithin, livePid, signalPid } from './child.ts';
import { Cleanups } from './cleanups.ts';

const CAUSEWAY_BIN = resolve(import.meta.dirname, '../bin/causeway.js');

export interface EnvOptions {
  readonly dataDir: string;
  /** Where the hub's log goes (kept after the run). */
  readonly logDir: string;
  /** Where CPU profiles go (node --cpu-prof) when profiling; undefined: no profiling. */
  readonly profileDir: string | undefined;
  /** Where the hub writes a heap snapshot on SIGUSR2 (node --heapsnapshot-signal); undefined: it does not. */
  readonly heapSnapshotDir?: string | undefined;
}

/**
 * The hub's node flags: none, as `causeway hub` runs in production (its heap growth is the
 * command's own --heap-growth default, ADR 0021; the bench gave it --max-old-space-size=8192 until
 * 2026-12-02, which let its heap hold more garbage: idle RSS 869 MB with it, 795 MB without, one
 * run each). CAUSEWAY_BENCH_HUB_NODE_FLAGS (space-separated) tries others.
 */
function hubNodeFlags(): string[] {
  return (process.env.CAUSEWAY_BENCH_HUB_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
}

export class HubProcess {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Made at each start: a profile's file name holds its own process's start time. */
  private readonly args: () => string[];
  private readonly logFile: string;

  constructor(port: number, args: () => string[], logFile: string) {
    this.url = `http://127.0.0.1:${port}`;
    this.args = args;
    this.logFile = logFile;
  }

  get pid(): number | undefined {
    return livePid(this.child);
  }

  async start(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, this.args(), { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    this.exited = exitOf(child);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the hub exited during start-up (code ${child.exitCode}); see ${this.logFile}`);
      const ok = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the hub was not ready within 120 s; see ${this.logFile}`);
      await sleep(50);
    }
  }

  /** SIGTERM (a clean stop, which also writes its CPU profile), SIGKILL after the grace period. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.child === undefined || this.pid === undefined) return;
    signalPid(this.pid, 'SIGTERM');
    await exitWithin(this.child, this.exited, graceMs);
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    if (this.pid === undefined) return;
    signalPid(this.pid, 'SIGKILL');
    await this.exited;
  }
}

export interface Env {
  readonly dataDir: string;
  readonly etcd: EmbeddedEtcd;
  nats: EmbeddedNats;
  readonly natsPort: number;
  readonly hub: HubProcess;
  /** A second replica against the same etcd and NATS, once startStandby() ran. */
  standby: HubProcess | undefined;
  readonly store: EtcdStore;
  readonly identity: IdentityState;
  readonly hubCreds: string;
  readonly client: HubClient;
  restartNats(): Promise<void>;
  /** Starts a second hub replica (its own data dir, the first one's secret key file): it serves the API and stands by for leadership. */
  startStandby(): Promise<HubProcess>;
  /** Which replica holds the election now, read from etcd (the oldest campaign key leads). */
  leader(): Promise<'hub' | 'standby' | undefined>;
  stop(): Promise<void>;
}

export async function startEnv(options: EnvOptions): Promise<Env> {
  const dataDir = options.dataDir;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const stops = new Cleanups();
  const stopAll = async (): Promise<void> => {
    await stops.run();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const etcd = await startEtcd({ dataDir: join(dataDir, 'etcd') });
    stops.push(() => etcd.stop());
    const store = new EtcdStore({ endpoints: [etcd.url] });
    stops.push(() => store.close());
    // The identity the hub would create on first start; NATS must trust it before the hub connects.
    const identity = await new CredentialStore(store).identity();
    const natsPort = await freePort();
    const natsDir = join(dataDir, 'nats');
    let nats = await startNats({ dataDir: natsDir, identity, port: natsPort });
    stops.push(() => nats.stop());
    const hubDir = join(dataDir, 'hub');
    mkdirSync(hubDir, { recursive: true, mode: 0o700 });
    const port = await freePort();
    const hubArgs = (name: string, listen: number, dir: string, extra: string[]): string[] => [
      ...(options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`]),
      ...(options.heapSnapshotDir === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.heapSnapshotDir}`]),
      ...hubNodeFlags(),
      CAUSEWAY_BIN,
      'hub',
      '--listen',
      `127.0.0.1:${listen}`,
      '--data-dir',
      dir,
      '--etcd',
      etcd.url,
      '--nats',
      nats.url,
      ...extra,
    ];
    const hub = new HubProcess(port, () => hubArgs('hub', port, hubDir, []), join(options.logDir, 'hub.log'));
    stops.push(() => hub.stop());
    await hub.start();
    const token = readFileSync(join(hubDir, 'admin.token'), 'utf8').trim();
    const env: Env = {
      dataDir,
      etcd,
      natsPort,
      hub,
      store,
      identity,
      hubCreds: (await issueHubUser(identity)).creds,
      client: new HubClient(hub.url, token),
      get nats() {
        return nats;
      },
      set nats(n: EmbeddedNats) {
        nats = n;
      },
      standby: undefined,
      startStandby: async () => {
        const standbyPort = await freePort();
        const standbyDir = join(dataDir, 'hub-standby');
        mkdirSync(standbyDir, { recursive: true, mode: 0o700 });
        const standby = new HubProcess(
          standbyPort,
          () => hubArgs('hub-standby', standbyPort, standbyDir, ['--secret-key-file', join(hubDir, SECRET_KEY_FILE)]),
          join(options.logDir, 'hub-standby.log'),
        );
        stops.push(() => standby.stop());
        await standby.start();
        env.standby = standby;
        return standby;
      },
      leader: async () => {
        const { kvs } = await store.range(`election/${LEADER_ELECTION}/`);
        const held = [...kvs].sort((a, b) => a.createRevision - b.createRevision)[0];
        const idOf = (dir: string): string | undefined => {
          try {
            return readFileSync(join(dir, 'replica.id'), 'utf8').trim();
          } catch {
            return undefined;
          }
        };
        if (held === undefined) return undefined;
        if (held.value.startsWith(`${idOf(hubDir)}/`)) return 'hub';
        return held.value.startsWith(`${idOf(join(dataDir, 'hub-standby'))}/`) ? 'standby' : undefined;
      },
      restartNats: async () => {
        await nats.server.kill();
        // The hub encrypted the identity with the key it keeps beside its data (docs/security.md).
        const secrets = readSecretKeyFile(join(hubDir, SECRET_KEY_FILE));
        nats = await startNats({ dataDir: natsDir, identity: await new CredentialStore(store, { secrets }).identity(), port: natsPort });
      },
      stop: stopAll,
    };
    return env;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** etcd's own counters (Prometheus text) that say what the hub cost it. */
export async function etcdCounters(etcdUrl: string): Promise<Record<string, number>> {
  const text = await fetch(`${etcdUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const name of [
    'etcd_server_proposals_committed_total',
    'etcd_mvcc_put_total',
    'etcd_mvcc_delete_total',
    'etcd_mvcc_txn_total',
    'etcd_mvcc_range_total',
    'etcd_debugging_mvcc_keys_total',
    'etcd_mvcc_db_total_size_in_bytes',
    // Watchers that fell behind (etcd then catches them up from its store, in batches).
    'etcd_debugging_mvcc_slow_watcher_total',
    'etcd_debugging_mvcc_pending_events_total',
    'etcd_debugging_mvcc_watch_stream_total',
  ]) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    if (m?.[1] !== undefined) out[name] = Number(m[1]);
  }
  return out;
}

/** The hub's agent-message counters from its /metrics. */
export async function hubCounters(hubUrl: string): Promise<Record<string, number>> {
  const text = await fetch(`${hubUrl}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^causeway_agent_messages_total\{kind="([^"]+)",result="([^"]+)"\} ([0-9.e+]+)$/gm)) {
    out[`${m[1]}_${m[2]}`] = Number(m[3]);
  }
  // Seen by the hub → acknowledged by a consumer (propagation-metrics.ts): buckets, count and sum.
  for (const m of text.matchAll(/^causeway_propagation_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$/gm)) out[`propagation_le_${m[1]}`] = Number(m[2]);
  for (const m of text.matchAll(/^causeway_propagation_seconds_(count|sum) ([0-9.e+-]+)$/gm)) out[`propagation_${m[1]}`] = Number(m[2]);
  // prom-client resets the event-loop histogram at every scrape: these cover the time since the last one.
  for (const m of text.matchAll(/^causeway_hub_nodejs_eventloop_lag_(p50|p99|max)_seconds ([0-9.e+-]+)$/gm)) {
    out[`eventloop_lag_${m[1]}_ms`] = Number(m[2]) * 1000;
  }
  return out;
}

/**
 * Where the hub's memory is, from its /metrics (process.memoryUsage, by prom-client): the V8 heap
 * in use and reserved, and memory outside it (Buffers, ArrayBuffers), in bytes.
 */
/** The replica's /metrics text; empty when it does not answer within 10 s. */
function metricsText(hubUrl: string): Promise<string> {
  return fetch(`${hubUrl}/metrics`, { signal: AbortSignal.timeout(10_000) }).then(
    (r) => r.text(),
    () => '',
  );
}

export async function hubHeap(hubUrl: string): Promise<{ heapUsed: number; heapTotal: number; external: number } | undefined> {
  const text = await metricsText(hubUrl);
  const read = (name: string): number | undefined => {
    const m = new RegExp(`^causeway_hub_${name} ([0-9.e+]+)$`, 'm').exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const heapUsed = read('nodejs_heap_size_used_bytes');
  const heapTotal = read('nodejs_heap_size_total_bytes');
  const external = read('nodejs_external_memory_bytes');
  return heapUsed === undefined || heapTotal === undefined || external === undefined ? undefined : { heapUsed, heapTotal, external };
}

/** The replica's `causeway_standby_warm_passes_total`: passes over every consumer to warm a takeover's snapshots. */
export async function warmPasses(hubUrl: string): Promise<number> {
  const text = await metricsText(hubUrl);
  return Number(/^causeway_standby_warm_passes_total ([0-9]+)$/m.exec(text)?.[1] ?? 0);
}

export function listProfiles(dir: string | undefined): string[] {
  if (dir === undefined) return [];
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}
