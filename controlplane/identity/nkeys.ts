// NKeys (NATS's Ed25519 keys in their base32 text form with a role prefix and CRC-16) on
// node:crypto: seeds, public keys, and a `KeyPair` as @nats-io/jwt and nats.js take one.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { KeyPair } from '@nats-io/jwt';

/** NKey roles, the prefix byte of each encoded key (nkeys.js `Prefix`): 'O', 'A', 'U' in base32. */
export const Role = {
  Operator: 112,
  Account: 0,
  User: 160,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

// 'S' and 'P' in base32.
const SEED_PREFIX = 144;
const PRIVATE_PREFIX = 120;

// nkeys.js signs with pure-JS tweetnacl (~8 ms a signature, and as much again to derive each public
// key). Ed25519 is deterministic, so node:crypto produces the very same signatures in ~1 ms; the
// unit tests compare both byte for byte.

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A `KeyPair` as @nats-io/jwt and nats.js take one, signing with node:crypto. */
export function keyPairFromSeed(seed: string): KeyPair {
  return keyPair(seed);
}

export function keyPair(seed: string, role?: Role): NodeKeyPair {
  const decoded = decodeSeed(seed, role);
  return new NodeKeyPair(seed, decoded.role, decoded.raw);
}

export class NodeKeyPair implements KeyPair {
  readonly role: Role;
  private readonly seed: string;
  private readonly privateKey: KeyObject;
  private readonly publicKeyObject: KeyObject;
  private readonly rawPublic: Buffer;
  private readonly rawSeed: Buffer;
  private readonly publicKey: string;

  constructor(seed: string, role: Role, rawSeed: Buffer) {
    this.seed = seed;
    this.role = role;
    this.rawSeed = rawSeed;
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, rawSeed]), format: 'der', type: 'pkcs8' });
    this.publicKeyObject = createPublicKey(this.privateKey);
    const spki = this.publicKeyObject.export({ format: 'der', type: 'spki' });
    this.rawPublic = spki.subarray(spki.length - 32);
    this.publicKey = encodeKey([role], this.rawPublic);
  }

  getPublicKey(): string {
    return this.publicKey;
  }

  getPrivateKey(): Uint8Array {
    return new TextEncoder().encode(encodeKey([PRIVATE_PREFIX], Buffer.concat([this.rawSeed, this.rawPublic])));
  }

  getSeed(): Uint8Array {
    return new TextEncoder().encode(this.seed);
  }

  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, input, this.privateKey));
  }

  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return verify(null, input, this.publicKeyObject, sig);
  }

  clear(): void {
    // Seeds are strings held by IdentityState; there is nothing here to wipe that outlives it.
  }

  seal(): Uint8Array {
    throw new Error('only curve keys can seal');
  }

  open(): Uint8Array | null {
    throw new Error('only curve keys can open');
  }
}

export function newSeed(role: Role): string {
  return encodeKey([SEED_PREFIX | (role >> 5), (role & 31) << 3], randomBytes(32));
}

export function decodeSeed(seed: string, expected?: Role): { role: Role; raw: Buffer } {
  const raw = base32Decode(seed);
  if (raw.length !== 36) throw new Error('invalid seed length');
  checkCrc(raw);
  if ((raw[0] ?? 0) >> 3 !== SEED_PREFIX >> 3) throw new Error('not a seed');
  const role = (((raw[0] ?? 0) & 7) << 5) | ((raw[1] ?? 0) >> 3);
  if (!isRole(role)) throw new Error('invalid seed role');
  if (expected !== undefined && role !== expected) throw new Error(`expected a ${roleName(expected)} seed, got a ${roleName(role)} seed`);
  return { role, raw: raw.subarray(2, 34) };
}

export function isPublicKey(key: string, role: Role): boolean {
  try {
    const raw = base32Decode(key);
    if (raw.length !== 35 || raw[0] !== role) return false;
    checkCrc(raw);
    return true;
  } catch {
    return false;
  }
}

function isRole(role: number): role is Role {
  return role === Role.Operator || role === Role.Account || role === Role.User;
}

export function roleName(role: Role): string {
  switch (role) {
    case Role.Operator:
      return 'operator';
    case Role.Account:
      return 'account';
    case Role.User:
      return 'user';
  }
}

function encodeKey(prefix: readonly number[], payload: Uint8Array): string {
  const body = Buffer.concat([Buffer.from(prefix), payload]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(body));
  return base32Encode(Buffer.concat([body, crc]));
}

function checkCrc(raw: Buffer): void {
  const body = raw.subarray(0, raw.length - 2);
  if (crc16(body) !== raw.readUInt16LE(raw.length - 2)) throw new Error('invalid checksum');
}

// CRC-16/XMODEM, as nkeys uses.
function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Encode(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31] ?? '';
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31] ?? '';
  return out;
}

function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error('invalid base32 character');
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
