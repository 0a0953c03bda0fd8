// The agent's logic: two level-based reconcilers between the cluster (ClusterPort) and the hub
// (HubTransport), run by a handful of loops that wait on one wake-up.
//
// Export side: informer events mark service keys dirty; ONE reporter sends reports strictly one
// after another (the next only once the previous is acknowledged), coalescing whatever changed
// meanwhile. The first report after start and after every reconnect is `full`.
//
// Import side: batches from the hub update an in-memory desired state at `stateRevision`
// (deltas only on top of exactly that revision, else a sync; snapshots once all chunks are in);
// a reconciler server-side-applies what differs from what it last applied and deletes owned
// objects that are no longer desired — but deletes only once a complete snapshot has been
// applied, so a restarted agent adopts what its predecessor wrote and a hub or NATS outage
// withdraws nothing. `appliedRevision` is the revision whose state is fully written to Kubernetes.
import { randomUUID } from 'node:crypto';
import type { Condition } from '../controlplane/api/conditions.ts';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  encodedSize,
  serviceKeyString,
  type ExportState,
  type Heartbeat,
  type ImportBatch,
  type ImportState,
  type Report,
  type ServiceKey,
} from '../controlplane/api/messages.ts';
import { Backoff, Wakeup, aborted, sleep } from './async.ts';
import { computeExport, exportProblem, type LocalExportProblem } from './exports.ts';
import { canonicalJson, desiredImport, exportConditions, isSubset, serviceExportStatusObject } from './imports.ts';
import { isOwned, ownedServiceKey, refOf, refString, type K8sCondition, type KubeObject, type ObjectRef } from './objects.ts';
import { ConnectionState, type ClusterEvents, type ClusterPort, type HubTransport, type TransportEvents } from './ports.ts';

/** pino-compatible, so the composition root can pass its logger straight in. */
export interface AgentLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: AgentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  readonly cluster: string;
  readonly agentVersion?: string;
  /** Default 5 s. */
  readonly heartbeatIntervalMs?: number;
  /** Syncs after start and reconnect wait a random 0..this, so 1,000 agents do not arrive at once. Default 2 s. */
  readonly resyncJitterMs?: number;
  /** Retry backoff of reports, syncs and Kubernetes writes. Default 250 ms doubling to 30 s. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** After a sync reply, how long the remaining chunks of a chunked batch may take. Default 5 s. */
  readonly chunkWaitMs?: number;
  /** How often owned objects are relisted to repair drift (someone edited or deleted them). Default 5 min; 0 disables. */
  readonly driftCheckIntervalMs?: number;
  /** Kubernetes writes in flight at once. Default 8. */
  readonly applyConcurrency?: number;
  /** Largest report sent; default the protocol's MAX_MESSAGE_BYTES less room for the envelope. */
  readonly maxReportBytes?: number;
  readonly nodeLabelAllowList?: readonly string[];
  readonly logger?: AgentLogger;
  readonly random?: () => number;
  readonly now?: () => Date;
}

/** In-memory counters for tests and benchmarks (and, later, /metrics). */
export interface AgentMetrics {
  reportsSent: number;
  fullReportsSent: number;
  reportFailures: number;
  exportsReported: number;
  heartbeatsSent: number;
  syncRequests: number;
  syncFailures: number;
  batchesReceived: number;
  batchesApplied: number;
  batchesIgnored: number;
  objectsApplied: number;
  objectsDeleted: number;
  objectsAdopted: number;
  statusesApplied: number;
  applyErrors: number;
  ownershipConflicts: number;
  missingNamespaces: number;
}

function newMetrics(): AgentMetrics {
  return {
    reportsSent: 0,
    fullReportsSent: 0,
    reportFailures: 0,
    exportsReported: 0,
    heartbeatsSent: 0,
    syncRequests: 0,
    syncFailures: 0,
    batchesReceived: 0,
    batchesApplied: 0,
    batchesIgnored: 0,
    objectsApplied: 0,
    objectsDeleted: 0,
    objectsAdopted: 0,
    statusesApplied: 0,
    applyErrors: 0,
    ownershipConflicts: 0,
    missingNamespaces: 0,
  };
}

interface KnownObject {
  readonly ref: ObjectRef;
  readonly key: string;
  uid: string | undefined;
  /** canonicalJson of what we last applied; undefined for adopted objects not yet compared. */
  hash: string | undefined;
  /** The live object as listed, for adopted objects. */
  stored: KubeObject | undefined;
}

interface Assembly {
  readonly count: number;
  readonly parts: Map<number, ImportBatch>;
  solicited: boolean;
}

