// Applying one service's imports, pure: what the hub wants for the service (DesiredImport), what
// the agent knows it wrote or adopted, and live reads of names it never wrote → the operations
// that make the cluster match. Nothing not carrying our label is touched; objects that already
// match are remembered, not rewritten; deletes happen only once a complete snapshot was applied.
// And the conditions of the cluster's own ServiceExport of the same key.
import type { Condition } from '../../controlplane/api/conditions.ts';
import type { LocalExportProblem } from '../exports.ts';
import { exportConditions, isSubset, serviceExportStatusObject, type DesiredImport } from '../imports.ts';
import { isOwned, refOf, refString, type K8sCondition, type KubeObject, type ObjectRef, type ServiceExportObject } from '../objects.ts';

/** An object the agent wrote, or adopted from a predecessor (listed with our label). */
export interface KnownObject {
  readonly ref: ObjectRef;
  /** The service key "ns/name" it belongs to. */
  readonly key: string;
  readonly uid: string | undefined;
  /** Fingerprint of what we last applied; undefined for adopted objects not yet compared. */
  readonly hash: string | undefined;
  /** The live object as listed, for adopted objects. */
  readonly stored: KubeObject | undefined;
}

export interface ImportObservation {
  /** The known objects of this service, by refString. */
  readonly known: ReadonlyMap<string, KnownObject>;
  /** Live reads (undefined: absent) of the desired objects that are not known, by refString. */
  readonly live: ReadonlyMap<string, KubeObject | undefined>;
  /** Fingerprints of the status subresources we wrote, by refString. */
  readonly statusApplied: ReadonlyMap<string, string>;
}

export const ImportOp = {
  /** Server-side apply the object; remember it with `hash`. */
  Apply: 'apply',
  /** It is already as desired: remember it with `hash` (and `uid`) without writing. */
  Adopt: 'adopt',
  /** A foreign object holds the name: leave it alone (and write nothing that depends on it). */
  SkipNotOwned: 'skip-not-owned',
  ApplyStatus: 'apply-status',
  /** The live status already matches: remember its fingerprint. */
  AdoptStatus: 'adopt-status',
  Delete: 'delete',
} as const;

export type ImportOperation =
  | { readonly op: typeof ImportOp.Apply; readonly id: string; readonly object: KubeObject; readonly hash: string }
  | { readonly op: typeof ImportOp.Adopt; readonly id: string; readonly ref: ObjectRef; readonly uid: string | undefined; readonly hash: string }
  | { readonly op: typeof ImportOp.SkipNotOwned; readonly id: string }
  /** `of`: the id of the main object; skipped if that object could not be written. */
  | { readonly op: typeof ImportOp.ApplyStatus; readonly id: string; readonly of: string; readonly object: KubeObject; readonly hash: string }
  | { readonly op: typeof ImportOp.AdoptStatus; readonly id: string; readonly hash: string }
  | { readonly op: typeof ImportOp.Delete; readonly id: string; readonly ref: ObjectRef; readonly uid: string | undefined };

/** The desired objects whose names the agent never wrote: read them live before planning. */
export function unknownObjects(desired: DesiredImport | undefined, known: ReadonlyMap<string, KnownObject>): ObjectRef[] {
  if (desired === undefined) return [];
  return [desired.serviceImport, ...desired.endpointSlices].map(refOf).filter((ref) => !known.has(refString(ref)));
}

/** Desired objects are built by our own code in a fixed key order, so the native stringify is a stable (and cheap) fingerprint. */
export function fingerprint(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

export function planServiceImport(
  desired: DesiredImport | undefined,
  seen: ImportObservation,
  options: { readonly snapshotApplied: boolean },
): ImportOperation[] {
  const ops: ImportOperation[] = [];
  const wanted = new Set<string>();
  if (desired !== undefined) {
    // The ServiceImport first, so that consumers know the service before its endpoints.
    const main = planObject(desired.serviceImport, seen);
    wanted.add(main.id);
    ops.push(main);
    if (main.op !== ImportOp.SkipNotOwned) {
      const status = planStatus(desired.serviceImportStatus, main.id, seen);
      if (status !== undefined) ops.push(status);
    }
    for (const slice of desired.endpointSlices) {
      const op = planObject(slice, seen);
      wanted.add(op.id);
      ops.push(op);
    }
  }
  if (options.snapshotApplied) {
    // Endpoints go before the ServiceImport, the reverse of creation.
    const stale = [...seen.known.entries()].filter(([id]) => !wanted.has(id)).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [id, kn] of stale) ops.push({ op: ImportOp.Delete, id, ref: kn.ref, uid: kn.uid });
  }
  return ops.filter((o) => !isNoop(o, seen));
}

