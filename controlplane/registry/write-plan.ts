// Planning one registry write, in memory and without I/O: apply the mutations to a snapshot,
// allocate the CIDRs clusters asked for, authorise each change, check the whole set, and say what
// changes. The registry commits the plan in one transaction (registry.ts).
import { isDeepStrictEqual } from 'node:util';
import { ClusterConditionType, ClusterReason, ConditionStatus, type Condition } from '../api/conditions.ts';
import { AlreadyExistsError, ConflictError, ForbiddenError, InvalidInputError, NotFoundError, type Problem } from '../api/errors.ts';
import { refOf, refString, type ObjectRef } from '../api/keys.ts';
import type { Resource } from '../api/resources.ts';
import { checkSet } from '../api/semantic.ts';
import type { Source } from '../api/validate.ts';
import { blockReleaseKey } from '../api/keys.ts';
import { DEFAULT_BLOCK_QUARANTINE_MS, inQuarantine, type BlockRelease } from '../ipam/releases.ts';
import { Action, WriteMode, type ChangeResult, type Declared } from './changes.ts';
import { allocateClusterCidrs, heldBlocks } from './cluster-ipam.ts';
import { checkPolicyWrite } from './policy-check.ts';
import { redactHidden } from './redact.ts';
import type { PolicyAuthor } from '../policy/validate-set.ts';
import type { Op } from './store.ts';

export type Mutation =
  | { readonly type: 'upsert'; readonly mode: WriteMode; readonly declared: Declared }
  | { readonly type: 'delete'; readonly ref: ObjectRef; readonly resourceVersion?: string | undefined };

export interface Snapshot {
  readonly headRevision: number;
  readonly seq: number;
  readonly revision: number;
  readonly objects: Map<string, Resource>;
  /** Blocks released by clusters, in quarantine or past it (BLOCK_RELEASES_PREFIX); none when absent. */
  readonly releases?: readonly BlockRelease[];
}

export interface PlanClock {
  now: () => Date;
  newUid: () => string;
  /** How long a released block stays out of use; default DEFAULT_BLOCK_QUARANTINE_MS. */
  quarantineMs?: number;
}

/** What one write changes: the objects, and the release records of the blocks it frees or takes back. */
export interface WritePlan {
  readonly changes: ChangeResult[];
  readonly releaseOps: Op[];
}

/** Applies mutations to the snapshot in memory, checks the result, and says what changes. */
export function planWrite(
  snapshot: Snapshot,
  mutations: readonly Mutation[],
  clock: PlanClock,
  authorize?: (change: ChangeResult) => void,
  visible: (r: Resource) => boolean = () => true,
): ChangeResult[] {
  return planWriteWithReleases(snapshot, mutations, clock, authorize, visible).changes;
}

