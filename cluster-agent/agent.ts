// The agent: a thin composition of controllers on the kernel (controlplane/kernel/controller.ts)
// between the cluster (ClusterPort) and the hub (HubTransport). Each controller owns one kind of
// key and its own state; they meet only through the calls wired here.
//
// - imports (controllers/import-controller.ts), keyed by service: batches from the hub update the
//   desired state; each service is applied on its own, with its own backoff; deletes only once a
//   complete snapshot is in, so a restarted agent adopts what its predecessor wrote and a hub or
//   NATS outage withdraws nothing. `appliedRevision` is the revision every key has been through.
// - reporter (controllers/reporter.ts): reports, one at a time, full after start and reconnect.
// - sync (controllers/sync.ts): asks the hub for what was missed (jittered after a reconnect).
// - settings (controllers/settings-controller.ts): the cluster's own settings from the hub — its
//   LoadBalancer block, written as the MetalLB IPAddressPool the agent owns.
// - workloads (controllers/workload-reporter.ts): the cluster's namespaces and pods for the hub's
//   policy World, complete each time, coalesced, sent when they changed (issue 10 §5).
// - policy (controllers/policy-controller.ts): the cluster's compiled GlobalPolicy from the hub,
//   written as NetworkPolicies the agent owns; deletes only from a complete snapshot (ADR 0017).
// - heartbeat and adoption/drift check: periodic single-key controllers (controllers/single-key.ts).
//   A heartbeat also goes early, at most one per 250 ms, whenever the applied revision advanced, so
//   the hub (and `causeway apply --wait`) learns of an apply within a fraction of a second.
import { randomUUID } from 'node:crypto';
import { MAX_MESSAGE_BYTES, serviceKeyString, type ClusterSettings, type Heartbeat, type ImportBatch } from '../controlplane/api/messages.ts';
import { systemClock, type Clock } from '../controlplane/kernel/clock.ts';
import type { Controller } from '../controlplane/kernel/controller.ts';
import { ImportController, type AppliedImports } from './controllers/import-controller.ts';
import { PolicyController } from './controllers/policy-controller.ts';
import { WorkloadReporter } from './controllers/workload-reporter.ts';
import type { PolicySnapshot } from './planners/policy-plan.ts';
import { SettingsController } from './controllers/settings-controller.ts';
import { periodicController, type KernelSettings } from './controllers/single-key.ts';
import { Reporter } from './controllers/reporter.ts';
import { SyncController } from './controllers/sync.ts';
import type { ServiceExportObject } from './objects.ts';
import { agentConditions } from './planners/conditions.ts';
import { heartbeatMessage } from './planners/heartbeat.ts';
import { EARLY_HEARTBEAT_MIN_GAP_MS, earlyHeartbeatDelay } from './planners/early-heartbeat.ts';
import { ConnectionState, type ClusterEvents, type ClusterPort, type HubTransport } from './ports.ts';
import { newMetrics, silentLogger, type AgentLogger, type AgentMetrics } from './telemetry.ts';

