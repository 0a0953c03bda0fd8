// Everything the hub does for agents, wired in one place: the watch-fed views of the registry and
// of the exports, report ingestion, heartbeats and liveness, the service model that turns exports
// into per-cluster imports, and the clean-up after a cluster is deleted (credential revoked,
// exports dropped). One replica leads (an etcd election, gateway-leadership.ts): for each term it
// won, the leader-only controllers (delivery, VIPs, liveness writes, the provider reconcilers per
// Network) run with that term's AbortSignal, so losing the lease stops their work in flight.
import type { Logger } from 'pino';
import { EXPORTS_PREFIX, OBJECTS_PREFIX, VIPS_PREFIX } from '../api/keys.ts';
import { ALL_AGENT_SUBJECTS, SUBJECT_ROOT } from '../api/subjects.ts';
import type { ClusterResource } from '../api/resources.ts';
import { effectiveCidrs } from '../api/semantic.ts';
import type { Bus, Subscription } from '../bus/bus.ts';
import { systemClock, type Clock } from '../kernel/clock.ts';
import type { Registry } from '../registry/registry.ts';
import { guardedWrites, type Store } from '../registry/store.ts';
import { VipStore } from '../registry/vip-store.ts';
import type { CredentialStore } from './credentials.ts';
import { ExportIndex } from './exports.ts';
import { ReportIngest } from './ingest.ts';
import { ClusterSettingsController } from './cluster-settings.ts';
import { CredentialRenewals } from './renewals.ts';
import type { ProvidersConfig } from './config.ts';
import { AddressConflictController } from './controllers/address-conflict-controller.ts';
import { ConvergenceService } from './convergence.ts';
import { NetworkController } from './controllers/network-controller.ts';
import { HubProviders, RegistryIntentSource } from './providers.ts';
import { LivenessController } from './liveness.ts';
import { PolicyController } from './policy-controller.ts';
import { PolicyDelivery } from './policy-delivery.ts';
import { WorkloadIngest } from './workload-ingest.ts';
import { StoredWorkloads } from './workload-store.ts';
import type { HubMetrics } from './metrics.ts';
import { RegistryView } from './registry-view.ts';
import { changesPlanInputs, planInputsWatcher } from './plan-inputs.ts';
import { ServiceController } from './service-controller.ts';
import { vipChanges } from './vip-changes.ts';
import { WatchedPrefix } from './watched.ts';
import { campaign, forgetter, type LeadershipDeps, type Term } from './gateway-leadership.ts';

export interface AgentGatewayDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly bus: Bus;
  readonly credentials: CredentialStore;
  readonly metrics: HubMetrics;
  readonly logger: Logger;
  /** Liveness time (tests); default the system clock. */
  readonly clock?: Clock;
  /** How long the service controller gathers changes before sending them (coalescing). */
  readonly flushIntervalMs?: number;
  /** The leadership lease (etcd TTL); default DEFAULT_LEADER_LEASE_SECONDS. A standby takes over about this long after the leader dies. */
  readonly leaseTtlSeconds?: number;
  /**
   * Stable across restarts of this replica (kept in its data dir): the campaign's candidate starts
   * with it, so a replica restarted after kill -9 ends its dead self's term at once instead of
   * waiting out the lease (10.7-11.1 s before this).
   */
  readonly replicaId?: string;
  /** How to reach the providers the Networks name (hub config `providers`). */
  readonly providers?: ProvidersConfig;
}

export interface AgentGateway {
  readonly services: ServiceController;
  readonly registryView: RegistryView;
  /** The route plan and the provider plans (read-only; any replica answers). */
  readonly providers: HubProviders;
  /** Whether every cluster applied a revision (`apply --wait`; any replica answers, asking the leader). */
  readonly convergence: ConvergenceService;
  /** GlobalPolicy compiled per cluster (leader), and the World explain and plan read (any replica). */
  readonly policy: PolicyController;
  stop(): Promise<void>;
}

export const HUB_QUEUE = 'causeway-hub';
export { DEFAULT_LEADER_LEASE_SECONDS, LEADER_ELECTION } from './gateway-leadership.ts';
type Warn = (fields: Record<string, unknown>, message: string) => void;
type Count = (kind: string, result: string) => void;

