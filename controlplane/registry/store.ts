// The port the registry needs from a key-value store: the subset of etcd's API that Causeway
// leverages. EtcdStore is the product's adapter; MemoryStore is the unit tests' fake. Both pass
// the same contract suite (test/integration/store-contract.test.ts).

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** Holds when the key's mod revision equals `modRevision`; 0 means "the key does not exist". */
export interface Compare {
  readonly key: string;
  readonly modRevision: number;
}

export type Op = { readonly type: 'put'; readonly key: string; readonly value: string } | { readonly type: 'delete'; readonly key: string };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (its own revision when it wrote). */
  readonly revision: number;
}

export interface StoreEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** For a delete: the value before it. */
  readonly value: string;
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface Leadership {
  readonly lost: Promise<Error>;
  /**
   * Holds while this term lasts: the election key with its mod revision. etcd deletes the key
   * with the lease, so a write that carries this compare cannot land after the term ended,
   * whatever the writer believes (guardedWrites).
   */
  readonly guard: Compare;
  resign(): Promise<void>;
}

export interface WatchOptions {
  /** Whether deletes carry the deleted value (etcd's prev_kv, sent with every event). Default true. */
  readonly deletedValues?: boolean;
}

export interface Store {
  get(key: string, signal?: AbortSignal): Promise<KeyValue | undefined>;
  /** Every key under `prefix`, read at one revision. */
  range(prefix: string, signal?: AbortSignal): Promise<{ readonly kvs: readonly KeyValue[]; readonly revision: number }>;
  /** If every compare holds, applies every op atomically at one new revision. */
  txn(compares: readonly Compare[], ops: readonly Op[], signal?: AbortSignal): Promise<TxnResult>;
  /**
   * Changes under `prefix` after `afterRevision`, in order, in batches that never split one
   * revision. Throws GoneError when that revision was compacted: the caller must relist.
   * Ends when `signal` aborts. A delete carries the deleted value unless `options.deletedValues`
   * is false (then its value may be empty): a watcher that only needs keys halves what etcd sends.
   */
  watch(prefix: string, afterRevision: number, signal: AbortSignal, options?: WatchOptions): AsyncIterable<readonly StoreEvent[]>;
  /** Discards history up to `revision` (etcd compaction). */
  compact(revision: number): Promise<void>;
  /**
   * Campaigns for leadership of `name` (etcd election on a lease of `ttlSeconds`); resolves once
   * elected. `lost` resolves if leadership is lost later (lease expired, etcd unreachable).
   */
  campaign(name: string, candidate: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership>;
  /**
   * Ends every campaign of `name` whose candidate starts with `candidatePrefix` (revokes its
   * lease): a hub restarted after kill -9 takes back what its dead self held instead of waiting
   * out the lease. Returns how many it ended.
   */
  reclaimLeadership(name: string, candidatePrefix: string, signal?: AbortSignal): Promise<number>;
  /** Cheap liveness probe for /readyz. */
  ping(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * The store for leader-only writers: every transaction also compares `guard()` (the term's
 * Leadership.guard), so etcd refuses it once the lease is gone, even from a writer that has not
 * yet heard; with no term (undefined) it fails without being sent. Reads go straight through.
 * Closing it leaves the store open.
 */
export function guardedWrites(store: Store, guard: () => Compare | undefined): Store {
  return {
    get: (key, signal) => store.get(key, signal),
    range: (prefix, signal) => store.range(prefix, signal),
    txn: (compares, ops, signal) => {
      const term = guard();
      if (term === undefined) return Promise.reject(new NotLeadingError());
      return store.txn([...compares, term], ops, signal);
    },
    watch: (prefix, afterRevision, signal, options) => store.watch(prefix, afterRevision, signal, options),
    compact: (revision) => store.compact(revision),
    campaign: (name, candidate, ttlSeconds, signal) => store.campaign(name, candidate, ttlSeconds, signal),
    reclaimLeadership: (name, candidatePrefix, signal) => store.reclaimLeadership(name, candidatePrefix, signal),
    ping: (signal) => store.ping(signal),
    close: () => Promise.resolve(),
  };
}

/** A leader-only write attempted while this replica leads no term. */
export class NotLeadingError extends Error {
  constructor() {
    super('this hub replica does not lead (its leadership term ended); the leader does this');
    this.name = 'NotLeadingError';
  }
}

/**
 * An unbounded async queue feeding a `for await` loop: the bridge from event-emitter callbacks to
 * an AsyncIterable, ending on abort and failing with the error pushed by `fail`.
 */
export class EventQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private error: unknown;
  private done = false;

  constructor(signal: AbortSignal) {
    if (signal.aborted) this.done = true;
    signal.addEventListener(
      'abort',
      () => {
        this.end();
      },
      { once: true },
    );
  }

  push(item: T): void {
    if (this.done) return;
    this.items.push(item);
    this.wake();
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.error = error;
    this.done = true;
    this.wake();
  }

  end(): void {
    this.done = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.error !== undefined) throw this.error instanceof Error ? this.error : new Error('watch failed', { cause: this.error });
      if (this.done) return;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}
