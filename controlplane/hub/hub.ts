// The hub's composition root: reads its options once, starts or connects to etcd and NATS,
// wires the store, registry, auth and HTTP API, and stops everything in reverse order.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ALL_KINDS } from '../api/kinds.ts';
import type { EmbeddedEtcd } from '../embedded/etcd.ts';
import type { EmbeddedNats } from '../embedded/nats.ts';
import { EtcdStore } from '../registry/etcd-store.ts';
import { Registry } from '../registry/registry.ts';
import { SerialQueue } from '../kernel/async.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { NatsAccountPusher } from '../bus/nats-account-push.ts';
import { issueHubUser, issueSystemUser, type IdentityState } from '../identity/nats-identity.ts';
import type { SecretBox } from '../identity/secret-box.ts';
import { createSecretKeyFile, readSecretKeyFile, SECRET_KEY_FILE } from '../identity/secret-key-file.ts';
import { InvalidInputError } from '../api/errors.ts';
import { startAgentGateway } from './agent-gateway.ts';
import { TokenAuthenticator } from './auth.ts';
import { CredentialStore, sealedSecretKeyIds } from './credentials.ts';
import { DEFAULT_LISTEN, ensureAdminToken, HUB_URL_FILE, loadHubConfig } from './config.ts';
import { createHubMetrics, type HubMetrics } from './metrics.ts';
import { buildHubServer } from './http/server.ts';
import { checkTlsHosts, prepareHubTls, type HubTlsOptions } from './tls.ts';
import type { HealthChecks } from './health.ts';
import type { Supervisor, Supervisable } from '../embedded/supervisor.ts';
import { embeddedNats, etcdOrEmbedded, serverCheck, type ExternalEtcdOptions } from './embedded-servers.ts';

export interface HubOptions extends HubTlsOptions, ExternalEtcdOptions {
  /** HOST:PORT; default 127.0.0.1:7080. Port 0 picks a free one. Not loopback: HTTPS. */
  readonly listen: string;
  /** HOST:PORT of the embedded nats-server; default 127.0.0.1 on the port it had before (or a free one). Not loopback: TLS. */
  readonly natsListen?: string | undefined;
  readonly dataDir: string;
  /** External NATS URL; none means start an embedded nats-server under dataDir. */
  readonly nats?: string | undefined;
  readonly configFile?: string | undefined;
  /** How long agents' NATS credentials are valid (renewed by the agents before they expire); default 30 days. */
  readonly credentialTtlSeconds?: number | undefined;
  /** The keys that encrypt secrets in etcd; default `<dataDir>/secrets.key`, created on first start. Replicas sharing an etcd share it. */
  readonly secretKeyFile?: string | undefined;
  /**
   * The leadership lease in seconds (whole, 1-60); default DEFAULT_LEADER_LEASE_SECONDS (3): a
   * standby replica takes over about this long after the leader dies. Shorter fails over sooner
   * but loses the lead on a shorter etcd hiccup.
   */
  readonly leaderLeaseSeconds?: number | undefined;
  /** The heap growth the process runs with (`causeway hub --heap-growth`, set before the hub starts): logged only. */
  readonly heapGrowthPercent?: number | undefined;
  readonly logger?: Logger;
}

