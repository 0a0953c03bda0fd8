// The NATS identity of the clusterset and each cluster's agent credential, kept in etcd so every
// hub replica signs with the same keys. Issuing is idempotent (the same .creds until rotated);
// rotating or deleting a cluster revokes the old user key in the account JWT that the NATS server
// enforces — pushed at once, and rendered into the server's preload at every start.
import { ConflictError, NotFoundError } from '../api/errors.ts';
import { CREDENTIALS_PREFIX, credentialsKey, IDENTITY_KEY } from '../api/keys.ts';
import { createIdentityState, issueAgentUser, parseIdentityState, revokeUsers, type IdentityState } from '../identity/nats-identity.ts';
import type { Store } from '../registry/store.ts';

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

  /** The cluster's current credential; a new one when there is none or `rotate` asks for it. */
  async issue(cluster: string, options: { rotate?: boolean } = {}): Promise<AgentCredential> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const kv = await this.store.get(credentialsKey(cluster));
      if (kv !== undefined && options.rotate !== true) return JSON.parse(kv.value) as AgentCredential;
      const identity = await this.identity();
      const user = await issueAgentUser(identity, cluster);
      const credential: AgentCredential = { cluster, publicKey: user.publicKey, creds: user.creds, issuedAt: this.now().toISOString() };
      const res = await this.store.txn(
        [{ key: credentialsKey(cluster), modRevision: kv?.modRevision ?? 0 }],
        [{ type: 'put', key: credentialsKey(cluster), value: JSON.stringify(credential) }],
      );
      if (!res.succeeded) continue;
      if (kv !== undefined) await this.revokeKeys([(JSON.parse(kv.value) as AgentCredential).publicKey]);
      return credential;
    }
    throw new ConflictError(`the credential of cluster ${cluster} kept changing; try again`);
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
