// A light consumer: what the benchmark runs for most of its simulated clusters, so that the
// propagation figures measure the hub, etcd and NATS instead of a thousand simulated Kubernetes
// sides sharing two cores (issue 11 §4). It is the agent's hub-facing half, built from the agent's
// own parts, not a re-implementation of them:
//
// - the real NATS transport (cluster-agent/nats-transport.ts) with the cluster's own credential,
//   so nats-server enforces the same permissions, and its codec: every batch is decoded and
//   validated against the message schemas exactly as the agent's is;
// - the Reporter (cluster-agent/controllers/reporter.ts): export reports computed by computeExport
//   from ServiceExport, Service and EndpointSlice objects, one in flight, coalescing, full after
//   start and every reconnect;
// - the SyncController (controllers/sync.ts): the snapshot on start and after a gap, jittered after
//   a reconnect;
// - the pure receive planner (planners/receive.ts): deltas apply only on top of the revision held;
// - heartbeats carrying the applied revision (the agent's acknowledgement the hub reads for
//   `Synced` and `apply --wait`) and the summary of the state held (a new leader's resume point),
//   early after an apply, at most one per 250 ms.
//
// What it leaves out is the Kubernetes side: no ServiceImport or EndpointSlice is built, hashed or
// written. A batch counts as applied once it is in the desired state; the change markers it
// carries are reported from there (the full agent reports them from its EndpointSlice writes,
// bench-cluster.ts). Settings, workloads and compiled policy are not asked for.
import { randomUUID } from 'node:crypto';
import { serviceKeyString, type Heartbeat, type ImportBatch } from '../controlplane/api/messages.ts';
import { Wakeup } from '../controlplane/kernel/async.ts';
import { systemClock } from '../controlplane/kernel/clock.ts';
import type { Controller } from '../controlplane/kernel/controller.ts';
import { DEFAULT_MAX_REPORT_BYTES, type AgentLogger } from '../cluster-agent/agent.ts';
import { Reporter } from '../cluster-agent/controllers/reporter.ts';
import { periodicController, type KernelSettings } from '../cluster-agent/controllers/single-key.ts';
import { SyncController } from '../cluster-agent/controllers/sync.ts';
import { heartbeatMessage } from '../cluster-agent/planners/heartbeat.ts';
import { agentConditions } from '../cluster-agent/planners/conditions.ts';
import { EARLY_HEARTBEAT_MIN_GAP_MS, earlyHeartbeatDelay } from '../cluster-agent/planners/early-heartbeat.ts';
import {
  applyBatch,
  distrust,
  emptyReceiveState,
  heldImports,
  holdsClaim,
  receiveBatch,
  type DesiredState,
  type ReceiveState,
} from '../cluster-agent/planners/receive.ts';
import { ConnectionState, type HubTransport } from '../cluster-agent/ports.ts';
import { newMetrics, type AgentMetrics } from '../cluster-agent/telemetry.ts';
import type { LightCluster } from './light-cluster.ts';

const HEARTBEAT = 'heartbeat';

export interface LightAgentOptions {
  readonly cluster: string;
  readonly logger: AgentLogger;
  /** Random delay before a sync after start and reconnect (the agent's default: 2 s). */
  readonly resyncJitterMs?: number;
}

export class LightAgent {
  readonly metrics: AgentMetrics = newMetrics();
  readonly session: string = randomUUID();
  private readonly options: LightAgentOptions;
  private readonly port: LightCluster;
  private readonly transport: HubTransport;
  private readonly kernel: KernelSettings;
  private readonly reporter: Reporter;
  private readonly syncs: SyncController;
  private readonly heartbeats: Controller<string>;
  private state: ReceiveState = emptyReceiveState;
  private readonly desired: DesiredState = { imports: new Map(), hubStatus: new Map() };
  private readonly changed = new Wakeup();
  private readonly hub = { reachable: false, message: 'not connected yet' };
  private lastHeartbeatAt: number | undefined;
  private readonly abort = new AbortController();
  private runs: Promise<void>[] = [];

