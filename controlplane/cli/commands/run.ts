// The commands that run a program: the hub, the demo, and a cluster's agent.
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LISTEN } from '../../hub/config.ts';
import { err, out, positive, UsageError, waitForSignal } from '../common.ts';
import type { RunningDemo } from '../demo.ts';

interface HubFlags {
  listen: string;
  dataDir: string;
  etcd?: string;
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  nats?: string;
  natsListen?: string;
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  ca?: string;
  tlsSan?: string;
  config?: string;
  credentialTtl: number;
  secretKeyFile?: string;
  leaderLease?: number;
  heapGrowth: number;
}

/**
 * How far past what survived its last full collection the hub's V8 heap may grow before the next
 * one, in percent; 0 leaves it to V8 (up to 4×). The hub's heap is mostly garbage of deliveries
 * made: 190 MB live of 480-730 MB held at 250,000 endpoints (bench), so V8's own factor set most
 * of its RSS. See docs/adr/0021-hub-heap-growth.md.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 30;

/** "30" → 30: a whole percentage from 0 to 300. */
function heapGrowthPercent(v: string): number {
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 300)) throw new UsageError(`--heap-growth: expected a whole percentage from 0 to 300 such as 30 (got "${v}")`);
  return n;
}

/**
 * Sets V8's heap growing factor for this process. V8 reads the flag each time it sizes the heap
 * after a full collection, so setting it at start takes effect (measured: a toy with 150 MB live
 * held 1.29 GB RSS by default, 0.62 GB with 30 set at run time, 0.57 GB with it on the command line).
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/** "30d", "12h", "90m" or "45s" (a whole number and a unit) → seconds; at least a minute. */
function duration(v: string): number {
  const m = /^([0-9]+)([dhms])$/.exec(v);
  const unit = { d: 86_400, h: 3600, m: 60, s: 1 } as const;
  const seconds = m === null ? NaN : Number(m[1]) * unit[m[2] as keyof typeof unit];
  if (!(seconds >= 60)) throw new UsageError(`--credential-ttl: expected a duration of at least a minute such as 30d, 12h or 90m (got "${v}")`);
  return seconds;
}

/** "3s" or "3" → whole seconds from 1 to 60. */
function leaseSeconds(v: string): number {
  const m = /^([0-9]+)s?$/.exec(v);
  const seconds = Number(m?.[1]);
  if (m === null || seconds < 1 || seconds > 60) throw new UsageError(`--leader-lease: expected whole seconds from 1 to 60 such as 3s (got "${v}")`);
  return seconds;
}

