// Resuming a consumer without a sync (AgentFeature.ImportResume). Every replica keeps, per consumer,
// a summary of what the model says the consumer imports (its imports and the status of its
// exports), changed incrementally with each of the model's changes. The leader stamps every batch
// with it (ImportBatch.summary); the agent names back the summary and revision of the last batch it
// applied in its heartbeats (Heartbeat.holds), which every replica hears. A replica that does not
// lead also keeps, per consumer, the summaries its own model passed through (one checkpoint per
// flush that changed the consumer) and the changes after each. A heartbeat whose summary is one of
// those checkpoints says the agent holds that state; if this replica takes over, it sends that
// consumer the changes since as a delta from the agent's revision instead of asking it to sync
// (a takeover at 1,000 clusters spent ~2 ms of the new leader's CPU per sync).
//
// What the summary checks is that two replicas' models agree on one consumer: the agent only
// echoes what a leader sent it, and applies batches on an unbroken chain of revisions as before.
// A heartbeat that matches no checkpoint (the models disagree, the replica flushed at other
// moments, the agent moved on since) resumes nothing: that consumer is asked to sync.
//
// The summary is a sum, lane by lane (8 × 32 bits), of a SHA-256 per (service key, import digest)
// and per (service key, export status without its transition times, which each replica stamps
// with its own clock). A sum can be changed by one element in O(1); its 256 bits keep a chance
// match out of reach, and no exporter can steer two replicas' models apart to aim at one.
import { elementHash, textDigest } from '../../api/import-digest.ts';
import { canonicalJson } from '../../api/json.ts';
import { importStateJson, serviceKeyString, type ExportStatus, type ImportState } from '../../api/messages.ts';

const LANES = 8;

/** The element of one import: its key and content digest. */
export function importElement(key: string, digest: string): Buffer {
  return elementHash(`import\n${key}\n${digest}`);
}

const elements = new WeakMap<ImportState, Buffer>();

/**
 * importElement of an import the model built, once per object (the model shares one import among
 * a view's consumers). The model builds imports whose JSON is already canonical
 * (test/unit/services-merge.test.ts holds it to that), so their digest is taken of the plain JSON,
 * which the hub keeps per object to encode it anyway: 4 µs instead of canonicalJson's 17 µs for an
 * import of 25 endpoints, on every replica for every changed import. An import whose JSON were not
 * canonical would only miss its resumes (its element would differ from the one computed from
 * the model's digests), never resume a wrong state.
 */
function elementOf(key: string, state: ImportState): Buffer {
  let e = elements.get(state);
  if (e === undefined) {
    e = importElement(key, textDigest(importStateJson(state)));
    elements.set(state, e);
  }
  return e;
}

/** The element of one export status, without lastTransitionTime (each replica's own clock). */
export function statusElement(key: string, status: ExportStatus): Buffer {
  const conditions = status.conditions.map(({ lastTransitionTime: _t, ...rest }) => rest);
  return elementHash(`status\n${key}\n${canonicalJson(conditions)}`);
}

/** A sum of elements, lane by lane modulo 2^32. */
export class Summary {
  private readonly lanes = new Uint32Array(LANES);

  add(e: Buffer): void {
    for (let i = 0; i < LANES; i++) this.lanes[i] = (this.lanes[i] ?? 0) + e.readUInt32LE(i * 4);
  }

  remove(e: Buffer): void {
    for (let i = 0; i < LANES; i++) this.lanes[i] = (this.lanes[i] ?? 0) - e.readUInt32LE(i * 4);
  }

  /** 43 base64url characters. */
  toString(): string {
    const out = Buffer.alloc(LANES * 4);
    for (let i = 0; i < LANES; i++) out.writeUInt32LE(this.lanes[i] ?? 0, i * 4);
    return out.toString('base64url');
  }
}

/** A change the model made to one consumer, as delivery records it. */
export type LoggedChange =
  | { readonly kind: 'import'; readonly key: string; readonly next: ImportState | undefined; readonly prev: ImportState | undefined }
  | { readonly kind: 'status'; readonly key: string; readonly next: ExportStatus | undefined };

interface Checkpoint {
  /** The consumer's summary at this point. */
  readonly summary: string;
  /** What changed for the consumer after it, in order (until the next checkpoint). */
  readonly changes: LoggedChange[];
}

