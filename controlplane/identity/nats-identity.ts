// Owns Causeway's NATS identity in operator mode: the operator, the system account and the one
// app account ("CAUSEWAY") as NKeys, the JWTs the server trusts, the users the hub issues (the
// hub itself, the system user that pushes account updates, one user per cluster agent) and the
// revocation map. Key material lives in a plain serialisable `IdentityState` so that the hub can
// keep it in etcd; every function here is pure apart from randomness and the wall clock.
import { decode, encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import type { Account, ClaimsData, OperatorLimits, User } from '@nats-io/jwt';
import { InvalidInputError } from '../api/errors.ts';
import { agentInboxPrefix, agentPermissions, assertClusterName } from '../api/subjects.ts';
import { decodeSeed, isPublicKey, keyPair, newSeed, Role, roleName } from './nkeys.ts';

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
  /** Unix seconds after which the server refuses the JWT (and disconnects the agent); none by default. */
  readonly expiresAt?: number;
  /** Sign a JWT for this existing user seed (a renewal) instead of making a new key. */
  readonly seed?: string;
}

/**
 * Connections the server admits per account, whatever credentials are presented: one agent per
 * cluster and a few per hub replica fit many times over; a leaked credential cannot exhaust the
 * server's file descriptors on its own. The system account is the hubs' pushers only.
 */
export const APP_ACCOUNT_MAX_CONNECTIONS = 20_000;
export const SYSTEM_ACCOUNT_MAX_CONNECTIONS = 64;
/** Subscriptions one agent connection may hold: it needs three (imports, its inbox, a spare). */
export const AGENT_MAX_SUBSCRIPTIONS = 32;

/** The seed of a `.creds` text (its NKEY block). */
export function credsSeed(creds: string): string {
  const m = /-----BEGIN USER NKEY SEED-----\s*(S[A-Z2-7]+)\s*------END USER NKEY SEED------/.exec(creds);
  if (m?.[1] === undefined) throw new InvalidInputError([{ field: 'creds', message: 'no user NKEY seed block' }]);
  return m[1];
}

/** The user JWT of a `.creds` text (its JWT block). */
export function credsJwt(creds: string): string {
  const m = /-----BEGIN NATS USER JWT-----\s*([\w-]+\.[\w-]+\.[\w-]+)\s*------END NATS USER JWT------/.exec(creds);
  if (m?.[1] === undefined) throw new InvalidInputError([{ field: 'creds', message: 'no NATS user JWT block' }]);
  return m[1];
}

/** What a client presents to nats-server for a `.creds` text: its JWT, its public key, the nonce signed (nats.js's JwtAuth). */
export interface CredsAuth {
  readonly jwt: string;
  readonly nkey: string;
  readonly sig: string;
}

/**
 * nats.js's credsAuthenticator, signing with node:crypto. nats.js derives the key pair from the seed
 * (twice) and signs the nonce in pure-JS tweetnacl on every (re)connect: 9-28 ms each on
 * this machine, which for the bench's 1,001 agents reconnecting at once after a nats-server restart
 * was most of the storm. Here the pair is derived once per `.creds` text (a renewal hands a new one)
 * and a connect costs 0.13 ms; Ed25519 is deterministic, so the signatures are the same bytes
 * (test/integration/nats-identity.test.ts compares them with nats.js's).
 */
export function credsAuthenticator(creds: string | (() => string)): (nonce?: string) => CredsAuth {
  let cached: { readonly text: string; readonly jwt: string; readonly pair: ReturnType<typeof keyPair> } | undefined;
  return (nonce) => {
    const text = typeof creds === 'string' ? creds : creds();
    if (cached?.text !== text) cached = { text, jwt: credsJwt(text), pair: keyPair(credsSeed(text), Role.User) };
    const sig = nonce === undefined || nonce === '' ? '' : Buffer.from(cached.pair.sign(new TextEncoder().encode(nonce))).toString('base64');
    return { jwt: cached.jwt, nkey: cached.pair.getPublicKey(), sig };
  };
}

/** The claims of a user JWT that renewal looks at (not verified: for the holder's own JWT). */
export function userJwtClaims(jwt: string): { readonly subject: string; readonly issuedAt: number; readonly expiresAt: number | undefined } {
  const claims = decode<User>(jwt) as ClaimsData<User> & { exp?: number };
  return { subject: claims.sub, issuedAt: claims.iat, expiresAt: claims.exp };
}

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
  return encodeAccount(SYSTEM_ACCOUNT_NAME, account, { limits: { ...natsLimits(), conn: SYSTEM_ACCOUNT_MAX_CONNECTIONS } }, { signer: operator });
}

/** The app account's JWT, always carrying the full revocation map (the server keeps only the last). */
export async function appAccountJwt(state: IdentityState, jetStream: JetStreamAccountLimits = DEFAULT_APP_JETSTREAM_LIMITS): Promise<string> {
  const account = keyPair(state.appAccountSeed, Role.Account);
  const operator = keyPair(state.operatorSeed, Role.Operator);
  const claims: Partial<Account> = {
    limits: {
      ...natsLimits(),
      conn: APP_ACCOUNT_MAX_CONNECTIONS,
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
    subs: AGENT_MAX_SUBSCRIPTIONS,
    data: -1,
    payload: -1,
  };
  const user = await issueUser(state.appAccountSeed, `agent-${cluster}`, claims, options.expiresAt, options.seed);
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

async function issueUser(accountSeed: string, name: string, claims: Partial<User>, expiresAt?: number, existingSeed?: string): Promise<UserCredentials> {
  const account = keyPair(accountSeed, Role.Account);
  const seed = existingSeed ?? newSeed(Role.User);
  const user = keyPair(seed, Role.User);
  const jwt = await encodeUser(name, user, account, claims, expiresAt === undefined ? {} : { exp: expiresAt });
  return { name, publicKey: user.getPublicKey(), seed, jwt, creds: formatCreds(jwt, seed) };
}

function natsLimits(): OperatorLimits {
  // Without explicit limits an account JWT allows zero connections.
  return { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
}
