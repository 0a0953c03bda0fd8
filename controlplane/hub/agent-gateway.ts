// Everything the hub does for agents, wired in one place: the watch-fed views of the registry and
// of the exports, report ingestion, heartbeats and liveness, the service model that turns exports
// into per-cluster imports, and the clean-up after a cluster is deleted (credential revoked,
// exports dropped).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { clusterExportsPrefix, EXPORTS_PREFIX, leaderElectionKey, OBJECTS_PREFIX } from '../api/keys.ts';
import { ALL_AGENT_SUBJECTS, SUBJECT_ROOT } from '../api/subjects.ts';
import type { Bus } from '../bus/bus.ts';
import type { Registry } from '../registry/registry.ts';
import type { Store } from '../registry/store.ts';
import type { CredentialStore } from './credentials.ts';
import { ExportIndex } from './exports.ts';
import { ReportIngest } from './ingest.ts';
import { LivenessController } from './liveness.ts';
import type { HubMetrics } from './metrics.ts';
import { RegistryView } from './registry-view.ts';
import { ServiceController } from './service-controller.ts';
import { WatchedPrefix } from './watched.ts';

export interface AgentGatewayDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly bus: Bus;
  readonly credentials: CredentialStore;
  readonly metrics: HubMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long the service controller gathers changes before sending them (coalescing). */
  readonly flushIntervalMs?: number;
  readonly livenessTickMs?: number;
  readonly leaseTtlSeconds?: number;
}

export interface AgentGateway {
  readonly services: ServiceController;
  readonly registryView: RegistryView;
  stop(): Promise<void>;
}

export const HUB_QUEUE = 'causeway-hub';
export const LEADER_ELECTION = leaderElectionKey('agent-gateway');

export async function startAgentGateway(deps: AgentGatewayDeps): Promise<AgentGateway> {
  const { store, registry, bus, credentials, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const ac = new AbortController();
  const count = (kind: string, result: string): void => {
    metrics.agentMessages.inc({ kind, result });
  };
  const warn = (fields: Record<string, unknown>, message: string): void => {
    logger.warn(fields, message);
  };

  const objects = new WatchedPrefix(store, OBJECTS_PREFIX);
  const exportsWatch = new WatchedPrefix(store, EXPORTS_PREFIX);
  const view = new RegistryView(objects);
  const exports = new ExportIndex(exportsWatch);
  const services = new ServiceController({
    bus,
    store,
    view,
    exports,
    logger,
    count,
    flushIntervalMs: deps.flushIntervalMs ?? 20,
  });
  const liveness = new LivenessController({
    registry,
    clusters: () => view.clusters(),
    cluster: (name) => view.cluster(name),
    sentRevision: (cluster) => services.sentRevision(cluster),
    now,
    count,
    warn,
  });

  // A deleted cluster loses its credential and its exports (level-based: the sweep below also
  // catches deletions that happened while no hub was running).
  const forget = (cluster: string): void => {
    void (async () => {
      await credentials.revoke(cluster).catch(() => undefined);
      const { kvs } = await store.range(clusterExportsPrefix(cluster));
      if (kvs.length > 0)
        await store.txn(
          [],
          kvs.map((kv) => ({ type: 'delete' as const, key: kv.key })),
        );
      logger.info({ cluster }, 'cluster deleted: credential revoked, exports dropped');
    })().catch((err: unknown) => {
      warn({ cluster, err }, 'clean-up after cluster deletion failed');
    });
  };
  view.onChange((changes) => {
    for (const c of changes) if (c.kind === 'Cluster' && c.before !== undefined && c.after === undefined) forget(c.before.metadata.name);
  });

  const runs = [
    objects.run(ac.signal, (err) => {
      warn({ err }, 'registry watch failed; relisting');
    }),
    exportsWatch.run(ac.signal, (err) => {
      warn({ err }, 'exports watch failed; relisting');
    }),
  ];
  await Promise.all([objects.ready(), exportsWatch.ready()]);
  await services.start(Math.max(objects.revision, exportsWatch.revision));

  // One replica leads: it sends imports, allocates VIPs and writes liveness. Every replica keeps
  // the model and hears heartbeats, so a new leader takes over without withdrawing anything.
  const identity = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  let leading = false;
  const setLeader = (leader: boolean): void => {
    leading = leader;
    services.setLeader(leader);
    liveness.setLeader(leader);
    logger.info({ identity, leader }, leader ? 'leading the agent gateway' : 'following');
  };
  const stopping = (): boolean => ac.signal.aborted;
  const campaignLoop = async (): Promise<void> => {
    while (!stopping()) {
      try {
        const leadership = await store.campaign(LEADER_ELECTION, identity, deps.leaseTtlSeconds ?? 10, ac.signal);
        if (stopping()) return;
        setLeader(true);
        for (const cluster of await credentials.clustersWithCredentials()) if (view.cluster(cluster) === undefined) forget(cluster);
        const err = await Promise.race([
          leadership.lost,
          new Promise<undefined>((r) => {
            ac.signal.addEventListener(
              'abort',
              () => {
                r(undefined);
              },
              { once: true },
            );
          }),
        ]);
        if (leading) setLeader(false);
        if (err !== undefined) warn({ err }, 'lost the agent gateway leadership; campaigning again');
        await leadership.resign();
      } catch (err) {
        if (stopping()) return;
        warn({ err }, 'campaign failed; retrying');
        await sleep(1000);
      }
    }
  };
  const campaigning = campaignLoop();

  const ingest = new ReportIngest({ store, bus, exports, clusterExists: (c) => view.cluster(c) !== undefined, count, warn });
  const subs = [
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.report`, { queue: HUB_QUEUE }, (msg) => {
      ingest.handle(msg);
    }),
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.heartbeat`, {}, (msg) => {
      liveness.handleHeartbeat(msg);
    }),
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.sync`, {}, (msg) => {
      services.handleSync(msg);
    }),
  ];
  const tick = setInterval(() => {
    liveness.tick();
  }, deps.livenessTickMs ?? 1000);
  logger.info({ subjects: ALL_AGENT_SUBJECTS }, 'agent gateway listening');

  return {
    services,
    registryView: view,
    stop: async () => {
      clearInterval(tick);
      for (const s of subs) s.unsubscribe();
      services.stop();
      ac.abort();
      await Promise.allSettled([...runs, campaigning]);
    },
  };
}