  constructor(port: LightCluster, transport: HubTransport, options: LightAgentOptions) {
    this.port = port;
    this.transport = transport;
    this.options = options;
    this.kernel = { backoff: { baseMs: 250, maxMs: 5000 }, clock: systemClock, random: Math.random };
    const shared = { ...this.kernel, metrics: this.metrics, log: options.logger };
    const onHub = (reachable: boolean, message: string): void => {
      this.hub.reachable = reachable;
      this.hub.message = message;
    };
    this.reporter = new Reporter({
      ...shared,
      cluster: options.cluster,
      session: this.session,
      port,
      transport,
      maxReportBytes: DEFAULT_MAX_REPORT_BYTES,
      nodeLabelAllowList: undefined,
      onHub,
    });
    this.syncs = new SyncController({
      ...shared,
      cluster: options.cluster,
      session: this.session,
      transport,
      imports: {
        snapshotApplied: () => this.state.snapshotApplied,
        revision: () => this.state.revision,
        hasGap: () => this.state.pendingDeltas.length > 0,
        held: () => (this.state.snapshotApplied ? heldImports(this.desired.imports) : undefined),
        reached: (revision, signal, timeoutMs) => this.changed.until(() => this.state.snapshotApplied && this.state.revision >= revision, signal, timeoutMs),
      },
      deliver: (b) => {
        this.handleBatch(b, true);
      },
      jitterMs: options.resyncJitterMs ?? 2000,
      chunkWaitMs: 5000,
      onHub,
    });
    this.heartbeats = periodicController({
      ...this.kernel,
      name: HEARTBEAT,
      intervalMs: 5000,
      work: () => {
        this.sendHeartbeat();
        return Promise.resolve();
      },
      onError: (err) => {
        options.logger.warn({ err }, 'heartbeat failed');
      },
    });
  }

  /** The revision of the desired state held; a light consumer has applied what it holds. */
  stateRevision(): number {
    return this.state.revision;
  }

  handleBatch(batch: ImportBatch, solicited: boolean): void {
    this.metrics.batchesReceived += 1;
    const r = receiveBatch(this.state, batch, solicited, this.options.cluster);
    this.state = r.state;
    this.metrics.batchesApplied += r.apply.length;
    let needSync = r.needSync;
    for (const b of r.apply) {
      const applied = applyBatch(this.desired, b);
      for (const key of applied.dirty) this.port.imported(key, this.desired.imports.get(key));
      if (applied.unfit.length > 0) {
        // As the agent does (import-controller.ts): start again from a snapshot.
        this.metrics.importsUnfit += applied.unfit.length;
        this.state = distrust(this.state);
        needSync = true;
        break;
      }
    }
    if (r.apply.length > 0) {
      this.heartbeats.addAfter(HEARTBEAT, earlyHeartbeatDelay(this.lastHeartbeatAt, this.kernel.clock.now(), EARLY_HEARTBEAT_MIN_GAP_MS));
    }
    this.changed.notify();
    if (needSync) this.syncs.request(batch.syncWanted === true);
  }

  async start(): Promise<void> {
    if (this.runs.length > 0) throw new Error('light agent already started');
    const signal = this.abort.signal;
    this.runs = [this.reporter.run(signal), this.syncs.run(signal), this.heartbeats.run(signal)].map((p) =>
      p.catch((err: unknown) => {
        if (!signal.aborted) this.options.logger.error({ err }, 'light agent controller failed');
      }),
    );
    await this.port.start({
      exportChanged: (key) => {
        this.reporter.markDirty(serviceKeyString(key));
      },
      nodesChanged: () => undefined,
      healthChanged: () => undefined,
    });
    this.reporter.synced();
    this.syncs.requestJittered();
    await this.transport.start(
      {
        imports: (batch) => {
          this.handleBatch(batch, false);
        },
        connection: (state) => {
          if (state === ConnectionState.Disconnected) {
            this.hub.reachable = false;
            this.hub.message = 'NATS connection lost; reconnecting';
            return;
          }
          if (state === ConnectionState.Reconnected) this.metrics.reconnects += 1;
          this.reporter.requestFull();
          this.syncs.requestJittered();
        },
      },
      signal,
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.runs);
  }

  private sendHeartbeat(): void {
    if (!this.transport.connected()) return;
    this.transport.heartbeat(this.heartbeat());
    this.metrics.heartbeatsSent += 1;
    this.lastHeartbeatAt = this.kernel.clock.now();
  }

  heartbeat(): Heartbeat {
    return heartbeatMessage({
      cluster: this.options.cluster,
      session: this.session,
      agentVersion: 'bench-light',
      appliedRevision: this.state.revision,
      holds: holdsClaim(this.state),
      time: new Date(),
      conditions: agentConditions({
        kube: { synced: true, healthy: true, message: 'light consumer: no Kubernetes side' },
        hub: this.hub,
        imports: {
          snapshotApplied: this.state.snapshotApplied,
          applied: this.state.revision,
          revision: this.state.revision,
          failing: new Map(),
          syncing: this.syncs.syncing(),
        },
      }),
    });
  }
}
