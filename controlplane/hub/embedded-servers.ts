// The servers a hub may start for itself, each kept running by a Supervisor: the embedded etcd
// (TLS and client certificates, on the ports of its first start) or the connection settings of an
// external one, and the embedded nats-server (its config rendered again with the current identity
// at each restart). How supervision is logged, and how each server reads in /readyz and /metrics.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startEtcd, type EmbeddedEtcd } from '../embedded/etcd.ts';
import { startNats, type EmbeddedNats } from '../embedded/nats.ts';
import { Supervisor, type Supervisable, type SupervisorEvent } from '../embedded/supervisor.ts';
import type { IdentityState } from '../identity/nats-identity.ts';
import type { HealthCheck } from './health.ts';
import { isLoopback, isWildcard, type HubTls } from './tls.ts';

/** An external etcd cluster, and the TLS material to reach it (none: the hub starts its own). */
export interface ExternalEtcdOptions {
  /** External etcd client URLs; none means start an embedded etcd under the data dir. */
  readonly etcd?: readonly string[] | undefined;
  /** For an external etcd over TLS: the CA that signs it, and the client certificate it asks for. */
  readonly etcdCaFile?: string | undefined;
  readonly etcdCertFile?: string | undefined;
  readonly etcdKeyFile?: string | undefined;
}

export type EtcdClientTls = { ca: string; cert?: string | undefined; key?: string | undefined; serverName?: string } | undefined;

/**
 * The etcd to use: the given cluster (over TLS with `--etcd-cacert`/`--etcd-cert`/`--etcd-key` when
 * given), or one started under dataDir with TLS and client certificates, kept running by a
 * supervisor on the same ports, and stopped with the hub.
 */
export async function etcdOrEmbedded(
  options: ExternalEtcdOptions,
  dataDir: string,
  tls: HubTls,
  stops: (() => Promise<void>)[],
  logger: Logger,
): Promise<{ urls: readonly string[]; tls: EtcdClientTls; supervisor?: Supervisor<EmbeddedEtcd> }> {
  const urls = options.etcd ?? [];
  if (urls.length > 0) {
    const read = (file: string | undefined): string | undefined => (file === undefined ? undefined : readFileSync(file, 'utf8'));
    const ca = read(options.etcdCaFile);
    const clientTls = ca === undefined ? undefined : { ca, cert: read(options.etcdCertFile), key: read(options.etcdKeyFile) };
    return { urls, tls: clientTls };
  }
  const etcdDir = join(dataDir, 'etcd');
  let ports: { clientPort: number; peerPort: number } | undefined;
  const supervisor = await Supervisor.start<EmbeddedEtcd>({
    name: 'etcd-server',
    logFile: join(dataDir, 'etcd.log'),
    start: async () => {
      const etcd = await startEtcd({ dataDir: etcdDir, tls: tls.etcd, ...ports });
      ports = { clientPort: etcd.clientPort, peerPort: etcd.peerPort };
      return etcd;
    },
    onEvent: logSupervision(logger),
  });
  stops.push(() => supervisor.stop());
  const etcd = supervisor.server;
  logger.info({ etcd: etcd.url, dataDir: etcdDir, clientCertificateAuth: etcd.clientTls !== undefined }, 'started embedded etcd');
  const client = etcd.clientTls;
  return {
    urls: [etcd.url],
    supervisor,
    tls:
      client === undefined
        ? undefined
        : {
            ca: readFileSync(client.caFile, 'utf8'),
            cert: readFileSync(client.certFile, 'utf8'),
            key: readFileSync(client.keyFile, 'utf8'),
            // Its certificate names localhost too; SNI carries no IP address.
            serverName: 'localhost',
          },
  };
}

export async function embeddedNats(
  dataDir: string,
  identity: () => Promise<IdentityState>,
  listen: { host: string; port: number },
  tls: HubTls,
  stops: (() => Promise<void>)[],
  logger: Logger,
): Promise<Supervisor<EmbeddedNats>> {
  const supervisor = await Supervisor.start<EmbeddedNats>({
    name: 'nats-server',
    logFile: join(dataDir, 'nats.log'),
    // The port is kept in <data-dir>/nats/port: a restart serves the address agents were given.
    start: async () =>
      startNats({
        dataDir: join(dataDir, 'nats'),
        identity: await identity(),
        host: listen.host,
        ...(listen.port !== 0 ? { port: listen.port } : {}),
        tls: tls.nats,
      }),
    onEvent: logSupervision(logger),
  });
  stops.push(() => supervisor.stop());
  const nats = supervisor.server;
  const reach = isWildcard(listen.host) || !isLoopback(listen.host) ? `${listen.host}:${nats.port}` : undefined;
  logger.info(
    { nats: nats.url, listen: `${listen.host}:${nats.port}`, tls: tls.nats !== undefined, agentsReachIt: reach },
    'started embedded nats-server (operator mode)',
  );
  return supervisor;
}

/** Each supervision event as one log line: how a server ended, and how its restart went. */
function logSupervision(logger: Logger): (event: SupervisorEvent) => void {
  return (e) => {
    switch (e.kind) {
      case 'exited':
        logger.error({ server: e.name, code: e.exit.code, signal: e.exit.signal, logTail: e.logTail }, `${e.name} exited; starting it again`);
        break;
      case 'restarted':
        logger.warn({ server: e.name, attempt: e.attempt, downMs: e.downMs }, `${e.name} is running again`);
        break;
      case 'restart-failed':
        logger.error({ server: e.name, attempt: e.attempt, err: e.err, retryInMs: Math.round(e.retryInMs) }, `${e.name} did not start; retrying`);
        break;
      case 'gave-up':
        logger.fatal({ server: e.name, err: e.err }, `${e.name} could not be brought back; the hub exits`);
        break;
    }
  };
}

/** A supervised server as a /readyz and /metrics check. */
export function serverCheck(s: Supervisor<Supervisable>): HealthCheck {
  switch (s.state) {
    case 'running':
      return { name: s.name, ready: true, message: 'ok' };
    case 'restarting':
      return { name: s.name, ready: false, message: `exited; restarting (down ${(s.downForMs() / 1000).toFixed(1)} s, ${s.restarts} restarts so far)` };
    case 'failed':
      return { name: s.name, ready: false, message: 'could not be started again; the hub is exiting' };
    case 'stopped':
      return { name: s.name, ready: false, message: 'stopped' };
  }
}
