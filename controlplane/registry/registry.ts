// The registry: the hub's only way to read and write declared resources in the store. Every
// write is one transaction that compares and bumps the write head (keys.ts), so writes are
// serialised across hub replicas, checks across the whole set hold, a multi-document apply is all
// or nothing, and every change lands together with its audit record.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ClusterConditionType, ClusterReason, ConditionStatus, type Condition } from '../api/conditions.ts';
import { AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError, type Problem } from '../api/errors.ts';
import { HEAD_KEY, HISTORY_PREFIX, historyKey, kindPrefix, objectKey, OBJECTS_PREFIX, parseObjectKey, refOf, refString, type ObjectRef } from '../api/keys.ts';
import type { Kind } from '../api/kinds.ts';
import type { ClusterResource, Resource } from '../api/resources.ts';
import { checkSet } from '../api/semantic.ts';
import type { Source } from '../api/validate.ts';
import { allocateClusterCidrs } from './cluster-ipam.ts';
import type { Op, Store } from './store.ts';

export interface Actor {
  readonly name: string;
  readonly role: string;
}

export const WriteMode = { apply: 'apply', create: 'create', update: 'update' } as const;
export type WriteMode = (typeof WriteMode)[keyof typeof WriteMode];

export const Action = { created: 'created', updated: 'updated', deleted: 'deleted', unchanged: 'unchanged' } as const;
export type Action = (typeof Action)[keyof typeof Action];

export interface Declared {
  readonly resource: Resource;
  readonly source?: Source;
}

export interface ChangeResult {
  readonly ref: ObjectRef;
  readonly action: Action;
  readonly before?: Resource | undefined;
  readonly after?: Resource | undefined;
}

export interface WriteResult {
  /** The revision the change was written at; the current revision for a dry run or no-op. */
  readonly revision: number;
  readonly dryRun: boolean;
  readonly changes: readonly ChangeResult[];
}

export interface HistoryChange {
  readonly kind: Kind;
  readonly namespace?: string;
  readonly name: string;
  readonly action: Action;
  readonly before?: Resource;
  readonly after?: Resource;
}

export interface HistoryEntry {
  readonly revision: number;
  readonly seq: number;
  readonly time: string;
  readonly actor: Actor;
  readonly operation: 'apply' | 'create' | 'update' | 'delete' | 'rollback';
  readonly rollbackTo?: number;
  readonly changes: readonly HistoryChange[];
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Resource;
}

export interface WriteOptions {
  readonly dryRun?: boolean;
  /** Called for every change that would be written, before writing; throws to refuse all. */
  readonly authorize?: (change: ChangeResult) => void;
}

export interface RegistryOptions {
  readonly now?: () => Date;
  readonly newUid?: () => string;
  /** Attempts when another writer moved the head between our read and our write. */
  readonly maxAttempts?: number;
}

type Mutation =
  | { readonly type: 'upsert'; readonly mode: WriteMode; readonly declared: Declared }
  | { readonly type: 'delete'; readonly ref: ObjectRef; readonly resourceVersion?: string | undefined };

interface Snapshot {
  readonly headRevision: number;
  readonly seq: number;
  readonly revision: number;
  readonly objects: Map<string, Resource>;
}

export class Registry {
  private readonly store: Store;
  private readonly now: () => Date;
  private readonly newUid: () => string;
  private readonly maxAttempts: number;

  constructor(store: Store, options: RegistryOptions = {}) {
    this.store = store;
    this.now = options.now ?? (() => new Date());
    this.newUid = options.newUid ?? randomUUID;
    this.maxAttempts = options.maxAttempts ?? 8;
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

  /** History, newest first; only entries touching `ref` when given. */
  async history(filter: { ref?: ObjectRef; limit?: number } = {}, signal?: AbortSignal): Promise<HistoryEntry[]> {
    const entries = await this.readHistory(signal);
    const want = filter.ref !== undefined ? refString(filter.ref) : undefined;
    const picked =
      want === undefined
        ? entries
        : entries
            .map((e) => ({ ...e, changes: e.changes.filter((c) => refString({ kind: c.kind, namespace: c.namespace, name: c.name }) === want) }))
            .filter((e) => e.changes.length > 0);
    return picked.reverse().slice(0, filter.limit ?? Infinity);
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
  async diff(declared: readonly Declared[], options: Pick<WriteOptions, 'authorize'> = {}): Promise<ChangeResult[]> {
    return [...(await this.apply(declared, { name: 'diff', role: 'system' }, { ...options, dryRun: true })).changes];
  }

  /**
   * Restores every resource to what it was at `revision` by writing a new revision, reconstructed
   * from the history (which survives etcd compaction, unlike etcd's own old revisions).
   */
  async rollback(revision: number, actor: Actor, options: WriteOptions = {}): Promise<WriteResult> {
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
    }
  }

  private async write(mutations: readonly Mutation[], actor: Actor, operation: HistoryEntry['operation'], options: WriteOptions): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const snapshot = await this.snapshot();
      const result = await this.tryWrite(snapshot, mutations, actor, operation, options);
      if (result !== undefined) return result;
      if (attempt >= this.maxAttempts) throw new ConflictError('the registry kept changing under this write; try again');
    }
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
    const changes = this.plan(snapshot, mutations, options.authorize);
    const written = changes.filter((c) => c.action !== Action.unchanged);
    if (dryRun || written.length === 0) return { revision: snapshot.revision, dryRun, changes };