/** planWrite, with the release records the registry writes in the same transaction. */
export function planWriteWithReleases(
  snapshot: Snapshot,
  mutations: readonly Mutation[],
  clock: PlanClock,
  authorize?: (change: ChangeResult) => void,
  visible: (r: Resource) => boolean = () => true,
  author?: PolicyAuthor,
): WritePlan {
  const problems: Problem[] = [];
  const next = new Map(snapshot.objects);
  const sources = new Map<string, Source>();
  const results = new Map<string, ChangeResult>();
  const now = clock.now().toISOString();

  for (const m of mutations) {
    if (m.type === 'delete') {
      const key = refString(m.ref);
      const before = next.get(key);
      // What the actor may not read is absent to it: the same 404 as for an object that is not there.
      if (before === undefined || !visible(before)) throw new NotFoundError(`${key} not found`);
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
    if (before !== undefined && !visible(before)) hiddenTarget(m.mode, key, ref, resource, authorize);
    if (m.mode === WriteMode.create && before !== undefined) throw new AlreadyExistsError(`${key} already exists`);
    if (m.mode === WriteMode.update && before === undefined) throw new NotFoundError(`${key} not found`);
    checkPrecondition(key, before, resource.metadata.resourceVersion, where);
    const after = before === undefined ? created(resource, now, clock.newUid) : updated(before, resource);
    next.set(key, after);
    results.set(key, {
      ref,
      action: before === undefined ? Action.created : sameDeclaration(before, after) ? Action.unchanged : Action.updated,
      before,
      after,
    });
  }
  if (problems.length > 0) throw new InvalidInputError(problems);

  // Blocks of deleted clusters go into quarantine first, so that a cluster created in the same
  // write cannot take them.
  const clockNow = clock.now();
  const quarantineMs = clock.quarantineMs ?? DEFAULT_BLOCK_QUARANTINE_MS;
  const released: BlockRelease[] = [];
  const release = (before: Resource | undefined, after: Resource | undefined): void => {
    if (before?.kind !== 'Cluster') return;
    const kept = new Set(after?.kind === 'Cluster' ? heldBlocks(after).map((b) => b.cidr) : []);
    for (const b of heldBlocks(before)) if (!kept.has(b.cidr)) released.push({ ...b, cluster: before.metadata.name, releasedAt: now });
  };
  for (const r of results.values()) if (r.action === Action.deleted) release(r.before, undefined);
  const quarantined = [...(snapshot.releases ?? []).filter((r) => inQuarantine(r, clockNow, quarantineMs)), ...released];

  // The hub allocates CIDRs and LoadBalancer blocks for clusters that asked for them, seeing every other claim.
  for (const [key, result] of results) {
    if (result.after?.kind !== 'Cluster') continue;
    const allocated = allocateClusterCidrs(result.after, [...next.values()], quarantined);
    if (!allocated.ok) {
      problems.push({ ...locate(sources.get(key) ?? {}), kind: 'Cluster', name: result.ref.name, field: allocated.field, message: allocated.message });
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
  let setProblems = checkSet([...next.values()], sources).filter((p) => p.involves.some((ref) => changed.has(ref)));
  if (setProblems.length > 0) {
    // A problem the set already had is not this write's: an adapter's later observation (a
    // Network's status.observedPrefixes) can overlap a cluster, and that is reported as the
    // AddressConflict condition rather than freezing every edit of both objects.
    const before = new Set(checkSet([...snapshot.objects.values()]).map(problemKey));
    setProblems = setProblems.filter((p) => !before.has(problemKey(p)));
  }
  if (setProblems.length > 0) throw new InvalidInputError(redactHidden(setProblems, next, sources, visible));
  // GlobalPolicy across the set: contradictions (400) and a team's scope (403), after the per-object rules above.
  checkPolicyWrite({ before: snapshot.objects, after: next, changed, sources, author, visible });

  for (const r of results.values()) if (r.action !== Action.deleted && r.action !== Action.unchanged) release(r.before, r.after);
  return { changes: [...results.values()], releaseOps: releaseOps(snapshot.releases ?? [], released, next, clockNow, quarantineMs) };
}

function problemKey(p: { readonly involves: readonly string[]; readonly message: string }): string {
  return `${[...p.involves].sort().join(' ')} ${p.message}`;
}

/** Puts the new release records; deletes those past their quarantine and those their cluster took back. */
function releaseOps(
  existing: readonly BlockRelease[],
  released: readonly BlockRelease[],
  next: ReadonlyMap<string, Resource>,
  now: Date,
  quarantineMs: number,
): Op[] {
  const held = new Set<string>();
  for (const r of next.values()) if (r.kind === 'Cluster') for (const b of heldBlocks(r)) held.add(b.cidr);
  const ops: Op[] = [];
  const putting = new Set(released.map((r) => r.cidr));
  for (const r of existing) {
    if (putting.has(r.cidr)) continue;
    if (!inQuarantine(r, now, quarantineMs) || held.has(r.cidr)) ops.push({ type: 'delete', key: blockReleaseKey(r.cidr) });
  }
  for (const r of released) if (!held.has(r.cidr)) ops.push({ type: 'put', key: blockReleaseKey(r.cidr), value: JSON.stringify(r) });
  return ops;
}

/**
 * A write onto an object the actor may not read. An update of it is a 404, as for an absent
 * object; an apply or create is authorised as a creation first, so that an actor refused for its
 * own scope (another team's namespace, labels outside its selector) gets the very answer it gets
 * for a name that is free. What is left (a name in the actor's scope taken by an object outside
 * it) cannot be answered without saying the name is taken, and says no more than that.
 */
function hiddenTarget(mode: WriteMode, key: string, ref: ObjectRef, resource: Resource, authorize?: (change: ChangeResult) => void): never {
  if (mode === WriteMode.update) throw new NotFoundError(`${key} not found`);
  authorize?.({ ref, action: Action.created, after: resource });
  throw new ForbiddenError(`${key} is taken by an object outside your scope; choose another name`);
}

function created(resource: Resource, now: string, newUid: () => string): Resource {
  const { resourceVersion: _rv, ...metadata } = resource.metadata;
  const status = resource.kind === 'Cluster' ? { conditions: initialClusterConditions(now) } : {};
  return { ...resource, metadata: { ...metadata, uid: newUid(), generation: 1, creationTimestamp: now }, status };
}

function locate(source: Source): { file?: string; document?: number } {
  return { ...(source.file !== undefined ? { file: source.file } : {}), ...(source.document !== undefined ? { document: source.document } : {}) };
}

function checkPrecondition(key: string, before: Resource | undefined, wanted: string | undefined, source: Source | undefined): void {
  if (wanted === undefined) return;
  // "0" or "007" can never match a revision: say what is wrong rather than call it stale.
  if (!/^[1-9][0-9]*$/.test(wanted) || !Number.isSafeInteger(Number(wanted))) {
    throw new InvalidInputError([
      {
        ...locate(source ?? {}),
        field: source === undefined ? 'resourceVersion' : 'metadata.resourceVersion',
        value: wanted,
        message: 'expected a positive integer: the metadata.resourceVersion the hub returned for the object',
      },
    ]);
  }
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
