// The registry: the hub's only way to read and write declared resources in the store. Every
// write is one transaction that compares and bumps the write head (keys.ts), so writes are
// serialised across hub replicas, checks across the whole set hold, a multi-document apply is all
// or nothing, and every change lands together with its audit record.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, InvalidInputError, NotFoundError } from '../api/errors.ts';
import {
  BLOCK_RELEASES_PREFIX,
  HEAD_KEY,
  HISTORY_PREFIX,
  historyKey,
  kindPrefix,
  objectKey,
  OBJECTS_PREFIX,
  parseObjectKey,
  refOf,
  refString,
  type ObjectRef,
} from '../api/keys.ts';
import type { Kind } from '../api/kinds.ts';
import type { Resource } from '../api/resources.ts';
import {
  Action,
  WriteMode,
  type Actor,
  type ChangeResult,
  type Declared,
  type HistoryEntry,
  type RegistryOptions,
  type WatchEvent,
  type WriteOptions,
  type WriteResult,
} from './changes.ts';
import { delayFor } from '../kernel/backoff.ts';
import { SerialQueue, sleep } from '../kernel/async.ts';
import { decodeObject, encodeObject, stripVersion } from './stored-object.ts';
import type { KeyValue, Op, Store } from './store.ts';
import { appendRecord, readHead } from './history.ts';
import { parseRelease, type BlockRelease } from '../ipam/releases.ts';
import { planWriteWithReleases, type Mutation, type Snapshot } from './write-plan.ts';

// The registry's API speaks the vocabulary of changes.ts; its callers import it from here.
export { Action, WriteMode } from './changes.ts';
export type { Actor, ChangeResult, Declared, HistoryChange, HistoryEntry, RegistryOptions, WatchEvent, WriteOptions, WriteResult } from './changes.ts';

export class Registry {
  private readonly store: Store;
  private readonly now: () => Date;
  private readonly newUid: () => string;
  private readonly maxAttempts: number;
  private readonly quarantineMs: number | undefined;
  // Declarations of one hub go through one at a time: they all compare the write head, so writes
  // racing each other would only make each other retry, and enough of them ran out of attempts.
  // The hub shares the queue with its credential hand-outs, which append to the same history.
  private readonly writes: SerialQueue;

  constructor(store: Store, options: RegistryOptions = {}) {
    this.store = store;
    this.now = options.now ?? (() => new Date());
    this.newUid = options.newUid ?? randomUUID;
    this.maxAttempts = options.maxAttempts ?? 16;
    this.quarantineMs = options.blockQuarantineMs;
    this.writes = options.historyWrites ?? new SerialQueue();
  }

  /** Blocks released by deleted clusters, in quarantine or past it (tidied by the next write). */
  async blockReleases(signal?: AbortSignal): Promise<BlockRelease[]> {
    const { kvs } = await this.store.range(BLOCK_RELEASES_PREFIX, signal);
    return kvs.flatMap((kv) => parseRelease(kv.value) ?? []);
  }

  // ---- reads ---------------------------------------------------------------------------------

  async list(kind?: Kind, signal?: AbortSignal): Promise<{ items: Resource[]; revision: number }> {
    const { kvs, revision } = await this.store.range(kind === undefined ? OBJECTS_PREFIX : kindPrefix(kind), signal);
    return { items: kvs.map((kv) => decodeObject(kv.value, kv.modRevision)), revision };
  }

  async get(ref: ObjectRef, signal?: AbortSignal): Promise<Resource> {
    const kv = await this.store.get(objectKey(ref), signal);
    if (kv === undefined) throw new NotFoundError(`${refString(ref)} not found`);
    return decodeObject(kv.value, kv.modRevision);
  }

  /** The store's current revision: what a watch may start from at most. */
  async revision(signal?: AbortSignal): Promise<number> {
    return (await this.store.range(HEAD_KEY, signal)).revision;
  }