    const seq = snapshot.seq + 1;
    const time = this.now().toISOString();
    const ops: Op[] = written.map((c) =>
      c.after !== undefined ? { type: 'put', key: objectKey(c.ref), value: encodeObject(c.after) } : { type: 'delete', key: objectKey(c.ref) },
    );
    const record: Omit<HistoryEntry, 'revision'> = {
      seq,
      time,
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
    };
    ops.push({ type: 'put', key: historyKey(seq), value: JSON.stringify(record) });
    ops.push({ type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq }) });
    // Objects are compared too: status writes (updateStatus) do not move the head, and an apply
    // built on an older copy must not put back the status it read.
    const compares = [
      { key: HEAD_KEY, modRevision: snapshot.headRevision },
      ...written.map((c) => ({ key: objectKey(c.ref), modRevision: Number(c.before?.metadata.resourceVersion ?? 0) })),
    ];
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

  /** Applies mutations to the snapshot in memory, checks the result, and says what changes. */
  private plan(snapshot: Snapshot, mutations: readonly Mutation[], authorize?: (change: ChangeResult) => void): ChangeResult[] {
    const problems: Problem[] = [];
    const next = new Map(snapshot.objects);
    const sources = new Map<string, Source>();
    const results = new Map<string, ChangeResult>();
    const now = this.now().toISOString();

    for (const m of mutations) {
      if (m.type === 'delete') {
        const key = refString(m.ref);
        const before = next.get(key);
        if (before === undefined) throw new NotFoundError(`${key} not found`);
        checkPrecondition(key, before, m.resourceVersion, undefined);
        next.delete(key);
        results.set(key, { ref: m.ref, action: Action.deleted, before });
        continue;
      }
      const { resource, source } = m.declared;
      const ref = refOf(resource);
      const key = refString(ref);
      const where = source ?? {};
      const firstSource = sources.get(key);
      if (firstSource !== undefined) {
        problems.push({
          ...locate(where),
          kind: resource.kind,
          name: resource.metadata.name,
          field: 'metadata.name',
          message: `${key} is declared twice (first in ${firstSource.file !== undefined ? `${firstSource.file} ` : ''}document ${firstSource.document ?? '?'})`,
        });
        continue;
      }
      sources.set(key, where);
      const before = snapshot.objects.get(key);
      if (m.mode === WriteMode.create && before !== undefined) throw new AlreadyExistsError(`${key} already exists`);
      if (m.mode === WriteMode.update && before === undefined) throw new NotFoundError(`${key} not found`);
      checkPrecondition(key, before, resource.metadata.resourceVersion, where);
      const after = before === undefined ? this.created(resource, now) : updated(before, resource);
      next.set(key, after);
      results.set(key, {
        ref,
        action: before === undefined ? Action.created : sameDeclaration(before, after) ? Action.unchanged : Action.updated,
        before,
        after,
      });
    }
    if (problems.length > 0) throw new InvalidInputError(problems);

    // The hub allocates CIDRs for clusters that asked for it, seeing every other claim.
    for (const [key, result] of results) {
      if (result.after?.kind !== 'Cluster') continue;
      const allocated = allocateClusterCidrs(result.after, [...next.values()]);
      if (!allocated.ok) {
        problems.push({ ...locate(sources.get(key) ?? {}), kind: 'Cluster', name: result.ref.name, field: 'spec.ipam.pool', message: allocated.message });
        continue;
      }
      if (allocated.cluster !== result.after) {
        next.set(key, allocated.cluster);
        results.set(key, { ...result, after: allocated.cluster, action: result.action === Action.unchanged ? Action.updated : result.action });
      }
    }
    if (problems.length > 0) throw new InvalidInputError(problems);

    // Authorise before the checks across the set: a change the actor may not make is refused as
    // such, and its refusal does not describe objects outside the actor's scope.
    for (const r of results.values()) if (r.action !== Action.unchanged) authorize?.(r);
    const changed = new Set([...results.values()].filter((r) => r.action !== Action.unchanged).map((r) => refString(r.ref)));
    const setProblems = checkSet([...next.values()], sources).filter((p) => p.involves.some((ref) => changed.has(ref)));
    if (setProblems.length > 0) throw new InvalidInputError(setProblems.map(({ involves: _i, ...p }) => p));
    return [...results.values()];
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

  private created(resource: Resource, now: string): Resource {
    const { resourceVersion: _rv, ...metadata } = resource.metadata;
    const status = resource.kind === 'Cluster' ? { conditions: initialClusterConditions(now) } : {};
    return { ...resource, metadata: { ...metadata, uid: this.newUid(), generation: 1, creationTimestamp: now }, status };
  }

  private async snapshot(): Promise<Snapshot> {
    // Head first: if the write that follows still finds the head unmoved, nothing was written
    // since, so the range read after it is exactly the state the write builds on.
    const head = await this.store.get(HEAD_KEY);
    const { kvs, revision } = await this.store.range(OBJECTS_PREFIX);
    const objects = new Map<string, Resource>();
    for (const kv of kvs) {
      const ref = parseObjectKey(kv.key);
      if (ref !== undefined) objects.set(refString(ref), decodeObject(kv.value, kv.modRevision));
    }
    const seq = head === undefined ? 0 : (JSON.parse(head.value) as { seq: number }).seq;
    return { headRevision: head?.modRevision ?? 0, seq, revision, objects };
  }

  private async readHistory(signal?: AbortSignal): Promise<HistoryEntry[]> {
    const { kvs } = await this.store.range(HISTORY_PREFIX, signal);
    return kvs
      .map((kv) => {
        const record = JSON.parse(kv.value) as Omit<HistoryEntry, 'revision'>;
        const revision = kv.createRevision;
        return {
          ...record,
          revision,
          changes: record.changes.map((c) =>
            c.after !== undefined ? { ...c, after: { ...c.after, metadata: { ...c.after.metadata, resourceVersion: String(revision) } } } : c,
          ),
        };
      })
      .sort((a, b) => a.seq - b.seq);
  }
}

