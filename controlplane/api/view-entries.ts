// WARNING - STABLE API (part of the wire protocol, ADR 0018): how one cluster's view — what it must
// import, and the status of its own exports — is written into the JetStream stream VIEW_STREAM, and
// how a reader turns the messages back into values. Pure: the hub encodes with it, the agent decodes
// with it, and neither needs the other to agree on anything else.
//
// One subject per service and kind (subjects.ts viewEntrySubject) holds that entry's latest value;
// an empty body is a removal (a tombstone: the stream keeps the latest message of every subject, so
// a reader that starts later still learns the entry went). An import too large for one message is
// split by endpoints into parts 1.. on their own subjects, written before part 0, which says how
// many parts the value has; every part carries the value's digest, so a reader assembles only
// parts of one value. After the entries of one change, the hub writes the view's revision
// (`viewRevisionSubject`): a reader that has read up to it holds the view as of that revision.
import { z } from 'zod';
import { splitImportState } from './import-parts.ts';
import { nameSchema } from './resources.ts';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  decodeWith,
  exportStatusSchema,
  importStateSchema,
  type Decoded,
  type ExportStatus,
  type ImportState,
} from './messages.ts';
import { viewEntrySubject, viewRevisionSubject, type ViewEntryKind } from './subjects.ts';

/** Header names; values are ASCII. */
export const ViewHeader = {
  /** Digest of the entry's whole value (all parts); empty for a removal. */
  Digest: 'Causeway-Digest',
  /** On part 0 of an entry: how many parts its value has (absent: one). */
  Parts: 'Causeway-Parts',
  /** On a revision message: the revision, also in its body (headers-only reads see it). */
  Revision: 'Causeway-Revision',
} as const;

/** One message for the view stream: where, what, and its headers. */
export interface ViewMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** Room for the headers and the subject around a part. */
const PART_ENVELOPE_BYTES = 1024;

export const viewRevisionSchema = z.object({ v: z.literal(PROTOCOL_VERSION), cluster: nameSchema, revision: z.int().min(0) });
export type ViewRevision = z.output<typeof viewRevisionSchema>;

/**
 * The digest of a value's JSON that its messages carry (the hub's is SHA-256: view-delivery.ts
 * viewDigest). Collision-resistant on purpose: agents write what ends up in other clusters' values,
 * and a value that collides with the one already there would never be written.
 */
export type Digest = (json: string) => string;

/**
 * The messages that set one import in `cluster`'s view (undefined: remove it), parts before part 0.
 * `maxBytes` bounds each message's body.
 */
export function importMessages(
  cluster: string,
  key: { readonly namespace: string; readonly name: string },
  state: ImportState | undefined,
  digest: Digest,
  maxBytes = MAX_MESSAGE_BYTES,
): ViewMessage[] {
  return entryMessages(cluster, 'import', key, state, digest, (s) => splitImportState(s, maxBytes - PART_ENVELOPE_BYTES));
}

/** The message that sets the status of one of `cluster`'s own exports (undefined: remove it). */
export function statusMessages(
  cluster: string,
  key: { readonly namespace: string; readonly name: string },
  status: ExportStatus | undefined,
  digest: Digest,
): ViewMessage[] {
  // Conditions are a handful of short strings: one message always holds them.
  return entryMessages(cluster, 'status', key, status, digest, (s) => [s]);
}

export function revisionMessage(cluster: string, revision: number): ViewMessage {
  const body: ViewRevision = { v: PROTOCOL_VERSION, cluster, revision };
  return { subject: viewRevisionSubject(cluster), data: encode(JSON.stringify(body)), headers: { [ViewHeader.Revision]: String(revision) } };
}

/** The digest a message's headers say its entry has; '' for a removal or a message without one. */
export function digestOf(headers: Readonly<Record<string, string>>): string {
  return headers[ViewHeader.Digest] ?? '';
}

function entryMessages<T>(
  cluster: string,
  kind: ViewEntryKind,
  key: { readonly namespace: string; readonly name: string },
  value: T | undefined,
  hash: Digest,
  split: (value: T) => readonly T[],
): ViewMessage[] {
  const head = viewEntrySubject(cluster, kind, key.namespace, key.name);
  if (value === undefined) return [{ subject: head, data: new Uint8Array(), headers: { [ViewHeader.Digest]: '' } }];
  const digest = hash(JSON.stringify(value));
  const parts = split(value);
  const messages = parts.map((part, i): ViewMessage => ({
    subject: viewEntrySubject(cluster, kind, key.namespace, key.name, i),
    data: encode(JSON.stringify(part)),
    headers: i === 0 && parts.length > 1 ? { [ViewHeader.Digest]: digest, [ViewHeader.Parts]: String(parts.length) } : { [ViewHeader.Digest]: digest },
  }));
  // Part 0 last: a reader that sees it has seen every part of this value before it.
  const [first, ...rest] = messages;
  return first === undefined ? [] : [...rest, first];
}

// ---- reading ---------------------------------------------------------------------------------------

export function decodeImport(data: Uint8Array): Decoded<ImportState> {
  return decodeWith(importStateSchema, data);
}

export function decodeStatus(data: Uint8Array): Decoded<ExportStatus> {
  return decodeWith(exportStatusSchema, data) as Decoded<ExportStatus>;
}

export function decodeRevision(data: Uint8Array, cluster: string): Decoded<ViewRevision> {
  const d = decodeWith(viewRevisionSchema, data);
  if (d.ok && d.value.cluster !== cluster)
    return { ok: false, reason: 'wrong-cluster', message: `revision claims cluster "${d.value.cluster}" but is in "${cluster}"'s view` };
  return d;
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
