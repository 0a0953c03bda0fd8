// NatsBus: the Bus port on NATS (nats.js v3), connected with a user credential (.creds) through
// nats-connect.ts. Reconnects forever; subscriptions survive reconnects; the connection's state
// (nc.status() events) is reported through connected() and onConnectionChange.
import { connectNats, type NatsConnection } from './nats-connect.ts';
import { UnavailableError } from '../api/errors.ts';
import type { Bus, BusMessage, Subscription } from './bus.ts';

export interface NatsBusOptions {
  readonly servers: string | readonly string[];
  readonly creds?: string;
  readonly token?: string;
  readonly name: string;
  readonly inboxPrefix?: string;
  /** PEM of the CA that signs the servers' certificates; TLS is then required. */
  readonly ca?: string | undefined;
  /**
   * A subscription handler threw. The message is dropped and the subscription goes on: one bad
   * message (or one bug it hits) must never stop the hub hearing every agent. Default: ignored.
   */
  readonly onHandlerError?: (subject: string, err: unknown) => void;
}

export class NatsBus implements Bus {
  private readonly nc: NatsConnection;
  private readonly onHandlerError: (subject: string, err: unknown) => void;
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private up = true;

  private constructor(nc: NatsConnection, onHandlerError: (subject: string, err: unknown) => void) {
    this.nc = nc;
    this.onHandlerError = onHandlerError;
    this.followStatus().catch((err: unknown) => {
      this.onHandlerError('(connection state)', err);
    });
  }

  /** nats.js reports a lost and a regained connection only as status events: follow them. */
  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') this.setUp(false);
      else if (s.type === 'reconnect') this.setUp(true);
    }
    this.setUp(false);
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    for (const l of [...this.connectionListeners])
      try {
        l(up);
      } catch (err) {
        this.onHandlerError('(connection state)', err);
      }
  }

  connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  onConnectionChange(listener: (connected: boolean) => void): Subscription {
    this.connectionListeners.add(listener);
    return {
      unsubscribe: () => {
        this.connectionListeners.delete(listener);
      },
    };
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    try {
      // NATS may be restarting while the hub starts; keep trying instead of failing start-up.
      const nc = await connectNats({ ...options, waitOnFirstConnect: true });
      return new NatsBus(nc, options.onHandlerError ?? (() => undefined));
    } catch (err) {
      throw new UnavailableError(`cannot connect to NATS at ${String(options.servers)}: ${(err as Error).message}`, { cause: err });
    }
  }

  subscribe(subject: string, options: { queue?: string }, handler: (msg: BusMessage) => void): Subscription {
    const sub = this.nc.subscribe(subject, {
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          handler({ subject: msg.subject, data: msg.data, reply: msg.reply });
        } catch (thrown) {
          this.onHandlerError(msg.subject, thrown);
        }
      },
    });
    return {
      unsubscribe: () => {
        sub.unsubscribe();
      },
    };
  }

  publish(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      return (await this.nc.request(subject, data, { timeout: timeoutMs })).data;
    } catch (err) {
      // No responders, a timeout, a closed connection: whoever should answer is not reachable now.
      throw new UnavailableError(`no answer on ${subject} within ${timeoutMs} ms: ${(err as Error).message}`);
    }
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
