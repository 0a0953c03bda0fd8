// The NATS identity of the clusterset and each cluster's agent credential, kept in etcd so every
// hub replica signs with the same keys. Issuing is idempotent (the same .creds until rotated);
// rotating or deleting a cluster revokes the old user key in the account JWT that the NATS server
// enforces — pushed at once, and rendered into the server's preload at every start.
import { ConflictError, NotFoundError } from '../api/errors.ts';
import { CREDENTIALS_PREFIX, credentialsKey, IDENTITY_KEY } from '../api/keys.ts';
import { createIdentityState, issueAgentUser, parseIdentityState, revokeUsers, type IdentityState } from '../identity/nats-identity.ts';
import { delayFor } from '../kernel/backoff.ts';
import { sleep } from '../kernel/async.ts';
import type { Actor, CredentialOperation } from '../registry/changes.ts';
import { appendRecord, readHead } from '../registry/history.ts';
import type { Op, Store } from '../registry/store.ts';

/** Attempts when the credential or the history head moved between our read and our write. */
const MAX_ATTEMPTS = 16;
const NEVER = new AbortController().signal;

export interface AgentCredential {
  readonly cluster: string;
  readonly publicKey: string;
  readonly creds: string;
  readonly issuedAt: string;
}

/** Delivers an updated app account JWT to the running NATS server (NatsAccountPusher). */
export type AccountJwtPush = (accountJwt: string) => Promise<void>;

export class CredentialStore {
  private readonly store: Store;
  private readonly now: () => Date;
  private push: AccountJwtPush | undefined;

  constructor(store: Store, now: () => Date = () => new Date()) {
    this.store = store;
    this.now = now;
  }

  /** Where revocations go once NATS is up (before that they are picked up by the preload). */
  setPush(push: AccountJwtPush): void {
    this.push = push;
  }

  /** The identity, created on first use; two hubs starting at once agree on one. */
  async identity(): Promise<IdentityState> {
    for (;;) {
      const kv = await this.store.get(IDENTITY_KEY);
      if (kv !== undefined) return parseIdentityState(JSON.parse(kv.value));
      const fresh = createIdentityState();
      const res = await this.store.txn([{ key: IDENTITY_KEY, modRevision: 0 }], [{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(fresh) }]);
      if (res.succeeded) return fresh;
    }
  }

  /**
   * The cluster's current credential; a new one when there is none or `rotate` asks for it. With
   * an `actor`, the hand-out is recorded in the registry's history in the same transaction
   * (who, which cluster, which user key; never the seed), so no credential leaves unaudited.
   */
  async issue(cluster: string, options: { rotate?: boolean; actor?: Actor } = {}): Promise<AgentCredential> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const kv = await this.store.get(credentialsKey(cluster));
      const existing = kv === undefined ? undefined : (JSON.parse(kv.value) as AgentCredential);
      const reuse = existing !== undefined && options.rotate !== true;
      const credential = reuse ? existing : await this.newCredential(cluster);
      const operation: CredentialOperation = existing === undefined ? 'issue-credentials' : reuse ? 'get-credentials' : 'rotate-credentials';
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
      const ops: Op[] = [...(reuse ? [] : [{ type: 'put' as const, key: credentialsKey(cluster), value: JSON.stringify(credential) }]), ...audit.ops];
      if (ops.length === 0) return credential;
      // The credential key is compared even when only the audit is written: the record must name
      // the key actually handed out.
      const res = await this.store.txn([{ key: credentialsKey(cluster), modRevision: kv?.modRevision ?? 0 }, ...audit.compares], ops);
      if (!res.succeeded) {
        await sleep(delayFor({ baseMs: 5, maxMs: 200 }, attempt - 1), NEVER);
        continue;
      }
      if (existing !== undefined && !reuse) await this.revokeKeys([existing.publicKey]);
      return credential;
    }
    throw new ConflictError(`the credential of cluster ${cluster} kept changing; try again`);
  }

  private async newCredential(cluster: string): Promise<AgentCredential> {
    const user = await issueAgentUser(await this.identity(), cluster);
    return { cluster, publicKey: user.publicKey, creds: user.creds, issuedAt: this.now().toISOString() };
  }

  /** Revokes and forgets a cluster's credential (the cluster was deleted). */
  async revoke(cluster: string): Promise<void> {
    const kv = await this.store.get(credentialsKey(cluster));
    if (kv === undefined) throw new NotFoundError(`cluster ${cluster} has no credential`);
    await this.revokeKeys([(JSON.parse(kv.value) as AgentCredential).publicKey]);
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
      const current = parseIdentityState(JSON.parse(kv.value));
      // The revocation time must be after the old JWT's issue time (whole seconds, inclusive).
      const { state, appAccountJwt } = await revokeUsers(current, publicKeys, Math.ceil(this.now().getTime() / 1000));
      const res = await this.store.txn(
        [{ key: IDENTITY_KEY, modRevision: kv.modRevision }],
        [{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(state) }],
      );
      if (!res.succeeded) continue;
      await this.push?.(appAccountJwt);
      return;
    }
  }
}
