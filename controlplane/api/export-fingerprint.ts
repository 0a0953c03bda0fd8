// The fingerprint of an export's stored text (exports/<cluster>/<namespace>/<name> in etcd): what
// the hub keeps of it in memory, and compares a report's upsert with, to skip writes that would
// change nothing. Not on the wire and not stored: it may change with any release.
import { createHash } from 'node:crypto';

/** The first 128 bits of the text's SHA-256, base64url: equal texts, equal fingerprints. */
export function exportFingerprint(json: string): string {
  return createHash('sha256').update(json).digest().subarray(0, 16).toString('base64url');
}