  /**
   * History, newest first; only entries touching `ref` when given, and shaped by `select` (which
   * may drop an entry: the caller's visibility) when given. With a `limit`, records are read newest
   * first a page at a time and reading stops once `limit` entries are picked: `history --limit 20`
   * costs the same after a million writes as after twenty.
   */
  async history(
    filter: { ref?: ObjectRef; limit?: number; select?: (e: HistoryEntry) => HistoryEntry | undefined } = {},
    signal?: AbortSignal,
  ): Promise<HistoryEntry[]> {
    const want = filter.ref !== undefined ? refString(filter.ref) : undefined;
    const pick = (e: HistoryEntry): HistoryEntry | undefined => {
      const touching =
        want === undefined ? e : { ...e, changes: e.changes.filter((c) => refString({ kind: c.kind, namespace: c.namespace, name: c.name }) === want) };
      if (
        want !== undefined &&
        touching.changes.length === 0 &&
        !(e.credential !== undefined && refString({ kind: 'Cluster', name: e.credential.cluster }) === want)
      ) {
        return undefined;
      }
      return filter.select === undefined ? touching : filter.select(touching);
    };
    const limit = filter.limit;
    if (limit === undefined) {
      return (await this.readHistory(signal))
        .reverse()
        .map(pick)
        .filter((e): e is HistoryEntry => e !== undefined);
    }
    const out: HistoryEntry[] = [];
    const { seq } = await readHead(this.store, signal);
    for (let top = seq; top >= 1 && out.length < limit; top -= HISTORY_PAGE) {
      const seqs = Array.from({ length: Math.min(HISTORY_PAGE, top) }, (_, i) => top - i);
      const kvs = await Promise.all(seqs.map((n) => this.store.get(historyKey(n), signal)));
      for (const kv of kvs) {
        if (kv === undefined) continue;
        const e = pick(historyEntry(kv));
        if (e !== undefined) out.push(e);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  /**
   * Changes after `afterRevision`, batched per store revision. Throws GoneError when that
   * revision has been compacted: list again and watch from the list's revision.
   */
  async *watch(kind: Kind | undefined, afterRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent[]> {
    for await (const batch of this.store.watch(kind === undefined ? OBJECTS_PREFIX : kindPrefix(kind), afterRevision, signal)) {
      const events: WatchEvent[] = [];
      for (const e of batch) {
        if (e.type === 'put') {
          events.push({ type: e.createRevision === e.modRevision ? 'ADDED' : 'MODIFIED', object: decodeObject(e.value, e.modRevision) });
        } else if (e.value !== '') {
          events.push({ type: 'DELETED', object: decodeObject(e.value, e.modRevision) });
        }
      }
      if (events.length > 0) yield events;
    }
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Creates or updates every declared resource, atomically. */
  apply(declared: readonly Declared[], actor: Actor, options: WriteOptions & { mode?: WriteMode } = {}): Promise<WriteResult> {
    const mode = options.mode ?? WriteMode.apply;
    const mutations: Mutation[] = declared.map((d) => ({ type: 'upsert', mode, declared: d }));
    return this.write(mutations, actor, mode, options);
  }

  delete(ref: ObjectRef, actor: Actor, options: WriteOptions & { resourceVersion?: string } = {}): Promise<WriteResult> {
    return this.write([{ type: 'delete', ref, resourceVersion: options.resourceVersion }], actor, 'delete', options);
  }

  /** What `apply` would change, without writing. */
  async diff(declared: readonly Declared[], options: Pick<WriteOptions, 'authorize' | 'visible'> = {}): Promise<ChangeResult[]> {
    return [...(await this.apply(declared, { name: 'diff', role: 'system' }, { ...options, dryRun: true })).changes];
  }

  /**
   * Restores every resource to what it was at `revision` by writing a new revision, reconstructed
   * from the history (which survives etcd compaction, unlike etcd's own old revisions).
   */
  rollback(revision: number, actor: Actor, options: WriteOptions = {}): Promise<WriteResult> {
    return this.writes.run(() => this.rollbackNow(revision, actor, options));
  }

  private async rollbackNow(revision: number, actor: Actor, options: WriteOptions): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const snapshot = await this.snapshot();
      if (revision > snapshot.revision) {
        throw new InvalidInputError([{ field: 'toRevision', value: revision, message: `is in the future: the registry is at revision ${snapshot.revision}` }]);
      }
      const entries = await this.readHistory();
      const past = new Map<string, Resource | undefined>();
      for (const e of entries) {
        if (e.revision > revision) break;
        for (const c of e.changes) past.set(refString({ kind: c.kind, namespace: c.namespace, name: c.name }), c.after);
      }
      const mutations: Mutation[] = [];
      for (const [key, then] of past) {
        if (then !== undefined) {
          const { resourceVersion: _rv, ...metadata } = then.metadata;
          mutations.push({ type: 'upsert', mode: 'apply', declared: { resource: { ...then, metadata } } });
        } else if (snapshot.objects.has(key)) {
          const ref = refOf(snapshot.objects.get(key) as Resource);
          mutations.push({ type: 'delete', ref });
        }
      }
      // Objects created after `revision` have no entry at or before it: they go.
      for (const [key, obj] of snapshot.objects) {
        if (!past.has(key)) mutations.push({ type: 'delete', ref: refOf(obj) });
      }
      const result = await this.tryWrite(snapshot, mutations, actor, 'rollback', options, revision);
      if (result !== undefined) return result;
      if (attempt >= this.maxAttempts) throw new ConflictError('the registry kept changing during rollback; try again');
      await retryPause(attempt);
    }
  }

  private write(mutations: readonly Mutation[], actor: Actor, operation: HistoryEntry['operation'], options: WriteOptions): Promise<WriteResult> {
    return this.writes.run(async () => {
      for (let attempt = 1; ; attempt++) {
        const snapshot = await this.snapshot();
        // A lost race re-plans on the new snapshot: a write without a precondition then succeeds,
        // one with a resourceVersion that another writer moved gets its 409 from the plan.
        const result = await this.tryWrite(snapshot, mutations, actor, operation, options);
        if (result !== undefined) return result;
        if (attempt >= this.maxAttempts) throw new ConflictError('the registry kept changing under this write; try again');
        await retryPause(attempt);
      }
    });
  }

  /** Plans and commits against one snapshot; undefined when another writer got there first. */
  private async tryWrite(
    snapshot: Snapshot,
    mutations: readonly Mutation[],
    actor: Actor,
    operation: HistoryEntry['operation'],
    options: WriteOptions,
    rollbackTo?: number,
  ): Promise<WriteResult | undefined> {
    const dryRun = options.dryRun ?? false;
    // Authorised (inside plan) against the same snapshot the write builds on: no window to change scope.
    const { changes, releaseOps } = planWriteWithReleases(
      snapshot,
      mutations,
      { now: this.now, newUid: this.newUid, ...(this.quarantineMs !== undefined ? { quarantineMs: this.quarantineMs } : {}) },
      options.authorize,
      options.visible,
      actor.role === 'team' ? { role: 'team', namespaces: actor.namespaces ?? [] } : undefined,
    );
    const written = changes.filter((c) => c.action !== Action.unchanged);
    if (dryRun || written.length === 0) return { revision: snapshot.revision, dryRun, changes };

    const objectOps: Op[] = written.map((c) =>
      c.after !== undefined ? { type: 'put', key: objectKey(c.ref), value: encodeObject(c.after) } : { type: 'delete', key: objectKey(c.ref) },
    );
    const history = appendRecord(
      { revision: snapshot.headRevision, seq: snapshot.seq },
      {
        time: this.now().toISOString(),
        actor: { name: actor.name, role: actor.role },
        operation,
        ...(rollbackTo !== undefined ? { rollbackTo } : {}),
        changes: written.map((c) => ({
          kind: c.ref.kind,
          ...(c.ref.namespace !== undefined ? { namespace: c.ref.namespace } : {}),
          name: c.ref.name,
          action: c.action,
          ...(c.before !== undefined ? { before: c.before } : {}),
          ...(c.after !== undefined ? { after: stripVersion(c.after) } : {}),
        })),
      },
    );
    const ops = [...objectOps, ...releaseOps, ...history.ops];
    // Objects are compared too: status writes (updateStatus) do not move the head, and an apply
    // built on an older copy must not put back the status it read.
    const compares = [...history.compares, ...written.map((c) => ({ key: objectKey(c.ref), modRevision: Number(c.before?.metadata.resourceVersion ?? 0) }))];
    const res = await this.store.txn(compares, ops);
    if (!res.succeeded) return undefined;
    const withVersion = (r: Resource | undefined): Resource | undefined =>
      r === undefined ? undefined : { ...r, metadata: { ...r.metadata, resourceVersion: String(res.revision) } };
    return {
      revision: res.revision,
      dryRun,
      changes: changes.map((c) => (c.action === Action.unchanged ? c : { ...c, after: withVersion(c.after) })),
    };
  }

  /**
   * Writes the system-owned status of one object, compare-and-swap on its revision, retrying on
   * a concurrent change. Not a declaration: no history record, no generation bump. `mutate` gets
   * the current object and returns the new status, or undefined to leave it as is.
   */
  async updateStatus(ref: ObjectRef, mutate: (current: Resource) => Resource['status'] | undefined): Promise<Resource | undefined> {
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(objectKey(ref));
      if (kv === undefined) return undefined;
      const current = decodeObject(kv.value, kv.modRevision);
      const status = mutate(current);
      if (status === undefined || isDeepStrictEqual(status, current.status)) return current;
      const next = { ...current, status } as Resource;
      const res = await this.store.txn(
        [{ key: objectKey(ref), modRevision: kv.modRevision }],
        [{ type: 'put', key: objectKey(ref), value: encodeObject(next) }],
      );
      if (res.succeeded) return { ...next, metadata: { ...next.metadata, resourceVersion: String(res.revision) } };
      if (attempt >= this.maxAttempts) throw new ConflictError(`${refString(ref)} kept changing while writing its status`);
    }
  }

  private async snapshot(): Promise<Snapshot> {
    // Head first: if the write that follows still finds the head unmoved, nothing was written
    // since, so the range read after it is exactly the state the write builds on.
    const head = await readHead(this.store);
    // Release records are written only by head-bumping writes, so the head compare covers them too.
    const [{ kvs, revision }, releases] = await Promise.all([this.store.range(OBJECTS_PREFIX), this.blockReleases()]);
    const objects = new Map<string, Resource>();
    for (const kv of kvs) {
      const ref = parseObjectKey(kv.key);
      if (ref !== undefined) objects.set(refString(ref), decodeObject(kv.value, kv.modRevision));
    }
    return { headRevision: head.revision, seq: head.seq, revision, objects, releases };
  }

  private async readHistory(signal?: AbortSignal): Promise<HistoryEntry[]> {
    const { kvs } = await this.store.range(HISTORY_PREFIX, signal);
    return kvs.map(historyEntry);
  }
}

/**
 * Between attempts that lost the write head to another hub replica: jittered, so that replicas
 * retrying at once spread out; 16 attempts wait about 2.5 s in all at most.
 */
function retryPause(attempt: number): Promise<void> {
  return sleep(delayFor({ baseMs: 5, maxMs: 200 }, attempt - 1), NEVER);
}

const NEVER = new AbortController().signal;

/** Records read a page at a time, newest first, for `history` with a limit. */
const HISTORY_PAGE = 64;

/** A history record as stored, with the revision it was written at (each object's resourceVersion then). */
function historyEntry(kv: KeyValue): HistoryEntry {
  const record = JSON.parse(kv.value) as Omit<HistoryEntry, 'revision'>;
  const revision = kv.createRevision;
  return {
    ...record,
    revision,
    changes: record.changes.map((c) =>
      c.after !== undefined ? { ...c, after: { ...c.after, metadata: { ...c.after.metadata, resourceVersion: String(revision) } } } : c,
    ),
  };
}
