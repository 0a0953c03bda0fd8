// Starts nats-server with JetStream on loopback: the hub's embedded default and the harness's
// real NATS. Until agents join (their per-cluster JWT credentials come with the agent), the only
// client is the hub, which authenticates with a token kept 0600 in the data dir.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer, freePort, portOpen } from './child-server.ts';

export interface EmbeddedNats {
  readonly url: string;
  readonly token: string;
  readonly server: ChildServer;
  stop(): Promise<void>;
}

export interface NatsOptions {
  readonly dataDir: string;
  readonly port?: number;
}

export async function startNats(options: NatsOptions): Promise<EmbeddedNats> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const tokenFile = join(options.dataDir, 'hub.token');
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const token = readFileSync(tokenFile, 'utf8').trim();
  const config = join(options.dataDir, 'nats.conf');
  writeFileSync(
    config,
    [
      `listen: "127.0.0.1:${port}"`,
      `server_name: causeway_embedded`,
      `jetstream { store_dir: ${JSON.stringify(join(options.dataDir, 'jetstream'))} }`,
      `authorization { token: ${JSON.stringify(token)} }`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const logFile = join(options.dataDir, '..', 'nats.log');
  const server = ChildServer.start({
    name: 'nats-server',
    command: 'nats-server',
    args: ['-c', config],
    logFile,
    pidFile: join(options.dataDir, 'nats.pid'),
  });
  await server.waitReady(() => portOpen(port), logFile);
  return { url: `nats://127.0.0.1:${port}`, token, server, stop: () => server.stop() };
}
