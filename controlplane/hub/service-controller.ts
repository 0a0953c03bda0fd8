// Turns every cluster's exports into what every other cluster must import. Changes from the
// registry and the exports are coalesced (`flushDelay`: the first change after a quiet spell goes at
// once, later ones wait for the end of that flush's `flushIntervalMs` window) and applied to
// the incremental service model (controlplane/services/: work proportional to what changed and who
// sees it); the consumers they touched are marked dirty in the delivery controller, which sends
// each its delta on top of the revision it last got, or a snapshot. The services they touched are
// marked in the VIP controller. Both of those run only while this hub leads; every replica keeps
// the model, for reads and so that a new leader takes over without withdrawing anything.
import type { Logger } from 'pino';
import { parseServiceKey, syncRequestCodec } from '../api/messages.ts';
import type { GlobalServiceView, ServicesView } from '../api/read-model.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { vipMap, type VipRegistry } from '../ipam/vips.ts';
import type { ClusterResource } from '../api/resources.ts';
import { trustedAvailability } from '../services/availability.ts';
import { applyChanges, type ModelChange } from '../services/changes.ts';
import { buildModel, type ServicesModel } from '../services/model.ts';
import { consumersOf, exportStatusFor, globalServices, importDigests, snapshotFor, warmSnapshot } from '../services/views.ts';
import type { DeliveryState } from './controllers/convergence-plan.ts';
import { DeliveryController } from './controllers/delivery.ts';
import { PropagationClock } from './controllers/propagation-clock.ts';
import { ttlMsOf } from './controllers/liveness-plan.ts';
import { VipController } from './controllers/vip-controller.ts';
import type { ExportIndex } from './exports.ts';
import type { RegistryView, ResourceChange } from './registry-view.ts';
import type { VipChange } from './vip-changes.ts';

export interface ServiceControllerDeps {
  readonly bus: Bus;
  readonly vips: VipRegistry;
  readonly view: RegistryView;
  readonly exports: ExportIndex;
  readonly logger: Logger;
  readonly count: (kind: string, result: string) => void;
  readonly flushIntervalMs: number;
  readonly now?: () => Date;
  /** Liveness can judge this cluster's silence now (LivenessController.judgesSilence); default: always. */
  readonly judgesSilence?: (cluster: ClusterResource) => boolean;
  /** How often a replica that does not lead looks at its snapshot memos again; default 5 s. */
  readonly warmIntervalMs?: number;
}

export class ServiceController implements ServicesView {
  private readonly deps: ServiceControllerDeps;
  private readonly delivery: DeliveryController;
  private readonly vipController: VipController;
  /** Seen → applied, per consumer and everywhere, for this leadership term (metrics; propagation-clock.ts). */
  readonly propagation = new PropagationClock();
  /** When the oldest change waiting for the next flush reached this hub (performance.now()). */
  private firstQueuedAt: number | undefined;
  private model: ServicesModel | undefined;
  private changes: ModelChange[] = [];
  private revisionSeen = 0;
  /** The revision the model reflects: what batches are labelled with. */
  private modelRevision = 0;
  private timer: { readonly kind: 'timeout'; readonly handle: NodeJS.Timeout } | { readonly kind: 'immediate'; readonly handle: NodeJS.Immediate } | undefined;
  /** When the last flush that changed what a cluster is sent ran (ms): where the coalescing window starts. */
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly startedAt: number;
  /** Per cluster whose stored False is not trusted yet: the timer that looks at it again. */
  private readonly trustTimers = new Map<string, NodeJS.Timeout>();
  private warmTimer: NodeJS.Timeout | undefined;
  private warmed = 0;
  /** Flushes that moved the model (ChangeResult.changed); the warm memos change only with them. */
  private flushes = 0;
  /** `flushes` when the last warm pass began, if it completed: an equal count means still warm. */
  private warmAt: number | undefined;

