// Starts a single-member etcd on loopback: the hub's embedded default and the test harness's
// real etcd. Limits are raised so that one atomic apply of many documents fits in a transaction.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer, freePort } from './child-server.ts';

export interface EmbeddedEtcd {
  readonly url: string;
  readonly server: ChildServer;
  stop(): Promise<void>;
}

export interface EtcdOptions {
  readonly dataDir: string;
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** etcd's own limit on operations per transaction; an apply writes one op per document plus two. */
  readonly maxTxnOps?: number;
}

export async function startEtcd(options: EtcdOptions): Promise<EmbeddedEtcd> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const logFile = join(options.dataDir, '..', 'etcd.log');
  const server = ChildServer.start({
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name',
      'causeway',
      '--data-dir',
      join(options.dataDir, 'data'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `causeway=${peer}`,
      '--max-txn-ops',
      String(options.maxTxnOps ?? 10_000),
      '--max-request-bytes',
      String(8 * 1024 * 1024),
      '--logger',
      'zap',
      '--log-level',
      'warn',
    ],
    logFile,
    pidFile: join(options.dataDir, 'etcd.pid'),
  });
  await server.waitReady(async () => {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  }, logFile);
  return { url, server, stop: () => server.stop() };
}
