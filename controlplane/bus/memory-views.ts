// MemoryViewStream: the ViewStream port in memory, for unit tests. It keeps what JetStream keeps
// with `max_msgs_per_subject: 1` — the latest message per subject, in stream-sequence order — and a
// consumer per cluster that starts at the latest message of every subject of its view and reads
// newer ones in order (`read`, the tests' stand-in for an agent's pull). Held to the same contract
// tests as the NATS adapter (test/integration/view-stream.test.ts).
import { subjectMatches, viewSubjects } from '../api/subjects.ts';
import type { ViewMessage } from '../api/view-entries.ts';
import type { ViewStream } from './views.ts';

export interface StoredMessage extends ViewMessage {
  readonly seq: number;
}

export class MemoryViewStream implements ViewStream {
  private seq = 0;
  private readonly bySubject = new Map<string, StoredMessage>();
  /** Per consumer: the last sequence it has read. */
  private readonly cursors = new Map<string, number>();
  private exists = false;
  /** Set to make every publish fail (a NATS outage), for tests. */
  failing = false;
  /** Messages stored, in total (tests measure what a change cost). */
  published = 0;

  ensure(): Promise<void> {
    this.exists = true;
    return Promise.resolve();
  }

  latest(): Promise<Map<string, Readonly<Record<string, string>>>> {
    return Promise.resolve(new Map([...this.ordered()].map((m) => [m.subject, m.headers])));
  }

  publish(messages: readonly ViewMessage[]): Promise<void> {
    if (!this.exists) return Promise.reject(new Error('no view stream'));
    if (this.failing) return Promise.reject(new Error('view stream unavailable'));
    for (const m of messages) {
      this.bySubject.set(m.subject, { ...m, seq: ++this.seq });
      this.published += 1;
    }
    return Promise.resolve();
  }

  purge(filter: string): Promise<void> {
    for (const subject of [...this.bySubject.keys()]) if (subjectMatches(filter, subject)) this.bySubject.delete(subject);
    return Promise.resolve();
  }

  consumers(): Promise<string[]> {
    return Promise.resolve([...this.cursors.keys()].sort());
  }

  ensureConsumer(cluster: string): Promise<void> {
    if (!this.cursors.has(cluster)) this.cursors.set(cluster, 0);
    return Promise.resolve();
  }

  resetConsumer(cluster: string): Promise<void> {
    this.cursors.set(cluster, 0);
    return Promise.resolve();
  }

  deleteConsumer(cluster: string): Promise<void> {
    this.cursors.delete(cluster);
    return Promise.resolve();
  }

  /** What the cluster's agent pulls next (up to `max`), with how many remain after each; undefined: no consumer. */
  read(cluster: string, max = Number.POSITIVE_INFINITY): { readonly message: StoredMessage; readonly pending: number }[] | undefined {
    const cursor = this.cursors.get(cluster);
    if (cursor === undefined) return undefined;
    const filter = viewSubjects(cluster);
    const next = this.ordered().filter((m) => m.seq > cursor && subjectMatches(filter, m.subject));
    const out = next.slice(0, max).map((message, i) => ({ message, pending: next.length - i - 1 }));
    const last = out.at(-1);
    if (last !== undefined) this.cursors.set(cluster, last.message.seq);
    return out;
  }

  private ordered(): StoredMessage[] {
    return [...this.bySubject.values()].sort((a, b) => a.seq - b.seq);
  }
}
