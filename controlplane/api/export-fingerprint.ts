// The fingerprint of an export's stored text (exports/<cluster>/<namespace>/<name> in etcd): what
// the hub keeps of it in memory, and compares a report's upsert with, to skip writes that would
// change nothing. Not on the wire and not stored: it may change with any release.
import { textDigest } from './import-digest.ts';

/** The first 128 bits of the text's SHA-256 (import-digest.ts textDigest): equal texts, equal fingerprints. */
export function exportFingerprint(json: string): string {
  return textDigest(json);
}
