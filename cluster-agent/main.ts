// The agent's composition root: validates its options once, builds the Kubernetes adapter, the
// NATS transport, the agent's controllers and (if asked) the /metrics server, starts them, and
// stops them in reverse order.
import { realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { InvalidInputError } from '../controlplane/api/errors.ts';
import { assertClusterName } from '../controlplane/api/subjects.ts';
import { Agent, type AgentLogger, type AgentMetrics } from './agent.ts';
import { startDnsServer, type DnsServer } from './dns-server.ts';
import { KubeCluster } from './kube-cluster.ts';
import { agentRegistry, parseListen, startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { jwtTimes, NatsHubTransport } from './nats-transport.ts';
import { appliedZone } from './planners/dns-answer.ts';

export interface RunAgentOptions {
  readonly cluster: string;
  /** One URL or several, comma-separated. */
  readonly natsUrl: string;
  /** Path of the `.creds` file from `causeway cluster credentials NAME`. */
  readonly credsFile: string;
  /** Path of the PEM CA certificate that signs the NATS server's certificate (the hub's `ca.crt`); required for tls:// URLs of a private CA. */
  readonly caFile?: string | undefined;
  /** Path of a kubeconfig; the in-cluster configuration when absent. */
  readonly kubeconfig?: string;
  /** Default 5 s. */
  readonly heartbeatIntervalMs?: number;
  /** Default 2 s: the random delay before the snapshot sync after start and each reconnect. */
  readonly resyncJitterMs?: number;
  /** Default 250 ms (doubling to 30 s): retry of reports, syncs, writes; also informer restarts. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** How long a report waits for the hub's reply (default 5 s) and a sync for its first (default 10 s); given, both. */
  readonly requestTimeoutMs?: number;
  /** HOST:PORT of a Prometheus `GET /metrics` endpoint (e.g. 127.0.0.1:9464; port 0 picks one); unset: none. */
  readonly metricsListen?: string;
  /**
   * HOST:PORT to serve the zone clusterset.local on, UDP and TCP, from the imports applied to this
   * cluster (the address its CoreDNS forwards the zone to; port 0 picks one); unset: none.
   */
  readonly dnsListen?: string;
  readonly logger?: AgentLogger;
}

export interface RunningAgent {
  readonly agent: Agent;
  readonly metrics: AgentMetrics;
  /** The /metrics URL when `metricsListen` was given. */
  readonly metricsUrl: string | undefined;
  /** HOST:PORT (UDP and TCP) of the clusterset.local DNS server when `dnsListen` was given. */
  readonly dnsAddress: string | undefined;
  stop(): Promise<void>;
}

/** `--nats`: one URL or several, comma-separated. */
function natsServers(natsUrl: string): string[] {
  const servers = natsUrl
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0)
    throw new InvalidInputError([{ field: '--nats', value: natsUrl, message: 'give at least one NATS URL, e.g. nats://hub.example:4222' }]);
  return servers;
}

/** `--creds`: the cluster's NATS .creds file, read and checked once. */
async function readCreds(credsFile: string, cluster: string): Promise<string> {
  let creds: string;
  try {
    creds = await readFile(credsFile, 'utf8');
  } catch (err) {
    throw new InvalidInputError(
      [
        {
          field: '--creds',
          value: credsFile,
          message: `cannot read the .creds file (${(err as Error).message}); get one with \`causeway cluster credentials ${cluster} --output-file FILE\``,
        },
      ],
      { cause: err },
    );
  }
  if (!creds.includes('BEGIN NATS USER JWT')) {
    throw new InvalidInputError([{ field: '--creds', value: credsFile, message: 'not a NATS .creds file (no "BEGIN NATS USER JWT" block)' }]);
  }
  const expiresAt = jwtTimes(creds)?.expiresAt;
  if (expiresAt !== undefined && expiresAt * 1000 <= Date.now()) {
    throw new InvalidInputError([
      {
        field: '--creds',
        value: credsFile,
        message: `the credential expired at ${new Date(expiresAt * 1000).toISOString()}; get a new one with \`causeway cluster credentials ${cluster} --output-file FILE\``,
      },
    ]);
  }
  return creds;
}

/** Replaces the .creds file atomically, 0600, in place of the file or symlink target it names. */
function writeCredsFile(file: string, creds: string): void {
  const target = realpathSync(file);
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, creds, { mode: 0o600, flag: 'wx' });
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** `--ca`: PEM certificate(s) of the CA that signs the NATS servers' certificates. */
async function readCa(caFile: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(caFile, 'utf8');
  } catch (err) {
    throw new InvalidInputError(
      [{ field: '--ca', value: caFile, message: `cannot read the CA certificate (${(err as Error).message}); it is the hub's <data-dir>/ca.crt` }],
      {
        cause: err,
      },
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InvalidInputError([{ field: '--ca', value: caFile, message: 'not a PEM certificate (no "BEGIN CERTIFICATE" block)' }]);
  }
  return text;
}

export async function runAgent(options: RunAgentOptions): Promise<RunningAgent> {
  assertClusterName(options.cluster);
  const servers = natsServers(options.natsUrl);
  const creds = await readCreds(options.credsFile, options.cluster);
  const ca = options.caFile === undefined ? undefined : await readCa(options.caFile);
  const metricsListen = options.metricsListen === undefined ? undefined : parseListen(options.metricsListen, '--metrics-listen');
  const dnsListen = options.dnsListen === undefined ? undefined : parseListen(options.dnsListen, '--dns-listen');
  const log = options.logger ?? pino({ name: 'causeway-agent' });
  const retryBaseMs = options.retryBaseMs ?? 250;

  const cluster = new KubeCluster({
    kubeconfig: options.kubeconfig,
    restartBaseMs: Math.max(retryBaseMs, 100),
    restartMaxMs: options.retryMaxMs ?? 30_000,
    onInformerError: (informer, err) => {
      log.warn({ informer, err }, 'informer failed; restarting with backoff');
    },
  });
  const transport = new NatsHubTransport({
    cluster: options.cluster,
    servers,
    creds,
    ca,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs, syncFirstReplyMs: options.requestTimeoutMs } : {}),
    onRejected: (subject, reason, message) => {
      log.warn({ subject, reason, message }, 'refused a message from NATS');
    },
    onError: (what, err) => {
      log.warn({ what, err }, 'NATS');
    },
    onRenewed: (renewed, expiresAt) => {
      // Written back so that a restart presents the renewed JWT; a read-only file (a mounted Secret)
      // keeps working until the old expiry, and the log says what to do before then.
      try {
        writeCredsFile(options.credsFile, renewed);
        log.info({ expiresAt, credsFile: options.credsFile }, 'renewed the NATS credential');
      } catch (err) {
        log.warn(
          { err, expiresAt, credsFile: options.credsFile },
          'renewed the NATS credential but cannot write it back; after a restart the agent uses the old one until it expires',
        );
      }
    },
  });
  const agent = new Agent(cluster, transport, {
    cluster: options.cluster,
    logger: log,
    retryBaseMs,
    retryMaxMs: options.retryMaxMs ?? 30_000,
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    ...(options.resyncJitterMs !== undefined ? { resyncJitterMs: options.resyncJitterMs } : {}),
  });
  log.info(
    { cluster: options.cluster, nats: servers, kubernetes: cluster.server(), heartbeatIntervalMs: options.heartbeatIntervalMs ?? 5000 },
    'starting agent',
  );
  await agent.start();
  let metricsServer: MetricsServer | undefined;
  if (metricsListen !== undefined) {
    try {
      metricsServer = await startMetricsServer(agentRegistry(agent, options.cluster), metricsListen);
    } catch (err) {
      await agent.stop();
      await transport.close();
      await cluster.stop();
      throw err;
    }
    log.info({ url: metricsServer.url }, 'serving /metrics');
  }
  let dnsServer: DnsServer | undefined;
  if (dnsListen !== undefined) {
    try {
      dnsServer = await startDnsServer({ ...dnsListen, zone: appliedZone(() => agent.appliedImports()), log });
    } catch (err) {
      await metricsServer?.close();
      await agent.stop();
      await transport.close();
      await cluster.stop();
      throw err;
    }
    log.info({ address: dnsServer.address, zone: 'clusterset.local' }, 'serving DNS (UDP and TCP)');
  }

  let stopping: Promise<void> | undefined;
  return {
    agent,
    metrics: agent.metrics,
    metricsUrl: metricsServer?.url,
    dnsAddress: dnsServer?.address,
    stop: () => {
      // Reverse order of construction: DNS, /metrics, the controllers, then NATS, then the watches.
      stopping ??= (async () => {
        await dnsServer?.close();
        await metricsServer?.close();
        await agent.stop();
        await transport.close();
        await cluster.stop();
        log.info({ cluster: options.cluster }, 'agent stopped');
      })();
      return stopping;
    },
  };
}