const MAX_BUFFERED_DELTAS = 64;
const MAX_ASSEMBLIES = 4;
const REPORT_ENVELOPE_BYTES = 4096;
const MAX_REPORT_ITEMS = 10_000;

function keyOf(s: string): ServiceKey {
  const slash = s.indexOf('/');
  return { namespace: s.slice(0, slash), name: s.slice(slash + 1) };
}

/** The schema's optional field may hold undefined; Condition's may only be absent. */
function toCondition(c: ImportBatch['exportStatus'][number]['conditions'][number]): Condition {
  const { observedGeneration, ...rest } = c;
  return observedGeneration === undefined ? rest : { ...rest, observedGeneration };
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

export class Agent {
  readonly metrics: AgentMetrics = newMetrics();
  readonly session: string = randomUUID();

  private readonly cluster: ClusterPort;
  private readonly transport: HubTransport;
  private readonly name: string;
  private readonly log: AgentLogger;
  private readonly random: () => number;
  private readonly now: () => Date;
  private readonly opts: Required<
    Pick<
      AgentOptions,
      | 'heartbeatIntervalMs'
      | 'resyncJitterMs'
      | 'retryBaseMs'
      | 'retryMaxMs'
      | 'chunkWaitMs'
      | 'driftCheckIntervalMs'
      | 'applyConcurrency'
      | 'maxReportBytes'
      | 'agentVersion'
    >
  >;
  private readonly nodeLabelAllowList: readonly string[] | undefined;

  private readonly abort = new AbortController();
  private readonly changed = new Wakeup();
  private loops: Promise<void>[] = [];
  private started = false;

  // ---- Kubernetes side
  private kubeSynced = false;
  private kubeHealthy = true;
  private kubeMessage = 'watches starting';

  // ---- export side
  private readonly dirtyExports = new Set<string>();
  private needFullReport = true;
  /** What the hub acknowledged, per key: canonical JSON of the ExportState. */
  private reported = new Map<string, string>();
  private seq = 0;
  private hubReachable = false;
  private hubMessage = 'not connected yet';

  // ---- import side
  private imports = new Map<string, ImportState>();
  private hubStatus = new Map<string, Condition[]>();
  private revision = 0;
  private applied = 0;
  private snapshotApplied = false;
  private readonly assemblies = new Map<string, Assembly>();
  private pendingDeltas: ImportBatch[] = [];
  private syncRequested = true;
  private jitterNextSync = true;
  private syncInFlight = false;
  private adopted = false;
  private readonly importDirty = new Set<string>();
  private readonly known = new Map<string, KnownObject>();
  private readonly knownByKey = new Map<string, Set<string>>();
  /** Status subresources we wrote (ServiceImport and ServiceExport), by ref: canonical JSON. */
  private readonly statusApplied = new Map<string, string>();

  constructor(cluster: ClusterPort, transport: HubTransport, options: AgentOptions) {
    this.cluster = cluster;
    this.transport = transport;
    this.name = options.cluster;
    this.log = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => new Date());
    this.nodeLabelAllowList = options.nodeLabelAllowList;
    this.opts = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 5000,
      resyncJitterMs: options.resyncJitterMs ?? 2000,
      retryBaseMs: options.retryBaseMs ?? 250,
      retryMaxMs: options.retryMaxMs ?? 30_000,
      chunkWaitMs: options.chunkWaitMs ?? 5000,
      driftCheckIntervalMs: options.driftCheckIntervalMs ?? 300_000,
      applyConcurrency: options.applyConcurrency ?? 8,
      maxReportBytes: options.maxReportBytes ?? MAX_MESSAGE_BYTES - REPORT_ENVELOPE_BYTES,
      agentVersion: options.agentVersion ?? AGENT_VERSION,
    };
  }

  /** The revision of the desired state the agent holds (deltas must start here). */
  stateRevision(): number {
    return this.revision;
  }

  /** The revision whose desired state is fully written to the cluster. */
  appliedRevision(): number {
    return this.applied;
  }

  /** Starts every loop and returns: the agent serves its cluster whether or not the hub or the API answer yet. */
  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    const signal = this.abort.signal;
    const transportEvents: TransportEvents = {
      imports: (batch) => {
        this.handleBatch(batch, false);
      },
      connection: (state) => {
        this.onConnection(state);
      },
    };
    const clusterEvents: ClusterEvents = {
      exportChanged: (key) => {
        const k = serviceKeyString(key);
        this.dirtyExports.add(k);
        this.importDirty.add(k);
        this.changed.notify();
      },
      nodesChanged: () => {
        for (const se of this.cluster.serviceExports())
          this.dirtyExports.add(serviceKeyString({ namespace: se.metadata.namespace ?? '', name: se.metadata.name }));
        this.changed.notify();
      },
      healthChanged: (healthy, message) => {
        this.kubeHealthy = healthy;
        this.kubeMessage = message;
        this.changed.notify();
      },
    };
    this.run('reporter', () => this.reporterLoop(signal));
    this.run('sync', () => this.syncLoop(signal));
    this.run('reconcile', () => this.reconcileLoop(signal));
    this.run('heartbeat', () => this.heartbeatLoop(signal));
    this.run('adopt', () => this.adoptAndCheckDrift(signal));
    this.run('kubernetes', async () => {
      await this.cluster.start(clusterEvents, signal);
      if (aborted(signal)) return;
      this.kubeSynced = true;
      // Everything listed so far is the complete export set: the first report is full.
      this.needFullReport = true;
      for (const se of this.cluster.serviceExports())
        this.importDirty.add(serviceKeyString({ namespace: se.metadata.namespace ?? '', name: se.metadata.name }));
      this.log.info({ cluster: this.name }, 'kubernetes caches synced');
      this.changed.notify();
    });
    await this.transport.start(transportEvents, signal);
  }

  /** Stops the loops (not the ports: whoever made them closes them, in reverse order). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.changed.notify();
    await Promise.all(this.loops);
  }

  private run(name: string, loop: () => Promise<void>): void {
    this.loops.push(
      loop().catch((err: unknown) => {
        if (!aborted(this.abort.signal)) this.log.error({ err, loop: name }, 'agent loop failed');
      }),
    );
  }

  private onConnection(state: ConnectionState): void {
    this.log.info({ cluster: this.name, state }, 'hub connection');
    if (state === ConnectionState.Disconnected) {
      this.hubReachable = false;
      this.hubMessage = 'NATS connection lost; reconnecting';
    } else {
      // The hub may have missed reports and we may have missed deltas while we were away.
      this.needFullReport = true;
      this.syncRequested = true;
      this.jitterNextSync = true;
    }
    this.changed.notify();
  }

  // ---- export side ---------------------------------------------------------------------------

  private exportOf(key: ServiceKey): ReturnType<typeof computeExport> | undefined {
    const serviceExport = this.cluster.serviceExport(key);
    if (serviceExport === undefined) return undefined;
    return computeExport({
      serviceExport,
      service: this.cluster.service(key),
      endpointSlices: this.cluster.endpointSlices(key),
      nodeLabels: (node) => this.cluster.nodeLabels(node),
      nodeLabelAllowList: this.nodeLabelAllowList,
    });
  }

  private async reporterLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: this.opts.retryBaseMs, maxMs: this.opts.retryMaxMs }, this.random);
    while (!aborted(signal)) {
      const ready = await this.changed.until(
        () => this.kubeSynced && this.transport.connected() && (this.needFullReport || this.dirtyExports.size > 0),
        signal,
      );
      if (!ready) return;
      const full = this.needFullReport;
      const ok = full ? await this.sendFullReport(signal) : await this.sendIncrementalReports(signal);
      if (aborted(signal)) return;
      if (ok) backoff.reset();
      else await sleep(backoff.next(), signal);
    }
  }

  private async sendFullReport(signal: AbortSignal): Promise<boolean> {
    this.needFullReport = false;
    this.dirtyExports.clear();
    const states: ExportState[] = [];
    for (const se of this.cluster.serviceExports()) {
      const result = this.exportOf({ namespace: se.metadata.namespace ?? '', name: se.metadata.name });
      if (result?.ok === true) states.push(this.noteTruncation(result));
    }
    const size = encodedSize(states);
    if (size <= this.opts.maxReportBytes && states.length <= MAX_REPORT_ITEMS) {
      const ok = await this.sendReport(true, states, [], signal);
      if (ok) this.reported = new Map(states.map((s) => [serviceKeyString(s), canonicalJson(s)]));
      else this.needFullReport = true;
      return ok;
    }
    // Too large for one message: the full set in parts, in order; the hub sweeps exports that
    // no part named only after the last part.
    const parts: ExportState[][] = [[]];
    let bytes = 0;
    for (const st of states) {
      const b = encodedSize(st) + 1;
      const last = parts[parts.length - 1] ?? [];
      if (last.length > 0 && (bytes + b > this.opts.maxReportBytes || last.length >= MAX_REPORT_ITEMS)) {
        parts.push([st]);
        bytes = b;
      } else {
        last.push(st);
        bytes += b;
      }
    }
    this.log.info({ bytes: size, exports: states.length, parts: parts.length }, 'full report sent in parts');
    for (const [index, part] of parts.entries()) {
      if (!(await this.sendReport(true, part, [], signal, { index, count: parts.length }))) {
        this.needFullReport = true;
        return false;
      }
    }
    this.reported = new Map(states.map((st) => [serviceKeyString(st), canonicalJson(st)]));
    return true;
  }

  private async sendIncrementalReports(signal: AbortSignal): Promise<boolean> {
    const keys = [...this.dirtyExports];
    this.dirtyExports.clear();
    const upserts: ExportState[] = [];
    const removals: ServiceKey[] = [];
    for (const k of keys) {
      const result = this.exportOf(keyOf(k));
      if (result?.ok === true) {
        const state = this.noteTruncation(result);
        if (this.reported.get(k) !== canonicalJson(state)) upserts.push(state);
      } else if (this.reported.has(k)) {
        removals.push(keyOf(k));
      }
    }
    // Pack into messages under the size limit, in order; each waits for the previous ack.
    const batches: { upserts: ExportState[]; removals: ServiceKey[] }[] = [];
    let current = { upserts: [] as ExportState[], removals: [...removals], bytes: encodedSize(removals) };
    for (const s of upserts) {
      const bytes = encodedSize(s) + 1;
      if (current.upserts.length > 0 && (current.bytes + bytes > this.opts.maxReportBytes || current.upserts.length >= MAX_REPORT_ITEMS)) {
        batches.push(current);
        current = { upserts: [], removals: [], bytes: 0 };
      }
      current.upserts.push(s);
      current.bytes += bytes;
    }
    if (current.upserts.length > 0 || current.removals.length > 0) batches.push(current);
    for (const [i, b] of batches.entries()) {
      const ok = await this.sendReport(false, b.upserts, b.removals, signal);
      if (!ok) {
        // Not acknowledged: everything not yet acknowledged is dirty again (re-read when retried).
        for (const rest of batches.slice(i)) {
          for (const s of rest.upserts) this.dirtyExports.add(serviceKeyString(s));
          for (const r of rest.removals) this.dirtyExports.add(serviceKeyString(r));
        }
        return false;
      }
      for (const s of b.upserts) this.reported.set(serviceKeyString(s), canonicalJson(s));
      for (const r of b.removals) this.reported.delete(serviceKeyString(r));
    }
    return true;
  }

  private noteTruncation(result: { readonly state: ExportState; readonly truncatedEndpoints: number }): ExportState {
    if (result.truncatedEndpoints > 0) {
      this.log.warn(
        { service: serviceKeyString(result.state), dropped: result.truncatedEndpoints },
        'export has more endpoints than a report may carry; the rest are not exported',
      );
    }
    return result.state;
  }

  private async sendReport(
    full: boolean,
    upserts: ExportState[],
    removals: ServiceKey[],
    signal: AbortSignal,
    part?: { index: number; count: number },
  ): Promise<boolean> {
    this.seq += 1;
    const report: Report = {
      v: PROTOCOL_VERSION,
      cluster: this.name,
      session: this.session,
      seq: this.seq,
      full,
      ...(part !== undefined ? { part } : {}),
      upserts,
      removals: removals.map((r) => ({ namespace: r.namespace, name: r.name })),
    };
    try {
      const reply = await this.transport.report(report, signal);
      if (!reply.ok) {
        this.metrics.reportFailures += 1;
        // The hub did not take it (e.g. it lost our session): start over with the complete set.
        this.needFullReport = true;
        this.hubMessage = `hub refused report: ${reply.reason}: ${reply.message}`;
        this.log.warn({ seq: report.seq, reason: reply.reason, message: reply.message }, 'report refused by the hub');
        return false;
      }
      this.metrics.reportsSent += 1;
      this.metrics.exportsReported += upserts.length;
      this.hubReachable = true;
      this.hubMessage = 'reports acknowledged';
      if (full) this.metrics.fullReportsSent += 1;
      this.log.debug({ seq: report.seq, full, upserts: upserts.length, removals: removals.length, revision: reply.revision }, 'report acknowledged');
      return true;
    } catch (err) {
      if (aborted(signal)) return false;
      this.metrics.reportFailures += 1;
      this.hubReachable = false;
      this.hubMessage = `report failed: ${errorName(err)}`;
      this.log.warn({ err, seq: report.seq }, 'report failed; retrying');
      return false;
    }
  }

  // ---- import side: receiving ------------------------------------------------------------------

  /** Public for tests and in-memory benchmarks; normally fed by the transport. */
  handleBatch(batch: ImportBatch, solicited: boolean): void {
    this.metrics.batchesReceived += 1;
    if (batch.cluster !== this.name) {
      this.metrics.batchesIgnored += 1;
      return;
    }
    let b: ImportBatch | undefined = batch;
    if (batch.chunk !== undefined && batch.chunk.count > 1) {
      b = this.assemble(batch, solicited);
      if (b === undefined) return;
    }
    if (b.kind === 'snapshot') {
      if (this.snapshotApplied && b.revision < this.revision && !solicited) {
        this.metrics.batchesIgnored += 1;
      } else {
        this.applySnapshot(b);
      }
    } else if (!this.snapshotApplied) {
      // Until a snapshot, nothing but a snapshot counts: it is what makes deletes safe.
      this.bufferDelta(b);
      this.requestSync();
    } else if (b.fromRevision === this.revision && b.revision >= b.fromRevision) {
      this.applyDelta(b);
    } else if (b.revision <= this.revision) {
      this.metrics.batchesIgnored += 1;
    } else {
      this.log.info({ have: this.revision, from: b.fromRevision, to: b.revision }, 'gap in import deltas; asking the hub to sync');
      this.bufferDelta(b);
      this.requestSync();
    }
    this.drainDeltas();
    this.changed.notify();
  }

  private assemble(chunk: ImportBatch, solicited: boolean): ImportBatch | undefined {
    const c = chunk.chunk;
    if (c === undefined || c.index >= c.count) return undefined;
    const id = `${chunk.kind}/${chunk.fromRevision}/${chunk.revision}`;
    let a = this.assemblies.get(id);
    if (a === undefined || a.count !== c.count) {
      a = { count: c.count, parts: new Map(), solicited };
      this.assemblies.set(id, a);
      // Bounded: an assembly whose chunks never all arrive is dropped (a later sync replaces it).
      while (this.assemblies.size > MAX_ASSEMBLIES) {
        const oldest = this.assemblies.keys().next().value;
        if (oldest === undefined) break;
        this.assemblies.delete(oldest);
      }
    }
    a.solicited ||= solicited;
    a.parts.set(c.index, chunk);
    if (a.parts.size < a.count) return undefined;
    this.assemblies.delete(id);
    const parts = [...a.parts.entries()].sort(([x], [y]) => x - y).map(([, p]) => p);
    const { chunk: _chunk, ...first } = chunk;
    return {
      ...first,
      upserts: parts.flatMap((p) => p.upserts),
      removals: parts.flatMap((p) => p.removals),
      exportStatus: parts.flatMap((p) => p.exportStatus),
      exportStatusRemovals: parts.flatMap((p) => p.exportStatusRemovals ?? []),
    };
  }

  private bufferDelta(b: ImportBatch): void {
    this.pendingDeltas.push(b);
    if (this.pendingDeltas.length > MAX_BUFFERED_DELTAS) this.pendingDeltas.shift();
  }

  private drainDeltas(): void {
    if (!this.snapshotApplied) return;
    for (;;) {
      this.pendingDeltas = this.pendingDeltas.filter((d) => d.revision > this.revision);
      const next = this.pendingDeltas.find((d) => d.fromRevision === this.revision);
      if (next === undefined) return;
      this.pendingDeltas = this.pendingDeltas.filter((d) => d !== next);
      this.applyDelta(next);
    }
  }

  private applySnapshot(b: ImportBatch): void {
    const touched = new Set<string>([...this.imports.keys(), ...this.hubStatus.keys(), ...this.knownByKey.keys()]);
    this.imports = new Map(b.upserts.map((s) => [serviceKeyString(s), s]));
    this.hubStatus = new Map(b.exportStatus.map((s) => [serviceKeyString(s), s.conditions.map(toCondition)]));
    for (const k of this.imports.keys()) touched.add(k);
    for (const k of this.hubStatus.keys()) touched.add(k);
    for (const k of touched) this.importDirty.add(k);
    this.revision = b.revision;
    this.snapshotApplied = true;
    this.metrics.batchesApplied += 1;
    this.log.info({ revision: b.revision, services: b.upserts.length }, 'import snapshot received');
  }

  private applyDelta(b: ImportBatch): void {
    for (const s of b.upserts) {
      const k = serviceKeyString(s);
      this.imports.set(k, s);
      this.importDirty.add(k);
    }
    for (const r of b.removals) {
      const k = serviceKeyString(r);
      this.imports.delete(k);
      this.importDirty.add(k);
    }
    for (const s of b.exportStatus) {
      const k = serviceKeyString(s);
      this.hubStatus.set(k, s.conditions.map(toCondition));
      this.importDirty.add(k);
    }
    for (const r of b.exportStatusRemovals ?? []) {
      const k = serviceKeyString(r);
      this.hubStatus.delete(k);
      this.importDirty.add(k);
    }
    this.revision = b.revision;
    this.metrics.batchesApplied += 1;
  }

  private requestSync(): void {
    this.syncRequested = true;
    this.changed.notify();
  }

  private async syncLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: this.opts.retryBaseMs, maxMs: this.opts.retryMaxMs }, this.random);
    while (!aborted(signal)) {
      if (!(await this.changed.until(() => this.syncRequested && this.transport.connected(), signal))) return;
      if (this.jitterNextSync) {
        this.jitterNextSync = false;
        await sleep(this.random() * this.opts.resyncJitterMs, signal);
        if (aborted(signal)) return;
      }
      this.syncRequested = false;
      const afterRevision = this.snapshotApplied ? this.revision : 0;
      this.syncInFlight = true;
      let ok = false;
      try {
        this.metrics.syncRequests += 1;
        const replies = await this.transport.sync({ v: PROTOCOL_VERSION, cluster: this.name, session: this.session, afterRevision }, signal);
        if (replies.length === 0) throw new Error('no reply to the sync request');
        for (const r of replies) this.handleBatch(r, true);
        const target = Math.max(...replies.map((r) => r.revision));
        // Remaining chunks may come on the imports subject; wait for them, bounded.
        ok = await this.changed.until(() => this.snapshotApplied && this.revision >= target, signal, this.opts.chunkWaitMs);
        if (!ok && !aborted(signal)) throw new Error(`sync reply for revision ${target} did not complete within ${this.opts.chunkWaitMs} ms`);
      } catch (err) {
        if (aborted(signal)) return;
        this.metrics.syncFailures += 1;
        this.hubReachable = false;
        this.hubMessage = `sync failed: ${errorName(err)}`;
        this.log.warn({ err, afterRevision }, 'sync failed; retrying');
      } finally {
        this.syncInFlight = false;
      }
      if (ok) {
        backoff.reset();
        this.hubReachable = true;
        this.hubMessage = 'synced';
        // Deltas buffered during the sync were drained already; only a real gap left asks again.
        if (this.pendingDeltas.length === 0) this.syncRequested = false;
      } else {
        this.syncRequested = true;
        await sleep(backoff.next(), signal);
      }
    }
  }

  // ---- import side: reconciling --------------------------------------------------------------

  private async adoptAndCheckDrift(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: this.opts.retryBaseMs, maxMs: this.opts.retryMaxMs }, this.random);
    while (!aborted(signal)) {
      try {
        await this.adoptOwned(signal);
        break;
      } catch (err) {
        if (aborted(signal)) return;
        this.log.warn({ err }, 'listing owned objects failed; retrying');
        await sleep(backoff.next(), signal);
      }
    }
    this.adopted = true;
    this.changed.notify();
    if (this.opts.driftCheckIntervalMs <= 0) return;
    while (!aborted(signal)) {
      await sleep(this.opts.driftCheckIntervalMs, signal);
      if (aborted(signal)) return;
      try {
        await this.adoptOwned(signal);
      } catch (err) {
        if (!aborted(signal)) this.log.warn({ err }, 'drift check failed');
      }
    }
  }

  /**
   * Lists what carries our label and remembers it as "adopted": compared (not blindly rewritten)
   * on the next reconcile, and deleted only when a complete snapshot says it is not desired.
   * Run again periodically, it repairs drift: objects someone deleted or edited are re-applied.
   */
  private async adoptOwned(signal: AbortSignal): Promise<void> {
    const owned = await this.cluster.listOwned(signal);
    const seen = new Set<string>();
    for (const o of owned) {
      const key = ownedServiceKey(o);
      if (key === undefined || !isOwned(o)) continue;
      const id = refString(refOf(o));
      seen.add(id);
      const k = serviceKeyString(key);
      const prev = this.known.get(id);
      if (prev === undefined) this.metrics.objectsAdopted += 1;
      this.remember(id, { ref: refOf(o), key: k, uid: o.metadata.uid, hash: undefined, stored: o });
      // Compare the live status too, instead of trusting what we think we wrote.
      this.statusApplied.delete(id);
      this.importDirty.add(k);
    }
    for (const [id, kn] of [...this.known]) {
      if (!seen.has(id)) {
        this.forget(id);
        this.importDirty.add(kn.key);
      }
    }
    for (const k of this.imports.keys()) this.importDirty.add(k);
    this.changed.notify();
  }

  private remember(id: string, kn: KnownObject): void {
    const prev = this.known.get(id);
    if (prev !== undefined && prev.key !== kn.key) this.knownByKey.get(prev.key)?.delete(id);
    this.known.set(id, kn);
    let ids = this.knownByKey.get(kn.key);
    if (ids === undefined) this.knownByKey.set(kn.key, (ids = new Set()));
    ids.add(id);
  }

  private forget(id: string): void {
    const kn = this.known.get(id);
    if (kn === undefined) return;
    this.known.delete(id);
    const ids = this.knownByKey.get(kn.key);
    ids?.delete(id);
    if (ids?.size === 0) this.knownByKey.delete(kn.key);
    this.statusApplied.delete(id);
  }

  private async reconcileLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: this.opts.retryBaseMs, maxMs: this.opts.retryMaxMs }, this.random);
    while (!aborted(signal)) {
      if (!(await this.changed.until(() => this.adopted && this.importDirty.size > 0, signal))) return;
      const keys = [...this.importDirty];
      this.importDirty.clear();
      // Every state change up to `revision` marked its keys dirty synchronously, so once these
      // keys are written, the cluster holds the desired state of `revision`.
      const revision = this.revision;
      const complete = this.snapshotApplied;
      const failed: string[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < keys.length && !aborted(signal)) {
          const k = keys[next++];
          if (k === undefined) break;
          try {
            await this.reconcileKey(k, signal);
          } catch (err) {
            if (aborted(signal)) return;
            failed.push(k);
            this.metrics.applyErrors += 1;
            this.log.warn({ err, service: k }, 'applying imports failed; retrying');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.opts.applyConcurrency, keys.length) }, worker));
      if (aborted(signal)) return;
      if (failed.length > 0) {
        for (const k of failed) this.importDirty.add(k);
        await sleep(backoff.next(), signal);
        continue;
      }
      backoff.reset();
      if (complete && revision > this.applied) {
        this.applied = revision;
        this.changed.notify();
      }
    }
  }

  private async reconcileKey(k: string, signal: AbortSignal): Promise<void> {
    const state = this.imports.get(k);
    const desired = state === undefined ? undefined : desiredImport(state);
    const wanted = new Set<string>();
    if (desired !== undefined) {
      // The ServiceImport first, so that consumers know the service before its endpoints.
      const imported = await this.ensureApplied(k, desired.serviceImport, signal);
      wanted.add(refString(refOf(desired.serviceImport)));
      if (imported) await this.ensureStatus(desired.serviceImportStatus, signal);
      for (const slice of desired.endpointSlices) {
        wanted.add(refString(refOf(slice)));
        await this.ensureApplied(k, slice, signal);
      }
    }
    if (this.snapshotApplied) {
      // Endpoints go before the ServiceImport, the reverse of creation.
      const stale = [...(this.knownByKey.get(k) ?? [])].filter((id) => !wanted.has(id)).sort((a, b) => (a < b ? -1 : 1));
      for (const id of stale) {
        const kn = this.known.get(id);
        if (kn === undefined) continue;
        await this.cluster.delete(kn.ref, kn.uid, signal);
        this.forget(id);
        this.metrics.objectsDeleted += 1;
      }
    }
    await this.reconcileExportStatus(k, signal);
  }

  /** True when the object is (now) as desired; false when it is skipped (not ours, no namespace). */
  private async ensureApplied(k: string, object: KubeObject, signal: AbortSignal): Promise<boolean> {
    const ref = refOf(object);
    const id = refString(ref);
    // Desired objects are built by our own code in a fixed key order, so the native stringify is
    // a stable fingerprint, several times cheaper than a canonicalising one on this hot path.
    const hash = JSON.stringify(object);
    const kn = this.known.get(id);
    if (kn?.hash === hash) return true;
    if (kn !== undefined && kn.hash === undefined && kn.stored !== undefined && isSubset(object, kn.stored)) {
      kn.hash = hash;
      return true;
    }
    if (kn === undefined) {
      // Never change what is not ours: look before the first write of a name.
      const live = await this.cluster.get(ref, signal);
      if (live !== undefined && !isOwned(live)) {
        this.metrics.ownershipConflicts += 1;
        this.log.warn({ object: id }, 'an object without the causeway ownership label has this name; leaving it alone');
        return false;
      }
      if (live !== undefined && isSubset(object, live)) {
        this.remember(id, { ref, key: k, uid: live.metadata.uid, hash, stored: undefined });
        return true;
      }
    }
    try {
      const stored = await this.cluster.apply(object, signal);
      this.remember(id, { ref, key: k, uid: stored.metadata.uid, hash, stored: undefined });
      this.metrics.objectsApplied += 1;
      return true;
    } catch (err) {
      if (err instanceof Error && err.name === 'NotFoundError') {
        // The namespace does not exist here; the drift check retries once it does.
        this.metrics.missingNamespaces += 1;
        this.log.info({ object: id }, 'namespace missing; not importing into it');
        return false;
      }
      throw err;
    }
  }

  private async ensureStatus(object: KubeObject, signal: AbortSignal): Promise<void> {
    const id = refString(refOf(object));
    const hash = JSON.stringify(object.status);
    if (this.statusApplied.get(id) === hash) return;
    const stored = this.known.get(id)?.stored;
    if (stored !== undefined && isSubset(object.status, stored.status)) {
      this.statusApplied.set(id, hash);
      return;
    }
    await this.cluster.applyStatus(object, signal);
    this.statusApplied.set(id, hash);
    this.metrics.statusesApplied += 1;
  }

  private async reconcileExportStatus(k: string, signal: AbortSignal): Promise<void> {
    const key = keyOf(k);
    const se = this.cluster.serviceExport(key);
    const id = refString({ kind: 'ServiceExport', namespace: key.namespace, name: key.name });
    if (se === undefined) {
      this.statusApplied.delete(id);
      return;
    }
    const problem: LocalExportProblem | undefined = exportProblem(se, this.cluster.service(key));
    const hub = this.hubStatus.get(k);
    if (problem === undefined && hub === undefined && !this.statusApplied.has(id)) return;
    const previous: K8sCondition[] | undefined = se.status?.conditions;
    const conditions = exportConditions(
      hub,
      problem,
      previous,
      this.now()
        .toISOString()
        .replace(/\.\d+Z$/, 'Z'),
    );
    const hash = JSON.stringify(conditions);
    if (this.statusApplied.get(id) === hash) return;
    if (previous !== undefined && isSubset(conditions, previous)) {
      this.statusApplied.set(id, hash);
      return;
    }
    try {
      await this.cluster.applyStatus(serviceExportStatusObject(key.namespace, key.name, conditions), signal);
    } catch (err) {
      // Deleted between the cache read and the write: nothing to report on.
      if (err instanceof Error && err.name === 'NotFoundError') return;
      throw err;
    }
    this.statusApplied.set(id, hash);
    this.metrics.statusesApplied += 1;
  }

  // ---- heartbeat -----------------------------------------------------------------------------

  private async heartbeatLoop(signal: AbortSignal): Promise<void> {
    while (!aborted(signal)) {
      if (this.transport.connected()) {
        this.transport.heartbeat(this.heartbeat());
        this.metrics.heartbeatsSent += 1;
      }
      await sleep(this.opts.heartbeatIntervalMs, signal);
    }
  }

  heartbeat(): Heartbeat {
    const kubeOk = this.kubeSynced && this.kubeHealthy;
    return {
      v: PROTOCOL_VERSION,
      cluster: this.name,
      session: this.session,
      agentVersion: this.opts.agentVersion,
      appliedRevision: this.applied,
      time: this.now().toISOString(),
      conditions: [
        {
          type: 'KubernetesReachable',
          status: kubeOk ? 'True' : 'False',
          reason: kubeOk ? 'WatchesRunning' : this.kubeSynced ? 'WatchRestarting' : 'NotSynced',
          message: this.kubeMessage.slice(0, 1024),
        },
        {
          type: 'HubReachable',
          status: this.hubReachable ? 'True' : 'False',
          reason: this.hubReachable ? 'Acknowledged' : 'NoAcknowledgement',
          message: this.hubMessage.slice(0, 1024),
        },
        {
          type: 'ImportsApplied',
          status: this.snapshotApplied && this.applied === this.revision && !this.syncInFlight ? 'True' : 'False',
          reason: !this.snapshotApplied ? 'AwaitingSnapshot' : this.applied === this.revision ? 'UpToDate' : 'Applying',
          message: `applied revision ${this.applied} of ${this.revision}`,
        },
      ],
    };
  }
}
