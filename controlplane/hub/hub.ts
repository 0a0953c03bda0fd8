// The hub's composition root: reads its options once, starts or connects to etcd and NATS,
// wires the store, registry, auth and HTTP API, and stops everything in reverse order.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ALL_KINDS } from '../api/kinds.ts';
import { startEtcd, type EmbeddedEtcd } from '../embedded/etcd.ts';
import { startNats, type EmbeddedNats } from '../embedded/nats.ts';
import { EtcdStore } from '../registry/etcd-store.ts';
import { Registry } from '../registry/registry.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { NatsAccountPusher } from '../identity/nats-account-push.ts';
import { issueHubUser, issueSystemUser, type IdentityState } from '../identity/nats-identity.ts';
import type { SecretBox } from '../identity/secret-box.ts';
import { createSecretKeyFile, readSecretKeyFile, SECRET_KEY_FILE } from '../identity/secret-key-file.ts';
import { InvalidInputError } from '../api/errors.ts';
import { startAgentGateway } from './agent-gateway.ts';
import { TokenAuthenticator } from './auth.ts';
import { CredentialStore, sealedSecretKeyIds } from './credentials.ts';
import { DEFAULT_LISTEN, ensureAdminToken, loadHubConfig } from './config.ts';
import { createHubMetrics, type HubMetrics } from './metrics.ts';
import { buildHubServer } from './http/server.ts';

export interface HubOptions {
  /** HOST:PORT; default 127.0.0.1:7080. Port 0 picks a free one. */
  readonly listen: string;
  readonly dataDir: string;
  /** External etcd client URLs; none means start an embedded etcd under dataDir. */
  readonly etcd?: readonly string[] | undefined;
  /** External NATS URL; none means start an embedded nats-server under dataDir. */
  readonly nats?: string | undefined;
  readonly configFile?: string | undefined;
  /** The keys that encrypt secrets in etcd; default `<dataDir>/secrets.key`, created on first start. Replicas sharing an etcd share it. */
  readonly secretKeyFile?: string | undefined;
  readonly logger?: Logger;
}

export interface RunningHub {
  /** http://HOST:PORT */
  readonly url: string;
  readonly adminTokenFile: string;
  readonly secretKeyFile: string;
  readonly etcdUrls: readonly string[];
  readonly natsUrl: string;
  /** The embedded nats-server, when the hub started one (fault tests restart it). */
  readonly nats?: EmbeddedNats | undefined;
  readonly registry: Registry;
  /** Logs and counts an error nothing caught (the process-level handlers of `causeway hub` call it). */
  uncaught(kind: 'rejection' | 'exception', err: unknown): void;
  stop(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<RunningHub> {
  const logger = options.logger ?? pino({ name: 'causeway-hub' });
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const config = loadHubConfig(options.configFile);
  const { host, port } = parseListen(options.listen);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse())
      await stop().catch((err: unknown) => {
        logger.error({ err }, 'stop failed');
      });
  };
  try {
    const etcdUrls = await etcdOrEmbedded(options.etcd ?? [], dataDir, stops, logger);
    const store = new EtcdStore({ endpoints: etcdUrls });
    stops.push(() => store.close());
    const registry = new Registry(store);
    const secrets = await openSecretBox(store, dataDir, options.secretKeyFile, logger);
    const credentials = new CredentialStore(store, { secrets });
    // Every start re-encrypts what an older hub wrote in clear, or an older key sealed (rotation).
    const resealed = await credentials.reseal();
    logger.info({ secretKeyFile: secrets.source, keyIds: secrets.keyIds, resealed }, 'secrets in etcd are encrypted with the first key');
    const identity = await credentials.identity();

    const nats = options.nats === undefined ? await embeddedNats(dataDir, identity, stops, logger) : undefined;
    const natsUrl = options.nats ?? nats?.url ?? '';
    const hubUser = await issueHubUser(identity);
    const metrics = metricsOf(registry, store);
    const uncaught = (kind: 'handler' | 'rejection' | 'exception', err: unknown, fields: Record<string, unknown> = {}): void => {
      metrics.uncaughtErrors.inc({ kind });
      logger.error({ err, kind, ...fields }, 'uncaught error (a bug); the hub goes on');
    };
    const bus = await NatsBus.connect({
      servers: natsUrl,
      creds: hubUser.creds,
      name: 'causeway-hub',
      onHandlerError: (subject, err) => {
        uncaught('handler', err, { subject });
      },
    });
    stops.push(() => bus.close());
    const pusher = await NatsAccountPusher.connect({ servers: natsUrl, systemUserCreds: (await issueSystemUser(identity)).creds });
    stops.push(() => pusher.close());
    credentials.setPush(async (jwt) => {
      await pusher.push(jwt);
    });

    const agents = await startAgentGateway({ store, registry, bus, credentials, metrics, logger });
    stops.push(() => agents.stop());

    const admin = ensureAdminToken(dataDir);
    const auth = new TokenAuthenticator([admin.entry, ...config.tokens]);
    const app = buildHubServer({ registry, store, auth, metrics, logger, credentials, services: agents.services });
    await app.listen({ host, port });
    stops.push(() => app.close());
    const address = app.server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    logger.info(
      { url, dataDir, etcd: etcdUrls, nats: natsUrl, tokens: config.tokens.map((t) => `${t.name} (${t.role})`), adminTokenFile: admin.file },
      'hub serving',
    );
    return { url, adminTokenFile: admin.file, secretKeyFile: secrets.source, etcdUrls, natsUrl, nats, registry, uncaught, stop: stopAll };
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

/** The etcd to use: the given cluster, or one started under dataDir (stopped with the hub). */
async function etcdOrEmbedded(urls: readonly string[], dataDir: string, stops: (() => Promise<void>)[], logger: Logger): Promise<readonly string[]> {
  if (urls.length > 0) return urls;
  const etcd: EmbeddedEtcd = await startEtcd({ dataDir: join(dataDir, 'etcd') });
  stops.push(() => etcd.stop());
  logger.info({ etcd: etcd.url, dataDir: join(dataDir, 'etcd') }, 'started embedded etcd');
  return [etcd.url];
}

async function embeddedNats(dataDir: string, identity: IdentityState, stops: (() => Promise<void>)[], logger: Logger): Promise<EmbeddedNats> {
  const nats = await startNats({ dataDir: join(dataDir, 'nats'), identity });
  stops.push(() => nats.stop());
  logger.info({ nats: nats.url }, 'started embedded nats-server (operator mode)');
  return nats;
}

/** The hub's metrics, with the object counts per kind and etcd's health read at scrape time. */
function metricsOf(registry: Registry, store: EtcdStore): HubMetrics {
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
  );
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (m?.[1] === undefined || port > 65535) throw new Error(`--listen: expected HOST:PORT such as ${DEFAULT_LISTEN} (got "${listen}")`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}
