// Starts a single-member etcd on loopback: the hub's embedded default and the test harness's
// real etcd. Limits are raised so that one atomic apply of many documents fits in a transaction.
import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { TlsFiles } from '../identity/tls-files.ts';
import { ChildServer, freePort } from './child-server.ts';

export interface EmbeddedEtcd {
  readonly url: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly server: ChildServer;
  /** The client certificate that etcd requires (TLS on), for the hub's store. */
  readonly clientTls?: TlsFiles | undefined;
  stop(): Promise<void>;
}

/**
 * TLS for clients and peers, each side proving itself with a certificate of the same CA: etcd then
 * refuses any connection without a client certificate it signed, so a local user who can reach the
 * port still cannot read the registry (or its sealed secrets).
 */
export interface EtcdTls {
  readonly server: TlsFiles;
  readonly peer: TlsFiles;
  readonly client: TlsFiles;
}

export interface EtcdOptions {
  readonly dataDir: string;
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** etcd's own limit on operations per transaction; an apply writes one op per document plus two. */
  readonly maxTxnOps?: number;
  /** Off for the test harness's bare etcd; the hub's embedded etcd always has it. */
  readonly tls?: EtcdTls | undefined;
}

export async function startEtcd(options: EtcdOptions): Promise<EmbeddedEtcd> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const clientPort = options.clientPort ?? (await freePort());
  const peerPort = options.peerPort ?? (await freePort());
  const tls = options.tls;
  const scheme = tls === undefined ? 'http' : 'https';
  const url = `${scheme}://127.0.0.1:${clientPort}`;
  const peer = `${scheme}://127.0.0.1:${peerPort}`;
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
      ...(tls === undefined
        ? []
        : [
            '--cert-file',
            tls.server.certFile,
            '--key-file',
            tls.server.keyFile,
            '--trusted-ca-file',
            tls.server.caFile,
            '--client-cert-auth',
            '--peer-cert-file',
            tls.peer.certFile,
            '--peer-key-file',
            tls.peer.keyFile,
            '--peer-trusted-ca-file',
            tls.peer.caFile,
            '--peer-client-cert-auth',
          ]),
    ],
    logFile,
    pidFile: join(options.dataDir, 'etcd.pid'),
    dataDir: options.dataDir,
  });
  await server.waitReady(() => etcdHealthy(url, tls?.client), logFile);
  return { url, clientPort, peerPort, server, clientTls: tls?.client, stop: () => server.stop() };
}

/** etcd's own /health, over TLS with the client certificate when it asks for one. */
export async function etcdHealthy(url: string, client: TlsFiles | undefined, timeoutMs = 1000): Promise<boolean> {
  if (client === undefined) {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return ((await res.json()) as { health?: string }).health === 'true';
  }
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.get(
      `${url}/health`,
      {
        ca: readFileSync(client.caFile),
        cert: readFileSync(client.certFile),
        key: readFileSync(client.keyFile),
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve(text);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
  return (JSON.parse(body) as { health?: string }).health === 'true';
}
