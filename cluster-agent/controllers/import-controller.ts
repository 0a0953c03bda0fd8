// The import side on the controller kernel, keyed by service ("ns/name"). Batches from the hub
// change the desired state (planners/receive.ts) and mark their keys; each key's reconcile reads
// the desired import and what is known or live in the cluster, asks planners/import-plan.ts what
// to do, and applies it through the ClusterPort. A failing key backs off alone (kernel per-key
// backoff); `appliedRevision` advances whenever nothing is queued or in flight, so a key waiting
// for its retry holds back neither the other keys nor the revision: it shows in `failing()`.
import { NotFoundError } from '../../controlplane/api/errors.ts';
import { parseServiceKey, serviceKeyString, type HeldImport, type ImportBatch } from '../../controlplane/api/messages.ts';
import { Wakeup, abortedPromise } from '../../controlplane/kernel/async.ts';
import type { BackoffOptions } from '../../controlplane/kernel/backoff.ts';
import type { Clock } from '../../controlplane/kernel/clock.ts';
import { Controller } from '../../controlplane/kernel/controller.ts';
import { exportProblem } from '../exports.ts';
import { desiredImport, type DesiredImport } from '../imports.ts';
import { isOwned, ownedServiceKey, refOf, refString, type KubeObject, type ObjectRef } from '../objects.ts';
import { ImportOp, planExportStatus, planServiceImport, unknownObjects, type ImportOperation } from '../planners/import-plan.ts';
import {
  ReceiveOutcome,
  applyBatch,
  distrust,
  holdsClaim,
  emptyReceiveState,
  heldImports,
  receiveBatch,
  type DesiredState,
  type ReceiveState,
} from '../planners/receive.ts';
import type { ClusterPort } from '../ports.ts';
import { errorMessage, type AgentLogger, type AgentMetrics } from '../telemetry.ts';
import { KnownObjects } from './known-objects.ts';
import { RecoveredImports } from './recovered-imports.ts';

export interface ImportControllerOptions {
  /** This cluster's name: batches for another are ignored. */
  readonly cluster: string;
  readonly port: ClusterPort;
  readonly concurrency: number;
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly now: () => Date;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
  /** The applied revision advanced (the agent sends an early heartbeat). */
  readonly onApplied?: (revision: number) => void;
}

/** One service as the cluster has it from us: the ServiceImport and the EndpointSlices last applied in full. */
export interface AppliedImport {
  readonly serviceImport: KubeObject;
  readonly endpointSlices: readonly KubeObject[];
}

/** What the cluster imports, as applied (read-only): for the clusterset.local DNS server. */
export interface AppliedImports {
  /** True once the first snapshot has been through every key: before that, absence proves nothing. */
  readonly complete: boolean;
  readonly revision: number;
  /** By service key "ns/name"; a service appears once its ServiceImport is applied and goes once it is deleted. */
  readonly services: ReadonlyMap<string, AppliedImport>;
}

export class ImportController {
  private readonly opts: ImportControllerOptions;
  private readonly controller: Controller<string>;
  private readonly known = new KnownObjects();
  private state: ReceiveState = emptyReceiveState;
  /** Written only through applyBatch, with the batches receiveBatch chose. */
  private readonly desired: DesiredState = { imports: new Map(), hubStatus: new Map() };
  /** Until the first snapshot: what the objects a previous agent left say it held (recovered-imports.ts). */
  private readonly recovered = new RecoveredImports();
  private applied = 0;
  private adopted = false;
  private markAdopted: () => void = () => undefined;
  private readonly firstAdoption = new Promise<void>((resolve) => {
    this.markAdopted = resolve;
  });
  /** Keys whose last reconcile failed: the error's message. */
  private readonly failures = new Map<string, string>();
  /** Notified on every state change, for whoever waits for a revision (the sync controller). */
  private readonly changed = new Wakeup();
  /** Per key, what its last reconcile wrote (or found already written): read by `appliedImports()`. */
  private readonly written = new Map<string, AppliedImport>();
  private caughtUp = false;

  constructor(options: ImportControllerOptions) {
    this.opts = options;
    this.controller = new Controller<string>({
      name: 'imports',
      concurrency: options.concurrency,
      backoff: options.backoff,
      clock: options.clock,
      random: options.random,
      reconcile: (key, signal) => this.reconcile(key, signal),
      onError: (key, err, retryInMs) => {
        this.failures.set(key, errorMessage(err));
        this.opts.metrics.applyErrors += 1;
        this.opts.log.warn({ err, service: key, retryInMs }, 'applying imports failed; retrying this service');
      },
      onIdle: () => {
        this.advance();
      },
    });
  }

  /** The revision of the desired state held (deltas must start here). */
  revision(): number {
    return this.state.revision;
  }

  /** The revision whose desired state has been through every key's reconcile (failing keys aside). */
  appliedRevision(): number {
    return this.applied;
  }

  snapshotApplied(): boolean {
    return this.state.snapshotApplied;
  }

  /** What the heartbeat says is held (Heartbeat.holds): the revision and the hub's summary of it. */
  holds(): { readonly revision: number; readonly summary: string } | undefined {
    return holdsClaim(this.state);
  }

