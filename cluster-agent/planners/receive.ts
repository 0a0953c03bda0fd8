// Receiving import batches, pure: the desired import state the agent holds (at `revision`) and one
// batch from the hub → the next state, the service keys whose desired state changed, and whether
// the agent must ask the hub to sync. Deltas apply only on top of exactly `revision`; one from the
// future is buffered and asks for a sync; before the first snapshot nothing but a snapshot counts
// (a snapshot is what makes deletes safe); chunked batches are assembled before they count.
import type { Condition } from '../../controlplane/api/conditions.ts';
import { serviceKeyString, type ImportBatch, type ImportState } from '../../controlplane/api/messages.ts';

export interface Assembly {
  readonly count: number;
  readonly parts: ReadonlyMap<number, ImportBatch>;
  readonly solicited: boolean;
}

export interface ReceiveState {
  /** The revision of the desired state held; deltas must start here. */
  readonly revision: number;
  readonly snapshotApplied: boolean;
  /** What the cluster must import, by service key "ns/name". */
  readonly imports: ReadonlyMap<string, ImportState>;
  /** The hub's conditions for this cluster's own ServiceExports, by service key. */
  readonly hubStatus: ReadonlyMap<string, readonly Condition[]>;
  /** Chunked batches being assembled, by kind/from/revision, oldest first. */
  readonly assemblies: ReadonlyMap<string, Assembly>;
  /** Deltas that arrived ahead of `revision`, in arrival order. */
  readonly pendingDeltas: readonly ImportBatch[];
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
  /** Service keys whose desired import or export status changed. */
  readonly dirtyKeys: readonly string[];
  /** True when a snapshot replaced the state: every key known anywhere must be looked at. */
  readonly snapshot: boolean;
  readonly needSync: boolean;
  readonly outcome: ReceiveOutcome;
  /** Batches (the received one and buffered ones drained behind it) that changed the state. */
  readonly applied: number;
}

export const MAX_BUFFERED_DELTAS = 64;
export const MAX_ASSEMBLIES = 4;

export const emptyReceiveState: ReceiveState = {
  revision: 0,
  snapshotApplied: false,
  imports: new Map(),
  hubStatus: new Map(),
  assemblies: new Map(),
  pendingDeltas: [],
};

interface Draft {
  revision: number;
  snapshotApplied: boolean;
  imports: Map<string, ImportState>;
  hubStatus: Map<string, readonly Condition[]>;
  pendingDeltas: ImportBatch[];
  readonly dirty: Set<string>;
  snapshot: boolean;
  applied: number;
}

