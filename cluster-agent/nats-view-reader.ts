// Pulling the cluster's view (ADR 0018) from its own durable consumer, with the only JetStream
// rights the agent's credential has: consumer info, next and ack, on its own consumer. Messages
// go through the ViewAssembler (view-assembler.ts) in stream order; what it completes is handed
// on. Acknowledgements (`ack_policy: all`) are sent at each batch and every few hundred messages:
// they are where the consumer resumes after this agent, the hub or NATS restart.
import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { ImportBatch } from '../controlplane/api/messages.ts';
import { VIEW_STREAM, viewConsumerName } from '../controlplane/api/subjects.ts';
import { ViewHeader } from '../controlplane/api/view-entries.ts';
import type { NatsConnection } from '../controlplane/bus/nats-connect.ts';
import { ViewAssembler } from './view-assembler.ts';

export interface ViewReaderEvents {
  readonly batch: (batch: ImportBatch) => void;
  readonly rejected: (subject: string, reason: string, message: string) => void;
  /** What was read cannot be trusted whole (messages lost, the consumer gone): read the view again. */
  readonly resync: (reason: string) => void;
  readonly error: (what: string, err: unknown) => void;
}

const PULL_EXPIRES_MS = 4000;

/** Acknowledge at least this often while reading a long snapshot. */
const ACK_EVERY = 500;

export class NatsViewReader {
  private readonly nc: NatsConnection;
  private readonly cluster: string;
  private readonly events: ViewReaderEvents;
  private readonly assembler: ViewAssembler;
  /** Bumped by every restart: callbacks of an older read are ignored. */
  private generation = 0;
  private messages: ConsumerMessages | undefined;
  private lastDelivery = 0;
  /** A reset is under way: the consumer vanishing is expected, not a reason to resync. */
  private resetting = false;

  constructor(nc: NatsConnection, cluster: string, events: ViewReaderEvents) {
    this.nc = nc;
    this.cluster = cluster;
    this.events = events;
    this.assembler = new ViewAssembler(cluster);
  }

  /** The revision of the last batch handed on; undefined before the first snapshot. */
  revision(): number | undefined {
    return this.assembler.currentRevision();
  }

  /** The hub is resetting the consumer; `restart` follows. */
  beginReset(): void {
    this.resetting = true;
  }

  /** Reads the view from the start of the (just reset) consumer. */
  async restart(): Promise<void> {
    await this.read(true);
  }

  /**
   * After a reconnect: pull again at once where the consumer is. The old pulls died with the old
   * connection, and the client would only notice by their missed heartbeats, seconds later. A
   * delivery the server still sent to an old pull shows up as a skipped delivery sequence, and the
   * view is read whole again. Nothing before the first snapshot: that read begins with a sync.
   */
  async resume(): Promise<void> {
    if (this.messages === undefined || this.assembler.currentRevision() === undefined) return;
    await this.read(false);
  }

  private async read(fromStart: boolean): Promise<void> {
    const js = jetstream(this.nc, { checkAPI: false });
    try {
      // First, so that a consumer that cannot be reached now leaves the current read running (the
      // client retries it by itself) instead of leaving none.
      const consumer = await js.consumers.get(VIEW_STREAM, viewConsumerName(this.cluster));
      const generation = ++this.generation;
      this.stopReading();
      if (fromStart) {
        this.assembler.expectSnapshot();
        this.lastDelivery = 0;
      }
      let sinceAck = 0;
      const messages = await consumer.consume({
        max_messages: 1000,
        // Each pull lives this long; a pull lost with a NATS node is noticed by its missed heartbeats
        // (half of this, twice) and made again: seconds, not the default 30 s pull's minute.
        expires: PULL_EXPIRES_MS,
        callback: (m) => {
          if (generation !== this.generation) return;
          sinceAck += 1;
          if (this.receive(m) || sinceAck >= ACK_EVERY || m.info.pending === 0) {
            m.ack();
            sinceAck = 0;
          }
        },
      });
      this.messages = messages;
      void this.watch(messages, generation);
    } finally {
      this.resetting = false;
    }
  }

  close(): Promise<void> {
    this.generation += 1;
    this.stopReading();
    return Promise.resolve();
  }

  /** True when a batch was completed (acknowledge now). */
  private receive(m: JsMsg): boolean {
    const delivery = m.info.deliverySequence;
    // Consumer sequences count deliveries one by one: a jump means deliveries were lost on the way.
    if (!m.info.redelivered && this.lastDelivery > 0 && delivery > this.lastDelivery + 1) {
      this.events.resync(`deliveries ${this.lastDelivery + 1}-${delivery - 1} of the view never arrived`);
    }
    this.lastDelivery = Math.max(this.lastDelivery, delivery);
    const headers: Record<string, string> = {};
    for (const k of [ViewHeader.Digest, ViewHeader.Parts]) {
      const v = m.headers?.get(k);
      if (v !== undefined && v !== '') headers[k] = v;
    }
    const r = this.assembler.add({ subject: m.subject, data: m.data, headers, pending: m.info.pending });
    if (r.rejected !== undefined) this.events.rejected(m.subject, r.rejected.reason, r.rejected.message);
    if (r.resync !== undefined) this.events.resync(r.resync);
    if (r.batch === undefined) return false;
    try {
      this.events.batch(r.batch);
    } catch (err) {
      this.events.error('applying a view batch', err);
    }
    return true;
  }

  private async watch(messages: ConsumerMessages, generation: number): Promise<void> {
    try {
      for await (const s of messages.status()) {
        if (generation !== this.generation) return;
        // Deleted is final (the hub removed or reset it); "not found" is also what a stream without a
        // leader for a moment answers, and the client pulls again by itself once it is back.
        if (s.type === 'consumer_deleted' && !this.resetting) {
          this.events.resync(`the view's consumer is gone (${s.type})`);
        }
      }
    } catch (err) {
      if (generation === this.generation) this.events.error('reading the view', err);
    }
  }

  /**
   * Not waited on: closing a consume can wait for its pull to end, which around a reconnect may be
   * never; the generation already makes the old one's messages ignored.
   */
  private stopReading(): void {
    const messages = this.messages;
    this.messages = undefined;
    if (messages !== undefined) void messages.close().catch(() => undefined);
  }
}
