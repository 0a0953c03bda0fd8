// NatsBus: the Bus port on NATS (nats.js v3), connected with a user credential (.creds) through
// nats-connect.ts. Reconnects forever; subscriptions survive reconnects.
import { connectNats, type NatsConnection } from './nats-connect.ts';
import { UnavailableError } from '../api/errors.ts';
import type { Bus, BusMessage, Subscription } from './bus.ts';

export interface NatsBusOptions {
  readonly servers: string | readonly string[];
  readonly creds?: string;
  readonly token?: string;
  readonly name: string;
  readonly inboxPrefix?: string;
}

export class NatsBus implements Bus {
  private readonly nc: NatsConnection;

  private constructor(nc: NatsConnection) {
    this.nc = nc;
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    try {
      // NATS may be restarting while the hub starts; keep trying instead of failing start-up.
      const nc = await connectNats({ ...options, waitOnFirstConnect: true });
      return new NatsBus(nc);
    } catch (err) {
      throw new UnavailableError(`cannot connect to NATS at ${String(options.servers)}: ${(err as Error).message}`, { cause: err });
    }
  }

  subscribe(subject: string, options: { queue?: string }, handler: (msg: BusMessage) => void): Subscription {
    const sub = this.nc.subscribe(subject, {
      ...(options.queue !== undefined ? { queue: options.queue } : {}),
      callback: (err, msg) => {
        if (err !== null) return;
        handler({ subject: msg.subject, data: msg.data, reply: msg.reply });
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

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
