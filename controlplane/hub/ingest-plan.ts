// Report ingestion, the decisions: what one agent report writes, given what is stored. Pure: the
// stored exports, the cluster's ingest mark and the names earlier parts of a full report stored
// are arguments; the next mark and the parts' records are operations in the answer.
//
// Every hub replica takes reports from one NATS queue group, so consecutive reports (and the
// parts of one full report) of an agent land on any replica. Whatever decides what the next
// report writes therefore lives in etcd, written in the same transaction as the report's exports
// (docs/adr/0016-ingest-state-in-etcd.md): the mark (the last report stored per agent session,
// the full report in progress, and the revision of the cluster's last export write, so that the
// next replica knows how far its watch-fed index must have caught up) and one record per part
// naming what that part kept.
import { exportFingerprint } from '../api/export-fingerprint.ts';
import { exportKey, ingestPartKey } from '../api/keys.ts';
import { parseServiceKey, serviceKeyString, type Report } from '../api/messages.ts';
import { packBySize } from '../api/pack.ts';
import type { Op } from '../registry/store.ts';

// The key helpers (ingestMarkKey, ingestPartKey) live in the stable key layout, api/keys.ts;
// ingestPartKey is re-exported for test/unit/hub-ingest.test.ts until it imports keys.ts itself.
export { ingestPartKey } from '../api/keys.ts';

/** What the hub has stored for one cluster's exports (the watch-fed ExportIndex, or a read of etcd). */
export interface StoredExports {
  /** The fingerprint of the text stored for one export (api/export-fingerprint.ts), to skip writes that would change nothing. */
  fingerprint(cluster: string, service: string): string | undefined;
  servicesOf(cluster: string): Iterable<string>;
}

/** A full report arriving in parts: which run (the seq of its first part) and the part expected next. */
export interface PartialRun {
  readonly session: string;
  readonly start: number;
  readonly next: number;
  readonly count: number;
}

/** The last report stored per cluster, as kept in etcd (ingestMarkKey). */
export interface IngestMark {
  readonly session: string;
  readonly seq: number;
  /**
   * The revision of the last transaction that wrote this cluster's exports; absent: the one that
   * wrote this mark (its mod revision).
   */
  readonly exportsRevision?: number;
  readonly run?: PartialRun;
}

/** A mark as read back: its value and its mod revision (what a replay is acknowledged with). */
export interface StoredMark {
  readonly mark: IngestMark;
  readonly modRevision: number;
}

/** What one stored part of a run kept (ingestPartKey). */
export interface PartRecord {
  readonly session: string;
  readonly start: number;
  readonly services: readonly string[];
}

export interface ReportPlan {
  /** Writes of exports, then the records of the run and the mark, in this order. */
  readonly ops: readonly Op[];
  /** How many of `ops` write exports (the rest are the ingest records). */
  readonly exportOps: number;
  readonly mark: IngestMark;
}

/** Where a report stands in a full report's run of parts. */
export type RunStep =
  | { readonly kind: 'delta' }
  | { readonly kind: 'whole' }
  | { readonly kind: 'part'; readonly run: PartialRun; readonly index: number; readonly last: boolean }
  /** A part out of order (a lost one, another session's run): store what it says, sweep nothing. */
  | { readonly kind: 'broken' };

export function isReplay(last: Pick<IngestMark, 'session' | 'seq'> | undefined, report: Report): boolean {
  return last !== undefined && last.session === report.session && report.seq <= last.seq;
}

export function runStep(report: Report, mark: IngestMark | undefined): RunStep {
  if (!report.full) return { kind: 'delta' };
  if (report.part === undefined) return { kind: 'whole' };
  const { index, count } = report.part;
  const run = index === 0 ? { session: report.session, start: report.seq, next: 0, count } : mark?.run;
  if (run?.session !== report.session || run.next !== index || run.count !== count) return { kind: 'broken' };
  return { kind: 'part', run, index, last: index === count - 1 };
}

/**
 * The names the earlier parts of `step`'s run kept, from the part records read back; undefined
 * when one is missing (the run cannot sweep). Only the last part of a run needs them.
 */
export function earlierParts(step: RunStep, records: ReadonlyMap<number, PartRecord>): ReadonlySet<string> | undefined {
  if (step.kind !== 'part' || !step.last) return new Set();
  const names = new Set<string>();
  for (let i = 0; i < step.index; i++) {
    const r = records.get(i);
    if (r?.session !== step.run.session || r.start !== step.run.start) return undefined;
    for (const s of r.services) names.add(s);
  }
  return names;
}

