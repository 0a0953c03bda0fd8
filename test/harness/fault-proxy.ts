// A TCP proxy on 127.0.0.1 in front of a real server (the hub, etcd), for faults that happen in the
// middle of an exchange: the request gets through and the answer never comes back (swallowed, as
// from a peer that stopped answering), or the connection drops the moment the answer starts (a
// server that died after doing the work). A fault can wait for a trigger: the first `afterBytes`
// bytes sent towards the server pass as usual, so that a client's reads get through and only the
// big write that follows them meets the fault.
import net from 'node:net';
import { onCleanup } from './cleanup.ts';

export const ProxyMode = {
  /** Everything passes both ways. */
  forward: 'forward',
  /** Requests reach the server; its answers are read and thrown away. */
  swallowReplies: 'swallow-replies',
  /** Requests reach the server; when its answer starts, both sockets are destroyed unsent. */
  dropOnReply: 'drop-on-reply',
} as const;
export type ProxyMode = (typeof ProxyMode)[keyof typeof ProxyMode];

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export class FaultProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private mode: ProxyMode = ProxyMode.forward;
  private pending: { mode: ProxyMode; afterBytes: number } | undefined;
  private sentSinceArmed = 0;
  private readonly unregister: () => void;

  private constructor(server: net.Server, port: number, targetPort: number) {
    this.server = server;
    this.port = port;
    server.on('connection', (client) => {
      this.accept(client, targetPort);
    });
    this.unregister = onCleanup(() => this.stop());
  }

  /** Listens on a free loopback port and relays to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('the fault proxy has no port');
    return new FaultProxy(server, address.port, targetPort);
  }

  /** Applies `mode` now, or once `afterBytes` more bytes have gone towards the server. */
  set(mode: ProxyMode, options: { afterBytes?: number } = {}): void {
    const afterBytes = options.afterBytes ?? 0;
    if (afterBytes <= 0) {
      this.mode = mode;
      this.pending = undefined;
      return;
    }
    this.pending = { mode, afterBytes };
    this.sentSinceArmed = 0;
  }

  /** Whether an armed fault has taken effect. */
  get current(): ProxyMode {
    return this.mode;
  }

  /** Destroys every open connection (new ones are accepted as usual). */
  dropAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.unregister();
    this.dropAll();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private accept(client: net.Socket, targetPort: number): void {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      });
    }
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.pending !== undefined) {
        this.sentSinceArmed += chunk.length;
        if (this.sentSinceArmed >= this.pending.afterBytes) {
          this.mode = this.pending.mode;
          this.pending = undefined;
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      switch (this.mode) {
        case ProxyMode.forward:
          client.write(chunk);
          return;
        case ProxyMode.swallowReplies:
          return;
        case ProxyMode.dropOnReply:
          client.destroy();
          upstream.destroy();
          return;
      }
    });
  }
}