export { silentLogger, type AgentLogger, type AgentMetrics } from './telemetry.ts';
export type { AppliedImport, AppliedImports } from './controllers/import-controller.ts';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  readonly cluster: string;
  readonly agentVersion?: string;
  /** Default 5 s. */
  readonly heartbeatIntervalMs?: number;
  /** After the applied revision advanced, a heartbeat goes early, but never sooner than this after the last one. Default 250 ms. */
  readonly earlyHeartbeatMinGapMs?: number;
  /** Syncs after start and reconnect wait a random 0..this, so 1,000 agents do not arrive at once. Default 2 s. */
  readonly resyncJitterMs?: number;
  /** Retry backoff of Kubernetes writes (per service) and, up to `hubRetryMaxMs`, of what the hub is asked. Default 250 ms doubling to 30 s. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /**
   * The retry ceiling of reports, syncs, settings, workloads and policy requests: default 5 s. A
   * hub that was away (a NATS restart, a failover) is back within seconds; a retry grown to 30 s
   * meanwhile would keep this cluster's changes from everyone that long after it came back.
   */
  readonly hubRetryMaxMs?: number;
  /** After a sync reply, how long the remaining chunks of a chunked batch may take. Default 5 s. */
  readonly chunkWaitMs?: number;
  /** How often owned objects are relisted to repair drift (someone edited or deleted them). Default 5 min; 0 disables. */
  readonly driftCheckIntervalMs?: number;
  /** Kubernetes writes in flight at once (services reconciled at once). Default 8. */
  readonly applyConcurrency?: number;
  /** Largest report sent; default the protocol's MAX_MESSAGE_BYTES less room for the envelope. */
  readonly maxReportBytes?: number;
  readonly nodeLabelAllowList?: readonly string[];
  /** How long Namespace and Pod changes gather before a workloads report. Default 200 ms. */
  readonly workloadsCoalesceMs?: number;
  /** How long the agent waits for its compiled policy before asking the hub again. Default 5 s. */
  readonly policyAskRetryMs?: number;
  readonly logger?: AgentLogger;
  readonly random?: () => number;
  readonly now?: () => Date;
  /** Timers of retries and periodic work; default the system clock. */
  readonly clock?: Clock;
}

/** The largest report the agent sends by default: a message less room for its envelope. */
export const DEFAULT_MAX_REPORT_BYTES = MAX_MESSAGE_BYTES - 4096;
const HEARTBEAT = 'heartbeat';

const keyOfExport = (se: ServiceExportObject): string => serviceKeyString({ namespace: se.metadata.namespace ?? '', name: se.metadata.name });

export class Agent {
  readonly metrics: AgentMetrics = newMetrics();
  readonly session: string = randomUUID();

  private readonly cluster: ClusterPort;
  private readonly transport: HubTransport;
  private readonly options: AgentOptions;
  private readonly log: AgentLogger;
  /** Retry backoff, timers and randomness every controller here runs with. */
  private readonly kernel: KernelSettings;
  private readonly imports: ImportController;
  private readonly reporter: Reporter;
  private readonly syncs: SyncController;
  private readonly settings: SettingsController;
  private readonly workloads: WorkloadReporter;
  private readonly policy: PolicyController;
  private readonly heartbeats: Controller<string>;
  /** When the last heartbeat went (kernel clock), for the early heartbeat's gap. */
  private lastHeartbeatAt: number | undefined;
  /** The applied revision advanced since the last heartbeat went. */
  private appliedSinceHeartbeat = false;
  /** What the Kubernetes watches and the hub last said, for the heartbeat's conditions. */
  private readonly kube = { synced: false, healthy: true, message: 'watches starting' };
  private readonly hub = { reachable: false, message: 'not connected yet' };
  private readonly abort = new AbortController();
  private runs: Promise<void>[] = [];

