// Report ingestion, the decisions: what one agent report writes to the exports prefix, given what
// is stored. Pure: the stored exports and the parts of a full report seen so far are arguments, the
// next parts-state is part of the answer.
import { exportKey } from '../api/keys.ts';
import { parseServiceKey, serviceKeyString, type Report } from '../api/messages.ts';
import { packBySize } from '../api/pack.ts';
import type { Op } from '../registry/store.ts';

/** What the hub has stored for a cluster's exports (the watch-fed ExportIndex). */
export interface StoredExports {
  /** The raw JSON stored for one export, to skip writes that would change nothing. */
  json(cluster: string, service: string): string | undefined;
  servicesOf(cluster: string): Iterable<string>;
}

/** A full report arriving in parts: what the parts so far named. */
export interface PartialRun {
  readonly session: string;
  readonly next: number;
  readonly kept: ReadonlySet<string>;
}

export interface ReportPlan {
  readonly ops: readonly Op[];
  /** The parts-state after this report (undefined: no run in progress). */
  readonly partial: PartialRun | undefined;
}

/** The last report stored per agent session, to acknowledge retries without writing again. */
export interface SessionMark {
  readonly session: string;
  readonly seq: number;
  readonly revision: number;
}

export function isReplay(last: SessionMark | undefined, report: Report): boolean {
  return last !== undefined && last.session === report.session && report.seq <= last.seq;
}

/**
 * Upserts that change something, removals of what is stored, and for a full report (whole, or
 * the last of an unbroken run of parts) the deletion of every stored export it did not name.
 */
export function planReport(report: Report, stored: StoredExports, partial: PartialRun | undefined): ReportPlan {
  const ops: Op[] = [];
  const kept = new Set<string>();
  for (const e of report.upserts) {
    const service = serviceKeyString(e);
    kept.add(service);
    const json = JSON.stringify(e);
    if (stored.json(report.cluster, service) !== json) ops.push({ type: 'put', key: exportKey(report.cluster, e.namespace, e.name), value: json });
  }
  for (const r of report.removals) {
    if (kept.has(serviceKeyString(r))) continue;
    if (stored.json(report.cluster, serviceKeyString(r)) !== undefined) ops.push({ type: 'delete', key: exportKey(report.cluster, r.namespace, r.name) });
  }
  const run = nextRun(report, kept, partial);
  if (run.sweep !== undefined) {
    for (const service of stored.servicesOf(report.cluster)) {
      if (run.sweep.has(service)) continue;
      const { namespace, name } = parseServiceKey(service);
      ops.push({ type: 'delete', key: exportKey(report.cluster, namespace, name) });
    }
  }
  return { ops, partial: run.partial };
}

/** Where a full report's run of parts stands, and what to keep when it sweeps. */
function nextRun(
  report: Report,
  kept: ReadonlySet<string>,
  partial: PartialRun | undefined,
): { sweep: ReadonlySet<string> | undefined; partial: PartialRun | undefined } {
  if (!report.full) return { sweep: undefined, partial };
  if (report.part === undefined) return { sweep: kept, partial: undefined };
  const { index, count } = report.part;
  const run = index === 0 ? { session: report.session, next: 0, kept: new Set<string>() } : partial;
  // A part out of order (a lost one): store what it says, sweep nothing until a whole run.
  if (run?.session !== report.session || run.next !== index) return { sweep: undefined, partial: undefined };
  const all = new Set([...run.kept, ...kept]);
  if (index === count - 1) return { sweep: all, partial: undefined };
  return { sweep: undefined, partial: { session: report.session, next: index + 1, kept: all } };
}

/** etcd bounds a transaction's operations and bytes: large reports go in slices, each complete. */
export function txnSlices(ops: readonly Op[], maxOps = 1000, maxBytes = 1024 * 1024): Op[][] {
  return packBySize(ops, (op) => op.key.length + (op.type === 'put' ? op.value.length : 0), { maxBytes, maxItems: maxOps }).filter((s) => s.length > 0);
}