export function addServerCommands(program: Command): void {
  program
    .command('hub')
    .description('run the hub: the registry API on etcd (embedded etcd and nats-server unless --etcd/--nats are given)')
    .option('--listen <host:port>', 'address to serve the API on; not loopback: HTTPS', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the admin token, the CA and embedded servers keep their data', DEFAULT_DATA_DIR)
    .option('--etcd <urls>', 'comma-separated etcd client URLs of an existing etcd cluster')
    .option('--etcd-cacert <file>', 'external etcd over TLS: the CA that signs its certificate')
    .option('--etcd-cert <file>', 'external etcd: the client certificate the hub presents')
    .option('--etcd-key <file>', 'external etcd: the key of --etcd-cert')
    .option('--nats <urls>', 'comma-separated URLs of an existing NATS cluster (the hub fails over between them)')
    .option('--nats-listen <host:port>', 'address of the embedded nats-server (default 127.0.0.1 on the port it had); not loopback: TLS')
    .option('--tls', 'serve the API and the embedded nats-server over TLS on loopback too', false)
    .option('--tls-cert <file>', 'certificate for the API and the embedded nats-server, instead of one the hub CA signs')
    .option('--tls-key <file>', 'key of --tls-cert')
    .option('--ca <file>', 'CA that signed --tls-cert (clients trust it), and that the hub trusts for an external tls:// NATS')
    .option('--tls-san <names>', 'comma-separated extra DNS names or addresses for the generated certificates, e.g. hub.example.com')
    .option('--config <file>', 'hub config file (API tokens and their scopes)')
    .option(
      '--credential-ttl <duration>',
      "how long an agent's NATS credential is valid; agents renew it in its last third (e.g. 30d, 12h)",
      duration,
      30 * 86_400,
    )
    .option(
      '--secret-key-file <file>',
      'keys that encrypt secrets in etcd (default <data-dir>/secrets.key, created on first start); replicas sharing an etcd share it',
    )
    .option(
      '--leader-lease <duration>',
      'leadership lease of the hub replicas, e.g. 3s (default); a standby takes over about this long after the leader dies',
      leaseSeconds,
    )
    .option(
      '--heap-growth <percent>',
      'how far the heap may grow past what the last full collection kept before the next one (0: V8 decides, up to 4x); lower holds less memory for more collector CPU',
      heapGrowthPercent,
      DEFAULT_HEAP_GROWTH_PERCENT,
    )
    .action(async (o: HubFlags) => {
      limitHeapGrowth(o.heapGrowth);
      // Loaded only when asked for: the other commands need none of the hub's libraries.
      const { startHub } = await import('../../hub/hub.ts');
      const list = (v: string | undefined): string[] | undefined =>
        v
          ?.split(',')
          .map((u) => u.trim())
          .filter((u) => u !== '');
      const hub = await startHub({
        listen: o.listen,
        dataDir: o.dataDir,
        etcd: list(o.etcd),
        etcdCaFile: o.etcdCacert,
        etcdCertFile: o.etcdCert,
        etcdKeyFile: o.etcdKey,
        nats: o.nats,
        natsListen: o.natsListen,
        tls: o.tls,
        tlsCertFile: o.tlsCert,
        tlsKeyFile: o.tlsKey,
        caFile: o.ca,
        tlsHosts: list(o.tlsSan),
        configFile: o.config,
        credentialTtlSeconds: o.credentialTtl,
        secretKeyFile: o.secretKeyFile,
        leaderLeaseSeconds: o.leaderLease,
        heapGrowthPercent: o.heapGrowth,
      });
      // One bug must not take the control plane down: log it, count it, go on (controllers retry their keys).
      process.on('unhandledRejection', (e) => {
        hub.uncaught('rejection', e);
      });
      process.on('uncaughtException', (e) => {
        hub.uncaught('exception', e);
      });
      // A server the hub started that cannot be brought back: stop the rest and exit non-zero, so that
      // the service manager (systemd, Kubernetes) sees it, instead of serving 503s forever.
      void hub.fatal.then(async (e) => {
        err(`error: ${e.message}; stopping the hub`);
        process.exitCode = 1;
        await hub.stop().catch(() => undefined);
        process.exit(1);
      });
      err(`hub serving on ${hub.url}; admin token in ${hub.adminTokenFile}${hub.caFile !== undefined ? `; clients trust ${hub.caFile}` : ''}`);
      await waitForSignal(() => hub.stop());
    });

  program
    .command('demo')
    .description('start a hub on its embedded default, apply examples/, show the result and serve until Ctrl-C')
    .option('--listen <host:port>', 'address to serve the API on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the demo hub keeps its data', DEFAULT_DATA_DIR)
    .action(async (o: { listen: string; dataDir: string }) => {
      // Listen for Ctrl-C before starting, so that one during start-up still stops what started.
      const started: { demo?: RunningDemo } = {};
      const stopped = waitForSignal(async () => {
        await started.demo?.stop();
      });
      const { runDemo } = await import('../demo.ts');
      started.demo = await runDemo(o, out);
      await stopped;
    });
}

export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description("run a cluster's agent: report its ServiceExports to the hub, apply the imports the hub sends")
    .requiredOption('--cluster <name>', 'the cluster this agent serves (as registered)')
    .requiredOption('--nats <url>', 'NATS URL(s), comma-separated')
    .requiredOption('--creds <file>', 'the .creds file from `causeway cluster credentials NAME`')
    .option('--ca <file>', "CA certificate that signs the NATS server's certificate (the hub's <data-dir>/ca.crt) for tls:// URLs")
    .option('--kubeconfig <path>', 'kubeconfig of the cluster (default: in-cluster config)')
    .option('--metrics-listen <host:port>', "serve the agent's Prometheus /metrics here; default off")
    .option('--dns-listen <host:port>', 'serve clusterset.local for this cluster here, UDP and TCP (the address CoreDNS forwards the zone to); default off')
    .option(
      '--heartbeat-interval <ms>',
      "how often to heartbeat; keep it well under the cluster's spec.heartbeatTTLSeconds",
      (v) => positive(v, '--heartbeat-interval'),
      5000,
    )
    .action(
      async (o: {
        cluster: string;
        nats: string;
        creds: string;
        ca?: string;
        kubeconfig?: string;
        metricsListen?: string;
        dnsListen?: string;
        heartbeatInterval: number;
      }) => {
        const { runAgent } = await import('../../../cluster-agent/main.ts');
        const agent = await runAgent({
          cluster: o.cluster,
          natsUrl: o.nats,
          credsFile: o.creds,
          caFile: o.ca,
          heartbeatIntervalMs: o.heartbeatInterval,
          ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.metricsListen !== undefined ? { metricsListen: o.metricsListen } : {}),
          ...(o.dnsListen !== undefined ? { dnsListen: o.dnsListen } : {}),
        });
        err(
          `agent for cluster ${o.cluster} running${agent.metricsUrl !== undefined ? `; metrics on ${agent.metricsUrl}` : ''}${agent.dnsAddress !== undefined ? `; clusterset.local DNS on ${agent.dnsAddress}` : ''}`,
        );
        await waitForSignal(() => agent.stop());
        exitSoonIfHeld('agent');
      },
    );
}

/**
 * After a stop that has closed everything it owns, a client library may still hold a handle
 * (the Kubernetes client's sockets to the API server, seen after the agent's stop): say what
 * is left, and exit after a grace second instead of running on. The timer is unref'd, so a
 * clean stop exits at once without it.
 */
function exitSoonIfHeld(what: string): void {
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'PipeWrap' && r !== 'TTYWrap');
    err(`${what} stopped; exiting although the process still holds ${left.join(', ') || 'timers'}`);
    process.exit(process.exitCode ?? 0);
  }, 1000).unref();
}