  constructor(cluster: ClusterPort, transport: HubTransport, options: AgentOptions) {
    this.cluster = cluster;
    this.transport = transport;
    this.options = options;
    this.log = options.logger ?? silentLogger;
    this.kernel = {
      backoff: { baseMs: options.retryBaseMs ?? 250, maxMs: options.retryMaxMs ?? 30_000 },
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
    };
    const shared = { ...this.kernel, metrics: this.metrics, log: this.log };
    const retryMaxMs = options.retryMaxMs ?? 30_000;
    const hubShared = {
      ...shared,
      backoff: { baseMs: this.kernel.backoff.baseMs, maxMs: Math.min(retryMaxMs, options.hubRetryMaxMs ?? 5000) },
    };
    const onHub = (reachable: boolean, message: string): void => {
      this.hub.reachable = reachable;
      this.hub.message = message;
    };
    this.imports = new ImportController({
      ...shared,
      cluster: options.cluster,
      port: cluster,
      concurrency: options.applyConcurrency ?? 8,
      now: options.now ?? (() => new Date()),
      onApplied: () => {
        this.heartbeatSoon();
      },
    });
    this.reporter = new Reporter({
      ...hubShared,
      cluster: options.cluster,
      session: this.session,
      port: cluster,
      transport,
      maxReportBytes: options.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES,
      nodeLabelAllowList: options.nodeLabelAllowList,
      onHub,
    });
    this.syncs = new SyncController({
      ...hubShared,
      cluster: options.cluster,
      session: this.session,
      transport,
      imports: this.imports,
      deliver: (b) => {
        this.handleBatch(b, true);
      },
      jitterMs: options.resyncJitterMs ?? 2000,
      chunkWaitMs: options.chunkWaitMs ?? 5000,
      onHub,
    });
    this.settings = new SettingsController({
      ...hubShared,
      cluster: options.cluster,
      session: this.session,
      port: cluster,
      transport,
      jitterMs: options.resyncJitterMs ?? 2000,
      driftCheckIntervalMs: options.driftCheckIntervalMs ?? 300_000,
    });
    this.workloads = new WorkloadReporter({
      ...hubShared,
      cluster: options.cluster,
      session: this.session,
      port: cluster,
      transport,
      maxReportBytes: options.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES,
      coalesceMs: options.workloadsCoalesceMs ?? 200,
    });
    this.policy = new PolicyController({
      ...hubShared,
      cluster: options.cluster,
      session: this.session,
      port: cluster,
      transport,
      jitterMs: options.resyncJitterMs ?? 2000,
      askRetryMs: options.policyAskRetryMs ?? 5000,
      driftCheckIntervalMs: options.driftCheckIntervalMs ?? 300_000,
    });
    this.heartbeats = periodicController({
      ...this.kernel,
      name: HEARTBEAT,
      intervalMs: options.heartbeatIntervalMs ?? 5000,
      work: () => {
        this.sendHeartbeat();
        return Promise.resolve();
      },
      onError: (err) => {
        this.log.warn({ err }, 'heartbeat failed');
      },
    });
  }

  /** The revision of the desired state the agent holds (deltas must start here). */
  stateRevision(): number {
    return this.imports.revision();
  }

  /** The revision whose desired state every service has been through (those failing aside: see the heartbeat). */
  appliedRevision(): number {
    return this.imports.appliedRevision();
  }

  /** The ServiceImports and EndpointSlices applied to the cluster, per service (read-only; what clusterset.local answers from). */
  appliedImports(): AppliedImports {
    return this.imports.appliedImports();
  }

  /** Services whose last apply failed, with the error. */
  failingServices(): ReadonlyMap<string, string> {
    return this.imports.failing();
  }

  /** Public for tests and in-memory benchmarks; normally fed by the transport and the sync controller. */
  handleBatch(batch: ImportBatch, solicited: boolean): void {
    // A new leader's "sync wanted" replaces a sync in flight (to a hub that may be gone).
    if (this.imports.receive(batch, solicited).needSync) this.syncs.request(batch.syncWanted === true);
  }

  /** Starts every controller and returns: the agent serves its cluster whether or not the hub or the API answer yet. */
  async start(): Promise<void> {
    if (this.runs.length > 0) throw new Error('agent already started');
    const signal = this.abort.signal;
    const adoption = periodicController({
      ...this.kernel,
      name: 'owned-objects',
      intervalMs: this.options.driftCheckIntervalMs ?? 300_000,
      work: async (s) => {
        this.imports.adopt(await this.cluster.listOwned(s));
      },
      onError: (err, retryInMs) => {
        this.log.warn({ err, retryInMs }, 'listing owned objects failed; retrying');
      },
    });
    this.runs = [
      this.imports.run(signal),
      this.reporter.run(signal),
      this.syncs.run(signal),
      this.heartbeats.run(signal),
      this.settings.run(signal),
      this.workloads.run(signal),
      this.policy.run(signal),
      adoption.run(signal),
      this.watchCluster(signal),
    ].map((p) =>
      p.catch((err: unknown) => {
        if (!signal.aborted) this.log.error({ err }, 'agent controller failed');
      }),
    );
    this.syncs.requestJittered();
    await this.transport.start(
      {
        imports: (batch) => {
          this.handleBatch(batch, false);
        },
        settings: (settings) => {
          this.settings.receive(settings);
        },
        policy: (part) => {
          this.policy.receive(part);
        },
        connection: (state) => {
          this.onConnection(state);
        },
      },
      signal,
    );
  }

