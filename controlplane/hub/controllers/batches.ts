// ImportBatch values for one consumer, built as plain data and encoded only through the codec
// (importBatchCodec): a delta on top of what the consumer last got, or a snapshot split into
// chunks under the message budget with packBySize. Pure.
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  encodedSize,
  parseServiceKey,
  type ExportStatus,
  type ImportBatch,
  type ImportState,
  type ServiceKey,
} from '../../api/messages.ts';
import { packBySize } from '../../api/pack.ts';

/** What changed for one consumer since its last batch: by service key, undefined meaning removed. */
export interface PendingDelta {
  readonly imports: Map<string, ImportState | undefined>;
  readonly statuses: Map<string, ExportStatus | undefined>;
}

export function emptyDelta(): PendingDelta {
  return { imports: new Map(), statuses: new Map() };
}

/** Room for the envelope (version, cluster, revisions, chunk) around the listed items. */
const ENVELOPE_BYTES = 4096;

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

type Item = { readonly field: 'upserts'; readonly value: ImportState } | { readonly field: 'statuses'; readonly value: ExportStatus };

/** The consumer's whole desired state at `revision`, in chunks that each fit a message. */
export function snapshotBatches(
  consumer: string,
  revision: number,
  imports: readonly ImportState[],
  statuses: readonly ExportStatus[],
  maxBytes: number = MAX_MESSAGE_BYTES,
): ImportBatch[] {
  const items: Item[] = [
    ...imports.map((value) => ({ field: 'upserts' as const, value })),
    ...statuses.map((value) => ({ field: 'statuses' as const, value })),
  ];
  const parts = packBySize(items, (item) => encodedSize(item.value), { maxBytes, baseBytes: ENVELOPE_BYTES });
  return parts.map((part, index) => ({
    v: PROTOCOL_VERSION,
    cluster: consumer,
    kind: 'snapshot',
    fromRevision: 0,
    revision,
    upserts: part.flatMap((i) => (i.field === 'upserts' ? [i.value] : [])),
    removals: [],
    exportStatus: part.flatMap((i) => (i.field === 'statuses' ? [i.value] : [])),
    ...(parts.length > 1 ? { chunk: { index, count: parts.length } } : {}),
  }));
}