  constructor(deps: ServiceControllerDeps) {
    this.deps = deps;
    this.startedAt = this.nowMs();
    const warn = (fields: Record<string, unknown>, message: string): void => {
      deps.logger.warn(fields, message);
    };
    this.delivery = new DeliveryController({
      registered: (c) => deps.view.cluster(c) !== undefined,
      consumers: () => deps.view.clusters().map((c) => c.metadata.name),
      revision: () => this.modelRevision,
      desired: (c, held) => (this.model === undefined ? undefined : { ...snapshotFor(this.model, c, held), statuses: exportStatusFor(this.model, c) }),
      state: (c) => (this.model === undefined ? undefined : { imports: importDigests(this.model, c), statuses: exportStatusFor(this.model, c) }),
      publish: (subject, data) => {
        deps.bus.publish(subject, data);
      },
      count: deps.count,
      warn,
    });
    this.vipController = new VipController({
      vips: deps.vips,
      pools: () => deps.view.pools(),
      service: (key) => ({
        wanted: this.model?.services.get(key)?.merged.service.type === 'ClusterSetIP',
        known: this.model?.vips.get(key),
      }),
      keys: () => (this.model === undefined ? [] : new Set([...this.model.services.keys(), ...this.model.vips.keys()])),
      warn,
      ...(deps.now !== undefined ? { now: deps.now } : {}),
    });
  }

  /** Builds the model from the views (which must be synced, at `revision`) and follows them. */
  async start(revision: number, signal?: AbortSignal): Promise<void> {
    const { view, exports } = this.deps;
    const assigned = await this.deps.vips.list(signal);
    this.model = buildModel(
      {
        clusters: view.clusters().map((c) => this.trusted(c)),
        networks: view.networks(),
        exports: exports.all(),
        externalServices: view.externalServices(),
        vips: vipMap(assigned),
      },
      { now: this.now() },
    );
    view.onChange((changes, rev) => {
      this.registryChanged(changes, rev);
    });
    exports.onChange((changes, rev) => {
      for (const c of changes) this.queue({ kind: 'export', cluster: c.cluster, ...parseServiceKey(c.service), state: c.state }, rev);
    });
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    this.modelRevision = this.revisionSeen;
    this.scheduleWarm(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer?.kind === 'timeout') clearTimeout(this.timer.handle);
    else if (this.timer?.kind === 'immediate') clearImmediate(this.timer.handle);
    if (this.warmTimer !== undefined) clearTimeout(this.warmTimer);
    for (const t of this.trustTimers.values()) clearTimeout(t);
    this.trustTimers.clear();
  }

  /** Sends imports and allocates VIPs until `signal` (the leadership term's) aborts. */
  async lead(signal: AbortSignal): Promise<void> {
    this.propagation.reset();
    try {
      await Promise.all([this.delivery.lead(signal), this.vipController.lead(signal)]);
    } finally {
      this.propagation.reset();
    }
  }

  /** Passes made over every consumer to warm the snapshot memos while not leading. */
  warmPasses(): number {
    return this.warmed;
  }

  /** What the leader's delivery has sent and has pending (convergence); undefined while not leading. */
  deliveryState(): DeliveryState | undefined {
    return this.delivery.deliveryState();
  }

  /** What the cluster's agent accepts (its heartbeat's `accepts`): endpoint patches or not. */
  accepts(cluster: string, features: readonly string[] | undefined): void {
    this.delivery.accepts(cluster, features);
  }

  /**
   * VIP assignments changed in etcd, in revision order (the VIP prefix's watch). Every replica's
   * model takes VIPs from here only, the leader's own assignments included: its VIP controller
   * writes them and the watch brings them back in etcd's order, so a VIP that moved twice never
   * shows its first move after its second.
   */
  vipsChanged(changes: readonly VipChange[], revision: number): void {
    for (const c of changes) this.queue({ kind: 'vip', namespace: c.namespace, name: c.name, vip: c.vip }, revision);
  }

  /** What the cluster's agent holds, as its heartbeat says (Heartbeat.holds): where a takeover may resume it from. */
  holds(cluster: string, holds: { readonly revision: number; readonly summary: string } | undefined): void {
    this.delivery.heard(cluster, holds);
  }

  sentRevision(cluster: string): number | undefined {
    return this.delivery.sentRevision(cluster);
  }

  list(): GlobalServiceView[] {
    const model = this.model;
    if (model === undefined) return [];
    return globalServices(model).map((s) => ({
      namespace: s.namespace,
      name: s.name,
      type: s.type,
      ports: s.ports.map((p) => ({ port: p.port, protocol: p.protocol, ...(p.name !== undefined ? { name: p.name } : {}) })),
      ips: s.vip !== undefined ? [s.vip] : [],
      exporters: s.exporters.map((e) => ({ cluster: e.cluster, endpoints: e.endpoints, ...(e.conflict !== undefined ? { conflict: e.conflict } : {}) })),
      importers: consumersOf(model, `${s.namespace}/${s.name}`),
      endpoints: s.endpointCount,
      conditions: [...s.conditions],
    }));
  }

