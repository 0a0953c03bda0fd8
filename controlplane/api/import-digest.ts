// WARNING - STABLE API (part of the wire protocol, messages.ts): the digest an agent names a held
// import by (SyncRequest.held, ImportBatch.kept), so that a hub resuming a consumer sends only
// the imports that differ from what it holds. The digest is of the import's content, not of its
// text: SHA-256 of its canonical JSON (keys sorted, undefined fields left out; api/json.ts), the
// first 128 bits in base64url. Hub and agent build the same import through different code (the
// model, the codec's decoder), so they must agree on content, never on key order.
import { createHash } from 'node:crypto';
import type { ImportState } from './hub-messages.ts';
import { canonicalJson } from './json.ts';

const digests = new WeakMap<ImportState, string>();

/** An import's content digest; computed once per object (imports are never changed once built). */
export function importDigest(state: ImportState): string {
  let d = digests.get(state);
  if (d === undefined) {
    d = textDigest(canonicalJson(state));
    digests.set(state, d);
  }
  return d;
}

/** The first 128 bits of the text's SHA-256, base64url: the hash of every digest here and of api/export-fingerprint.ts. */
export function textDigest(text: string): string {
  return createHash('sha256').update(text).digest().subarray(0, 16).toString('base64url');
}

/** The whole SHA-256 of the text: one element of a hub's summary of a consumer's state (hub/controllers/resume.ts). */
export function elementHash(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
