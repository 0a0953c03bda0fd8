// The NATS identity of the clusterset and each cluster's agent credential, kept in etcd so every
// hub replica signs with the same keys. Issuing is idempotent (the same .creds until rotated);
// rotating or deleting a cluster revokes the old user key in the account JWT that the NATS server
// enforces — pushed at once, and rendered into the server's preload at every start. Every value
// here holds seeds, so each goes through the SecretCodec (the hub's SecretBox: AES-256-GCM with a
// key kept outside etcd); `reseal` re-writes what an older hub or an older key wrote.
import { ConflictError, InvalidInputError, NotFoundError } from '../api/errors.ts';
import { CREDENTIALS_PREFIX, credentialsKey, IDENTITY_KEY } from '../api/keys.ts';
import { createIdentityState, credsSeed, issueAgentUser, parseIdentityState, revokeUsers, type IdentityState } from '../identity/nats-identity.ts';
import { delayFor } from '../kernel/backoff.ts';
import { SerialQueue, sleep } from '../kernel/async.ts';
import type { Actor, CredentialOperation } from '../registry/changes.ts';
import { appendRecord, readHead } from '../registry/history.ts';
import type { KeyValue, Op, Store } from '../registry/store.ts';
import { CLEAR_TEXT, isSealed, sealedKeyId, type SecretCodec } from '../identity/secret-box.ts';

/** Attempts when the credential or the history head moved between our read and our write. */
const MAX_ATTEMPTS = 16;
const NEVER = new AbortController().signal;

export interface AgentCredential {
  readonly cluster: string;
  readonly publicKey: string;
  readonly creds: string;
  readonly issuedAt: string;
  /** When nats-server stops accepting its JWT; absent for credentials an older hub issued. */
  readonly expiresAt?: string;
}

/** Agents' JWTs are valid this long unless the hub is told otherwise (`causeway hub --credential-ttl`). */
export const DEFAULT_CREDENTIAL_TTL_SECONDS = 30 * 86_400;

/** A JWT with less than this share of its lifetime left is signed again when asked for. */
const RENEW_WHEN_LEFT = 1 / 3;