/**
 * Upserts that change something, removals of what is stored, and for a full report (whole, or
 * the last of an unbroken run of parts) the deletion of every stored export it did not name;
 * then the part's record and the cluster's next mark. `earlier` is earlierParts' answer (for the
 * last part of a run; undefined there: a part is missing, nothing is swept).
 */
export function planReport(report: Report, stored: StoredExports, previous: IngestMark | undefined, earlier?: ReadonlySet<string>): ReportPlan {
  const ops: Op[] = [];
  const kept = new Set<string>();
  for (const e of report.upserts) {
    const service = serviceKeyString(e);
    kept.add(service);
    const json = JSON.stringify(e);
    if (stored.fingerprint(report.cluster, service) !== exportFingerprint(json))
      ops.push({ type: 'put', key: exportKey(report.cluster, e.namespace, e.name), value: json });
  }
  for (const r of report.removals) {
    if (kept.has(serviceKeyString(r))) continue;
    if (stored.fingerprint(report.cluster, serviceKeyString(r)) !== undefined)
      ops.push({ type: 'delete', key: exportKey(report.cluster, r.namespace, r.name) });
  }
  const step = runStep(report, previous);
  const sweep = step.kind === 'whole' ? kept : step.kind === 'part' && step.last && earlier !== undefined ? new Set([...earlier, ...kept]) : undefined;
  if (sweep !== undefined) {
    for (const service of stored.servicesOf(report.cluster)) {
      if (sweep.has(service)) continue;
      const { namespace, name } = parseServiceKey(service);
      ops.push({ type: 'delete', key: exportKey(report.cluster, namespace, name) });
    }
  }
  const exportOps = ops.length;
  const run = nextRun(step, previous?.run);
  ops.push(...partOps(report, step, previous?.run, kept));
  const mark: IngestMark = {
    session: report.session,
    seq: report.seq,
    ...(run !== undefined ? { run } : {}),
  };
  return { ops, exportOps, mark };
}

function nextRun(step: RunStep, previous: PartialRun | undefined): PartialRun | undefined {
  switch (step.kind) {
    // A delta between parts (never sent by agents) leaves the run as it was.
    case 'delta':
      return previous;
    case 'whole':
    case 'broken':
      return undefined;
    case 'part':
      return step.last ? undefined : { ...step.run, next: step.index + 1 };
  }
}

/** This part's record (not for the last: nothing reads it), and the deletion of records no run will read. */
function partOps(report: Report, step: RunStep, previous: PartialRun | undefined, kept: ReadonlySet<string>): Op[] {
  const ops: Op[] = [];
  const ended = step.kind === 'whole' || step.kind === 'broken' || (step.kind === 'part' && (step.last || step.index === 0));
  const writes = step.kind === 'part' && !step.last ? step.index : -1;
  if (step.kind === 'part' && step.last) for (let i = 0; i < step.index; i++) ops.push({ type: 'delete', key: ingestPartKey(report.cluster, i) });
  else if (ended && previous !== undefined)
    for (let i = 0; i < previous.next; i++) if (i !== writes) ops.push({ type: 'delete', key: ingestPartKey(report.cluster, i) });
  if (writes >= 0) {
    const record: PartRecord = { session: report.session, start: step.kind === 'part' ? step.run.start : report.seq, services: [...kept] };
    ops.push({ type: 'put', key: ingestPartKey(report.cluster, writes), value: JSON.stringify(record) });
  }
  return ops;
}

/** Reads a stored mark; one that does not parse counts as none (the next full report starts afresh). */
export function parseMark(value: string): IngestMark | undefined {
  try {
    const v = JSON.parse(value) as Partial<IngestMark> | null;
    if (typeof v?.session !== 'string' || typeof v.seq !== 'number') return undefined;
    return v as IngestMark;
  } catch {
    return undefined;
  }
}

export function parsePartRecord(value: string): PartRecord | undefined {
  try {
    const v = JSON.parse(value) as Partial<PartRecord> | null;
    if (typeof v?.session !== 'string' || typeof v.start !== 'number' || !Array.isArray(v.services)) return undefined;
    return v as PartRecord;
  } catch {
    return undefined;
  }
}

/** etcd bounds a transaction's operations and bytes: large reports go in slices, each complete. */
export function txnSlices(ops: readonly Op[], maxOps = 1000, maxBytes = 1024 * 1024): Op[][] {
  return packBySize(ops, (op) => op.key.length + (op.type === 'put' ? op.value.length : 0), { maxBytes, maxItems: maxOps }).filter((s) => s.length > 0);
}
