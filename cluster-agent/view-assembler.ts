// Reading the cluster's view (ADR 0018), pure: the messages the agent pulls from its consumer, in
// stream order, become the ImportBatches the import controller applies. After a reset of the
// consumer the first messages are the whole view: once nothing is pending and a revision has been
// read, that is a snapshot. From then on, what arrives between two revision messages is a delta
// on top of the first. Everything read is validated like API input; a message that fails is
// dropped and reported, never applied.
import {
  PROTOCOL_VERSION,
  parseServiceKey,
  serviceKeyString,
  type ExportStatus,
  type ImportBatch,
  type ImportState,
  type ServiceKey,
} from '../controlplane/api/messages.ts';
import { mergeImportParts } from '../controlplane/api/import-parts.ts';
import { parseViewSubject } from '../controlplane/api/subjects.ts';
import { ViewHeader, decodeImport, decodeRevision, decodeStatus, digestOf } from '../controlplane/api/view-entries.ts';

/** One pulled message, as the reader hands it over. */
export interface PulledMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** Messages left for the consumer after this one. */
  readonly pending: number;
}

export interface AssembleResult {
  /** A batch to apply: the snapshot, or the delta up to a revision. */
  readonly batch?: ImportBatch;
  /** The message was refused: why (the reader reports it). */
  readonly rejected?: { readonly reason: string; readonly message: string };
  /** What was read cannot be trusted as a whole any more (an entry's parts are missing): read the view again. */
  readonly resync?: string;
}

export class ViewAssembler {
  private readonly cluster: string;
  /** Undefined until the first snapshot completes; then the revision of the last batch. */
  private revision: number | undefined;
  /** The highest revision read since the last batch. */
  private readRevision: number | undefined;
  private imports = new Map<string, ImportState | undefined>();
  private statuses = new Map<string, ExportStatus | undefined>();
  /** Parts 1.. of split imports, by key: part → digest and value. */
  private parts = new Map<string, Map<number, { readonly digest: string; readonly value: ImportState }>>();

  constructor(cluster: string) {
    this.cluster = cluster;
  }

  /** The revision of the last batch handed out; undefined before the first snapshot. */
  currentRevision(): number | undefined {
    return this.revision;
  }

  /** The consumer was reset: what comes next is the whole view again. */
  expectSnapshot(): void {
    this.revision = undefined;
    this.readRevision = undefined;
    this.imports = new Map();
    this.statuses = new Map();
    this.parts = new Map();
  }

  add(m: PulledMessage): AssembleResult {
    const read = this.read(m);
    if (read !== undefined) return read;
    return this.complete(m.pending) ?? {};
  }

  private read(m: PulledMessage): AssembleResult | undefined {
    const p = parseViewSubject(m.subject);
    if (p?.cluster !== this.cluster) return { rejected: { reason: 'invalid', message: `${m.subject} is not a subject of ${this.cluster}'s view` } };
    if (p.kind === 'revision') {
      const d = decodeRevision(m.data, this.cluster);
      if (!d.ok) return { rejected: d };
      this.readRevision = Math.max(this.readRevision ?? 0, d.value.revision);
      return undefined;
    }
    const key = serviceKeyString(p);
    if (p.kind === 'status') {
      if (m.data.byteLength === 0) {
        this.statuses.set(key, undefined);
        return undefined;
      }
      const d = decodeStatus(m.data);
      if (!d.ok) return { rejected: d };
      if (serviceKeyString(d.value) !== key) return { rejected: mismatch(m.subject, d.value) };
      this.statuses.set(key, d.value);
      return undefined;
    }
    if (m.data.byteLength === 0) {
      this.parts.delete(key);
      this.imports.set(key, undefined);
      return undefined;
    }
    const d = decodeImport(m.data);
    if (!d.ok) return { rejected: d };
    if (serviceKeyString(d.value) !== key) return { rejected: mismatch(m.subject, d.value) };
    const digest = digestOf(m.headers);
    if (p.part > 0) {
      let held = this.parts.get(key);
      if (held === undefined) this.parts.set(key, (held = new Map<number, { readonly digest: string; readonly value: ImportState }>()));
      held.set(p.part, { digest, value: d.value });
      return undefined;
    }
    const count = Number(m.headers[ViewHeader.Parts] ?? '1');
    if (!Number.isInteger(count) || count < 1)
      return { rejected: { reason: 'invalid', message: `${m.subject}: ${ViewHeader.Parts} is not a positive integer` } };
    const values = [d.value];
    const held = this.parts.get(key);
    for (let i = 1; i < count; i++) {
      const part = held?.get(i);
      // Written before part 0, so read before it: a missing or older part means something was lost.
      if (part?.digest !== digest) return { resync: `part ${i} of ${count} of ${key} is missing` };
      values.push(part.value);
    }
    this.parts.delete(key);
    const [merged] = mergeImportParts(values);
    this.imports.set(key, merged);
    return undefined;
  }

  /** A snapshot once the whole view was read; a delta at each revision after that. */
  private complete(pending: number): AssembleResult | undefined {
    const readRevision = this.readRevision;
    if (readRevision === undefined) return undefined;
    if (this.revision === undefined) {
      if (pending > 0) return undefined;
      const batch = this.batch('snapshot', readRevision, readRevision);
      this.revision = readRevision;
      return { batch };
    }
    // Entries read after a revision wait for the next one: they belong to a change still being written.
    if (this.imports.size === 0 && this.statuses.size === 0 && readRevision <= this.revision) {
      this.readRevision = undefined;
      return undefined;
    }
    const next = Math.max(this.revision, readRevision);
    const batch = this.batch('delta', this.revision, next);
    this.revision = next;
    return { batch };
  }

  private batch(kind: 'snapshot' | 'delta', fromRevision: number, revision: number): ImportBatch {
    const upserts: ImportState[] = [];
    const removals: ServiceKey[] = [];
    for (const [key, v] of this.imports) {
      if (v !== undefined) upserts.push(v);
      else if (kind === 'delta') removals.push(parseServiceKey(key));
    }
    const exportStatus: ExportStatus[] = [];
    const exportStatusRemovals: ServiceKey[] = [];
    for (const [key, v] of this.statuses) {
      if (v !== undefined) exportStatus.push(v);
      else if (kind === 'delta') exportStatusRemovals.push(parseServiceKey(key));
    }
    this.imports = new Map();
    this.statuses = new Map();
    this.readRevision = undefined;
    return {
      v: PROTOCOL_VERSION,
      cluster: this.cluster,
      kind,
      fromRevision: kind === 'snapshot' ? 0 : fromRevision,
      revision,
      upserts,
      removals,
      exportStatus,
      ...(exportStatusRemovals.length > 0 ? { exportStatusRemovals } : {}),
    };
  }
}

function mismatch(subject: string, value: ServiceKey): { reason: string; message: string } {
  return { reason: 'invalid', message: `${subject} holds ${value.namespace}/${value.name}` };
}
