// Receiving import batches, pure: where the agent stands (the revision of the desired state it
// holds, whether a snapshot is in, chunks being assembled, deltas buffered ahead) and one batch
// from the hub → where it stands next, the batches to apply to the desired state in order, and
// whether the agent must ask the hub to sync. Deltas apply only on top of exactly `revision`; one
// from the future is buffered and asks for a sync; before the first snapshot nothing but a
// snapshot counts (a snapshot is what makes deletes safe); chunked batches are assembled first.
// The desired state itself (thousands of services) is not copied per batch: `applyBatch` writes
// the chosen batches into the caller's maps and says which keys changed.
import type { Condition } from '../../controlplane/api/conditions.ts';
import { mergeImportParts } from '../../controlplane/api/import-parts.ts';
import { importDigest } from '../../controlplane/api/import-digest.ts';
import { IMPORT_ENVELOPE_BYTES } from '../../controlplane/api/import-parts.ts';
import { patchImport } from '../../controlplane/api/import-patch.ts';
import { MAX_HELD_IMPORTS, MAX_MESSAGE_BYTES, serviceKeyString, type HeldImport, type ImportBatch, type ImportState } from '../../controlplane/api/messages.ts';

export interface Assembly {
  readonly count: number;
  readonly parts: ReadonlyMap<number, ImportBatch>;
  readonly solicited: boolean;
}

export interface ReceiveState {
  /** The revision of the desired state held; deltas must start here. */
  readonly revision: number;
  readonly snapshotApplied: boolean;
  /** Chunked batches being assembled, by kind/from/revision, oldest first. */
  readonly assemblies: ReadonlyMap<string, Assembly>;
  /** Deltas that arrived ahead of `revision`, in arrival order. */
  readonly pendingDeltas: readonly ImportBatch[];
  /** The hub's summary of the state at `revision` (ImportBatch.summary of the batch that brought it there), if it gave one. */
  readonly summary?: string | undefined;
}

export const ReceiveOutcome = {
  Applied: 'applied',
  Ignored: 'ignored',
  Buffered: 'buffered',
  Partial: 'partial',
} as const;
export type ReceiveOutcome = (typeof ReceiveOutcome)[keyof typeof ReceiveOutcome];

export interface ReceiveResult {
  readonly state: ReceiveState;
  /** To apply to the desired state, in order (the received batch, then buffered deltas it unblocked). */
  readonly apply: readonly ImportBatch[];
  readonly needSync: boolean;
  readonly outcome: ReceiveOutcome;
}

export const MAX_BUFFERED_DELTAS = 64;
export const MAX_ASSEMBLIES = 4;

export const emptyReceiveState: ReceiveState = { revision: 0, snapshotApplied: false, assemblies: new Map(), pendingDeltas: [] };