/** `solicited`: the batch is (part of) a reply to our sync request. `cluster`: ours; others are ignored. */
export function receiveBatch(state: ReceiveState, batch: ImportBatch, solicited: boolean, cluster: string): ReceiveResult {
  const unchanged = (outcome: ReceiveOutcome, next: ReceiveState = state): ReceiveResult => ({
    state: next,
    dirtyKeys: [],
    snapshot: false,
    needSync: false,
    outcome,
    applied: 0,
  });
  if (batch.cluster !== cluster) return unchanged(ReceiveOutcome.Ignored);
  let b = batch;
  let assemblies = state.assemblies;
  if (batch.chunk !== undefined && batch.chunk.count > 1) {
    const assembled = assemble(state.assemblies, batch, solicited);
    if (assembled.batch === undefined) return unchanged(ReceiveOutcome.Partial, { ...state, assemblies: assembled.assemblies });
    assemblies = assembled.assemblies;
    b = assembled.batch;
    solicited = assembled.solicited;
  }
  const draft: Draft = {
    revision: state.revision,
    snapshotApplied: state.snapshotApplied,
    imports: new Map(state.imports),
    hubStatus: new Map(state.hubStatus),
    pendingDeltas: [...state.pendingDeltas],
    dirty: new Set(),
    snapshot: false,
    applied: 0,
  };
  let outcome: ReceiveOutcome = ReceiveOutcome.Applied;
  let needSync = false;
  if (b.kind === 'snapshot') {
    if (state.snapshotApplied && b.revision < state.revision && !solicited) outcome = ReceiveOutcome.Ignored;
    else applySnapshot(draft, b);
  } else if (!state.snapshotApplied) {
    buffer(draft, b);
    outcome = ReceiveOutcome.Buffered;
    needSync = true;
  } else if (b.fromRevision === state.revision && b.revision >= b.fromRevision) {
    applyDelta(draft, b);
  } else if (b.revision <= state.revision) {
    outcome = ReceiveOutcome.Ignored;
  } else {
    buffer(draft, b);
    outcome = ReceiveOutcome.Buffered;
    needSync = true;
  }
  drain(draft);
  const next: ReceiveState = {
    revision: draft.revision,
    snapshotApplied: draft.snapshotApplied,
    imports: draft.imports,
    hubStatus: draft.hubStatus,
    assemblies,
    pendingDeltas: draft.pendingDeltas,
  };
  return { state: next, dirtyKeys: [...draft.dirty], snapshot: draft.snapshot, needSync, outcome, applied: draft.applied };
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
    upserts: ordered.flatMap((p) => p.upserts),
    removals: ordered.flatMap((p) => p.removals),
    exportStatus: ordered.flatMap((p) => p.exportStatus),
    exportStatusRemovals: ordered.flatMap((p) => p.exportStatusRemovals ?? []),
  };
  return { assemblies: next, batch, solicited: a.solicited };
}

/** The schema's optional field may hold undefined; Condition's may only be absent. */
function toCondition(c: ImportBatch['exportStatus'][number]['conditions'][number]): Condition {
  const { observedGeneration, ...rest } = c;
  return observedGeneration === undefined ? rest : { ...rest, observedGeneration };
}

function applySnapshot(d: Draft, b: ImportBatch): void {
  for (const k of d.imports.keys()) d.dirty.add(k);
  for (const k of d.hubStatus.keys()) d.dirty.add(k);
  d.imports = new Map(b.upserts.map((s) => [serviceKeyString(s), s]));
  d.hubStatus = new Map(b.exportStatus.map((s) => [serviceKeyString(s), s.conditions.map(toCondition)]));
  for (const k of d.imports.keys()) d.dirty.add(k);
  for (const k of d.hubStatus.keys()) d.dirty.add(k);
  d.revision = b.revision;
  d.snapshotApplied = true;
  d.snapshot = true;
  d.applied += 1;
}

function applyDelta(d: Draft, b: ImportBatch): void {
  for (const s of b.upserts) d.imports.set(mark(d, serviceKeyString(s)), s);
  for (const r of b.removals) d.imports.delete(mark(d, serviceKeyString(r)));
  for (const s of b.exportStatus) d.hubStatus.set(mark(d, serviceKeyString(s)), s.conditions.map(toCondition));
  for (const r of b.exportStatusRemovals ?? []) d.hubStatus.delete(mark(d, serviceKeyString(r)));
  d.revision = b.revision;
  d.applied += 1;
}

function mark(d: Draft, key: string): string {
  d.dirty.add(key);
  return key;
}

function buffer(d: Draft, b: ImportBatch): void {
  d.pendingDeltas.push(b);
  if (d.pendingDeltas.length > MAX_BUFFERED_DELTAS) d.pendingDeltas.shift();
}

/** Applies buffered deltas that now start at the current revision; drops those already behind. */
function drain(d: Draft): void {
  if (!d.snapshotApplied) return;
  for (;;) {
    d.pendingDeltas = d.pendingDeltas.filter((p) => p.revision > d.revision);
    const next = d.pendingDeltas.find((p) => p.fromRevision === d.revision);
    if (next === undefined) return;
    d.pendingDeltas = d.pendingDeltas.filter((p) => p !== next);
    applyDelta(d, next);
  }
}
