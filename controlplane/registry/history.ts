// The registry's history as store operations: each record is a new key at the next sequence
// number, written in the same transaction as a compare-and-swap of the write head, so records
// are totally ordered across hub replicas. Used by registry writes and by the credential store,
// whose hand-outs are audited in the same history (issue 12 §3).
import { HEAD_KEY, historyKey } from '../api/keys.ts';
import type { HistoryEntry } from './changes.ts';
import type { Compare, Op, Store } from './store.ts';

export interface Head {
  /** Mod revision of the head key; 0 before the first write. */
  readonly revision: number;
  readonly seq: number;
}

export async function readHead(store: Store, signal?: AbortSignal): Promise<Head> {
  const head = await store.get(HEAD_KEY, signal);
  return { revision: head?.modRevision ?? 0, seq: head === undefined ? 0 : (JSON.parse(head.value) as { seq: number }).seq };
}

/** The compare and ops that append `record` after `head`; the transaction fails if another write moved the head. */
export function appendRecord(head: Head, record: Omit<HistoryEntry, 'revision' | 'seq'>): { compares: Compare[]; ops: Op[] } {
  const seq = head.seq + 1;
  return {
    compares: [{ key: HEAD_KEY, modRevision: head.revision }],
    ops: [
      { type: 'put', key: historyKey(seq), value: JSON.stringify({ seq, ...record }) },
      { type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq }) },
    ],
  };
}