/** The parts of the gateway, built but not started. */
interface Parts {
  readonly objects: WatchedPrefix;
  readonly exportsWatch: WatchedPrefix;
  readonly vipsWatch: WatchedPrefix;
  readonly view: RegistryView;
  readonly exports: ExportIndex;
  readonly services: ServiceController;
  readonly liveness: LivenessController;
  readonly ingest: ReportIngest;
  readonly renewals: CredentialRenewals;
  readonly providers: HubProviders;
  readonly intents: RegistryIntentSource;
  readonly networks: NetworkController;
  readonly addressConflicts: AddressConflictController;
  readonly convergence: ConvergenceService;
  readonly settings: ClusterSettingsController;
  readonly policy: PolicyController;
  readonly workloadIngest: WorkloadIngest;
  readonly policyDelivery: PolicyDelivery;
}

export async function startAgentGateway(deps: AgentGatewayDeps): Promise<AgentGateway> {
  const { logger } = deps;
  const ac = new AbortController();
  const count: Count = (kind, result) => {
    deps.metrics.agentMessages.inc({ kind, result });
  };
  const warn: Warn = (fields, message) => {
    logger.warn(fields, message);
  };
  const term: Term = { guard: undefined };
  const hooks: PartHooks = { policyCompiled: () => undefined };
  const parts = buildParts(deps, term, count, warn, ac.signal, hooks);
  const { objects, exportsWatch, vipsWatch, view, services, liveness } = parts;
  const leadership: LeadershipDeps = {
    store: deps.store,
    credentials: deps.credentials,
    logger,
    leaseTtlSeconds: deps.leaseTtlSeconds,
    replicaId: deps.replicaId,
    warn,
  };
  const forget = forgetter(leadership, ac.signal);
  const planInputsChanged = planInputsWatcher(parts);
  hooks.policyCompiled = planInputsChanged;
  view.onChange((changes) => {
    // A Network of a provider not seen before: its SDK loads now, on every replica, not in a term.
    const networks = changes.flatMap((c) => (c.after?.kind === 'Network' ? [c.after.spec.provider] : []));
    if (networks.length > 0) void parts.providers.warm(networks, warn);
    for (const c of changes) {
      if (c.kind !== 'Cluster') continue;
      liveness.clusterChanged(c.ref.slice(c.ref.lastIndexOf('/') + 1));
      parts.settings.clusterChanged(c.ref.slice(c.ref.lastIndexOf('/') + 1));
      if (c.before !== undefined && c.after === undefined) forget(c.before.metadata.name);
    }
    if (changes.some(changesPlanInputs)) planInputsChanged();
    // Overlaps are of declared and allocated ranges: a conditions-only status write changes none.
    parts.addressConflicts.changed(changes.filter(changesPlanInputs).map((c) => c.kind));
  });
  const planKeys = new Map<string, string>();
  parts.exports.onChange((changes) => {
    // Endpoint churn changes no plan input (the plan reads an export's ports and export-to, not its
    // addresses): only a change of those, or an export coming or going, is looked at further.
    let relevant = false;
    for (const c of changes) {
      const id = `${c.cluster} ${c.service}`;
      const key = c.state === undefined ? undefined : JSON.stringify([c.state.endpointPorts ?? c.state.ports, c.state.exportTo ?? null]);
      if (planKeys.get(id) === key) continue;
      relevant = true;
      if (key === undefined) planKeys.delete(id);
      else planKeys.set(id, key);
    }
    if (relevant) planInputsChanged();
  });

  const runs = [
    objects.run(ac.signal, (err) => {
      warn({ err }, 'registry watch failed; relisting');
    }),
    exportsWatch.run(ac.signal, (err) => {
      warn({ err }, 'exports watch failed; relisting');
    }),
    vipsWatch.run(ac.signal, (err) => {
      warn({ err }, 'VIP watch failed; relisting');
    }),
  ];
  vipsWatch.onChange((changes, revision) => {
    services.vipsChanged(vipChanges(changes), revision);
  });
  await Promise.all([objects.ready(), exportsWatch.ready()]);
  await services.start(Math.max(objects.revision, exportsWatch.revision), ac.signal);
  // Before campaigning: a replica elected at once must not spend its first seconds loading SDKs.
  await parts.providers.warm(
    view.networks().map((n) => n.spec.provider),
    warn,
  );

  const campaigning = campaign(
    leadership,
    term,
    (signal) => leadTerm(parts, signal),
    (c) => view.cluster(c) !== undefined,
    forget,
    ac.signal,
  );
  const subs = subscribeAgents(deps.bus, parts);
  logger.info({ subjects: ALL_AGENT_SUBJECTS }, 'agent gateway listening');

  return {
    services,
    registryView: view,
    providers: parts.providers,
    convergence: parts.convergence,
    policy: parts.policy,
    stop: async () => {
      for (const s of subs) s.unsubscribe();
      liveness.stop();
      services.stop();
      ac.abort();
      await Promise.allSettled([...runs, campaigning, parts.ingest.drain(), parts.workloadIngest.drain()]);
      await parts.providers.close();
    },
  };
}

