// Starts nats-server on loopback in operator mode with the full resolver: the hub's embedded
// default. The server trusts the hub's operator (identity kept in etcd), so every agent's user
// JWT — and its per-cluster permissions — is enforced by the server itself.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appAccountJwt, identityPublicKeys, operatorJwt, systemAccountJwt, type IdentityState } from '../identity/nats-identity.ts';
import { renderNatsServerConfig } from '../identity/nats-server-config.ts';
import type { TlsFiles } from '../identity/tls-files.ts';
import { ChildServer, freePort, portOpen } from './child-server.ts';

export interface EmbeddedNats {
  /** Where the hub itself connects (nats:// or, with TLS, tls://). */
  readonly url: string;
  readonly port: number;
  readonly server: ChildServer;
  stop(): Promise<void>;
}

export interface NatsOptions {
  readonly dataDir: string;
  /** Rendered into the config at every start, so the preload carries the current revocations. */
  readonly identity: IdentityState;
  readonly port?: number;
  /** Loopback unless told otherwise (`causeway hub --nats-listen`). */
  readonly host?: string;
  /** The server's certificate; when given, the server speaks TLS only. */
  readonly tls?: Pick<TlsFiles, 'certFile' | 'keyFile'> | undefined;
}

export async function startNats(options: NatsOptions): Promise<EmbeddedNats> {
  mkdirSync(join(options.dataDir, 'jwt'), { recursive: true, mode: 0o700 });
  // Agents were given this address: a restarted hub must serve NATS at the same one.
  const portFile = join(options.dataDir, 'port');
  const saved = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) : undefined;
  const port = options.port ?? (saved !== undefined && Number.isInteger(saved) && saved > 0 ? saved : await freePort());
  writeFileSync(portFile, `${port}\n`);
  const keys = identityPublicKeys(options.identity);
  const config = join(options.dataDir, 'nats.conf');
  writeFileSync(
    config,
    renderNatsServerConfig({
      serverName: 'causeway_embedded',
      port,
      ...(options.host !== undefined ? { host: options.host } : {}),
      tls: options.tls,
      operatorJwt: await operatorJwt(options.identity),
      systemAccount: keys.systemAccount,
      preload: {
        [keys.systemAccount]: await systemAccountJwt(options.identity),
        [keys.appAccount]: await appAccountJwt(options.identity),
      },
      resolverDir: join(options.dataDir, 'jwt'),
      jetStreamDir: join(options.dataDir, 'jetstream'),
      jetStreamMaxMemory: 256 * 1024 * 1024,
      jetStreamMaxFile: 1024 * 1024 * 1024,
    }),
    { mode: 0o600 },
  );
  const logFile = join(options.dataDir, '..', 'nats.log');
  const server = ChildServer.start({
    name: 'nats-server',
    command: 'nats-server',
    args: ['-c', config],
    logFile,
    pidFile: join(options.dataDir, 'nats.pid'),
    dataDir: options.dataDir,
  });
  // The hub reaches its own server on loopback whatever address it also serves.
  const local = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  await server.waitReady(() => portOpen(port, local), logFile);
  const hostPart = local.includes(':') ? `[${local}]` : local;
  return { url: `${options.tls === undefined ? 'nats' : 'tls'}://${hostPart}:${port}`, port, server, stop: () => server.stop() };
}