  /** An agent asks for everything after `afterRevision`: what it is missing, or a snapshot. */
  handleSync(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = syncRequestCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.logger.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected sync request');
      this.deps.count('sync', `rejected_${decoded.reason.replace('-', '_')}`);
      return;
    }
    if (this.model === undefined || this.deps.view.cluster(from) === undefined) {
      this.deps.count('sync', 'rejected_unknown_cluster');
      return;
    }
    // Followers stay silent: the leader answers.
    if (this.delivery.requestSync(from, decoded.value.afterRevision, msg.reply, decoded.value.accepts, decoded.value.held)) this.deps.count('sync', 'ok');
  }

  // ---- internals -------------------------------------------------------------------------------

  private scheduleWarm(afterMs: number): void {
    if (this.stopped) return;
    this.warmTimer = setTimeout(() => {
      this.warmTimer = undefined;
      void this.warm()
        .catch((err: unknown) => {
          // An optimisation: a pass that fails costs a slower takeover, never the hub.
          this.deps.logger.warn({ err }, 'warming the snapshot memos failed');
        })
        .finally(() => {
          this.scheduleWarm(this.deps.warmIntervalMs ?? WARM_INTERVAL_MS);
        });
    }, afterMs);
    // A pending pass must not hold a stopping hub open.
    this.warmTimer.unref();
  }

  /**
   * While another replica leads: fills the memos this replica's snapshots would read if it took
   * over (services/views.ts warmSnapshot), so that a takeover's thousand snapshots compare digests
   * instead of computing them (issue 11 §2: failover in seconds). Consumers go a slice at a time,
   * yielding to the event loop between slices; after the first pass only the view classes of
   * services that changed since (their digests were reset) cost a digest, and a pass with no
   * change applied since the last one does nothing (walking warm memos alone costs ~45 ms at 1,000
   * consumers × 10,000 services). The leader does not warm: its snapshots fill the memos as they
   * go, and its CPU is delivery's.
   */
  private async warm(): Promise<void> {
    if (this.model === undefined || this.delivery.leading()) return;
    // Nothing applied since the last complete pass: every memo it filled is still there.
    if (this.warmAt === this.flushes) {
      this.warmed += 1;
      return;
    }
    const at = this.flushes;
    const started = performance.now();
    let digests = 0;
    let sliceStart = started;
    for (const c of this.deps.view.clusters()) {
      if (this.stopped || this.delivery.leading()) return;
      digests += warmSnapshot(this.model, c.metadata.name);
      if (performance.now() - sliceStart > WARM_SLICE_MS) {
        await new Promise<void>((resolve) => {
          setImmediate(resolve);
        });
        sliceStart = performance.now();
      }
    }
    this.warmed += 1;
    this.warmAt = at;
    if (digests > 0) this.deps.logger.debug({ digests, ms: Math.round(performance.now() - started) }, 'snapshot memos warmed for a takeover');
  }

  private registryChanged(changes: readonly ResourceChange[], revision: number): void {
    let networksChanged = false;
    for (const c of changes) {
      if (c.kind === 'Cluster') {
        this.queue({ kind: 'cluster', name: refName(c.ref), resource: c.after?.kind === 'Cluster' ? this.trusted(c.after) : undefined }, revision);
      } else if (c.kind === 'ExternalService') {
        const { namespace, name } = parseServiceKey(c.ref.slice(c.ref.indexOf('/') + 1));
        this.queue({ kind: 'external-service', namespace, name, resource: c.after?.kind === 'ExternalService' ? c.after : undefined }, revision);
      } else if (c.kind === 'Network') networksChanged = true;
      else if (c.kind === 'IPPool') {
        this.revisionSeen = Math.max(this.revisionSeen, revision);
        this.vipController.changedAll();
      }
    }
    if (networksChanged) this.queue({ kind: 'networks', networks: this.deps.view.networks() }, revision);
  }

  private queue(change: ModelChange, revision: number): void {
    if (this.changes.length === 0) this.firstQueuedAt = performance.now();
    this.changes.push(change);
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    if (this.timer === undefined && !this.stopped) {
      const delayMs = flushDelay(performance.now(), this.lastFlushAt, this.deps.flushIntervalMs);
      // After a quiet spell the flush runs right after this event-loop turn's I/O (whatever else
      // this watch response carries joins it): setTimeout(0) would wait at least 1 ms.
      const flush = (): void => {
        this.flush();
      };
      this.timer = delayMs > 0 ? { kind: 'timeout', handle: setTimeout(flush, delayMs) } : { kind: 'immediate', handle: setImmediate(flush) };
    }
  }

  private flush(): void {
    this.timer = undefined;
    const flushedAt = performance.now();
    const model = this.model;
    if (model === undefined || this.changes.length === 0) return;
    const changes = this.changes;
    this.changes = [];
    const result = applyChanges(model, changes, { now: this.now() });
    // A status refresh of a Cluster moves nothing (67/s at 1,000 clusters): counting it would make
    // every warm pass of a standby walk all its consumers again.
    if (result.changed) this.flushes += 1;
    this.modelRevision = this.revisionSeen;
    // Only a flush that changed what some cluster is sent opens a coalescing window. A Cluster
    // write that moves nothing in the model (liveness refreshes each cluster's heartbeat time every
    // TTL/2: 67 writes/s at 1,000 clusters) costs a model lookup, and opening a window for it held
    // the next export change for up to `flushIntervalMs` (bench, light load at 1,000 clusters: p99 29.7 → 18.5 ms).
    if (result.imports.length > 0 || result.exportStatus.length > 0 || result.resync) this.lastFlushAt = flushedAt;
    // Only what this term delivers is timed; a resync's snapshots are not a change's propagation.
    if (this.delivery.leading() && !result.resync && result.imports.length > 0) {
      const consumers = new Set(result.imports.map((d) => d.consumer));
      this.propagation.flushed(this.modelRevision, this.firstQueuedAt ?? flushedAt, consumers, flushedAt);
    }
    for (const d of result.imports) this.delivery.recordImport(d.consumer, d.key, d.next, d.prev);
    for (const d of result.exportStatus) this.delivery.recordStatus(d.cluster, d.key, d.next);
    // Reachability changed: everyone gets a fresh snapshot rather than a computed delta.
    if (result.resync) this.delivery.resyncAll();
    this.delivery.flushed();
    for (const s of result.services) this.vipController.changed(s.key);
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }

  private nowMs(): number {
    return (this.deps.now?.() ?? new Date()).getTime();
  }

  /** The cluster as the model sees it; a stale False is looked at again when it becomes trusted. */
  private trusted(cluster: ClusterResource): ClusterResource {
    const name = cluster.metadata.name;
    const stored = cluster.status?.conditions?.find((c) => c.type === 'Available')?.status;
    // Asked only of a False (it looks at every cluster): the usual change costs nothing more.
    const held = stored === 'False' && this.deps.judgesSilence !== undefined && !this.deps.judgesSilence(cluster);
    const verdict = trustedAvailability(cluster, { hubStartedAt: this.startedAt, now: this.nowMs(), graceMs: ttlMsOf(cluster), held });
    const pending = this.trustTimers.get(name);
    if (pending !== undefined) clearTimeout(pending);
    this.trustTimers.delete(name);
    if (verdict.trustAt !== undefined && !this.stopped) {
      // One past the deadline, so that the look again finds the False trusted.
      const timer = setTimeout(
        () => {
          this.trustTimers.delete(name);
          const current = this.deps.view.cluster(name);
          if (current !== undefined) this.queue({ kind: 'cluster', name, resource: this.trusted(current) }, this.revisionSeen);
        },
        verdict.trustAt + 1 - this.nowMs(),
      );
      // A pending look must not hold a stopping hub open.
      timer.unref();
      this.trustTimers.set(name, timer);
    }
    return verdict.cluster;
  }
}

/**
 * How long to gather changes before applying them: none after a quiet spell (the first change goes
 * out on the next turn of the event loop, with whatever arrived in the same watch batch), and under
 * load the rest of the window that began with the last flush, so that a burst is applied once per
 * `windowMs` instead of once per change. Latency at low rates is the floor's, not the window's.
 */
export function flushDelay(nowMs: number, lastFlushAtMs: number, windowMs: number): number {
  return Math.max(0, Math.min(windowMs, lastFlushAtMs + windowMs - nowMs));
}

/** How often a replica that does not lead warms its snapshot memos again. */
const WARM_INTERVAL_MS = 5000;
/** Work between two yields to the event loop while warming. */
const WARM_SLICE_MS = 10;

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}
