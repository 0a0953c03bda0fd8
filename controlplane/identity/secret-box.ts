// Encryption at rest of the secret values the hub keeps in etcd (the NATS identity, agent
// credentials), after the Kubernetes API server's aesgcm provider: AES-256-GCM, a fresh random
// 96-bit nonce per write, the key's id in a versioned prefix so that values sealed with an older key
// still open, and the etcd key as additional authenticated data so that a sealed value copied to
// another key does not open. The keys live in a file outside etcd (secret-key-file.ts); node:crypto
// is imported here and nowhere else on this path.
//
// WARNING - STABLE API: the envelope `causeway:enc:aesgcm:v1:<key id>:<base64(nonce|ciphertext|tag)>`
// is what older and newer hubs read from one etcd. Add versions; never change this one.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InvalidInputError } from '../api/errors.ts';

export const ENVELOPE_PREFIX = 'causeway:enc:';
const AESGCM_V1 = `${ENVELOPE_PREFIX}aesgcm:v1:`;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{16}$/;

/** How the credential store turns a secret into what etcd holds, and back. */
export interface SecretCodec {
  /** `plaintext` as etcd should hold it under `context` (the etcd key). */
  seal(plaintext: string, context: string): string;
  /** The plaintext of a stored value; clear text written by an older hub passes through. */
  open(value: string, context: string): string;
  /** Whether a stored value should be re-written: clear text, or sealed with a key other than the first. */
  stale(value: string): boolean;
}

/** Whether a stored value is an encryption envelope (of any version). */
export function isSealed(value: string): boolean {
  return value.startsWith(ENVELOPE_PREFIX);
}

/** The id of the key that sealed `value`, if it is a v1 envelope. */
export function sealedKeyId(value: string): string | undefined {
  if (!value.startsWith(AESGCM_V1)) return undefined;
  const id = value.slice(AESGCM_V1.length).split(':', 1)[0] ?? '';
  return KEY_ID.test(id) ? id : undefined;
}

/** A fresh key as a key file holds it: 32 random bytes, base64. */
export function newSecretKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** The public id of a key: a domain-separated hash, so the envelope names the key without revealing it. */
export function secretKeyId(key: Uint8Array): string {
  return createHash('sha256').update('causeway secret key id\0').update(key).digest('hex').slice(0, 16);
}

/**
 * Keys in order: the first seals, every one opens. `source` (the key file) is named in every
 * refusal, with what to do about it.
 */
export class SecretBox implements SecretCodec {
  readonly source: string;
  private readonly keys: readonly { readonly id: string; readonly key: Buffer }[];

  constructor(keys: readonly Uint8Array[], source: string) {
    if (keys.length === 0) throw new InvalidInputError([{ file: source, field: '', message: 'holds no key' }]);
    for (const k of keys) if (k.length !== KEY_BYTES) throw new InvalidInputError([{ file: source, field: '', message: 'every key must be 32 bytes' }]);
    this.keys = keys.map((k) => ({ id: secretKeyId(k), key: Buffer.from(k) }));
    this.source = source;
  }

  /** The id of the key that seals. */
  get primaryKeyId(): string {
    return this.primary.id;
  }

  get keyIds(): readonly string[] {
    return this.keys.map((k) => k.id);
  }

  seal(plaintext: string, context: string): string {
    const { id, key } = this.primary;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${AESGCM_V1}${id}:${Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString('base64')}`;
  }

  open(value: string, context: string): string {
    if (!isSealed(value)) return value;
    const refuse = (message: string): InvalidInputError => new InvalidInputError([{ file: this.source, field: '', message: `${context}: ${message}` }]);
    if (!value.startsWith(AESGCM_V1))
      throw refuse('is sealed in an envelope this hub does not know (written by a newer hub?); run a hub at least as new as the one that wrote it');
    const rest = value.slice(AESGCM_V1.length);
    const colon = rest.indexOf(':');
    const id = rest.slice(0, colon);
    const data = Buffer.from(rest.slice(colon + 1), 'base64');
    if (colon < 0 || !KEY_ID.test(id) || data.length < NONCE_BYTES + TAG_BYTES)
      throw refuse('is a damaged encryption envelope; restore it from a backup of etcd');
    const entry = this.keys.find((k) => k.id === id);
    if (entry === undefined) {
      throw refuse(
        `is encrypted with key ${id}, which this key file does not hold (it holds ${this.keyIds.join(', ')}); ` +
          'give the key file of the hubs that wrote it (--secret-key-file), or add that key to this file',
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', entry.key, data.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      // node:crypto says only "Unsupported state or unable to authenticate data".
      throw new InvalidInputError(
        [
          {
            file: this.source,
            field: '',
            message: `${context}: fails its authentication tag under key ${id} (altered in etcd, or copied from another key); restore it from a backup of etcd`,
          },
        ],
        { cause: err },
      );
    }
  }

  stale(value: string): boolean {
    return sealedKeyId(value) !== this.primary.id;
  }

  private get primary(): { readonly id: string; readonly key: Buffer } {
    const first = this.keys[0];
    if (first === undefined) throw new Error('unreachable: a SecretBox holds at least one key');
    return first;
  }
}

/**
 * No encryption, as the API server's `identity` provider: for tools and tests that read what an
 * older hub wrote. The hub itself always runs with its SecretBox; this one refuses sealed values.
 */
export const CLEAR_TEXT: SecretCodec = {
  seal: (plaintext) => plaintext,
  open: (value, context) => {
    if (isSealed(value)) {
      throw new InvalidInputError([
        { field: context, message: `is encrypted (key ${sealedKeyId(value) ?? 'unknown'}); open it with the hub's secret key file (<data-dir>/secrets.key)` },
      ]);
    }
    return value;
  },
  stale: () => false,
};