interface ConsumerSummary {
  /** Undefined: to be computed from the model (at start, and after a change delivery did not compute). */
  summary: Summary | undefined;
  /** The element of each export status held, to take out when it changes. */
  readonly statuses: Map<string, Buffer>;
  /**
   * The element of each import added since the summary was computed, to take out when it changes
   * (the model rebuilds the import it compares with, so the previous import is a new object whose
   * element would cost its JSON and SHA-256 again). Shared buffers: one per import object.
   */
  readonly imports: Map<string, Buffer>;
  /** Not leading only: oldest first; empty until the consumer's summary is first known. */
  checkpoints: Checkpoint[];
  loggedChanges: number;
  /** The heartbeat that matched checkpoints[0]: the agent holds it at this revision. */
  verified: { readonly revision: number; readonly summary: string } | undefined;
}

/** What the model says a consumer has now: the digest of each import by key, and its exports' statuses. */
export type ConsumerState = (
  consumer: string,
) => { readonly imports: Iterable<readonly [string, string]>; readonly statuses: readonly ExportStatus[] } | undefined;

/** Checkpoints kept per consumer; older ones go (that consumer's agent is then asked to sync). */
export const MAX_CHECKPOINTS = 32;
/** Changes kept per consumer across its checkpoints. */
export const MAX_LOGGED_CHANGES = 1024;

/** The summaries of every consumer, and (while not leading) their checkpoints. */
export class ResumeBook {
  private readonly state: ConsumerState;
  /** Whether the consumer is still registered; one that is not loses its entry at the next flush that changes it. */
  private readonly registered: (consumer: string) => boolean;
  private readonly consumers = new Map<string, ConsumerSummary>();
  /** Consumers changed since the last flush ended. */
  private readonly touched = new Set<string>();
  /** Whether checkpoints are kept: only while another replica leads. */
  private logging = true;

  constructor(state: ConsumerState, registered: (consumer: string) => boolean = () => true) {
    this.state = state;
    this.registered = registered;
  }

  /** The model changed one import of `consumer` (next undefined: removed). */
  importChanged(consumer: string, key: string, next: ImportState | undefined, prev: ImportState | undefined): void {
    this.changed(consumer, { kind: 'import', key, next, prev }, (s, c) => {
      const held = c.imports.get(key) ?? (prev === undefined ? undefined : elementOf(key, prev));
      if (held !== undefined) s.remove(held);
      if (next === undefined) {
        c.imports.delete(key);
        return;
      }
      const e = elementOf(key, next);
      c.imports.set(key, e);
      s.add(e);
    });
  }

  /** The model changed the status of one of `consumer`'s exports (undefined: gone). */
  statusChanged(consumer: string, key: string, next: ExportStatus | undefined): void {
    this.changed(consumer, { kind: 'status', key, next }, (s, c) => {
      const prev = c.statuses.get(key);
      if (prev !== undefined) s.remove(prev);
      if (next === undefined) {
        c.statuses.delete(key);
        return;
      }
      const e = statusElement(key, next);
      c.statuses.set(key, e);
      s.add(e);
    });
  }

  /** The model changed consumers without saying how (reachability): every summary is computed again. */
  invalidateAll(): void {
    for (const c of this.consumers.values()) this.reset(c);
  }

  /** How many consumers the book keeps an entry for. */
  tracked(): number {
    return this.consumers.size;
  }

  forget(consumer: string): void {
    this.consumers.delete(consumer);
  }

  /**
   * A flush of the model ended: each consumer it changed gets a checkpoint of where it is now. A
   * consumer no longer registered is forgotten here (on a standby, delivery's own forget never runs:
   * a cluster unregistered while another replica leads would otherwise keep its entry for good).
   */
  flushed(): void {
    for (const name of this.touched) {
      const c = this.consumers.get(name);
      if (c === undefined) continue;
      if (!this.registered(name)) {
        this.consumers.delete(name);
        continue;
      }
      if (!this.logging || c.summary === undefined) continue;
      c.checkpoints.push({ summary: c.summary.toString(), changes: [] });
      this.trim(c);
    }
    this.touched.clear();
  }

  /** The consumer's summary now (ImportBatch.summary); undefined when the model does not know it. */
  summaryOf(consumer: string): string | undefined {
    return this.ensure(consumer)?.summary?.toString();
  }

