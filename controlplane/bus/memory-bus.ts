// MemoryBus: an in-process Bus for unit tests, with NATS semantics where they matter (wildcards,
// one member of a queue group per message, asynchronous delivery), and a connection a test can
// drop (setConnected). Never used by the product.
import { subjectMatches } from '../api/subjects.ts';
import type { Bus, BusMessage, Subscription } from './bus.ts';

interface Sub {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly handler: (msg: BusMessage) => void;
}

export class MemoryBus implements Bus {
  private readonly subs = new Set<Sub>();
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private up = true;
  /** Every message published, for assertions. */
  readonly published: BusMessage[] = [];

  connected(): boolean {
    return this.up;
  }

  onConnectionChange(listener: (connected: boolean) => void): Subscription {
    this.connectionListeners.add(listener);
    return {
      unsubscribe: () => {
        this.connectionListeners.delete(listener);
      },
    };
  }

  /** Failure injection: the connection drops (false) or comes back (true), as NATS reports it. */
  setConnected(connected: boolean): void {
    if (connected === this.up) return;
    this.up = connected;
    for (const l of [...this.connectionListeners]) l(connected);
  }

  subscribe(subject: string, options: { queue?: string }, handler: (msg: BusMessage) => void): Subscription {
    const sub: Sub = { pattern: subject, queue: options.queue, handler };
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        this.subs.delete(sub);
      },
    };
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    // Nothing reaches anyone while the connection is down (NATS would buffer a client's own
    // publishes; for the hub's tests, "nobody hears" is what matters).
    if (!this.up) return;
    const msg: BusMessage = { subject, data, reply };
    this.published.push(msg);
    const queues = new Set<string>();
    for (const sub of this.subs) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue !== undefined) {
        if (queues.has(sub.queue)) continue;
        queues.add(sub.queue);
      }
      queueMicrotask(() => {
        sub.handler(msg);
      });
    }
  }

  /** A request as an agent would make it: resolves with the first reply. */
  request(subject: string, data: Uint8Array, timeoutMs = 1000): Promise<Uint8Array> {
    const inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new Error(`request on ${subject} timed out`));
      }, timeoutMs);
      const sub = this.subscribe(inbox, {}, (msg) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(msg.data);
      });
      this.publish(subject, data, inbox);
    });
  }

  flush(): Promise<void> {
    return new Promise((resolve) => {
      setImmediate(resolve);
    });
  }

  close(): Promise<void> {
    this.subs.clear();
    return Promise.resolve();
  }
}