export interface RunningHub {
  /** http://HOST:PORT, or https:// when the API serves TLS. */
  readonly url: string;
  readonly adminTokenFile: string;
  /** `<data-dir>/ca.crt`, the CA that clients of the API and of the embedded NATS trust, when they speak TLS. */
  readonly caFile: string | undefined;
  /** PEM of the same, for clients in this process. */
  readonly ca: string | undefined;
  readonly secretKeyFile: string;
  readonly etcdUrls: readonly string[];
  readonly natsUrl: string;
  /** The servers the hub started and keeps running (fault tests kill them). */
  readonly embedded: { readonly etcd: Supervisor<EmbeddedEtcd> | undefined; readonly nats: Supervisor<EmbeddedNats> | undefined };
  /** Resolves when a server the hub started could not be brought back: the process should exit non-zero. */
  readonly fatal: Promise<Error>;
  readonly registry: Registry;
  /** Logs and counts an error nothing caught (the process-level handlers of `causeway hub` call it). */
  uncaught(kind: 'rejection' | 'exception', err: unknown): void;
  stop(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<RunningHub> {
  const logger = options.logger ?? pino({ name: 'causeway-hub' });
  const dataDir = resolve(options.dataDir);
  // Flags first: a bad one is refused before anything is written.
  const { host, port } = parseListen(options.listen);
  const natsListen = options.nats === undefined ? parseListen(options.natsListen ?? '127.0.0.1:0', '--nats-listen') : undefined;
  checkTlsHosts(options.tlsHosts ?? []);
  const lease = options.leaderLeaseSeconds;
  if (lease !== undefined && !(Number.isInteger(lease) && lease >= 1 && lease <= 60))
    throw new Error(`--leader-lease: expected whole seconds from 1 to 60 such as 3s (got ${lease})`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const config = loadHubConfig(options.configFile);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse())
      await stop().catch((err: unknown) => {
        logger.error({ err }, 'stop failed');
      });
  };
  try {
    const tls = await prepareHubTls(dataDir, { apiHost: host, natsHost: natsListen?.host, embeddedEtcd: (options.etcd ?? []).length === 0 }, options);
    const supervised: Supervisor<Supervisable>[] = [];
    const { urls: etcdUrls, tls: etcdTls, supervisor: etcdSupervisor } = await etcdOrEmbedded(options, dataDir, tls, stops, logger);
    if (etcdSupervisor !== undefined) supervised.push(etcdSupervisor);
    const store = new EtcdStore({ endpoints: etcdUrls, tls: etcdTls });
    stops.push(() => store.close());
    // Declarations and credential hand-outs both append to the audit history: one queue for both.
    const historyWrites = new SerialQueue();
    const registry = new Registry(store, { historyWrites });
    const secrets = await openSecretBox(store, dataDir, options.secretKeyFile, logger);
    const credentials = new CredentialStore(store, {
      secrets,
      historyWrites,
      ...(options.credentialTtlSeconds !== undefined ? { ttlSeconds: options.credentialTtlSeconds } : {}),
    });
    // Every start re-encrypts what an older hub wrote in clear, or an older key sealed (rotation).
    const resealed = await credentials.reseal();
    logger.info({ secretKeyFile: secrets.source, keyIds: secrets.keyIds, resealed }, 'secrets in etcd are encrypted with the first key');
    let identity = await credentials.identity();
    // A restarted nats-server gets the current revocations in its preload; the last known ones if etcd is away too.
    const currentIdentity = async (): Promise<IdentityState> => {
      identity = await credentials.identity().catch(() => identity);
      return identity;
    };

    const natsSupervisor = natsListen === undefined ? undefined : await embeddedNats(dataDir, currentIdentity, natsListen, tls, stops, logger);
    if (natsSupervisor !== undefined) supervised.push(natsSupervisor);
    const natsUrl = options.nats ?? natsSupervisor?.server.url ?? '';
    // The embedded server is verified against our CA; an external one against --ca, or the system's CAs.
    const natsCa =
      natsSupervisor !== undefined
        ? tls.nats !== undefined
          ? tls.clientCa
          : undefined
        : options.caFile !== undefined
          ? readFileSync(options.caFile, 'utf8')
          : undefined;
    const hubUser = await issueHubUser(identity);
    const health: { bus?: NatsBus } = {};
    const checks: HealthChecks = () =>
      Promise.resolve([
        ...(health.bus === undefined
          ? []
          : [
              {
                name: 'nats',
                ready: health.bus.connected(),
                message: health.bus.connected() ? 'ok' : `the hub is not connected to NATS at ${natsUrl} (reconnecting)`,
              },
            ]),
        ...supervised.map(serverCheck),
      ]);
    const metrics = metricsOf(registry, store, checks);
    for (const s of supervised)
      s.onRestart(() => {
        metrics.embeddedRestarts.inc({ server: s.name });
      });
    const uncaught = (kind: 'handler' | 'rejection' | 'exception', err: unknown, fields: Record<string, unknown> = {}): void => {
      metrics.uncaughtErrors.inc({ kind });
      logger.error({ err, kind, ...fields }, 'uncaught error (a bug); the hub goes on');
    };
    const bus = await NatsBus.connect({
      servers: natsUrl,
      creds: hubUser.creds,
      name: 'causeway-hub',
      ca: natsCa,
      onHandlerError: (subject, err) => {
        uncaught('handler', err, { subject });
      },
    });
    stops.push(() => bus.close());
    health.bus = bus;
    const pusher = await NatsAccountPusher.connect({ servers: natsUrl, systemUserCreds: (await issueSystemUser(identity)).creds, ca: natsCa });
    stops.push(() => pusher.close());
    credentials.setPush(async (jwt) => {
      await pusher.push(jwt);
    });

    const agents = await startAgentGateway({
      store,
      registry,
      bus,
      credentials,
      metrics,
      logger,
      replicaId: replicaId(dataDir),
      ...(lease !== undefined ? { leaseTtlSeconds: lease } : {}),
      providers: config.providers,
    });
    stops.push(() => agents.stop());

    const admin = ensureAdminToken(dataDir);
    const auth = new TokenAuthenticator([admin.entry, ...config.tokens]);
    const app = buildHubServer({
      registry,
      store,
      auth,
      metrics,
      logger,
      credentials,
      services: agents.services,
      providers: agents.providers,
      convergence: agents.convergence,
      policy: agents.policy,
      https: tls.api,
      health: checks,
    });
    await app.listen({ host, port });
    stops.push(() => app.close());
    const address = app.server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    // A wildcard listen is reached on loopback from this machine (and the certificate names 127.0.0.1).
    const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const url = `${tls.api !== undefined ? 'https' : 'http'}://${reach.includes(':') ? `[${reach}]` : reach}:${bound}`;
    writeFileSync(join(dataDir, HUB_URL_FILE), `${url}\n`, { mode: 0o644 });
    logger.info(
      {
        url,
        dataDir,
        etcd: etcdUrls,
        nats: natsUrl,
        tls: { api: tls.api?.certFile ?? false, nats: tls.nats?.certFile ?? false, etcd: etcdTls !== undefined, clientCa: tls.clientCaFile },
        tokens: config.tokens.map((t) => `${t.name} (${t.role})`),
        providers: config.providers,
        adminTokenFile: admin.file,
        ...(options.heapGrowthPercent !== undefined ? { heapGrowthPercent: options.heapGrowthPercent } : {}),
      },
      'hub serving',
    );
    return {
      url,
      adminTokenFile: admin.file,
      caFile: tls.clientCaFile,
      ca: tls.clientCa,
      secretKeyFile: secrets.source,
      etcdUrls,
      natsUrl,
      embedded: { etcd: etcdSupervisor, nats: natsSupervisor },
      fatal: Promise.race(supervised.map((s) => s.fatal)),
      registry,
      uncaught,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The hub's SecretBox. A key file named by the operator must exist. The default one is created on
 * first start, unless etcd already holds secrets sealed by some key: a new key could not open them,
 * so that is a start-up error naming the file, and nothing is written.
 */
async function openSecretBox(store: EtcdStore, dataDir: string, given: string | undefined, logger: Logger): Promise<SecretBox> {
  const file = resolve(given ?? join(dataDir, SECRET_KEY_FILE));
  if (given === undefined && !existsSync(file)) {
    const sealed = await sealedSecretKeyIds(store);
    if (sealed.length === 0) return createSecretKeyFile(file);
    throw new InvalidInputError([
      {
        file,
        field: '',
        message:
          `does not exist, but etcd already holds secrets encrypted with key ${sealed.join(', ')}: restore this file from its backup, ` +
          'or pass --secret-key-file with the key file of the hubs that wrote them (no new key is created: it could not read them)',
      },
    ]);
  }
  const box = readSecretKeyFile(file);
  if ((statSync(file).mode & 0o077) !== 0) logger.warn({ secretKeyFile: file }, 'the secret key file is readable by group or others; chmod 600 it');
  return box;
}

/** This replica's id, made once and kept in `<data-dir>/replica.id` (see AgentGatewayDeps.replicaId). */
function replicaId(dataDir: string): string {
  const file = join(dataDir, 'replica.id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch {
    // First start.
  }
  const id = randomUUID();
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}

/** The hub's metrics, with the object counts per kind and etcd's health read at scrape time. */
function metricsOf(registry: Registry, store: EtcdStore, checks: HealthChecks): HubMetrics {
  return createHubMetrics(
    async () => {
      const { items } = await registry.list();
      const counts = Object.fromEntries(ALL_KINDS.map((k) => [k, 0]));
      for (const r of items) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
      return counts;
    },
    async () =>
      store.ping(AbortSignal.timeout(1000)).then(
        () => true,
        () => false,
      ),
    checks,
  );
}

export function parseListen(listen: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (m?.[1] === undefined || port > 65535) throw new Error(`${flag}: expected HOST:PORT such as ${DEFAULT_LISTEN} (got "${listen}")`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}