/** Why a renewal was refused (the reply's reason). */
export class RenewalRefused extends Error {
  readonly reason: 'unknown-cluster' | 'rotated';
  constructor(reason: 'unknown-cluster' | 'rotated', message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Delivers an updated app account JWT to the running NATS server (NatsAccountPusher). */
export type AccountJwtPush = (accountJwt: string) => Promise<void>;

export interface CredentialStoreOptions {
  /** How secrets are stored; the hub passes its SecretBox. The default, clear text, is for tools and tests. */
  readonly secrets?: SecretCodec;
  readonly now?: () => Date;
  /** How long an agent's JWT is valid; DEFAULT_CREDENTIAL_TTL_SECONDS unless given. */
  readonly ttlSeconds?: number;
  /** The queue of this process's audit-history writers (RegistryOptions.historyWrites); default its own. */
  readonly historyWrites?: SerialQueue;
}

/** Every etcd key whose value holds a secret. */
async function secretValues(store: Store): Promise<KeyValue[]> {
  const [identity, { kvs }] = await Promise.all([store.get(IDENTITY_KEY), store.range(CREDENTIALS_PREFIX)]);
  return [...(identity === undefined ? [] : [identity]), ...kvs];
}

/** The ids of the keys that sealed the secrets in etcd (none on a fresh etcd or one written by an older hub). */
export async function sealedSecretKeyIds(store: Store): Promise<string[]> {
  const ids = new Set<string>();
  for (const kv of await secretValues(store)) if (isSealed(kv.value)) ids.add(sealedKeyId(kv.value) ?? 'unknown');
  return [...ids];
}

export class CredentialStore {
  private readonly store: Store;
  private readonly now: () => Date;
  private readonly secrets: SecretCodec;
  private readonly ttlSeconds: number;
  private push: AccountJwtPush | undefined;
  /**
   * Hand-outs and renewals one at a time in this process, in the queue the registry's declarations
   * use: each appends to the audit history's head, so concurrent ones (a platform team fetching
   * 1,000 credentials 8 at a time beside other writes) lost the head's compare to each other until
   * they ran out of attempts. Only another replica's writes are left to retry against.
   */
  private readonly audited: SerialQueue;

  constructor(store: Store, options: CredentialStoreOptions = {}) {
    this.store = store;
    this.now = options.now ?? (() => new Date());
    this.secrets = options.secrets ?? CLEAR_TEXT;
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_CREDENTIAL_TTL_SECONDS;
    this.audited = options.historyWrites ?? new SerialQueue();
  }

  /** How long agents' JWTs are valid. */
  get credentialTtlSeconds(): number {
    return this.ttlSeconds;
  }

  /**
   * Re-writes every secret that is clear text (an older hub's) or sealed with a key other than the
   * first, each a compare-and-swap on its revision. Every value is opened before any is written, so
   * a wrong or missing key refuses the start and changes nothing. Returns how many it re-wrote.
   */
  async reseal(): Promise<number> {
    const values = await secretValues(this.store);
    const opened = values.map((kv) => ({ kv, plaintext: this.openJson(kv) }));
    let resealed = 0;
    for (let { kv, plaintext } of opened) {
      while (this.secrets.stale(kv.value)) {
        const res = await this.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'put', key: kv.key, value: this.seal(plaintext, kv.key) }]);
        if (res.succeeded) {
          resealed++;
          break;
        }
        // Another replica wrote it between our read and our write: look again.
        const current = await this.store.get(kv.key);
        if (current === undefined) break;
        kv = current;
        plaintext = this.openJson(kv);
      }
    }
    return resealed;
  }

  private openJson(kv: KeyValue): string {
    const plaintext = this.secrets.open(kv.value, kv.key);
    // What is re-sealed must be what the readers parse: refuse to wrap a damaged value.
    try {
      JSON.parse(plaintext);
    } catch (err) {
      throw new InvalidInputError([{ field: kv.key, message: 'is not the JSON a hub writes; restore it from a backup of etcd' }], { cause: err });
    }
    return plaintext;
  }

  private seal(plaintext: string, key: string): string {
    return this.secrets.seal(plaintext, key);
  }

  private read(kv: KeyValue): unknown {
    return JSON.parse(this.secrets.open(kv.value, kv.key));
  }

  /** Where revocations go once NATS is up (before that they are picked up by the preload). */
  setPush(push: AccountJwtPush): void {
    this.push = push;
  }

  /** The identity, created on first use; two hubs starting at once agree on one. */
  async identity(): Promise<IdentityState> {
    for (;;) {
      const kv = await this.store.get(IDENTITY_KEY);
      if (kv !== undefined) return parseIdentityState(this.read(kv));
      const fresh = createIdentityState();
      const res = await this.store.txn(
        [{ key: IDENTITY_KEY, modRevision: 0 }],
        [{ type: 'put', key: IDENTITY_KEY, value: this.seal(JSON.stringify(fresh), IDENTITY_KEY) }],
      );
      if (res.succeeded) return fresh;
    }
  }

  /**
   * The cluster's current credential; a new one when there is none or `rotate` asks for it. With
   * an `actor`, the hand-out is recorded in the registry's history in the same transaction
   * (who, which cluster, which user key; never the seed), so no credential leaves unaudited.
   */
  issue(cluster: string, options: { rotate?: boolean; actor?: Actor } = {}): Promise<AgentCredential> {
    return this.audited.run(() => this.issueNow(cluster, options));
  }

  private async issueNow(cluster: string, options: { rotate?: boolean; actor?: Actor }): Promise<AgentCredential> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv = await this.store.get(credentialsKey(cluster));
      const existing = kv === undefined ? undefined : (this.read(kv) as AgentCredential);
      const keep = existing !== undefined && options.rotate !== true;
      // Kept: the same key, its JWT signed again if it nears expiry (or an older hub issued it without one).
      const renewed = keep && this.dueForRenewal(existing) ? await this.renewed(existing) : undefined;
      const reuse = keep && renewed === undefined;
      const credential = keep ? (renewed ?? existing) : await this.newCredential(cluster);
      const operation: CredentialOperation =
        existing === undefined ? 'issue-credentials' : renewed !== undefined ? 'renew-credentials' : reuse ? 'get-credentials' : 'rotate-credentials';
      const audit =
        options.actor === undefined
          ? { compares: [], ops: [] }
          : appendRecord(await readHead(this.store), {
              time: this.now().toISOString(),
              actor: { name: options.actor.name, role: options.actor.role },
              operation,
              changes: [],
              credential: { cluster, publicKey: credential.publicKey },
            });
      const ops: Op[] = [
        ...(reuse ? [] : [{ type: 'put' as const, key: credentialsKey(cluster), value: this.seal(JSON.stringify(credential), credentialsKey(cluster)) }]),
        ...audit.ops,
      ];
      if (ops.length === 0) return credential;
      // The credential key is compared even when only the audit is written: the record must name
      // the key actually handed out.
      const res = await this.store.txn([{ key: credentialsKey(cluster), modRevision: kv?.modRevision ?? 0 }, ...audit.compares], ops);
      if (!res.succeeded) {
        await sleep(delayFor({ baseMs: 5, maxMs: 200 }, attempt - 1), NEVER);
        continue;
      }
      if (existing !== undefined && !keep) await this.revokeKeys([existing.publicKey]);
      return credential;
    }
    throw new ConflictError(`the credential of cluster ${cluster} kept changing; try again`);
  }

  /**
   * An agent's request (over NATS) to have the JWT of `publicKey` signed again before it expires.
   * Only the cluster's current key is renewed: a rotated key is revoked, and a JWT issued after its
   * revocation time would be accepted again. The renewal is recorded in the history like a hand-out.
   */
  renew(cluster: string, publicKey: string): Promise<AgentCredential> {
    return this.audited.run(() => this.renewNow(cluster, publicKey));
  }

  private async renewNow(cluster: string, publicKey: string): Promise<AgentCredential> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv = await this.store.get(credentialsKey(cluster));
      if (kv === undefined) throw new RenewalRefused('unknown-cluster', `cluster ${cluster} has no credential; it may have been deleted`);
      const current = this.read(kv) as AgentCredential;
      if (current.publicKey !== publicKey) {
        throw new RenewalRefused(
          'rotated',
          `user key ${publicKey} is no longer the credential of cluster ${cluster}; get a new one with \`causeway cluster credentials ${cluster}\``,
        );
      }
      if (!this.dueForRenewal(current)) return current;
      const renewed = await this.renewed(current);
      const audit = appendRecord(await readHead(this.store), {
        time: this.now().toISOString(),
        actor: { name: `agent/${cluster}`, role: 'agent' },
        operation: 'renew-credentials',
        changes: [],
        credential: { cluster, publicKey },
      });
      const res = await this.store.txn(
        [{ key: credentialsKey(cluster), modRevision: kv.modRevision }, ...audit.compares],
        [{ type: 'put', key: credentialsKey(cluster), value: this.seal(JSON.stringify(renewed), credentialsKey(cluster)) }, ...audit.ops],
      );
      if (res.succeeded) return renewed;
      await sleep(delayFor({ baseMs: 5, maxMs: 200 }, attempt - 1), NEVER);
    }
    throw new ConflictError(`the credential of cluster ${cluster} kept changing; try again`);
  }

  private dueForRenewal(credential: AgentCredential): boolean {
    if (credential.expiresAt === undefined) return true;
    const left = Date.parse(credential.expiresAt) - this.now().getTime();
    return left < this.ttlSeconds * 1000 * RENEW_WHEN_LEFT;
  }

  private expiry(): number {
    return Math.floor(this.now().getTime() / 1000) + this.ttlSeconds;
  }

  private async renewed(credential: AgentCredential): Promise<AgentCredential> {
    const expiresAt = this.expiry();
    const user = await issueAgentUser(await this.identity(), credential.cluster, { expiresAt, seed: credsSeed(credential.creds) });
    return { ...credential, creds: user.creds, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  private async newCredential(cluster: string): Promise<AgentCredential> {
    const expiresAt = this.expiry();
    const user = await issueAgentUser(await this.identity(), cluster, { expiresAt });
    return { cluster, publicKey: user.publicKey, creds: user.creds, issuedAt: this.now().toISOString(), expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /** Revokes and forgets a cluster's credential (the cluster was deleted). */
  async revoke(cluster: string): Promise<void> {
    const kv = await this.store.get(credentialsKey(cluster));
    if (kv === undefined) throw new NotFoundError(`cluster ${cluster} has no credential`);
    await this.revokeKeys([(this.read(kv) as AgentCredential).publicKey]);
    await this.store.txn([{ key: credentialsKey(cluster), modRevision: kv.modRevision }], [{ type: 'delete', key: credentialsKey(cluster) }]);
  }

  /** Clusters that hold a credential, for sweeping those whose Cluster is gone. */
  async clustersWithCredentials(): Promise<string[]> {
    const { kvs } = await this.store.range(CREDENTIALS_PREFIX);
    return kvs.map((kv) => kv.key.slice(CREDENTIALS_PREFIX.length));
  }

  private async revokeKeys(publicKeys: readonly string[]): Promise<void> {
    for (;;) {
      const kv = await this.store.get(IDENTITY_KEY);
      if (kv === undefined) return;
      const current = parseIdentityState(this.read(kv));
      // The revocation time must be after the old JWT's issue time (whole seconds, inclusive).
      const { state, appAccountJwt } = await revokeUsers(current, publicKeys, Math.ceil(this.now().getTime() / 1000));
      const res = await this.store.txn(
        [{ key: IDENTITY_KEY, modRevision: kv.modRevision }],
        [{ type: 'put', key: IDENTITY_KEY, value: this.seal(JSON.stringify(state), IDENTITY_KEY) }],
      );
      if (!res.succeeded) continue;
      await this.push?.(appAccountJwt);
      return;
    }
  }
}
