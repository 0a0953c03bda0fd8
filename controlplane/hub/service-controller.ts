// Turns every cluster's exports into what every other cluster must import, and sends it. Changes
// from the registry and the exports are gathered for `flushIntervalMs` (coalescing bursts), applied
// to the incremental service model (controlplane/services/model.ts: work proportional to what
// changed and who sees it), and sent per consumer as one ImportBatch delta on top of the revision
// that consumer last got. An agent that missed something, restarted, or is new asks to sync and
// gets a snapshot (chunked when large). Clusterset VIPs are allocated here as services appear.
import type { Logger } from 'pino';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, syncRequestCodec, type ExportStatus, type ImportBatch, type ImportState } from '../api/messages.ts';
import { clusterSubject, parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { VipAllocator, vipMap } from '../ipam/vips.ts';
import type { Store } from '../registry/store.ts';
import { applyChanges, buildModel, consumersOf, exportStatusFor, globalServices, importsFor, type ModelChange, type ServicesModel } from '../services/model.ts';
import type { ExportIndex } from './exports.ts';
import type { RegistryView } from './registry-view.ts';
import type { GlobalServiceView, ServicesView } from '../api/read-model.ts';

export interface ServiceControllerDeps {
  readonly bus: Bus;
  readonly store: Store;
  readonly view: RegistryView;
  readonly exports: ExportIndex;
  readonly logger: Logger;
  readonly count: (kind: string, result: string) => void;
  readonly flushIntervalMs: number;
  readonly now?: () => Date;
}

interface Pending {
  readonly imports: Map<string, ImportState | undefined>;
  readonly statuses: Map<string, ExportStatus | undefined>;
}

export class ServiceController implements ServicesView {
  private readonly deps: ServiceControllerDeps;
  private readonly vips: VipAllocator;
  private model: ServicesModel | undefined;
  private changes: ModelChange[] = [];
  private revisionSeen = 0;
  /** The revision the model reflects: what snapshots are labelled with. */
  private modelRevision = 0;
  /** Per consumer: the revision of the last batch sent, which the next delta builds on. */
  private readonly sent = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  /** Consumers waiting for a snapshot, in arrival order, with where to answer. */
  private readonly snapshotQueue = new Map<string, { reply: string | undefined; at: number }>();
  private serving = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly json = new WeakMap<object, string>();
  private stopped = false;
  /** Only the leader sends imports and allocates VIPs; followers keep the model for reads. */
  private leader = false;

  constructor(deps: ServiceControllerDeps) {
    this.deps = deps;
    this.vips = new VipAllocator(deps.store);
  }

  /** Builds the model from the views (which must be synced, at `revision`) and follows them. */
  async start(revision: number): Promise<void> {
    const { view, exports } = this.deps;
    const assigned = await this.vips.list();
    this.model = buildModel(
      {
        clusters: view.clusters(),
        networks: view.networks(),
        exports: exports.all(),
        externalServices: view.externalServices(),
        vips: vipMap(assigned),
      },
      { now: this.now() },
    );
    view.onChange((changes, revision) => {
      let networksChanged = false;
      for (const c of changes) {
        if (c.kind === 'Cluster') this.queue({ kind: 'cluster', name: refName(c.ref), resource: c.after?.kind === 'Cluster' ? c.after : undefined }, revision);
        else if (c.kind === 'ExternalService') {
          const [, namespace = '', name = ''] = c.ref.split('/');
          this.queue({ kind: 'external-service', namespace, name, resource: c.after?.kind === 'ExternalService' ? c.after : undefined }, revision);
        } else if (c.kind === 'Network') networksChanged = true;
        else if (c.kind === 'IPPool') this.revisionSeen = Math.max(this.revisionSeen, revision);
      }
      if (networksChanged) this.queue({ kind: 'networks', networks: view.networks() }, revision);
    });
    exports.onChange((changes, revision) => {
      for (const c of changes) {
        const [namespace = '', name = ''] = c.service.split('/');
        this.queue({ kind: 'export', cluster: c.cluster, namespace, name, state: c.state }, revision);
      }
    });
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    this.modelRevision = this.revisionSeen;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** Leadership changes: a new leader knows nothing of what was sent, so it starts from snapshots. */
  setLeader(leader: boolean): void {
    this.leader = leader;
    this.sent.clear();
    this.pending.clear();
    this.snapshotQueue.clear();
    const model = this.model;
    if (leader) {
      // Changes may have come in while no hub led: every cluster gets a snapshot, from the queue.
      for (const c of this.deps.view.clusters()) this.enqueueSnapshot(c.metadata.name, undefined);
    }
    if (leader && model !== undefined) {
      const missing = [...model.services.values()].filter((s) => s.merged.service.type === 'ClusterSetIP' && s.merged.service.vip === undefined);
      void this.assignVips(missing.map((s) => s.key));
    }
  }

  sentRevision(cluster: string): number | undefined {
    return this.sent.get(cluster);
  }

  list(): GlobalServiceView[] {
    const model = this.model;
    if (model === undefined) return [];
    return globalServices(model).map((s) => {
      const key = `${s.namespace}/${s.name}`;
      return {
        namespace: s.namespace,
        name: s.name,
        type: s.type,
        ports: s.ports.map((p) => ({ port: p.port, protocol: p.protocol, ...(p.name !== undefined ? { name: p.name } : {}) })),
        ips: s.vip !== undefined ? [s.vip] : [],
        exporters: s.exporters.map((e) => ({ cluster: e.cluster, endpoints: e.endpoints, ...(e.conflict !== undefined ? { conflict: e.conflict } : {}) })),
        importers: consumersOf(model, key),
        endpoints: s.endpointCount,
        conditions: [...s.conditions],
      };
    });
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
    if (!this.leader) return;
    if (this.model === undefined || this.deps.view.cluster(from) === undefined) {
      this.deps.count('sync', 'rejected_unknown_cluster');
      return;
    }
    this.deps.count('sync', 'ok');
    const sent = this.sent.get(from);
    if (decoded.value.afterRevision > 0 && sent === decoded.value.afterRevision && !this.pending.has(from)) {
      // Up to date: an empty delta says so, and that nothing is on its way.
      this.reply(msg, this.encodeBatch(from, 'delta', sent, sent, [], [], [], []));
      return;
    }
    this.enqueueSnapshot(from, msg.reply);
  }

  /**
   * Snapshots are the expensive answer (a consumer's whole import set): they are served one at a
   * time, yielding to other work between them, each consumer at most once in the queue (the
   * latest reply subject wins). A thousand agents reconnecting at once then cost a steady stream
   * of work instead of one long stall of the hub.
   */
  private enqueueSnapshot(consumer: string, reply: string | undefined): void {
    const queued = this.snapshotQueue.get(consumer);
    this.snapshotQueue.set(consumer, { reply: reply ?? queued?.reply, at: reply !== undefined ? Date.now() : (queued?.at ?? Date.now()) });
    if (!this.serving) void this.serveSnapshots();
  }

  private async serveSnapshots(): Promise<void> {
    this.serving = true;
    try {
      while (!this.stopped && this.leader) {
        const next = this.snapshotQueue.entries().next();
        if (next.done === true) return;
        const [consumer, { reply, at }] = next.value;
        this.snapshotQueue.delete(consumer);
        if (this.deps.view.cluster(consumer) !== undefined) {
          const [first, ...rest] = this.snapshot(consumer);
          // An agent stops waiting for a reply after a while (10 s); past half of that, its inbox
          // may be gone, so the snapshot goes where the agent always listens.
          const fresh = reply !== undefined && Date.now() - at < SYNC_REPLY_FRESH_MS;
          if (first !== undefined) {
            if (fresh) this.deps.bus.publish(reply, first);
            else this.deps.bus.publish(clusterSubject(consumer, 'imports'), first);
          }
          for (const c of rest) this.deps.bus.publish(clusterSubject(consumer, 'imports'), c);
        }
        await new Promise<void>((resolve) => {
          setImmediate(resolve);
        });
      }
    } finally {
      this.serving = false;
      if (this.snapshotQueue.size > 0 && !this.stopped && this.leader) void this.serveSnapshots();
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  private queue(change: ModelChange, revision: number): void {
    this.changes.push(change);
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    if (this.timer === undefined && !this.stopped) {
      this.timer = setTimeout(() => {
        this.flush();
      }, this.deps.flushIntervalMs);
    }
  }

  private flush(): void {
    this.timer = undefined;
    const model = this.model;
    if (model === undefined || this.changes.length === 0) return;
    const changes = this.changes;
    this.changes = [];
    const result = applyChanges(model, changes, { now: this.now() });
    this.modelRevision = this.revisionSeen;
    for (const d of result.imports) this.pendingFor(d.consumer).imports.set(d.key, d.next);
    for (const d of result.exportStatus) this.pendingFor(d.cluster).statuses.set(d.key, d.next);
    if (result.resync) {
      // Reachability changed: everyone gets a fresh snapshot rather than a computed delta.
      for (const c of this.deps.view.clusters()) this.sent.delete(c.metadata.name);
      for (const c of this.deps.view.clusters()) this.pendingFor(c.metadata.name);
    }
    if (!this.leader) {
      this.pending.clear();
      return;
    }
    const appeared = result.services.filter((s) => s.next?.type === 'ClusterSetIP' && s.next.vip === undefined).map((s) => s.key);
    const removed = result.services.filter((s) => s.next === undefined).map((s) => s.key);
    if (appeared.length > 0) void this.assignVips(appeared);
    for (const key of removed) void this.releaseVip(key);
    this.send();
  }

  private send(): void {
    for (const [consumer, p] of this.pending) {
      const from = this.sent.get(consumer);
      const removedConsumer = this.deps.view.cluster(consumer) === undefined;
      if (removedConsumer) {
        this.sent.delete(consumer);
        continue;
      }
      if (from === undefined || this.snapshotQueue.has(consumer)) {
        // It never got a batch from this hub (new, or the hub restarted), or a snapshot is on its
        // way anyway: the snapshot, computed when served, carries this change too.
        this.enqueueSnapshot(consumer, undefined);
        continue;
      }
      const upserts: ImportState[] = [];
      const removals: { namespace: string; name: string }[] = [];
      for (const [key, next] of p.imports) {
        if (next !== undefined) upserts.push(next);
        else removals.push(splitKey(key));
      }
      const statuses: ExportStatus[] = [];
      const statusRemovals: { namespace: string; name: string }[] = [];
      for (const [key, next] of p.statuses) {
        if (next !== undefined) statuses.push(next);
        else statusRemovals.push(splitKey(key));
      }
      const batch = this.encodeBatch(consumer, 'delta', from, this.modelRevision, upserts, removals, statuses, statusRemovals);
      if (batch.byteLength > MAX_MESSAGE_BYTES) {
        this.sent.delete(consumer);
        this.enqueueSnapshot(consumer, undefined);
        continue;
      }
      this.deps.bus.publish(clusterSubject(consumer, 'imports'), batch);
      this.sent.set(consumer, this.modelRevision);
      this.deps.count('imports', 'delta');
    }
    this.pending.clear();
  }

  /** The consumer's whole desired state at the model's revision, in chunks under the size limit. */
  private snapshot(consumer: string): Uint8Array[] {
    const model = this.model;
    if (model === undefined) return [];
    const imports = importsFor(model, consumer);
    const statuses = exportStatusFor(model, consumer);
    const revision = this.modelRevision;
    const budget = MAX_MESSAGE_BYTES - 4096;
    const parts: { upserts: string[]; statuses: string[]; bytes: number }[] = [{ upserts: [], statuses: [], bytes: 0 }];
    const add = (field: 'upserts' | 'statuses', value: object): void => {
      const text = this.jsonOf(value);
      let last = parts[parts.length - 1] ?? { upserts: [], statuses: [], bytes: 0 };
      if (last.bytes + text.length > budget && last.bytes > 0) {
        last = { upserts: [], statuses: [], bytes: 0 };
        parts.push(last);
      }
      last[field].push(text);
      last.bytes += text.length + 1;
    };
    for (const i of imports) add('upserts', i);
    for (const s of statuses) add('statuses', s);
    this.sent.set(consumer, revision);
    this.deps.count('imports', 'snapshot');
    return parts.map((p, index) =>
      new TextEncoder().encode(
        `{"v":${PROTOCOL_VERSION},"cluster":${JSON.stringify(consumer)},"kind":"snapshot","fromRevision":0,"revision":${revision},` +
          `"upserts":[${p.upserts.join(',')}],"removals":[],"exportStatus":[${p.statuses.join(',')}]` +
          `${parts.length > 1 ? `,"chunk":{"index":${index},"count":${parts.length}}` : ''}}`,
      ),
    );
  }

  private encodeBatch(
    consumer: string,
    kind: ImportBatch['kind'],
    fromRevision: number,
    revision: number,
    upserts: readonly ImportState[],
    removals: readonly { namespace: string; name: string }[],
    statuses: readonly ExportStatus[],
    statusRemovals: readonly { namespace: string; name: string }[],
  ): Uint8Array {
    // Imports are shared between consumers that see the same thing: encode each once.
    return new TextEncoder().encode(
      `{"v":${PROTOCOL_VERSION},"cluster":${JSON.stringify(consumer)},"kind":"${kind}","fromRevision":${fromRevision},"revision":${revision},` +
        `"upserts":[${upserts.map((u) => this.jsonOf(u)).join(',')}],"removals":${JSON.stringify(removals)},` +
        `"exportStatus":[${statuses.map((s) => this.jsonOf(s)).join(',')}]` +
        `${statusRemovals.length > 0 ? `,"exportStatusRemovals":${JSON.stringify(statusRemovals)}` : ''}}`,
    );
  }

  private jsonOf(value: object): string {
    let text = this.json.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      this.json.set(value, text);
    }
    return text;
  }

  private pendingFor(consumer: string): Pending {
    let p = this.pending.get(consumer);
    if (p === undefined) {
      p = { imports: new Map(), statuses: new Map() };
      this.pending.set(consumer, p);
    }
    return p;
  }

  private reply(msg: BusMessage, data: Uint8Array): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, data);
  }

  private async assignVips(keys: readonly string[]): Promise<void> {
    const pools = this.deps.view.pools().filter((p) => p.spec.use === 'ClusterSetIPs');
    if (pools.length === 0) return;
    for (const key of keys) {
      const service = this.model?.services.get(key);
      if (service?.merged.service.type !== 'ClusterSetIP') continue;
      try {
        const assignment = await this.vips.ensure(splitKey(key), pools, new Date());
        if (this.stopped) return;
        this.queue({ kind: 'vip', ...splitKey(key), vip: assignment.ip }, this.revisionSeen);
      } catch (err) {
        this.deps.logger.warn({ service: key, err }, 'no clusterset VIP for the service');
      }
    }
  }

  private async releaseVip(key: string): Promise<void> {
    try {
      await this.vips.release(splitKey(key), new Date());
    } catch (err) {
      this.deps.logger.warn({ service: key, err }, 'releasing the clusterset VIP failed');
    }
  }

  private now(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
}

/** How long after a sync request its reply inbox is trusted to be listening. */
const SYNC_REPLY_FRESH_MS = 5000;

function splitKey(key: string): { namespace: string; name: string } {
  const [namespace = '', name = ''] = key.split('/');
  return { namespace, name };
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}
