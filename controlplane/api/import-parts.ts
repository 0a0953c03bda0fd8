// WARNING - STABLE API (part of the wire protocol, messages.ts): how an ImportBatch becomes
// messages under the server's max payload, and how a receiver puts them back together.
//
// Every ImportBatch the hub sends goes through `importBatchParts`: its upserts, removals and
// export statuses are packed into chunks (`chunk: {index, count}`) that each encode under the
// budget. One service whose import alone exceeds the budget (tens of thousands of endpoints) is
// split by endpoints into several upserts of the same key; a receiver merges the upserts of one
// assembled batch that share a key (`mergeImportParts`), concatenating their endpoints. So no
// message is ever larger than the budget, whatever users and agents write.
import {
  MAX_MESSAGE_BYTES,
  encodedSize,
  importBatchSize,
  importPatchJson,
  importStateJson,
  serviceKeyString,
  type HeldImport,
  type ImportBatch,
  type ImportPatch,
  type ImportState,
  type ServiceKey,
} from './messages.ts';
import { packBySize } from './pack.ts';

/** Room for the envelope (version, cluster, kind, revisions, chunk) around the items. */
export const IMPORT_ENVELOPE_BYTES = 4096;

type Item =
  | { readonly field: 'upserts'; readonly value: ImportState }
  | { readonly field: 'removals'; readonly value: ServiceKey }
  | { readonly field: 'exportStatus'; readonly value: ImportBatch['exportStatus'][number] }
  | { readonly field: 'exportStatusRemovals'; readonly value: ServiceKey }
  | { readonly field: 'patches'; readonly value: ImportPatch }
  | { readonly field: 'kept'; readonly value: HeldImport };

/** One batch as messages that each encode under `maxBytes`; a batch that fits stays one message without `chunk`. */
export function importBatchParts(batch: ImportBatch, maxBytes: number = MAX_MESSAGE_BYTES): ImportBatch[] {
  if (importBatchSize(batch) <= maxBytes) return [withoutChunk(batch)];
  const itemBudget = maxBytes - IMPORT_ENVELOPE_BYTES;
  const items: Item[] = [
    ...batch.upserts.flatMap((s) => splitImportState(s, itemBudget).map((value) => ({ field: 'upserts' as const, value }))),
    ...batch.removals.map((value) => ({ field: 'removals' as const, value })),
    ...batch.exportStatus.map((value) => ({ field: 'exportStatus' as const, value })),
    ...(batch.exportStatusRemovals ?? []).map((value) => ({ field: 'exportStatusRemovals' as const, value })),
    ...(batch.patches ?? []).map((value) => ({ field: 'patches' as const, value })),
    ...(batch.kept ?? []).map((value) => ({ field: 'kept' as const, value })),
  ];
  const size = (item: Item): number =>
    item.field === 'upserts'
      ? Buffer.byteLength(importStateJson(item.value))
      : item.field === 'patches'
        ? Buffer.byteLength(importPatchJson(item.value))
        : encodedSize(item.value);
  const parts = packBySize(items, size, { maxBytes, baseBytes: IMPORT_ENVELOPE_BYTES });
  const base = withoutChunk(batch);
  return parts.map((part, index) => {
    const upserts: ImportState[] = [];
    const removals: ServiceKey[] = [];
    const exportStatus: ImportBatch['exportStatus'] = [];
    const statusRemovals: ServiceKey[] = [];
    const patches: ImportPatch[] = [];
    const kept: HeldImport[] = [];
    for (const item of part) {
      if (item.field === 'upserts') upserts.push(item.value);
      else if (item.field === 'removals') removals.push(item.value);
      else if (item.field === 'exportStatus') exportStatus.push(item.value);
      else if (item.field === 'patches') patches.push(item.value);
      else if (item.field === 'kept') kept.push(item.value);
      else statusRemovals.push(item.value);
    }
    const { exportStatusRemovals: _r, patches: _p, kept: _k, ...rest } = base;
    return {
      ...rest,
      upserts,
      removals,
      exportStatus,
      ...(statusRemovals.length > 0 ? { exportStatusRemovals: statusRemovals } : {}),
      ...(patches.length > 0 ? { patches } : {}),
      ...(kept.length > 0 ? { kept } : {}),
      chunk: { index, count: parts.length },
    };
  });
}

/** An import too large for `maxBytes` as several imports of the same key with disjoint endpoints. */
export function splitImportState(state: ImportState, maxBytes: number): ImportState[] {
  if (Buffer.byteLength(importStateJson(state)) <= maxBytes) return [state];
  const shell = encodedSize({ ...state, endpoints: [] });
  const groups = packBySize(state.endpoints, encodedSize, { maxBytes, baseBytes: shell });
  return groups.map((endpoints) => ({ ...state, endpoints }));
}

/** The inverse of the split, for the upserts of one assembled batch: same key → one import, endpoints concatenated in order. */
export function mergeImportParts(upserts: readonly ImportState[]): ImportState[] {
  const byKey = new Map<string, ImportState>();
  for (const s of upserts) {
    const key = serviceKeyString(s);
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? s : { ...seen, endpoints: [...seen.endpoints, ...s.endpoints] });
  }
  return byKey.size === upserts.length ? [...upserts] : [...byKey.values()];
}

function withoutChunk(batch: ImportBatch): ImportBatch {
  const { chunk: _chunk, ...rest } = batch;
  return rest;
}
