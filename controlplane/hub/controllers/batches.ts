// ImportBatch values for one consumer, built as plain data and encoded only through the codec
// (importBatchCodec): a delta on top of what the consumer last got, or a snapshot. Both go out
// through importBatchParts (api/import-parts.ts), which splits them under the message budget.
// Pure.
import { importBatchParts } from '../../api/import-parts.ts';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseServiceKey,
  type ExportStatus,
  type ImportBatch,
  type ImportState,
  type ServiceKey,
} from '../../api/messages.ts';

/** What changed for one consumer since its last batch: by service key, undefined meaning removed. */
export interface PendingDelta {
  readonly imports: Map<string, ImportState | undefined>;
  readonly statuses: Map<string, ExportStatus | undefined>;
}

export function emptyDelta(): PendingDelta {
  return { imports: new Map(), statuses: new Map() };
}

export function deltaBatch(consumer: string, fromRevision: number, revision: number, delta: PendingDelta): ImportBatch {
  const upserts: ImportState[] = [];
  const removals: ServiceKey[] = [];
  for (const [key, next] of delta.imports) {
    if (next !== undefined) upserts.push(next);
    else removals.push(parseServiceKey(key));
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
  };
}

/** An empty delta at `revision`: "you are up to date, and nothing is on its way". */
export function upToDateBatch(consumer: string, revision: number): ImportBatch {
  return deltaBatch(consumer, revision, revision, emptyDelta());
}

/** The consumer's whole desired state at `revision`, in chunks that each fit a message (import-parts.ts). */
export function snapshotBatches(
  consumer: string,
  revision: number,
  imports: readonly ImportState[],
  statuses: readonly ExportStatus[],
  maxBytes: number = MAX_MESSAGE_BYTES,
): ImportBatch[] {
  const snapshot: ImportBatch = {
    v: PROTOCOL_VERSION,
    cluster: consumer,
    kind: 'snapshot',
    fromRevision: 0,
    revision,
    upserts: [...imports],
    removals: [],
    exportStatus: [...statuses],
  };
  return importBatchParts(snapshot, maxBytes);
}
