// A TCP proxy in front of one hub's API, as a load balancer would be, through which the workload's
// applies go. It reads just enough HTTP (the request head's Content-Length) to know when a
// request has reached the hub whole and when the answer starts, so that the runner can land a
// fault while the hub is writing an apply rather than while the CLI is still starting up.
import net from 'node:net';

interface Exchange {
  requestDoneAt: number | undefined;
  answeredAt: number | undefined;
}

export class FrontProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly target: number;
  private readonly open = new Set<Exchange>();
  private readonly sockets = new Set<net.Socket>();
  /** How long the hub took from a whole request to its first answer byte, last few exchanges. */
  private readonly serverTimes: number[] = [];

  private constructor(server: net.Server, port: number, target: number) {
    this.server = server;
    this.port = port;
    this.target = target;
    server.on('connection', (client) => {
      this.relay(client);
    });
  }

  static async start(targetPort: number): Promise<FrontProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('the front proxy has no port');
    return new FrontProxy(server, address.port, targetPort);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Since when a whole request has been with the hub, unanswered; undefined when none is. */
  awaitingSince(): number | undefined {
    let since: number | undefined;
    for (const e of this.open) if (e.requestDoneAt !== undefined && e.answeredAt === undefined) since = Math.min(since ?? Infinity, e.requestDoneAt);
    return since;
  }

  /** The median time the hub took to start answering (100 ms before any exchange). */
  typicalServerMs(): number {
    const sorted = [...this.serverTimes].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 100;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect({ port: this.target, host: '127.0.0.1' });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const exchange: Exchange = { requestDoneAt: undefined, answeredAt: undefined };
    this.open.add(exchange);
    let head = '';
    let bodyLeft: number | undefined;
    client.on('data', (chunk: Buffer) => {
      if (bodyLeft === undefined) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0) {
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
          bodyLeft = length - (head.length - end - 4);
          head = '';
        }
      } else bodyLeft -= chunk.length;
      if (bodyLeft !== undefined && bodyLeft <= 0 && exchange.requestDoneAt === undefined) exchange.requestDoneAt = Date.now();
    });
    upstream.once('data', () => {
      exchange.answeredAt = Date.now();
      if (exchange.requestDoneAt !== undefined) {
        this.serverTimes.push(exchange.answeredAt - exchange.requestDoneAt);
        if (this.serverTimes.length > 5) this.serverTimes.shift();
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      this.open.delete(exchange);
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  }
}