/** Callbacks from the parts into wiring made after them. */
interface PartHooks {
  policyCompiled: () => void;
}

function buildParts(deps: AgentGatewayDeps, term: Term, count: Count, warn: Warn, signal: AbortSignal, hooks: PartHooks): Parts {
  const { store, bus, logger } = deps;
  const objects = new WatchedPrefix(store, OBJECTS_PREFIX);
  const exportsWatch = new WatchedPrefix(store, EXPORTS_PREFIX);
  // VIPs the leader assigns: every replica's model must carry them, or a new leader's imports
  // would lack the VIPs until its own VIP controller confirmed each one (and would not match what
  // the agents hold, so none could be resumed without a sync).
  const vipsWatch = new WatchedPrefix(store, VIPS_PREFIX);
  const view = new RegistryView(objects);
  const exports = new ExportIndex(exportsWatch);
  const services: ServiceController = new ServiceController({
    bus,
    // Compared with the term in etcd: an allocation in flight when the lease goes writes nothing.
    vips: new VipStore(guardedWrites(store, () => term.guard)),
    view,
    exports,
    logger,
    count,
    flushIntervalMs: deps.flushIntervalMs ?? 20,
    // Called only after construction, once `liveness` below exists.
    judgesSilence: (cluster: ClusterResource): boolean => liveness.judgesSilence(cluster),
  });
  const liveness: LivenessController = new LivenessController({
    registry: deps.registry,
    clusters: () => view.clusters(),
    cluster: (name) => view.cluster(name),
    sentRevision: (cluster) => services.sentRevision(cluster),
    ...(deps.clock !== undefined ? { clock: deps.clock } : {}),
    connection: bus,
    info: (fields, message) => {
      logger.info(fields, message);
    },
    count,
    warn,
    heard: (cluster, heartbeat) => {
      services.accepts(cluster, heartbeat.accepts);
      services.holds(cluster, heartbeat.holds);
      deps.metrics.propagation.observe(services.propagation.acknowledged(cluster, heartbeat.appliedRevision, performance.now()));
    },
  });
  deps.metrics.propagation.bind({
    clusters: () => view.clusters().map((c) => c.metadata.name),
    lagMs: (cluster) => services.propagation.lagMs(cluster, performance.now()),
    behind: (cluster) => {
      const sent = services.sentRevision(cluster);
      const applied = liveness.lastHeard(cluster)?.heartbeat.appliedRevision;
      return sent === undefined || applied === undefined ? undefined : Math.max(0, sent - applied);
    },
    expired: () => services.propagation.expired(),
    warmPasses: () => services.warmPasses(),
  });
  const ingest = new ReportIngest({
    store,
    bus,
    exports,
    clusterExists: (c) => view.cluster(c) !== undefined,
    clusterRanges: (c) => endpointRanges(view.cluster(c)),
    count,
    warn,
    signal,
  });
  const renewals = new CredentialRenewals({ bus, credentials: deps.credentials, clusterExists: (c) => view.cluster(c) !== undefined, count, warn });
  const intents = new RegistryIntentSource(view, () => exports.all());
  const providers = new HubProviders({ store, intents, config: deps.providers ?? {} });
  const networks = new NetworkController({
    networks: () => view.networks(),
    adapter: (provider) => providers.adapter(provider),
    reconciles: (provider) => HubProviders.reconciles(provider),
    registry: deps.registry,
    warn,
    reconciled: (network, changes, drift) => {
      deps.metrics.providerChanges.inc({ network, kind: 'applied' }, changes);
      if (drift > 0) deps.metrics.providerChanges.inc({ network, kind: 'drift' }, drift);
      logger.info({ network, changes, drift }, drift > 0 ? 'network reconciled; drift made outside Causeway repaired' : 'network reconciled');
    },
  });
  // Leader only, like the others: an overlap a provider observed after the fact is reported on both objects.
  const addressConflicts = new AddressConflictController({
    resources: () => [...view.clusters(), ...view.pools(), ...view.networks()],
    registry: deps.registry,
    warn,
  });
  const convergence = new ConvergenceService({
    bus,
    deliveryState: () => services.deliveryState(),
    clusters: () => view.clusters(),
    lastHeard: (cluster) => liveness.lastHeard(cluster),
    clock: deps.clock ?? systemClock,
    warn,
  });
  // Leader only: each compile's result goes to the cluster's agent (ADR 0017).
  const policyDelivery = new PolicyDelivery({ bus, term: () => term.guard?.modRevision ?? 0, count, warn });
  const policy = new PolicyController({
    view,
    exports,
    intents,
    workloads: new StoredWorkloads(store, signal, warn),
    registry: deps.registry,
    warn,
    compiled: (cluster, result) => {
      policyDelivery.compiled(cluster, result);
      // What policy allows narrows the cloud firewall openings too.
      hooks.policyCompiled();
    },
  });
  intents.narrowWith(() => policy.cloudNarrowing());
  const workloadIngest = new WorkloadIngest({
    store,
    bus,
    clusterExists: (c) => view.cluster(c) !== undefined,
    clusterRanges: (c) => endpointRanges(view.cluster(c)),
    count,
    warn,
    signal,
  });
  const settings = new ClusterSettingsController({ bus, cluster: (name) => view.cluster(name), clusters: () => view.clusters(), count, warn });
  return {
    objects,
    exportsWatch,
    vipsWatch,
    view,
    exports,
    services,
    liveness,
    ingest,
    renewals,
    providers,
    intents,
    networks,
    addressConflicts,
    convergence,
    settings,
    policy,
    workloadIngest,
    policyDelivery,
  };
}