  /** Stops the controllers (not the ports: whoever made them closes them, in reverse order). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.runs);
  }

  private async watchCluster(signal: AbortSignal): Promise<void> {
    const events: ClusterEvents = {
      exportChanged: (key) => {
        const k = serviceKeyString(key);
        this.reporter.markDirty(k);
        this.imports.enqueue(k);
        // An exported Service's selector is part of the workloads report.
        this.workloads.markDirty();
      },
      workloadsChanged: () => {
        this.workloads.markDirty();
      },
      nodesChanged: () => {
        for (const se of this.cluster.serviceExports()) this.reporter.markDirty(keyOfExport(se));
      },
      healthChanged: (healthy, message) => {
        this.kube.healthy = healthy;
        this.kube.message = message;
      },
    };
    await this.cluster.start(events, signal);
    if (signal.aborted) return;
    this.kube.synced = true;
    // Everything listed so far is the complete export set: the first report is full.
    this.reporter.synced();
    this.workloads.synced();
    for (const se of this.cluster.serviceExports()) this.imports.enqueue(keyOfExport(se));
    this.log.info({ cluster: this.options.cluster }, 'kubernetes caches synced');
  }

  private onConnection(state: ConnectionState): void {
    this.log.info({ cluster: this.options.cluster, state }, 'hub connection');
    if (state === ConnectionState.Disconnected) {
      this.hub.reachable = false;
      this.hub.message = 'NATS connection lost; reconnecting';
      return;
    }
    if (state === ConnectionState.Reconnected) this.metrics.reconnects += 1;
    // The hub may have missed reports and we may have missed deltas while we were away.
    this.reporter.requestFull();
    this.syncs.requestJittered();
    this.settings.requestJittered();
    this.workloads.requestFull();
    this.policy.requestJittered();
  }

  /** The settings the hub last gave this cluster (its LoadBalancer block); undefined until it answered. */
  clusterSettings(): ClusterSettings | undefined {
    return this.settings.settings();
  }

  /** The newest complete compiled-policy snapshot the hub sent; undefined until one arrived. */
  policySnapshot(): PolicySnapshot | undefined {
    return this.policy.snapshot();
  }

  /** The compiled-policy snapshot applied in full to the cluster. */
  appliedPolicy(): { term: number; seq: number } | undefined {
    return this.policy.appliedSnapshot();
  }

  private sendHeartbeat(): void {
    if (!this.transport.connected()) return;
    this.transport.heartbeat(this.heartbeat());
    this.metrics.heartbeatsSent += 1;
    if (this.appliedSinceHeartbeat) this.metrics.earlyHeartbeats += 1;
    this.appliedSinceHeartbeat = false;
    this.lastHeartbeatAt = this.kernel.clock.now();
  }

  /** The applied revision advanced: a heartbeat now, or once the gap since the last one is over. */
  private heartbeatSoon(): void {
    const gap = this.options.earlyHeartbeatMinGapMs ?? EARLY_HEARTBEAT_MIN_GAP_MS;
    this.appliedSinceHeartbeat = true;
    this.heartbeats.addAfter(HEARTBEAT, earlyHeartbeatDelay(this.lastHeartbeatAt, this.kernel.clock.now(), gap));
  }

  heartbeat(): Heartbeat {
    return heartbeatMessage({
      cluster: this.options.cluster,
      session: this.session,
      agentVersion: this.options.agentVersion ?? AGENT_VERSION,
      appliedRevision: this.imports.appliedRevision(),
      time: this.options.now?.() ?? new Date(),
      conditions: agentConditions({
        kube: this.kube,
        hub: this.hub,
        imports: {
          snapshotApplied: this.imports.snapshotApplied(),
          applied: this.imports.appliedRevision(),
          revision: this.imports.revision(),
          failing: this.imports.failing(),
          syncing: this.syncs.syncing(),
        },
      })
        .concat(this.settings.condition() ?? [])
        .concat(this.policy.heartbeatCondition() ?? []),
      policy: this.policy.appliedSnapshot(),
      holds: this.imports.holds(),
    });
  }
}
