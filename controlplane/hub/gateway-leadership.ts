// The agent gateway's leadership (an etcd election): campaigning, running the leader-only
// controllers for each term won with that term's AbortSignal, and the clean-up after a cluster is
// deleted (credential revoked, exports, workloads and ingest state dropped), which the leader also
// sweeps at the start of each term for deletions no hub saw.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { clusterExportsPrefix, clusterIngestPrefix, leaderElectionKey } from '../api/keys.ts';
import { abortedPromise, aborted, sleep } from '../kernel/async.ts';
import { Backoff } from '../kernel/backoff.ts';
import type { Compare, Store } from '../registry/store.ts';
import type { CredentialStore } from './credentials.ts';
import { workloadPartsPrefix, workloadsKey } from './workload-store.ts';

export const LEADER_ELECTION = leaderElectionKey('agent-gateway');

/**
 * The leadership lease: etcd3 keeps it alive every third of it, so a leader misses two keepalives
 * before it is lost; a killed leader's standby takes over within it (docs/reliability.md).
 */
export const DEFAULT_LEADER_LEASE_SECONDS = 3;

/** The current term's guard (Leadership.guard) while this replica leads; leader-only etcd writes carry it. */
export interface Term {
  guard: Compare | undefined;
}

/** Campaigning again after a failed campaign: soon, then less often while etcd stays away. */
const CAMPAIGN_BACKOFF = { baseMs: 500, maxMs: 5000 };

type Warn = (fields: Record<string, unknown>, message: string) => void;

export interface LeadershipDeps {
  readonly store: Store;
  readonly credentials: CredentialStore;
  readonly logger: Logger;
  readonly leaseTtlSeconds?: number | undefined;
  /** Stable across restarts of this replica: a restarted replica ends its dead self's term at once. */
  readonly replicaId?: string | undefined;
  readonly warn: Warn;
}

/**
 * A deleted cluster loses its credential, its exports and its ingest state (level-based: the sweep at the start of
 * each term also catches deletions that happened while no hub was running).
 */
export function forgetter(deps: LeadershipDeps, signal: AbortSignal): (cluster: string) => void {
  const { store, credentials, logger, warn } = deps;
  return (cluster) => {
    void (async () => {
      await credentials.revoke(cluster).catch(() => undefined);
      // Its exports, and its ingest marks (a cluster of that name registered later starts afresh).
      for (const prefix of [clusterExportsPrefix(cluster), clusterIngestPrefix(cluster), workloadPartsPrefix(cluster)]) {
        const { kvs } = await store.range(prefix, signal);
        if (kvs.length > 0)
          await store.txn(
            [],
            kvs.map((kv) => ({ type: 'delete' as const, key: kv.key })),
            signal,
          );
      }
      await store.txn([], [{ type: 'delete', key: workloadsKey(cluster) }], signal);
      logger.info({ cluster }, 'cluster deleted: credential revoked, exports, workloads and ingest state dropped');
    })().catch((err: unknown) => {
      warn({ cluster, err }, 'clean-up after cluster deletion failed');
    });
  };
}

/**
 * Campaigns until `signal` aborts. Each won term gets its own AbortController, aborted when the
 * lease is lost or the gateway stops; `lead` runs the leader-only controllers with its signal (they
 * `resync` every key when they start, so a new leader re-bases every agent). `registered` tells
 * which credentials still belong to a cluster.
 */
export async function campaign(
  deps: LeadershipDeps,
  held: Term,
  lead: (term: AbortSignal) => Promise<unknown>,
  registered: (cluster: string) => boolean,
  forget: (cluster: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const { warn } = deps;
  const replica = deps.replicaId ?? randomUUID();
  const identity = `${replica}/${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const backoff = new Backoff(CAMPAIGN_BACKOFF);
  if (deps.replicaId !== undefined) {
    const ended = await deps.store.reclaimLeadership(LEADER_ELECTION, `${deps.replicaId}/`, signal).catch((err: unknown) => {
      warn({ err }, 'could not end the previous term of this replica; campaigning anyway');
      return 0;
    });
    if (ended > 0) deps.logger.info({ identity, ended }, "ended this replica's previous term (it was killed without resigning)");
  }
  while (!aborted(signal)) {
    try {
      const leadership = await deps.store.campaign(LEADER_ELECTION, identity, deps.leaseTtlSeconds ?? DEFAULT_LEADER_LEASE_SECONDS, signal);
      if (aborted(signal)) return;
      held.guard = leadership.guard;
      backoff.reset();
      const term = new AbortController();
      deps.logger.info({ identity, leader: true }, 'leading the agent gateway');
      const leading = lead(term.signal);
      let err: Error | undefined;
      try {
        await sweepDeleted(deps, registered, forget);
        err = await Promise.race([leadership.lost, abortedPromise(signal)]);
      } finally {
        held.guard = undefined;
        term.abort();
        await leading;
      }
      deps.logger.info({ identity, leader: false }, 'following');
      if (err !== undefined) warn({ err }, 'lost the agent gateway leadership; campaigning again');
      await leadership.resign();
    } catch (err) {
      if (aborted(signal)) return;
      warn({ err }, 'campaign failed; retrying');
      await sleep(backoff.next(), signal);
    }
  }
}

/** Credentials of clusters deleted while no hub led are revoked by the next leader. */
async function sweepDeleted(deps: LeadershipDeps, registered: (cluster: string) => boolean, forget: (cluster: string) => void): Promise<void> {
  try {
    for (const cluster of await deps.credentials.clustersWithCredentials()) if (!registered(cluster)) forget(cluster);
  } catch (err) {
    deps.warn({ err }, 'listing credentials failed; deleted clusters are swept next term');
  }
}
