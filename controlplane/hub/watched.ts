// A live copy of one key prefix of the store: list, then watch from the list's revision, relist
// when the watch falls behind compaction or fails, and tell subscribers what changed. Views of
// the registry and of the agents' exports are built on it; every hub replica keeps its own.
import { GoneError } from '../api/errors.ts';
import { sleep } from '../kernel/async.ts';
import { Backoff } from '../kernel/backoff.ts';
import type { Store } from '../registry/store.ts';

export interface PrefixChange {
  readonly key: string;
  /** undefined when the key was deleted. */
  readonly value: string | undefined;
  readonly modRevision: number;
}

/** Relisting after a failed watch: soon, then less often while etcd stays away. */
const RELIST_BACKOFF = { baseMs: 100, maxMs: 5000 };

export type ChangeListener = (changes: readonly PrefixChange[], revision: number) => void;

export class WatchedPrefix {
  private readonly store: Store;
  private readonly prefix: string;
  /** Each key's modRevision, to tell a relist's changes; the values go to the listeners, which keep what they need. */
  private readonly entries = new Map<string, number>();
  private readonly listeners: ChangeListener[] = [];
  private revisionSeen = 0;
  private synced = false;
  private readonly waiters: (() => void)[] = [];

  constructor(store: Store, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  /** Runs until `signal` aborts; resolves `ready()` once the first list is in. */
  async run(signal: AbortSignal, onError: (err: unknown) => void = () => undefined): Promise<void> {
    const backoff = new Backoff(RELIST_BACKOFF);
    while (!signal.aborted) {
      try {
        const { kvs, revision } = await this.store.range(this.prefix, signal);
        // Relist: report the difference between what we had and what is there now.
        const fresh = new Map(kvs.map((kv) => [kv.key, kv]));
        const changes: PrefixChange[] = [];
        for (const [key, kv] of fresh) {
          if (this.entries.get(key) !== kv.modRevision) changes.push({ key, value: kv.value, modRevision: kv.modRevision });
        }
        for (const key of this.entries.keys()) if (!fresh.has(key)) changes.push({ key, value: undefined, modRevision: revision });
        this.entries.clear();
        for (const [k, kv] of fresh) this.entries.set(k, kv.modRevision);
        this.revisionSeen = revision;
        this.markSynced();
        if (changes.length > 0) this.emit(changes, revision);
        backoff.reset();
        // Deletes are keys to this mirror: etcd need not send the previous value with every event.
        for await (const batch of this.store.watch(this.prefix, revision, signal, { deletedValues: false })) {
          const changed: PrefixChange[] = [];
          let rev = this.revisionSeen;
          for (const e of batch) {
            rev = Math.max(rev, e.modRevision);
            if (e.type === 'put') {
              this.entries.set(e.key, e.modRevision);
              changed.push({ key: e.key, value: e.value, modRevision: e.modRevision });
            } else {
              this.entries.delete(e.key);
              changed.push({ key: e.key, value: undefined, modRevision: e.modRevision });
            }
          }
          this.revisionSeen = rev;
          if (changed.length > 0) this.emit(changed, rev);
        }
      } catch (err) {
        // (the loop condition narrows `aborted`; it may have changed while we awaited)
        if (signal.reason !== undefined) return;
        if (!(err instanceof GoneError)) onError(err);
        await sleep(backoff.next(), signal);
      }
    }
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  ready(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  get revision(): number {
    return this.revisionSeen;
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.waiters.splice(0)) w();
  }

  private emit(changes: readonly PrefixChange[], revision: number): void {
    for (const l of this.listeners) l(changes, revision);
  }
}