/** `solicited`: the batch is (part of) a reply to our sync request. `cluster`: ours; others are ignored. */
export function receiveBatch(state: ReceiveState, batch: ImportBatch, solicited: boolean, cluster: string): ReceiveResult {
  const unchanged = (outcome: ReceiveOutcome, next: ReceiveState = state): ReceiveResult => ({ state: next, apply: [], needSync: false, outcome });
  if (batch.cluster !== cluster) return unchanged(ReceiveOutcome.Ignored);
  // A new leader asks what we hold: nothing to apply, a sync (with our digests) to make.
  if (batch.syncWanted === true) return { state, apply: [], needSync: true, outcome: ReceiveOutcome.Ignored };
  let b = batch;
  let assemblies = state.assemblies;
  if (batch.chunk !== undefined && batch.chunk.count > 1) {
    const assembled = assemble(state.assemblies, batch, solicited);
    if (assembled.batch === undefined) return unchanged(ReceiveOutcome.Partial, { ...state, assemblies: assembled.assemblies });
    assemblies = assembled.assemblies;
    b = assembled.batch;
    solicited = assembled.solicited;
  }
  const next = {
    revision: state.revision,
    snapshotApplied: state.snapshotApplied,
    assemblies,
    pendingDeltas: [...state.pendingDeltas],
    summary: state.summary,
  };
  const apply: ImportBatch[] = [];
  let outcome: ReceiveOutcome = ReceiveOutcome.Applied;
  let needSync = false;
  const take = (x: ImportBatch): void => {
    apply.push(x);
    next.revision = x.revision;
    next.summary = x.summary;
    if (x.kind === 'snapshot') next.snapshotApplied = true;
  };
  const buffer = (x: ImportBatch): void => {
    next.pendingDeltas.push(x);
    if (next.pendingDeltas.length > MAX_BUFFERED_DELTAS) next.pendingDeltas.shift();
    outcome = ReceiveOutcome.Buffered;
    needSync = true;
  };
  if (b.kind === 'snapshot') {
    if (state.snapshotApplied && b.revision < state.revision && !solicited) outcome = ReceiveOutcome.Ignored;
    else take(b);
  } else if (!state.snapshotApplied) {
    buffer(b);
  } else if (b.fromRevision === state.revision && b.revision >= b.fromRevision) {
    take(b);
  } else if (b.revision <= state.revision) {
    outcome = ReceiveOutcome.Ignored;
  } else {
    buffer(b);
  }
  // Buffered deltas that now start at the revision apply too; those already behind are dropped.
  while (next.snapshotApplied) {
    next.pendingDeltas = next.pendingDeltas.filter((p) => p.revision > next.revision);
    const ready = next.pendingDeltas.find((p) => p.fromRevision === next.revision);
    if (ready === undefined) break;
    next.pendingDeltas = next.pendingDeltas.filter((p) => p !== ready);
    take(ready);
  }
  return { state: next, apply, needSync, outcome };
}

function assemble(
  assemblies: ReadonlyMap<string, Assembly>,
  chunk: ImportBatch,
  solicited: boolean,
): { assemblies: ReadonlyMap<string, Assembly>; batch?: ImportBatch; solicited: boolean } {
  const c = chunk.chunk;
  if (c === undefined || c.index >= c.count) return { assemblies, solicited };
  const id = `${chunk.kind}/${chunk.fromRevision}/${chunk.revision}`;
  const next = new Map(assemblies);
  const existing = next.get(id);
  const base = existing === undefined || existing.count !== c.count ? { count: c.count, parts: new Map<number, ImportBatch>(), solicited } : existing;
  const parts = new Map(base.parts).set(c.index, chunk);
  const a: Assembly = { count: base.count, parts, solicited: base.solicited || solicited };
  next.delete(id);
  if (parts.size < a.count) {
    next.set(id, a);
    // Bounded: an assembly whose chunks never all arrive is dropped (a later sync replaces it).
    while (next.size > MAX_ASSEMBLIES) {
      const oldest = next.keys().next().value;
      if (oldest === undefined) break;
      next.delete(oldest);
    }
    return { assemblies: next, solicited: a.solicited };
  }
  const ordered = [...parts.entries()].sort(([x], [y]) => x - y).map(([, p]) => p);
  const { chunk: _chunk, ...first } = chunk;
  const batch: ImportBatch = {
    ...first,
    // One service too large for a message arrives as several upserts of its key (api/import-parts.ts).
    upserts: mergeImportParts(ordered.flatMap((p) => p.upserts)),
    removals: ordered.flatMap((p) => p.removals),
    exportStatus: ordered.flatMap((p) => p.exportStatus),
    exportStatusRemovals: ordered.flatMap((p) => p.exportStatusRemovals ?? []),
    patches: ordered.flatMap((p) => p.patches ?? []),
    kept: ordered.flatMap((p) => p.kept ?? []),
  };
  return { assemblies: next, batch, solicited: a.solicited };
}

// ---- the desired state ----------------------------------------------------------------------------

/** What the cluster must import and the hub's word on its own exports, by service key "ns/name". */
export interface DesiredState {
  readonly imports: Map<string, ImportState>;
  readonly hubStatus: Map<string, readonly Condition[]>;
}

/** The schema's optional field may hold undefined; Condition's may only be absent. */
function toCondition(c: ImportBatch['exportStatus'][number]['conditions'][number]): Condition {
  const { observedGeneration, ...rest } = c;
  return observedGeneration === undefined ? rest : { ...rest, observedGeneration };
}

