// MemoryStore: an in-memory Store for unit tests, with etcd's revision semantics (one revision per
// transaction, mod/create revisions, compaction that makes old watches fail with GoneError) and
// failure injection. Never used by the product; held to the same contract tests as EtcdStore.
import { GoneError, UnavailableError } from '../api/errors.ts';
import { EventQueue, type Compare, type KeyValue, type Leadership, type Op, type Store, type StoreEvent, type TxnResult } from './store.ts';

type Operation = 'get' | 'range' | 'txn' | 'watch';

export class MemoryStore implements Store {
  private readonly data = new Map<string, KeyValue>();
  private readonly log: { revision: number; events: StoreEvent[] }[] = [];
  private readonly watchers = new Set<{ prefix: string; queue: EventQueue<readonly StoreEvent[]> }>();
  private revision = 1;
  private compacted = 0;
  private readonly failures: { op: Operation; error: Error }[] = [];

  /** Makes the next call of `op` fail with `error` (default: UnavailableError). */
  failNext(op: Operation, error: Error = new UnavailableError(`injected ${op} failure`)): void {
    this.failures.push({ op, error });
  }

  private injected(op: Operation): void {
    const i = this.failures.findIndex((f) => f.op === op);
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      if (f !== undefined) throw f.error;
    }
  }

  get(key: string): Promise<KeyValue | undefined> {
    this.injected('get');
    return Promise.resolve(this.data.get(key));
  }

  range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.injected('range');
    const kvs = [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
    return Promise.resolve({ kvs, revision: this.revision });
  }

  txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    this.injected('txn');
    return this.apply(compares, ops);
  }

  /** A transaction that injected failures do not touch (the store's own writes: election keys). */
  private apply(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    const holds = compares.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision);
    if (!holds) return Promise.resolve({ succeeded: false, revision: this.revision });
    const writes = ops.filter((op) => op.type === 'put' || this.data.has(op.key));
    if (writes.length === 0) return Promise.resolve({ succeeded: true, revision: this.revision });
    const revision = ++this.revision;
    const events: StoreEvent[] = [];
    for (const op of writes) {
      const prev = this.data.get(op.key);
      if (op.type === 'put') {
        const kv = { key: op.key, value: op.value, createRevision: prev?.createRevision ?? revision, modRevision: revision };
        this.data.set(op.key, kv);
        events.push({ type: 'put', ...kv });
      } else if (prev !== undefined) {
        this.data.delete(op.key);
        events.push({ type: 'delete', key: op.key, value: prev.value, createRevision: prev.createRevision, modRevision: revision });
      }
    }
    this.log.push({ revision, events });
    for (const w of this.watchers) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length > 0) w.queue.push(mine);
    }
    return Promise.resolve({ succeeded: true, revision });
  }

  watch(prefix: string, afterRevision: number, signal: AbortSignal): AsyncIterable<readonly StoreEvent[]> {
    this.injected('watch');
    const queue = new EventQueue<readonly StoreEvent[]>(signal);
    // etcd keeps the compaction revision itself: watching from it still works.
    if (afterRevision + 1 < this.compacted) {
      queue.fail(new GoneError(`revision ${afterRevision + 1} has been compacted (oldest available: ${this.compacted}); relist`));
      return queue;
    }
    for (const entry of this.log) {
      if (entry.revision <= afterRevision) continue;
      const mine = entry.events.filter((e) => e.key.startsWith(prefix));
      if (mine.length > 0) queue.push(mine);
    }
    const w = { prefix, queue };
    this.watchers.add(w);
    signal.addEventListener('abort', () => this.watchers.delete(w), { once: true });
    return queue;
  }

  compact(revision: number): Promise<void> {
    this.compacted = Math.max(this.compacted, revision);
    while (this.log.length > 0 && (this.log[0]?.revision ?? Infinity) < revision) this.log.shift();
    return Promise.resolve();
  }

  private readonly elections = new Map<string, { candidate: string; elect: () => void; end: () => void }[]>();
  private campaigns = 0;

  /**
   * First come, first elected; the next in line is elected when the leader resigns. Each campaign
   * has a key `election/<name>/<n>` as in etcd, deleted when it ends, so guards compare as there.
   */
  campaign(name: string, candidate: string, _ttlSeconds: number, signal: AbortSignal): Promise<Leadership> {
    const line = this.elections.get(name) ?? [];
    this.elections.set(name, line);
    return new Promise((resolve, reject) => {
      let loseNow: (err: Error) => void = () => undefined;
      const lost = new Promise<Error>((r) => {
        loseNow = r;
      });
      const key = `election/${name}/${++this.campaigns}`;
      const end = (why: Error): void => {
        const i = line.indexOf(entry);
        if (i < 0) return;
        line.splice(i, 1);
        void this.apply([], [{ type: 'delete', key }]);
        loseNow(why);
        if (i === 0) line[0]?.elect();
      };
      const entry = {
        candidate,
        elect: () => {
          resolve({
            lost,
            guard: { key, modRevision: this.data.get(key)?.modRevision ?? 0 },
            resign: () => {
              end(new Error('resigned'));
              return Promise.resolve();
            },
          });
        },
        end: () => {
          end(new Error('lease revoked'));
        },
      };
      line.push(entry);
      void this.apply([], [{ type: 'put', key, value: candidate }]);
      signal.addEventListener(
        'abort',
        () => {
          const i = line.indexOf(entry);
          if (i > 0) {
            line.splice(i, 1);
            void this.apply([], [{ type: 'delete', key }]);
          }
          reject(new Error('campaign aborted'));
        },
        { once: true },
      );
      if (line.length === 1) entry.elect();
    });
  }

  reclaimLeadership(name: string, candidatePrefix: string): Promise<number> {
    const line = this.elections.get(name) ?? [];
    const ended = line.filter((e) => e.candidate.startsWith(candidatePrefix));
    for (const e of ended) e.end();
    return Promise.resolve(ended.length);
  }

  ping(): Promise<void> {
    this.injected('get');
    return Promise.resolve();
  }

  close(): Promise<void> {
    for (const w of this.watchers) w.queue.end();
    this.watchers.clear();
    return Promise.resolve();
  }
}