/** An Adopt of an object already known with the same fingerprint changes nothing. */
function isNoop(o: ImportOperation, seen: ImportObservation): boolean {
  if (o.op === ImportOp.Adopt) return seen.known.get(o.id)?.hash === o.hash;
  if (o.op === ImportOp.AdoptStatus) return seen.statusApplied.get(o.id) === o.hash;
  return false;
}

function planObject(object: KubeObject, seen: ImportObservation): Extract<ImportOperation, { op: 'apply' | 'adopt' | 'skip-not-owned' }> {
  const ref = refOf(object);
  const id = refString(ref);
  const hash = fingerprint(object);
  const kn = seen.known.get(id);
  if (kn !== undefined) {
    if (kn.hash === hash) return { op: ImportOp.Adopt, id, ref, uid: kn.uid, hash };
    if (kn.hash === undefined && kn.stored !== undefined && isSubset(object, kn.stored)) return { op: ImportOp.Adopt, id, ref, uid: kn.uid, hash };
    return { op: ImportOp.Apply, id, object, hash };
  }
  // Never change what is not ours: the name was looked up before the first write.
  const live = seen.live.get(id);
  if (live !== undefined && !isOwned(live)) return { op: ImportOp.SkipNotOwned, id };
  if (live !== undefined && isSubset(object, live)) return { op: ImportOp.Adopt, id, ref, uid: live.metadata.uid, hash };
  return { op: ImportOp.Apply, id, object, hash };
}

function planStatus(object: KubeObject, of: string, seen: ImportObservation): ImportOperation | undefined {
  const id = refString(refOf(object));
  const hash = fingerprint(object.status);
  if (seen.statusApplied.get(id) === hash) return undefined;
  const stored = seen.known.get(id)?.stored;
  if (stored !== undefined && isSubset(object.status, stored.status)) return { op: ImportOp.AdoptStatus, id, hash };
  return { op: ImportOp.ApplyStatus, id, of, object, hash };
}

// ---- the ServiceExport of the same key ----------------------------------------------------------

export interface ExportStatusInput {
  readonly namespace: string;
  readonly name: string;
  readonly serviceExport: ServiceExportObject | undefined;
  readonly problem: LocalExportProblem | undefined;
  readonly hub: readonly Condition[] | undefined;
  /** Fingerprint of the conditions we last wrote on it, if any. */
  readonly applied: string | undefined;
  /** RFC 3339, whole seconds: the transition time of a new local condition. */
  readonly now: string;
}

export type ExportStatusPlan =
  | { readonly op: 'none' }
  /** The ServiceExport is gone: forget what we wrote on it. */
  | { readonly op: 'forget' }
  | { readonly op: 'remember'; readonly hash: string }
  | { readonly op: 'apply'; readonly object: KubeObject; readonly hash: string };

export function planExportStatus(input: ExportStatusInput): ExportStatusPlan {
  const se = input.serviceExport;
  if (se === undefined) return input.applied === undefined ? { op: 'none' } : { op: 'forget' };
  if (input.problem === undefined && input.hub === undefined && input.applied === undefined) return { op: 'none' };
  const previous: K8sCondition[] | undefined = se.status?.conditions;
  const conditions = exportConditions(input.hub, input.problem, previous, input.now);
  const hash = fingerprint(conditions);
  if (input.applied === hash) return { op: 'none' };
  if (previous !== undefined && isSubset(conditions, previous)) return { op: 'remember', hash };
  return { op: 'apply', object: serviceExportStatusObject(input.namespace, input.name, conditions), hash };
}
