// The port delivery needs from the view stream (ADR 0018): a JetStream stream that keeps the latest
// message of every subject, and one durable pull consumer per cluster that only that cluster's
// agent may pull. NatsViewStream (nats-views.ts) is the product's adapter; MemoryViewStream the
// unit tests' fake, held to the same contract tests (test/integration/view-stream.test.ts).
import type { ViewMessage } from '../api/view-entries.ts';

export type { ViewMessage } from '../api/view-entries.ts';

export interface ViewStream {
  /** Creates the stream, or brings an existing one to its configuration. Idempotent. */
  ensure(signal?: AbortSignal): Promise<void>;
  /** The headers of the latest message of every subject, without bodies: what the views hold now. */
  latest(signal?: AbortSignal): Promise<Map<string, Readonly<Record<string, string>>>>;
  /** Stores the messages in this order; resolves once every one is stored, rejects if one is not (others may be). */
  publish(messages: readonly ViewMessage[], signal?: AbortSignal): Promise<void>;
  /** Removes every message of the subjects `filter` matches (a NATS wildcard). */
  purge(filter: string): Promise<void>;
  /** The clusters that have a consumer. */
  consumers(): Promise<string[]>;
  /** Creates the cluster's consumer when it has none: its first pull reads the latest message of every subject of its view. */
  ensureConsumer(cluster: string): Promise<void>;
  /** Deletes and creates it again: its next pull reads the whole view again. */
  resetConsumer(cluster: string): Promise<void>;
  /** Absent is success. */
  deleteConsumer(cluster: string): Promise<void>;
}
