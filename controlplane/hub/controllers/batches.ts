// ImportBatch values for one consumer, built as plain data and encoded only through the codec
// (importBatchCodec): a delta on top of what the consumer last got, or a snapshot. Both go out
// through importBatchParts (api/import-parts.ts), which splits them under the message budget.
// Pure.
import { importBatchParts } from '../../api/import-parts.ts';
import { diffImport } from '../../api/import-patch.ts';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseServiceKey,
  type ExportStatus,
  type HeldImport,
  type ImportBatch,
  type ImportPatch,
  type ImportState,
  type ServiceKey,
} from '../../api/messages.ts';

/** What changed for one consumer since its last batch: by service key, undefined meaning removed. */
export interface PendingDelta {
  readonly imports: Map<string, ImportState | undefined>;
  /** For each key of `imports`: what the consumer holds of it (as of its last batch; undefined: nothing). */
  readonly held: Map<string, ImportState | undefined>;
  readonly statuses: Map<string, ExportStatus | undefined>;
}

export function emptyDelta(): PendingDelta {
  return { imports: new Map(), held: new Map(), statuses: new Map() };
}

/** Records a change of one import; `prev` is what it was before this change. */
export function recordImportChange(delta: PendingDelta, key: string, next: ImportState | undefined, prev: ImportState | undefined): void {
  // The first change since the last batch says what the consumer holds; later ones only move `next`.
  if (!delta.held.has(key)) delta.held.set(key, prev);
  delta.imports.set(key, next);
}

/**
 * The consumer's changes as a delta on top of `fromRevision`. With `patches` (the consumer accepts
 * them), an import whose endpoints alone changed goes as an endpoint patch (api/import-patch.ts),
 * and one changed and changed back goes not at all. `summary`: the consumer's state once it is
 * applied (resume.ts), for an agent that accepts ImportResume.
 */
export function deltaBatch(consumer: string, fromRevision: number, revision: number, delta: PendingDelta, patches = false, summary?: string): ImportBatch {
  const upserts: ImportState[] = [];
  const removals: ServiceKey[] = [];
  const patchList: ImportPatch[] = [];
  for (const [key, next] of delta.imports) {
    const held = delta.held.get(key);
    if (next === undefined) {
      removals.push(parseServiceKey(key));
    } else if (patches && held !== undefined) {
      const patch = diffImport(held, next);
      if (patch === undefined) upserts.push(next);
      else if (patch.remove > 0 || patch.insert.length > 0) patchList.push(patch);
    } else {
      upserts.push(next);
    }
  }
  const exportStatus: ExportStatus[] = [];
  const exportStatusRemovals: ServiceKey[] = [];
  for (const [key, next] of delta.statuses) {
    if (next !== undefined) exportStatus.push(next);
    else exportStatusRemovals.push(parseServiceKey(key));
  }
  return {
    v: PROTOCOL_VERSION,
    cluster: consumer,
    kind: 'delta',
    fromRevision,
    revision,
    upserts,
    removals,
    exportStatus,
    ...(exportStatusRemovals.length > 0 ? { exportStatusRemovals } : {}),
    ...(patchList.length > 0 ? { patches: patchList } : {}),
    ...(summary !== undefined ? { summary } : {}),
  };
}

/** An empty delta at `revision`: "you are up to date, and nothing is on its way". */
export function upToDateBatch(consumer: string, revision: number, summary?: string): ImportBatch {
  return deltaBatch(consumer, revision, revision, emptyDelta(), false, summary);
}

/** "A new leader: tell me what you hold" (AgentFeature.ImportRebase); nothing to apply. */
export function syncWantedBatch(consumer: string, revision: number): ImportBatch {
  return { ...upToDateBatch(consumer, revision), syncWanted: true };
}

/**
 * The consumer's whole desired state at `revision`, in chunks that each fit a message
 * (import-parts.ts): the imports it must take whole, and those its agent said it holds as they are
 * (SyncRequest.held), by name in `kept` (services/views.ts snapshotFor tells them apart).
 */
export function snapshotBatches(
  consumer: string,
  revision: number,
  upserts: readonly ImportState[],
  kept: readonly HeldImport[],
  statuses: readonly ExportStatus[],
  maxBytes: number = MAX_MESSAGE_BYTES,
  summary?: string,
): ImportBatch[] {
  const snapshot: ImportBatch = {
    v: PROTOCOL_VERSION,
    cluster: consumer,
    kind: 'snapshot',
    fromRevision: 0,
    revision,
    upserts: [...upserts],
    removals: [],
    exportStatus: [...statuses],
    ...(kept.length > 0 ? { kept: [...kept] } : {}),
    ...(summary !== undefined ? { summary } : {}),
  };
  return importBatchParts(snapshot, maxBytes);
}
