// Reporting exports, pure: the exports as they are now and what the hub acknowledged → the
// report bodies to send, in order, each under the message budget (packed by controlplane/api/pack.ts).
// A full report names the complete export set (in ordered parts when it is too large for one
// message); an incremental one carries only what changed since the last acknowledgement.
import { canonicalJson } from '../../controlplane/api/json.ts';
import { encodedSize, parseServiceKey, serviceKeyString, type ExportState, type ServiceKey } from '../../controlplane/api/messages.ts';
import { packBySize } from '../../controlplane/api/pack.ts';

export interface ReportBody {
  readonly full: boolean;
  readonly part?: { readonly index: number; readonly count: number };
  readonly upserts: readonly ExportState[];
  readonly removals: readonly ServiceKey[];
}

export interface ReportLimits {
  readonly maxBytes: number;
  /** Items per list of one message (the schema's limit). */
  readonly maxItems: number;
}

export const MAX_REPORT_ITEMS = 10_000;

/**
 * An export that alone would not fit one report keeps the endpoints that fit, in order (computeExport
 * sorts the least useful last), and says how many it dropped: the hub would refuse the whole report.
 */
export function fitExport(state: ExportState, maxBytes: number): { readonly state: ExportState; readonly dropped: number } {
  if (encodedSize(state) <= maxBytes) return { state, dropped: 0 };
  let bytes = encodedSize({ ...state, endpoints: [] });
  let kept = 0;
  for (const e of state.endpoints) {
    bytes += encodedSize(e) + 1;
    if (bytes > maxBytes) break;
    kept += 1;
  }
  return { state: { ...state, endpoints: state.endpoints.slice(0, kept) }, dropped: state.endpoints.length - kept };
}

/** What the hub holds of an export, to compare with the current state. */
export function reportedForm(state: ExportState): string {
  return canonicalJson(state);
}

export function planFullReport(states: readonly ExportState[], limits: ReportLimits): ReportBody[] {
  const parts = packBySize(states, encodedSize, { maxBytes: limits.maxBytes, maxItems: limits.maxItems });
  if (parts.length === 1) return [{ full: true, upserts: parts[0] ?? [], removals: [] }];
  // The hub sweeps the exports that no part named only after the last part.
  return parts.map((upserts, index) => ({ full: true, part: { index, count: parts.length }, upserts, removals: [] }));
}

type Change = { readonly removal: ServiceKey } | { readonly upsert: ExportState };

/**
 * `current`: for each key that may have changed, its export now (undefined: no longer exported).
 * `reported`: the hub's acknowledged form of each export (reportedForm). Removals come first.
 */
export function planIncrementalReport(
  current: ReadonlyMap<string, ExportState | undefined>,
  reported: ReadonlyMap<string, string>,
  limits: ReportLimits,
): ReportBody[] {
  const removals: Change[] = [];
  const upserts: Change[] = [];
  for (const [key, state] of current) {
    if (state !== undefined) {
      if (reported.get(key) !== reportedForm(state)) upserts.push({ upsert: state });
    } else if (reported.has(key)) {
      removals.push({ removal: parseServiceKey(key) });
    }
  }
  const changes = [...removals, ...upserts];
  if (changes.length === 0) return [];
  const sizeOf = (c: Change): number => ('upsert' in c ? encodedSize(c.upsert) : encodedSize(c.removal));
  return packBySize(changes, sizeOf, { maxBytes: limits.maxBytes, maxItems: limits.maxItems }).map((part) => ({
    full: false,
    upserts: part.flatMap((c) => ('upsert' in c ? [c.upsert] : [])),
    removals: part.flatMap((c) => ('removal' in c ? [c.removal] : [])),
  }));
}

/** The keys a report names, to mark them dirty again when it is not acknowledged. */
export function keysOf(body: ReportBody): string[] {
  return [...body.upserts.map(serviceKeyString), ...body.removals.map(serviceKeyString)];
}