  /**
   * A heartbeat from `consumer`'s agent said what it holds (undefined: nothing it trusts, or an
   * agent without ImportResume). Kept while not leading, as the point a takeover resumes it from.
   */
  heard(consumer: string, holds: { readonly revision: number; readonly summary: string } | undefined): void {
    if (!this.logging) return;
    if (holds === undefined) {
      const c = this.consumers.get(consumer);
      if (c !== undefined) c.verified = undefined;
      return;
    }
    const c = this.ensure(consumer);
    if (c?.summary === undefined) return;
    if (c.checkpoints.length === 0) c.checkpoints.push({ summary: c.summary.toString(), changes: [] });
    let at = -1;
    for (let i = c.checkpoints.length - 1; i >= 0; i--) {
      if (c.checkpoints[i]?.summary === holds.summary) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      c.verified = undefined;
      return;
    }
    // What came before the state the agent holds is no longer needed.
    for (const dropped of c.checkpoints.splice(0, at)) c.loggedChanges -= dropped.changes.length;
    c.verified = { revision: holds.revision, summary: holds.summary };
  }

  /**
   * Where a takeover resumes `consumer` from: its agent's revision and the model's changes since
   * the state it holds, in order; undefined when no heartbeat matched (it is asked to sync).
   */
  resumable(consumer: string): { readonly revision: number; readonly changes: readonly LoggedChange[] } | undefined {
    const c = this.consumers.get(consumer);
    const first = c?.checkpoints[0];
    if (c?.verified === undefined || first === undefined || first.summary !== c.verified.summary) return undefined;
    return { revision: c.verified.revision, changes: c.checkpoints.flatMap((k) => k.changes) };
  }

  /** Checkpoints are kept (not leading) or not (leading); either way the old ones go. */
  setLogging(on: boolean): void {
    this.logging = on;
    for (const c of this.consumers.values()) {
      c.checkpoints = [];
      c.loggedChanges = 0;
      c.verified = undefined;
    }
  }

  private changed(consumer: string, change: LoggedChange, apply: (s: Summary, c: ConsumerSummary) => void): void {
    const c = this.entry(consumer);
    this.touched.add(consumer);
    if (c.summary === undefined) return;
    if (this.logging) {
      if (c.checkpoints.length === 0) c.checkpoints.push({ summary: c.summary.toString(), changes: [] });
      c.checkpoints.at(-1)?.changes.push(change);
      c.loggedChanges += 1;
    }
    apply(c.summary, c);
  }

  private entry(consumer: string): ConsumerSummary {
    let c = this.consumers.get(consumer);
    if (c === undefined) {
      c = { summary: undefined, statuses: new Map(), imports: new Map(), checkpoints: [], loggedChanges: 0, verified: undefined };
      this.consumers.set(consumer, c);
    }
    return c;
  }

  private ensure(consumer: string): ConsumerSummary | undefined {
    const c = this.entry(consumer);
    if (c.summary !== undefined) return c;
    const now = this.state(consumer);
    if (now === undefined) {
      // A consumer the model does not know (a heartbeat of a cluster unregistered or not yet in
      // the model) keeps no entry.
      if (c.checkpoints.length === 0) this.consumers.delete(consumer);
      return undefined;
    }
    const s = new Summary();
    for (const [key, digest] of now.imports) s.add(importElement(key, digest));
    c.imports.clear();
    c.statuses.clear();
    for (const status of now.statuses) {
      const key = serviceKeyString(status);
      const e = statusElement(key, status);
      c.statuses.set(key, e);
      s.add(e);
    }
    c.summary = s;
    return c;
  }

  private reset(c: ConsumerSummary): void {
    c.summary = undefined;
    c.statuses.clear();
    c.imports.clear();
    c.checkpoints = [];
    c.loggedChanges = 0;
    c.verified = undefined;
  }

  private trim(c: ConsumerSummary): void {
    while (c.checkpoints.length > MAX_CHECKPOINTS || (c.loggedChanges > MAX_LOGGED_CHANGES && c.checkpoints.length > 1)) {
      const dropped = c.checkpoints.shift();
      if (dropped !== undefined) c.loggedChanges -= dropped.changes.length;
      // The state the agent was seen to hold is gone from the log: a takeover asks it to sync.
      c.verified = undefined;
    }
  }
}
