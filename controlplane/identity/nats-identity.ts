// Owns Causeway's NATS identity in operator mode: the operator, the system account and the one
// app account ("CAUSEWAY") as NKeys, the JWTs the server trusts, the users the hub issues (the
// hub itself, the system user that pushes account updates, one user per cluster agent) and the
// revocation map. Key material lives in a plain serialisable `IdentityState` so that the hub can
// keep it in etcd; every function here is pure apart from randomness and the wall clock.
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { decode, encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import type { Account, ClaimsData, KeyPair, OperatorLimits, User } from '@nats-io/jwt';
import { InvalidInputError } from '../api/errors.ts';
import { agentInboxPrefix, agentPermissions, assertClusterName } from '../api/subjects.ts';

export const OPERATOR_NAME = 'causeway';
export const SYSTEM_ACCOUNT_NAME = 'SYS';
export const APP_ACCOUNT_NAME = 'CAUSEWAY';
export const HUB_USER_NAME = 'causeway-hub';
export const SYSTEM_USER_NAME = 'causeway-sys';

/** Everything needed to re-create every JWT: persist it (it holds secrets), never log it. */
export interface IdentityState {
  readonly version: 1;
  readonly operatorSeed: string;
  readonly systemAccountSeed: string;
  readonly appAccountSeed: string;
  /** Revoked user public key → unix seconds; user JWTs issued at or before then are refused. */
  readonly revocations: Readonly<Record<string, number>>;
}

/** Bytes; -1 is unlimited. */
export interface JetStreamAccountLimits {
  readonly memoryBytes: number;
  readonly diskBytes: number;
  readonly streams: number;
  readonly consumers: number;
}

export const DEFAULT_APP_JETSTREAM_LIMITS: JetStreamAccountLimits = {
  memoryBytes: -1,
  diskBytes: -1,
  streams: -1,
  consumers: -1,
};

export interface UserCredentials {
  readonly name: string;
  readonly publicKey: string;
  readonly seed: string;
  readonly jwt: string;
  /** The standard `.creds` file text (JWT block, then the NKEY seed block). */
  readonly creds: string;
  /** The client's `inboxPrefix` option; only set for agents, who may read no other inbox. */
  readonly inboxPrefix?: string;
}

export interface AgentUserOptions {
  /** Unix seconds after which the server refuses the JWT; none by default. */
  readonly expiresAt?: number;
}

/** NKey roles, the prefix byte of each encoded key (nkeys.js `Prefix`): 'O', 'A', 'U' in base32. */
const Role = {
  Operator: 112,
  Account: 0,
  User: 160,
} as const;
type Role = (typeof Role)[keyof typeof Role];

// 'S' and 'P' in base32.
const SEED_PREFIX = 144;
const PRIVATE_PREFIX = 120;

export function createIdentityState(): IdentityState {
  return {
    version: 1,
    operatorSeed: newSeed(Role.Operator),
    systemAccountSeed: newSeed(Role.Account),
    appAccountSeed: newSeed(Role.Account),
    revocations: {},
  };
}

/** Validates state read back from storage; says which field is wrong. */
export function parseIdentityState(value: unknown): IdentityState {
  const problems: { field: string; message: string }[] = [];
  const obj = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  if (obj === undefined) throw new InvalidInputError([{ field: '', message: 'identity state must be an object' }]);
  if (obj['version'] !== 1) problems.push({ field: 'version', message: 'unsupported identity state version; expected 1' });
  const seeds = [
    ['operatorSeed', Role.Operator],
    ['systemAccountSeed', Role.Account],
    ['appAccountSeed', Role.Account],
  ] as const;
  for (const [field, role] of seeds) {
    const seed = obj[field];
    try {
      if (typeof seed !== 'string') throw new Error('missing');
      decodeSeed(seed, role);
    } catch (err) {
      problems.push({ field, message: `not a valid ${roleName(role)} seed (${(err as Error).message})` });
    }
  }
  const revocations: Record<string, number> = {};
  const rawRevocations = obj['revocations'];
  if (typeof rawRevocations !== 'object' || rawRevocations === null) {
    problems.push({ field: 'revocations', message: 'must be a map of user public key to unix seconds' });
  } else {
    for (const [key, at] of Object.entries(rawRevocations)) {
      if (!isPublicKey(key, Role.User) || typeof at !== 'number' || !Number.isInteger(at) || at < 0) {
        problems.push({ field: `revocations.${key}`, message: 'must map a user public key (U...) to whole unix seconds' });
      } else {
        revocations[key] = at;
      }
    }
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  return {
    version: 1,
    operatorSeed: obj['operatorSeed'] as string,
    systemAccountSeed: obj['systemAccountSeed'] as string,
    appAccountSeed: obj['appAccountSeed'] as string,
    revocations,
  };
}

export interface IdentityPublicKeys {
  readonly operator: string;
  readonly systemAccount: string;
  readonly appAccount: string;
}

export function identityPublicKeys(state: IdentityState): IdentityPublicKeys {
  return {
    operator: keyPair(state.operatorSeed, Role.Operator).getPublicKey(),
    systemAccount: keyPair(state.systemAccountSeed, Role.Account).getPublicKey(),
    appAccount: keyPair(state.appAccountSeed, Role.Account).getPublicKey(),
  };
}

export async function operatorJwt(state: IdentityState): Promise<string> {
  const operator = keyPair(state.operatorSeed, Role.Operator);
  const systemAccount = keyPair(state.systemAccountSeed, Role.Account).getPublicKey();
  return encodeOperator(OPERATOR_NAME, operator, { system_account: systemAccount });
}

export async function systemAccountJwt(state: IdentityState): Promise<string> {
  const account = keyPair(state.systemAccountSeed, Role.Account);
  const operator = keyPair(state.operatorSeed, Role.Operator);
  return encodeAccount(SYSTEM_ACCOUNT_NAME, account, { limits: natsLimits() }, { signer: operator });
}

/** The app account's JWT, always carrying the full revocation map (the server keeps only the last). */
export async function appAccountJwt(state: IdentityState, jetStream: JetStreamAccountLimits = DEFAULT_APP_JETSTREAM_LIMITS): Promise<string> {
  const account = keyPair(state.appAccountSeed, Role.Account);
  const operator = keyPair(state.operatorSeed, Role.Operator);
  const claims: Partial<Account> = {
    limits: {
      ...natsLimits(),
      mem_storage: jetStream.memoryBytes,
      disk_storage: jetStream.diskBytes,
      streams: jetStream.streams,
      consumer: jetStream.consumers,
      max_ack_pending: -1,
      mem_max_stream_bytes: -1,
      disk_max_stream_bytes: -1,
      max_bytes_required: false,
    },
  };
  if (Object.keys(state.revocations).length > 0) claims.revocations = { ...state.revocations };
  return encodeAccount(APP_ACCOUNT_NAME, account, claims, { signer: operator });
}

/** The hub: no permission limits inside the app account. */
export async function issueHubUser(state: IdentityState): Promise<UserCredentials> {
  return issueUser(state.appAccountSeed, HUB_USER_NAME, {});
}

/** A system-account user: pushes account JWTs (`$SYS.REQ.CLAIMS.UPDATE`). */
export async function issueSystemUser(state: IdentityState): Promise<UserCredentials> {
  return issueUser(state.systemAccountSeed, SYSTEM_USER_NAME, {});
}

/** One cluster's agent: a fresh user key with exactly `agentPermissions(cluster)`. */
export async function issueAgentUser(state: IdentityState, cluster: string, options: AgentUserOptions = {}): Promise<UserCredentials> {
  assertClusterName(cluster);
  const permissions = agentPermissions(cluster);
  const claims: Partial<User> = {
    pub: { allow: [...permissions.pub.allow] },
    sub: { allow: [...permissions.sub.allow] },
    // JWT durations are Go time.Duration: nanoseconds.
    resp: { max: permissions.resp.maxMessages, ttl: permissions.resp.ttlMs * 1_000_000 },
  };
  const user = await issueUser(state.appAccountSeed, `agent-${cluster}`, claims, options.expiresAt);
  return { ...user, inboxPrefix: agentInboxPrefix(cluster) };
}

/**
 * Revokes user keys as of `atSeconds` (default now): returns the new state and the app account
 * JWT to push. Whole seconds, and never earlier than an existing entry, so a revocation is only
 * ever widened.
 */
export async function revokeUsers(
  state: IdentityState,
  userPublicKeys: readonly string[],
  atSeconds: number = Math.floor(Date.now() / 1000),
  jetStream: JetStreamAccountLimits = DEFAULT_APP_JETSTREAM_LIMITS,
): Promise<{ readonly state: IdentityState; readonly appAccountJwt: string }> {
  const revocations: Record<string, number> = { ...state.revocations };
  for (const key of userPublicKeys) {
    if (!isPublicKey(key, Role.User)) {
      throw new InvalidInputError([{ field: 'userPublicKey', value: key, message: 'not a user public key (U...)' }]);
    }
    revocations[key] = Math.max(revocations[key] ?? 0, Math.floor(atSeconds));
  }
  const next: IdentityState = { ...state, revocations };
  return { state: next, appAccountJwt: await appAccountJwt(next, jetStream) };
}

/** The standard NATS `.creds` text. */
export function formatCreds(jwt: string, seed: string): string {
  return new TextDecoder().decode(fmtCreds(jwt, keyPair(seed, Role.User)));
}

/** Decodes and verifies a JWT's signature (not its issuer chain: the server does that). */
export function decodeJwt<T = unknown>(jwt: string): ClaimsData<T> {
  return decode<T>(jwt);
}

async function issueUser(accountSeed: string, name: string, claims: Partial<User>, expiresAt?: number): Promise<UserCredentials> {
  const account = keyPair(accountSeed, Role.Account);
  const seed = newSeed(Role.User);
  const user = keyPair(seed, Role.User);
  const jwt = await encodeUser(name, user, account, claims, expiresAt === undefined ? {} : { exp: expiresAt });
  return { name, publicKey: user.getPublicKey(), seed, jwt, creds: formatCreds(jwt, seed) };
}

function natsLimits(): OperatorLimits {
  // Without explicit limits an account JWT allows zero connections.
  return { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
}

// ---- NKeys on node:crypto ----------------------------------------------------------------------
// nkeys.js signs with pure-JS tweetnacl (~8 ms a signature, and as much again to derive each public
// key). Ed25519 is deterministic, so node:crypto produces the very same signatures in ~1 ms; the
// unit tests compare both byte for byte.

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A `KeyPair` as @nats-io/jwt and nats.js take one, signing with node:crypto. */
export function keyPairFromSeed(seed: string): KeyPair {
  return keyPair(seed);
}

function keyPair(seed: string, role?: Role): NodeKeyPair {
  const decoded = decodeSeed(seed, role);
  return new NodeKeyPair(seed, decoded.role, decoded.raw);
}

class NodeKeyPair implements KeyPair {
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

function newSeed(role: Role): string {
  return encodeKey([SEED_PREFIX | (role >> 5), (role & 31) << 3], randomBytes(32));
}

function decodeSeed(seed: string, expected?: Role): { role: Role; raw: Buffer } {
  const raw = base32Decode(seed);
  if (raw.length !== 36) throw new Error('invalid seed length');
  checkCrc(raw);
  if ((raw[0] ?? 0) >> 3 !== SEED_PREFIX >> 3) throw new Error('not a seed');
  const role = (((raw[0] ?? 0) & 7) << 5) | ((raw[1] ?? 0) >> 3);
  if (!isRole(role)) throw new Error('invalid seed role');
  if (expected !== undefined && role !== expected) throw new Error(`expected a ${roleName(expected)} seed, got a ${roleName(role)} seed`);
  return { role, raw: raw.subarray(2, 34) };
}

function isPublicKey(key: string, role: Role): boolean {
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

function roleName(role: Role): string {
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
