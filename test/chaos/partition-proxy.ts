// A TCP proxy on 127.0.0.1 between one agent and nats-server, which the chaos runner can cut and
// restore: the agent's network partition. A cut is a black hole, as a dropped link looks to TCP:
// no RST, no FIN; the bytes of open connections stop moving both ways (each side's kernel
// buffers, then its writes block, as they would while TCP retransmits), and a new connection is
// accepted but held, its first byte never answered. Restoring relays everything held, in order
// (TCP's retransmission delivers it late; a partition shorter than TCP's give-up time of minutes
// loses no byte), and connects the held newcomers. Whatever the agent's NATS client makes of the
// silence (its pings, timeouts, reconnects) is its own.
import net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
}

export class PartitionProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly target: number;
  private readonly pairs = new Set<Pair>();
  private cut = false;

  private constructor(server: net.Server, port: number, target: number) {
    this.server = server;
    this.port = port;
    this.target = target;
    server.on('connection', (client) => {
      this.accept(client);
    });
  }

  /** Listens on a free port and relays to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<PartitionProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('the partition proxy has no port');
    return new PartitionProxy(server, address.port, targetPort);
  }

  get partitioned(): boolean {
    return this.cut;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** The partition starts: nothing moves either way until `restore`. */
  partition(): void {
    this.cut = true;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream?.pause();
    }
  }

  /** The link is back: held bytes flow, held connections are connected. */
  restore(): void {
    this.cut = false;
    for (const p of this.pairs) {
      if (p.upstream === undefined) this.connect(p);
      else {
        p.client.resume();
        p.upstream.resume();
      }
    }
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private accept(client: net.Socket): void {
    const pair: Pair = { client, upstream: undefined };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    // A newcomer during a partition: its handshake completed (the kernel did that) but it gets
    // nothing back until the link returns.
    if (!this.cut) this.connect(pair);
  }

  private connect(pair: Pair): void {
    const upstream = net.connect({ port: this.target, host: '127.0.0.1' });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      pair.client.destroy();
    });
    pair.client.on('end', () => upstream.end());
    upstream.on('end', () => pair.client.end());
    this.relay(pair.client, upstream);
    this.relay(upstream, pair.client);
    pair.client.resume();
  }

  /**
   * Bytes from `from` to `to`, by hand rather than with pipe(): pipe() resumes its source when the
   * destination drains, which would let bytes through a partition.
   */
  private relay(from: net.Socket, to: net.Socket): void {
    const held: Buffer[] = [];
    from.on('data', (chunk: Buffer) => {
      if (this.cut) {
        // Read before the pause took hold: kept, in order, for the restore.
        held.push(chunk);
        from.pause();
        return;
      }
      for (let h = held.shift(); h !== undefined; h = held.shift()) to.write(h);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.cut) from.resume();
    });
    from.on('resume', () => {
      for (let h = this.cut ? undefined : held.shift(); h !== undefined; h = this.cut ? undefined : held.shift()) to.write(h);
    });
  }
}