  /**
   * What is held, by digest, for a sync request: before the first snapshot, what the cluster's
   * objects say (none before the first listing, see `adopted`); undefined when nothing is, or too many.
   */
  held(): HeldImport[] | undefined {
    return this.state.snapshotApplied ? heldImports(this.desired.imports) : this.recovered.held();
  }

  /** Waits until the cluster's owned objects have been listed once (false on abort or after `timeoutMs`). */
  listed(signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    return this.changed.until(() => this.adopted, signal, timeoutMs);
  }

  /** Deltas are buffered ahead of the revision: a sync must fill the gap. */
  hasGap(): boolean {
    return this.state.pendingDeltas.length > 0;
  }

  /** Services whose last apply failed, with the error: retried on their own backoff. */
  failing(): ReadonlyMap<string, string> {
    return this.failures;
  }

  /** The ServiceImports and EndpointSlices the cluster has from us, as last applied (a live view, not a copy). */
  appliedImports(): AppliedImports {
    return { complete: this.caughtUp, revision: this.applied, services: this.written };
  }

  /** Looks at a key again (its ServiceExport, Service or an owned object changed). */
  enqueue(key: string): void {
    this.controller.add(key);
  }

  /** Takes in one batch from the hub; says whether the agent must ask the hub to sync. */
  receive(batch: ImportBatch, solicited: boolean): { readonly needSync: boolean } {
    const m = this.opts.metrics;
    m.batchesReceived += 1;
    const before = this.state;
    const r = receiveBatch(before, batch, solicited, this.opts.cluster);
    this.state = r.state;
    if (r.outcome === ReceiveOutcome.Ignored) m.batchesIgnored += 1;
    m.batchesApplied += r.apply.length;
    let needSync = r.needSync;
    for (const b of r.apply) {
      if (b.kind === 'snapshot') {
        // What the first snapshot keeps of the recovered imports is what this cluster holds.
        if (this.recovered.size > 0) this.opts.metrics.importsRecovered += this.recovered.seedKept(b, this.desired.imports);
        // Owned objects of services the snapshot does not name must go: look at every known key.
        for (const k of this.known.keys()) this.controller.add(k);
        this.opts.log.info({ revision: b.revision, services: b.upserts.length, kept: b.kept?.length ?? 0 }, 'import snapshot received');
      }
      const applied = applyBatch(this.desired, b);
      for (const k of applied.dirty) this.controller.add(k);
      if (applied.unfit.length > 0) {
        // The hub assumed imports we do not hold as it thinks (a patch, a kept import): sync again.
        this.opts.log.warn(
          { revision: b.revision, services: applied.unfit.slice(0, 5), count: applied.unfit.length },
          'the hub assumed imports not held as it thinks; asking it to sync',
        );
        m.importsUnfit += applied.unfit.length;
        this.state = distrust(this.state);
        needSync = true;
        break;
      }
    }
    if (r.outcome === ReceiveOutcome.Buffered && before.snapshotApplied) {
      this.opts.log.info({ have: before.revision, from: batch.fromRevision, to: batch.revision }, 'gap in import deltas; asking the hub to sync');
    }
    this.advance();
    this.changed.notify();
    return { needSync };
  }

  /** Waits until a snapshot is applied and the revision reached `revision` (false on abort or after `timeoutMs`). */
  reached(revision: number, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    return this.changed.until(() => this.state.snapshotApplied && this.state.revision >= revision, signal, timeoutMs);
  }

  /**
   * What carries our label, as listed: remembered as adopted (compared, not blindly rewritten, on
   * the next reconcile; deleted only when a complete snapshot says it is not desired). Run again
   * periodically, it repairs drift: objects someone deleted or edited are looked at again.
   */
  adopt(owned: readonly KubeObject[]): void {
    if (!this.adopted && !this.state.snapshotApplied && this.recovered.read(owned) > 0) {
      this.opts.log.info({ services: this.recovered.size }, 'imports recovered from the cluster, to name in the first sync');
    }
    const seen = new Set<string>();
    for (const o of owned) {
      const sk = ownedServiceKey(o);
      if (sk === undefined || !isOwned(o)) continue;
      const ref = refOf(o);
      const id = refString(ref);
      const key = serviceKeyString(sk);
      seen.add(id);
      if (this.known.get(id) === undefined) this.opts.metrics.objectsAdopted += 1;
      this.known.remember(id, { ref, key, uid: o.metadata.uid, hash: undefined, stored: o });
      // Compare the live status too, instead of trusting what we think we wrote.
      this.known.statusApplied.delete(id);
      this.controller.add(key);
    }
    for (const [id, kn] of [...this.known.entries()]) {
      if (seen.has(id)) continue;
      this.known.forget(id);
      this.controller.add(kn.key);
    }
    for (const k of this.desired.imports.keys()) this.controller.add(k);
    this.adopted = true;
    this.markAdopted();
    this.changed.notify();
  }