export interface Applied {
  /** Keys whose desired import or export status may have changed. */
  readonly dirty: string[];
  /**
   * Keys the hub assumed something of that is not what is held: a patch onto another endpoint
   * count (or no import), a kept import held with another digest (or not at all). A patch is
   * not applied. The desired state can no longer be trusted to be the
   * hub's: the caller distrusts the receive state (`distrust`) and asks to sync. (A kept import held
   * with another digest stays as held meanwhile: nothing is withdrawn for a digest.)
   */
  readonly unfit: string[];
}

/**
 * Writes one batch chosen by receiveBatch into `desired`: a snapshot replaces it, a delta changes
 * the services it names.
 */
export function applyBatch(desired: DesiredState, b: ImportBatch): Applied {
  const dirty = new Set<string>();
  const unfit: string[] = [];
  const mark = (k: string): string => {
    dirty.add(k);
    return k;
  };
  if (b.kind === 'snapshot') {
    // What it says to keep stays as it is (not dirty); everything else held goes.
    const kept = new Map<string, ImportState>();
    for (const k of b.kept ?? []) {
      const key = serviceKeyString(k);
      const held = desired.imports.get(key);
      if (held === undefined || importDigest(held) !== k.digest) unfit.push(key);
      // Held with another digest: kept as held until the sync that follows (stale beats withdrawn).
      if (held !== undefined) kept.set(key, held);
    }
    for (const k of desired.imports.keys()) if (!kept.has(k)) dirty.add(k);
    for (const k of desired.hubStatus.keys()) dirty.add(k);
    desired.imports.clear();
    desired.hubStatus.clear();
    for (const [k, s] of kept) desired.imports.set(k, s);
  }
  // A delta's order: upserts, patches, then removals (as the hub built it).
  for (const s of b.upserts) desired.imports.set(mark(serviceKeyString(s)), s);
  for (const p of b.kind === 'delta' ? (b.patches ?? []) : []) {
    const key = serviceKeyString(p);
    const patched = patchImport(desired.imports.get(key), p);
    if (patched === undefined) unfit.push(key);
    else desired.imports.set(mark(key), patched);
  }
  for (const r of b.kind === 'delta' ? b.removals : []) desired.imports.delete(mark(serviceKeyString(r)));
  for (const s of b.exportStatus) desired.hubStatus.set(mark(serviceKeyString(s)), s.conditions.map(toCondition));
  for (const r of b.kind === 'delta' ? (b.exportStatusRemovals ?? []) : []) desired.hubStatus.delete(mark(serviceKeyString(r)));
  return { dirty: [...dirty], unfit };
}

/**
 * What the agent holds, by digest, for its sync request (SyncRequest.held); undefined when it holds
 * more than a request may name (MAX_HELD_IMPORTS, or a request over the message budget): the hub
 * then sends everything.
 */
export function heldImports(imports: ReadonlyMap<string, ImportState>): HeldImport[] | undefined {
  if (imports.size > MAX_HELD_IMPORTS) return undefined;
  const held: HeldImport[] = [];
  let bytes = IMPORT_ENVELOPE_BYTES;
  for (const s of imports.values()) {
    const h = { namespace: s.namespace, name: s.name, digest: importDigest(s) };
    // {"namespace":"…","name":"…","digest":"…"}, and a comma.
    bytes += h.namespace.length + h.name.length + h.digest.length + 40;
    if (bytes > MAX_MESSAGE_BYTES) return undefined;
    held.push(h);
  }
  return held;
}

/**
 * The desired state held is not known to be the hub's any more: every delta is now a gap (it asks
 * for a sync), and a sync from revision 0 is answered with a snapshot, which is taken.
 */
export function distrust(state: ReceiveState): ReceiveState {
  return { ...state, revision: 0, pendingDeltas: [], summary: undefined };
}

/**
 * What the agent's heartbeat says it holds (Heartbeat.holds, AgentFeature.ImportResume): the
 * revision and the hub's summary of the last batch applied, once a snapshot is in and only while
 * the state is trusted; a new leader whose model has the same summary resumes it with a delta.
 */
export function holdsClaim(state: ReceiveState): { readonly revision: number; readonly summary: string } | undefined {
  return state.snapshotApplied && state.revision > 0 && state.summary !== undefined ? { revision: state.revision, summary: state.summary } : undefined;
}