function locate(source: Source): { file?: string; document?: number } {
  return { ...(source.file !== undefined ? { file: source.file } : {}), ...(source.document !== undefined ? { document: source.document } : {}) };
}

function checkPrecondition(key: string, before: Resource | undefined, wanted: string | undefined, source: Source | undefined): void {
  if (wanted === undefined) return;
  const have = before?.metadata.resourceVersion;
  if (have !== wanted) {
    const where = source?.file !== undefined ? `${source.file}: document ${source.document ?? '?'}: ` : '';
    throw new ConflictError(
      `${where}${key}: metadata.resourceVersion ${wanted} is stale (${have === undefined ? 'the object does not exist' : `current is ${have}`}); get it again, re-apply your change, or drop resourceVersion to overwrite`,
    );
  }
}

/** The stored object after an update: user-owned fields from the input, system-owned kept. */
function updated(before: Resource, input: Resource): Resource {
  const specChanged = !isDeepStrictEqual(before.spec, input.spec);
  const metadata = {
    name: before.metadata.name,
    ...(before.metadata.namespace !== undefined ? { namespace: before.metadata.namespace } : {}),
    ...(input.metadata.labels !== undefined && Object.keys(input.metadata.labels).length > 0 ? { labels: input.metadata.labels } : {}),
    ...(input.metadata.annotations !== undefined && Object.keys(input.metadata.annotations).length > 0 ? { annotations: input.metadata.annotations } : {}),
    ...(before.metadata.resourceVersion !== undefined ? { resourceVersion: before.metadata.resourceVersion } : {}),
    ...(before.metadata.uid !== undefined ? { uid: before.metadata.uid } : {}),
    generation: (before.metadata.generation ?? 1) + (specChanged ? 1 : 0),
    ...(before.metadata.creationTimestamp !== undefined ? { creationTimestamp: before.metadata.creationTimestamp } : {}),
  };
  return { ...before, metadata, spec: input.spec } as Resource;
}

function sameDeclaration(a: Resource, b: Resource): boolean {
  return (
    isDeepStrictEqual(a.spec, b.spec) &&
    isDeepStrictEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) &&
    isDeepStrictEqual(a.metadata.annotations ?? {}, b.metadata.annotations ?? {})
  );
}

function initialClusterConditions(now: string): Condition[] {
  return [
    {
      type: ClusterConditionType.Joined,
      status: ConditionStatus.True,
      reason: ClusterReason.Registered,
      message: 'registered with the hub',
      lastTransitionTime: now,
    },
    {
      type: ClusterConditionType.Available,
      status: ConditionStatus.Unknown,
      reason: ClusterReason.AgentNeverConnected,
      message: 'no heartbeat from the agent yet',
      lastTransitionTime: now,
    },
    {
      type: ClusterConditionType.Synced,
      status: ConditionStatus.Unknown,
      reason: ClusterReason.AwaitingAgent,
      message: 'the agent has not reported an applied revision yet',
      lastTransitionTime: now,
    },
  ];
}

function stripVersion(r: Resource): Resource {
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  return { ...r, metadata };
}

function encodeObject(r: Resource): string {
  return JSON.stringify(stripVersion(r));
}

function decodeObject(value: string, modRevision: number): Resource {
  const r = JSON.parse(value) as Resource;
  return { ...r, metadata: { ...r.metadata, resourceVersion: String(modRevision) } };
}

export type { ClusterResource };