  /** Reconciles keys until `signal` aborts; starts only once the first adoption is done. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.race([this.firstAdoption, abortedPromise(signal)]);
    if (signal.aborted) return;
    await this.controller.run(signal);
  }

  /** Everything marked up to `revision` has been reconciled (or waits for a retry): it is applied. */
  private advance(): void {
    if (!this.adopted || !this.state.snapshotApplied || this.controller.pending() > 0) return;
    this.caughtUp = true;
    if (this.state.revision > this.applied) {
      this.applied = this.state.revision;
      this.changed.notify();
      this.opts.onApplied?.(this.applied);
    }
  }

  private async reconcile(key: string, signal: AbortSignal): Promise<undefined> {
    const wanted = this.desired.imports.get(key);
    const desired = wanted === undefined ? undefined : desiredImport(wanted);
    const known = this.known.ofKey(key);
    const live = new Map<string, KubeObject | undefined>();
    for (const ref of unknownObjects(desired, known)) live.set(refString(ref), await this.opts.port.get(ref, signal));
    const ops = planServiceImport(desired, { known, live, statusApplied: this.known.statusApplied }, { snapshotApplied: this.state.snapshotApplied });
    this.noteWritten(key, desired, await this.apply(key, ops, signal));
    await this.reconcileExportStatus(key, signal);
    this.failures.delete(key);
    return undefined;
  }

  /** A service counts as applied only if its ServiceImport is in the cluster (not refused, its namespace present). */
  private noteWritten(key: string, desired: DesiredImport | undefined, unwritten: ReadonlySet<string>): void {
    const isWritten = (o: KubeObject): boolean => !unwritten.has(refString(refOf(o)));
    if (desired === undefined || !isWritten(desired.serviceImport)) this.written.delete(key);
    else this.written.set(key, { serviceImport: desired.serviceImport, endpointSlices: desired.endpointSlices.filter(isWritten) });
  }

  /** Applies the operations; returns the ids of the desired objects left unwritten. */
  private async apply(key: string, ops: readonly ImportOperation[], signal: AbortSignal): Promise<ReadonlySet<string>> {
    const { port, metrics, log } = this.opts;
    const unwritten = new Set<string>();
    for (const o of ops) {
      switch (o.op) {
        case ImportOp.Apply:
          if (!(await this.write(key, o.id, o.object, o.hash, signal))) unwritten.add(o.id);
          break;
        case ImportOp.Adopt:
          this.known.remember(o.id, { ref: o.ref, key, uid: o.uid, hash: o.hash, stored: this.known.get(o.id)?.stored });
          break;
        case ImportOp.SkipNotOwned:
          unwritten.add(o.id);
          metrics.ownershipConflicts += 1;
          log.warn({ object: o.id }, 'an object without the causeway ownership label has this name; leaving it alone');
          break;
        case ImportOp.ApplyStatus:
          if (unwritten.has(o.of)) break;
          await port.applyStatus(o.object, signal);
          this.known.statusApplied.set(o.id, o.hash);
          metrics.statusesApplied += 1;
          break;
        case ImportOp.AdoptStatus:
          this.known.statusApplied.set(o.id, o.hash);
          break;
        case ImportOp.Delete:
          await port.delete(o.ref, o.uid, signal);
          this.known.forget(o.id);
          metrics.objectsDeleted += 1;
          break;
      }
    }
    return unwritten;
  }

  /** Server-side applies one object; false when its namespace does not exist here. */
  private async write(key: string, id: string, object: KubeObject, hash: string, signal: AbortSignal): Promise<boolean> {
    const ref: ObjectRef = refOf(object);
    try {
      const stored = await this.opts.port.apply(object, signal);
      this.known.remember(id, { ref, key, uid: stored.metadata.uid, hash, stored: undefined });
      this.opts.metrics.objectsApplied += 1;
      return true;
    } catch (err) {
      if (!(err instanceof Error && err.name === 'NotFoundError')) throw err;
      // The namespace does not exist here; the drift check looks again once it may.
      this.opts.metrics.missingNamespaces += 1;
      this.opts.log.info({ object: id }, 'namespace missing; not importing into it');
      return false;
    }
  }

  private async reconcileExportStatus(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = parseServiceKey(key);
    const se = this.opts.port.serviceExport({ namespace, name });
    const id = refString({ kind: 'ServiceExport', namespace, name });
    const plan = planExportStatus({
      namespace,
      name,
      serviceExport: se,
      problem: se === undefined ? undefined : exportProblem(se, this.opts.port.service({ namespace, name })),
      hub: this.desired.hubStatus.get(key),
      applied: this.known.statusApplied.get(id),
      now: this.opts
        .now()
        .toISOString()
        .replace(/\.\d+Z$/, 'Z'),
    });
    switch (plan.op) {
      case 'none':
        return;
      case 'forget':
        this.known.statusApplied.delete(id);
        return;
      case 'remember':
        this.known.statusApplied.set(id, plan.hash);
        return;
      case 'apply':
        try {
          await this.opts.port.applyStatus(plan.object, signal);
        } catch (err) {
          // Deleted between the cache read and the write: nothing to report on.
          if (err instanceof NotFoundError) return;
          throw err;
        }
        this.known.statusApplied.set(id, plan.hash);
        this.opts.metrics.statusesApplied += 1;
    }
  }
}