/** The leader-only controllers of one term, with its signal. */
function leadTerm(parts: Parts, signal: AbortSignal): Promise<unknown> {
  return Promise.all([
    parts.services.lead(signal),
    parts.liveness.lead(signal),
    parts.networks.lead(signal),
    parts.addressConflicts.lead(signal),
    parts.convergence.lead(signal),
    parts.settings.lead(signal),
    // Before the compiles it publishes.
    parts.policyDelivery.lead(signal),
    parts.policy.lead(signal),
  ]);
}

function subscribeAgents(bus: Bus, { ingest, liveness, services, renewals, settings, workloadIngest, policyDelivery }: Parts): Subscription[] {
  return [
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.workloads`, { queue: HUB_QUEUE }, (msg) => {
      workloadIngest.handle(msg);
    }),
    // Every replica hears policy requests; only the leader answers (policy-delivery.ts).
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.policy`, {}, (msg) => {
      policyDelivery.handleRequest(msg);
    }),
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.settings`, { queue: HUB_QUEUE }, (msg) => {
      settings.handleRequest(msg);
    }),
    bus.subscribe(`${SUBJECT_ROOT}.agent.*.renew`, { queue: HUB_QUEUE }, (msg) => {
      renewals.handle(msg);
    }),
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
}

/** Where a cluster's endpoints may be: its pod CIDRs (given or allocated) and spec.endpointCIDRs; undefined while it has none. */
function endpointRanges(cluster: ClusterResource | undefined): readonly string[] | undefined {
  if (cluster === undefined) return undefined;
  const ranges = [...effectiveCidrs(cluster).pod, ...(cluster.spec.endpointCIDRs ?? [])];
  return ranges.length > 0 ? ranges : undefined;
}
