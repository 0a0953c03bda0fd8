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
  /** nats.js refused a publish (the connection closed, or a payload over the server's limit); the message is lost. Default: ignored. */
  readonly onPublishError?: (subject: string, err: unknown) => void;
}

/** Publishes held past this many bytes go to nats.js at once instead of at the end of the turn. */
const OUTBOX_BYTES = 256 * 1024;

export class NatsBus implements Bus {
  private readonly nc: NatsConnection;
  private readonly onHandlerError: (subject: string, err: unknown) => void;
  private readonly onPublishError: (subject: string, err: unknown) => void;
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private up = true;
  /** Publishes made in this turn of the event loop, in order (see publish). */
  private outbox: { readonly subject: string; readonly data: Uint8Array }[] = [];
  private outboxBytes = 0;
  private outboxDrain: NodeJS.Immediate | undefined;

  private constructor(nc: NatsConnection, onHandlerError: (subject: string, err: unknown) => void, onPublishError: (subject: string, err: unknown) => void) {
    this.nc = nc;
    this.onHandlerError = onHandlerError;
    this.onPublishError = onPublishError;
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
      return new NatsBus(nc, options.onHandlerError ?? (() => undefined), options.onPublishError ?? (() => undefined));
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

  /**
   * Publishes in order, handed to nats.js together at the end of this turn of the event loop
   * (setImmediate), or at once past OUTBOX_BYTES. nats.js writes its buffer to the socket in a
   * microtask after a publish, and the hub's controllers reconcile one consumer per microtask hop,
   * so every delta and every snapshot was a socket write of its own: at a takeover at 1,000
   * clusters, 17 % of the new leader's CPU went to those writes (bench profile). Held to the end
   * of the turn, a turn's messages are one write. A publish nats.js refuses is reported to
   * onPublishError, not thrown: the caller has moved on; the message is lost as on a dropped
   * connection, and the agents' revision checks ask for what they missed.
   */
  publish(subject: string, data: Uint8Array): void {
    this.outbox.push({ subject, data });
    this.outboxBytes += data.byteLength;
    if (this.outboxBytes >= OUTBOX_BYTES) this.drainOutbox();
    else
      this.outboxDrain ??= setImmediate(() => {
        this.drainOutbox();
      });
  }

  private drainOutbox(): void {
    if (this.outboxDrain !== undefined) clearImmediate(this.outboxDrain);
    this.outboxDrain = undefined;
    const out = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    for (const m of out) {
      try {
        this.nc.publish(m.subject, m.data);
      } catch (err) {
        this.onPublishError(m.subject, err);
      }
    }
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    // After what was published before it, as without the outbox.
    this.drainOutbox();
    try {
      return (await this.nc.request(subject, data, { timeout: timeoutMs })).data;
    } catch (err) {
      // No responders, a timeout, a closed connection: whoever should answer is not reachable now.
      throw new UnavailableError(`no answer on ${subject} within ${timeoutMs} ms: ${(err as Error).message}`);
    }
  }

  async flush(): Promise<void> {
    this.drainOutbox();
    await this.nc.flush();
  }

  async close(): Promise<void> {
    this.drainOutbox();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
