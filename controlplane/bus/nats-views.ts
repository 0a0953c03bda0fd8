// NatsViewStream: the ViewStream port on JetStream (@nats-io/jetstream), over the hub's own NATS
// connection (ADR 0018). The stream keeps the latest message of every view subject; each cluster's
// durable pull consumer is filtered to its view, starts at the latest message of every subject
// (`last_per_subject`) and counts as read what its agent acknowledged (`ack_policy: all`: one ack
// covers everything before it), which is where the agent resumes after any restart.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { ALL_VIEW_SUBJECTS, VIEW_STREAM, viewConsumerName, viewSubjects } from '../api/subjects.ts';
import { MAX_MESSAGE_BYTES } from '../api/messages.ts';
import { natsHeaders, type NatsConnection } from './nats-connect.ts';
import type { ViewMessage, ViewStream } from './views.ts';

export interface NatsViewStreamOptions {
  /** Stream replicas: 1 on one nats-server, 3 on a cluster of three or more. */
  readonly replicas?: number;
  /** How many publishes may wait for their acknowledgement at once. Default 512. */
  readonly window?: number;
}

const PUBLISH_TIMEOUT_MS = 2000;

/** A delivered message not acknowledged within this is delivered again (a lost pull reply). */
const ACK_WAIT_NS = 10_000_000_000;
/** Delivered but not yet acknowledged, per consumer: the agent acknowledges far more often. */
const MAX_ACK_PENDING = 100_000;
/** Room for subjects and headers around the largest body. */
const MAX_MSG_SIZE = MAX_MESSAGE_BYTES + 8 * 1024;

export class NatsViewStream implements ViewStream {
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly options: NatsViewStreamOptions;
  private jsm: JetStreamManager | undefined;

  constructor(nc: NatsConnection, options: NatsViewStreamOptions = {}) {
    this.nc = nc;
    // A publish normally is acknowledged in milliseconds; one that waits longer went to a stream
    // leader that is gone, and is retried (after a fresh comparison) rather than waited on.
    this.js = jetstream(nc, { timeout: PUBLISH_TIMEOUT_MS });
    this.options = options;
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc);
    return this.jsm;
  }

  async ensure(): Promise<void> {
    const jsm = await this.manager();
    const config: Partial<StreamConfig> & { name: string } = {
      name: VIEW_STREAM,
      subjects: [ALL_VIEW_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: 1,
      max_msg_size: MAX_MSG_SIZE,
      num_replicas: this.options.replicas ?? 1,
    };
    try {
      const info = await jsm.streams.info(VIEW_STREAM);
      if (info.config.num_replicas !== config.num_replicas || info.config.max_msgs_per_subject !== 1) {
        await jsm.streams.update(VIEW_STREAM, { num_replicas: config.num_replicas ?? 1, max_msgs_per_subject: 1, max_msg_size: MAX_MSG_SIZE });
      }
    } catch (err) {
      if (!notFound(err)) throw err;
      await jsm.streams.add(config);
    }
  }

  async latest(signal?: AbortSignal): Promise<Map<string, Readonly<Record<string, string>>>> {
    const out = new Map<string, Readonly<Record<string, string>>>();
    const jsm = await this.manager();
    const info = await jsm.streams.info(VIEW_STREAM);
    if (info.state.messages === 0) return out;
    // An ordered consumer of headers only: the latest message of every subject, without its body.
    const consumer = await this.js.consumers.get(VIEW_STREAM, { deliver_policy: DeliverPolicy.LastPerSubject, headers_only: true });
    try {
      for (;;) {
        signal?.throwIfAborted();
        const batch = await consumer.fetch({ max_messages: 10_000, expires: 2000 });
        let got = 0;
        let done = false;
        for await (const m of batch) {
          got += 1;
          const headers: Record<string, string> = {};
          for (const k of m.headers?.keys() ?? []) if (k.startsWith('Causeway-')) headers[k] = m.headers?.get(k) ?? '';
          out.set(m.subject, headers);
          if (m.info.pending === 0) {
            done = true;
            break;
          }
        }
        if (done || got === 0) return out;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  async publish(messages: readonly ViewMessage[]): Promise<void> {
    const window = this.options.window ?? 512;
    const inFlight = new Set<Promise<unknown>>();
    let failure: Error | undefined;
    for (const m of messages) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      // Sent in order on one connection, so stored in order; acknowledged asynchronously.
      const p: Promise<unknown> = this.js.publish(m.subject, m.data, { headers: h }).then(
        () => inFlight.delete(p),
        (err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
          inFlight.delete(p);
        },
      );
      inFlight.add(p);
      if (inFlight.size >= window) await Promise.race(inFlight);
      if (failure !== undefined) break;
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  }

  async purge(filter: string): Promise<void> {
    const jsm = await this.manager();
    await jsm.streams.purge(VIEW_STREAM, { filter });
  }

  async consumers(): Promise<string[]> {
    const jsm = await this.manager();
    const names: string[] = [];
    for await (const c of jsm.consumers.list(VIEW_STREAM)) {
      // Durable names only: the ordered consumers `latest` makes are ephemeral.
      if (c.config.durable_name !== undefined) names.push(c.config.durable_name);
    }
    return names.sort();
  }

  async ensureConsumer(cluster: string): Promise<void> {
    const jsm = await this.manager();
    try {
      const info = await jsm.consumers.info(VIEW_STREAM, viewConsumerName(cluster));
      if (info.config.filter_subject === viewSubjects(cluster) && info.config.ack_policy === AckPolicy.All) return;
      await jsm.consumers.delete(VIEW_STREAM, viewConsumerName(cluster));
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    await jsm.consumers.add(VIEW_STREAM, consumerConfig(cluster));
  }

  async resetConsumer(cluster: string): Promise<void> {
    await this.deleteConsumer(cluster);
    const jsm = await this.manager();
    await jsm.consumers.add(VIEW_STREAM, consumerConfig(cluster));
  }

  async deleteConsumer(cluster: string): Promise<void> {
    const jsm = await this.manager();
    try {
      await jsm.consumers.delete(VIEW_STREAM, viewConsumerName(cluster));
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
}

function consumerConfig(cluster: string): Partial<ConsumerConfig> {
  return {
    durable_name: viewConsumerName(cluster),
    filter_subject: viewSubjects(cluster),
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.LastPerSubject,
    ack_wait: ACK_WAIT_NS,
    max_ack_pending: MAX_ACK_PENDING,
  };
}

function notFound(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound || err.status === 404)
  );
}
