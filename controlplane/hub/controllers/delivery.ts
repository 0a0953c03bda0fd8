// Import delivery to consumers: two controllers keyed by consumer cluster. `deltas` decides what a
// consumer needs (controllers/delivery-plan.ts) and sends deltas at once; `snapshots` serves the
// expensive answer (a consumer's whole import set) one at a time, yielding every few milliseconds,
// so that a thousand agents reconnecting at once cost a steady stream of work instead of one long stall,
// while deltas to everyone else keep flowing. Both run only while this hub leads, with the
// leadership term's signal. A new term resumes each consumer whose agent's last heartbeat named a
// state this replica's model passed through (resume.ts: a delta of what changed since); every
// other consumer starts from nothing sent and is re-based on a snapshot (the resync). What a burst
// of either makes is published together at its end.
import {
  AgentFeature,
  MAX_MESSAGE_BYTES,
  importBatchCodec,
  serviceKeyString,
  type HeldImport,
  type ExportStatus,
  type ImportBatch,
  type ImportState,
} from '../../api/messages.ts';
import { importBatchParts } from '../../api/import-parts.ts';
import { clusterSubject } from '../../api/subjects.ts';
import { Controller } from '../../kernel/controller.ts';
import type { Clock } from '../../kernel/clock.ts';
import { backgroundClock } from './background-clock.ts';
import { Outbox } from './outbox.ts';
import { ResumeBook, type ConsumerState } from './resume.ts';
import type { ConsumerDelivery, DeliveryState } from './convergence-plan.ts';
import { deltaBatch, emptyDelta, recordImportChange, snapshotBatches, syncWantedBatch, upToDateBatch, type PendingDelta } from './batches.ts';
import {
  SYNC_WANTED_WAIT_MS,
  planDelivery,
  planSnapshot,
  planSync,
  snapshotTarget,
  type ConsumerDeliveryState,
  type SnapshotRequest,
} from './delivery-plan.ts';

/** What delivery reads of the service model, and where it publishes. */
export interface DeliveryDeps {
  readonly registered: (consumer: string) => boolean;
  readonly consumers: () => Iterable<string>;
  /** The revision the model reflects: what batches are labelled with. */
  readonly revision: () => number;
  /**
   * The consumer's whole desired state now (undefined before the model is built): what it must
   * take whole, and what it may keep of what its agent said it holds (`held`, key → digest).
   */
  readonly desired: (
    consumer: string,
    held: ReadonlyMap<string, string> | undefined,
  ) => { readonly upserts: readonly ImportState[]; readonly kept: readonly HeldImport[]; readonly statuses: readonly ExportStatus[] } | undefined;
  /** What the model says the consumer has now, by digest (for its summary, resume.ts); undefined before the model is built. */
  readonly state: ConsumerState;
  readonly publish: (subject: string, data: Uint8Array) => void;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly clock?: Clock;
  /** Message budget; default MAX_MESSAGE_BYTES. */
  readonly maxBytes?: number;
}

/** Per consumer, for one leadership term. */
interface Consumer {
  sent: number | undefined;
  pending: PendingDelta | undefined;
  snapshot: SnapshotRequest | undefined;
  /** When this term asked its agent to sync (ImportBatch.syncWanted), if it did. */
  syncWantedAt: number | undefined;
}

export class DeliveryController {
  private readonly deps: DeliveryDeps;
  private readonly clock: Clock;
  private readonly deltas: Controller<string>;
  private readonly snapshots: Controller<string>;
  /** Undefined while not leading: changes are then not recorded (a new term snapshots everyone). */
  private term: Map<string, Consumer> | undefined;
  /** What each consumer's agent accepts beyond the base protocol (AgentFeature), as it last said. */
  private readonly features = new Map<string, ReadonlySet<string>>();
  /** When the snapshots controller last yielded to the event loop (performance.now()). */
  private sliceStart = 0;
  /**
   * What a burst of deliveries makes, published at its end (outbox.ts). Every send is made in a
   * reconcile of one of the two controllers, and each burst ends in a drain: the controller going
   * idle (onIdle, also after a failed reconcile), the snapshots controller yielding, the term
   * ending, or a direct up-to-date reply about to go out.
   */
  private readonly outbox: Outbox;
  /** Every consumer's summary, and while not leading where each agent can be resumed from (resume.ts). */
  private readonly resume: ResumeBook;

  constructor(deps: DeliveryDeps) {
    this.deps = deps;
    this.resume = new ResumeBook(deps.state, deps.registered);
    this.outbox = new Outbox(deps);
    this.clock = deps.clock ?? backgroundClock;
    const onError = (consumer: string, err: unknown): void => {
      deps.warn({ cluster: consumer, err }, 'sending imports failed');
    };
    this.deltas = new Controller<string>({
      name: 'delivery',
      clock: this.clock,
      reconcile: (consumer) => {
        this.deliver(consumer);
        return Promise.resolve(undefined);
      },
      resync: () => deps.consumers(),
      onError,
      onIdle: () => {
        this.outbox.drain();
      },
    });
    this.snapshots = new Controller<string>({
      name: 'snapshots',
      clock: this.clock,
      reconcile: async (consumer, signal) => {
        if (signal.aborted) return undefined;
        const wait = this.step(consumer) === 'snapshot' ? this.serveSnapshot(consumer) : undefined;
        // Yield to the event loop (heartbeats, reports, other consumers' deltas) once a slice of
        // work is done, not after every consumer: a new term's first pass over 1,000 consumers is
        // mostly one small sync-wanted message each, and a yield per consumer took ~4 s on a busy
        // hub (bench, leader kill at 1,000 clusters) before the first snapshot was served.
        if (performance.now() - this.sliceStart >= SNAPSHOT_SLICE_MS) {
          this.outbox.drain();
          await new Promise<void>((resolve) => {
            setImmediate(resolve);
          });
          this.sliceStart = performance.now();
        }
        return wait === undefined ? undefined : { requeueAfterMs: wait };
      },
      onError,
      onIdle: () => {
        this.outbox.drain();
      },
    });
  }

  /** Leads delivery until `signal` (the term's) aborts. */
  async lead(signal: AbortSignal): Promise<void> {
    this.term = new Map();
    for (const name of this.deps.consumers()) this.deps.count('imports', this.resumeFrom(name) ? 'resumed' : 'not-resumed');
    this.resume.setLogging(false);
    try {
      await Promise.all([this.deltas.run(signal), this.snapshots.run(signal)]);
    } finally {
      this.outbox.drain();
      this.term = undefined;
      this.resume.setLogging(true);
    }
  }

  /**
   * A new term takes over a consumer whose agent's heartbeat matched a state this replica's model
   * passed through (resume.ts): it was sent that state at the agent's revision, and what changed
   * since is its pending delta. Others start from nothing sent (a snapshot, asked for by syncWanted).
   */
  private resumeFrom(name: string): boolean {
    const from = this.accepted(name, AgentFeature.ImportResume) ? this.resume.resumable(name) : undefined;
    const c = this.consumer(name);
    if (from === undefined || c === undefined) return false;
    c.sent = from.revision;
    if (from.changes.length > 0) {
      const pending = emptyDelta();
      for (const ch of from.changes) {
        if (ch.kind === 'import') recordImportChange(pending, ch.key, ch.next, ch.prev);
        else pending.statuses.set(ch.key, ch.next);
      }
      c.pending = pending;
    }
    return true;
  }

  /** What the consumer's agent said it holds in its latest heartbeat (Heartbeat.holds). */
  heard(consumer: string, holds: { readonly revision: number; readonly summary: string } | undefined): void {
    this.resume.heard(consumer, holds);
  }

  /** A flush of the model ended (every change it made to consumers was recorded). */
  flushed(): void {
    this.resume.flushed();
  }

  /** Whether a leadership term runs (deliveries are made). */
  leading(): boolean {
    return this.term !== undefined;
  }

  /** The revision of the last batch sent to the consumer in this term. */
  sentRevision(consumer: string): number | undefined {
    return this.term?.get(consumer)?.sent;
  }

  /** What this term has sent and has yet to send, per registered consumer; undefined while not leading. */
  deliveryState(): DeliveryState | undefined {
    const term = this.term;
    if (term === undefined) return undefined;
    const consumers: Record<string, ConsumerDelivery> = {};
    for (const name of this.deps.consumers()) {
      const c = term.get(name);
      consumers[name] = { sent: c?.sent, pending: c !== undefined && (c.pending !== undefined || c.snapshot !== undefined) };
    }
    return { modelRevision: this.deps.revision(), consumers };
  }

  /** The model changed what `consumer` imports from `prev` to `next` (undefined: none). */
  recordImport(consumer: string, key: string, next: ImportState | undefined, prev: ImportState | undefined): void {
    this.resume.importChanged(consumer, key, next, prev);
    const c = this.consumer(consumer);
    if (c === undefined) return;
    recordImportChange((c.pending ??= emptyDelta()), key, next, prev);
    this.deltas.add(consumer);
  }

  /**
   * What the consumer's agent said it accepts, in its latest heartbeat or sync request (absent:
   * nothing beyond the base protocol). Kept across terms: every replica hears both.
   */
  accepts(consumer: string, features: readonly string[] | undefined): void {
    if (features === undefined || features.length === 0) this.features.delete(consumer);
    else if (!sameFeatures(this.features.get(consumer), features)) this.features.set(consumer, new Set(features));
  }

  /** The summary a batch to `consumer` carries: of the model's state for it now, which is what the batch brings it to. */
  private summaryFor(consumer: string): string | undefined {
    return this.accepted(consumer, AgentFeature.ImportResume) ? this.resume.summaryOf(consumer) : undefined;
  }

  private accepted(consumer: string, feature: AgentFeature): boolean {
    return this.features.get(consumer)?.has(feature) === true;
  }

  recordStatus(consumer: string, key: string, next: ExportStatus | undefined): void {
    this.resume.statusChanged(consumer, key, next);
    const c = this.consumer(consumer);
    if (c === undefined) return;
    (c.pending ??= emptyDelta()).statuses.set(key, next);
    this.deltas.add(consumer);
  }

  /** Every consumer gets a fresh snapshot (reachability changed: deltas were not computed). */
  resyncAll(): void {
    this.resume.invalidateAll();
    for (const consumer of this.deps.consumers()) this.wantSnapshot(consumer, undefined);
  }

  /**
   * An agent asks for everything after `afterRevision`: an empty delta when it has it all,
   * otherwise a snapshot (to `reply` while the agent still waits there). False when not leading.
   */
  requestSync(consumer: string, afterRevision: number, reply: string | undefined, accepts?: readonly string[], held?: readonly HeldImport[]): boolean {
    this.accepts(consumer, accepts);
    const c = this.consumer(consumer);
    if (c === undefined) return false;
    if (planSync(afterRevision, this.stateOf(consumer, c)) === 'up-to-date') {
      // Outside a reconcile: a failed publish must not throw into the bus callback; the agent asks again.
      if (reply !== undefined && c.sent !== undefined) {
        this.outbox.drain();
        try {
          this.deps.publish(reply, importBatchCodec.encode(upToDateBatch(consumer, c.sent, this.summaryFor(consumer))));
        } catch (err) {
          this.deps.warn({ cluster: consumer, err }, 'answering a sync request failed');
        }
      }
      return true;
    }
    const digests =
      held === undefined || !this.accepted(consumer, AgentFeature.ImportRebase) ? undefined : new Map(held.map((h) => [serviceKeyString(h), h.digest]));
    this.wantSnapshot(consumer, reply, digests);
    return true;
  }

  private wantSnapshot(consumer: string, reply: string | undefined, held?: ReadonlyMap<string, string>): void {
    const c = this.consumer(consumer);
    if (c === undefined) return;
    const now = this.clock.now();
    c.snapshot = {
      reply: reply ?? c.snapshot?.reply,
      askedAt: reply !== undefined ? now : (c.snapshot?.askedAt ?? now),
      // The latest word on what it holds; the agent checks each kept digest against what it holds then.
      held: held ?? c.snapshot?.held,
    };
    this.deltas.add(consumer);
  }

  private consumer(name: string): Consumer | undefined {
    const term = this.term;
    if (term === undefined) return undefined;
    let c = term.get(name);
    if (c === undefined) term.set(name, (c = { sent: undefined, pending: undefined, snapshot: undefined, syncWantedAt: undefined }));
    return c;
  }

  private stateOf(name: string, c: Consumer): ConsumerDeliveryState {
    return { registered: this.deps.registered(name), sent: c.sent, pending: c.pending !== undefined, snapshot: c.snapshot };
  }

  private step(name: string): ReturnType<typeof planDelivery> | undefined {
    const c = this.consumer(name);
    return c === undefined ? undefined : planDelivery(this.stateOf(name, c));
  }

  private deliver(name: string): void {
    const c = this.consumer(name);
    if (c === undefined) return;
    switch (planDelivery(this.stateOf(name, c))) {
      case 'forget':
        this.term?.delete(name);
        this.features.delete(name);
        this.resume.forget(name);
        return;
      case 'nothing':
        return;
      case 'snapshot':
        this.snapshots.add(name);
        return;
      case 'delta':
        this.sendDelta(name, c);
        return;
    }
  }

  private sendDelta(name: string, c: Consumer): void {
    const revision = this.deps.revision();
    const delta = deltaBatch(name, c.sent ?? 0, revision, c.pending ?? emptyDelta(), this.accepted(name, AgentFeature.ImportPatches), this.summaryFor(name));
    // A large delta goes in chunks like a snapshot; the consumer applies it once all have arrived.
    for (const part of importBatchParts(delta, this.deps.maxBytes ?? MAX_MESSAGE_BYTES)) {
      this.outbox.send(clusterSubject(name, 'imports'), importBatchCodec.encode(part));
    }
    c.sent = revision;
    c.pending = undefined;
    this.deps.count('imports', 'delta');
  }

  /** Asks the agent to sync, waits for it, or sends the snapshot (delivery-plan.ts planSnapshot); returns how long to wait. */
  private serveSnapshot(name: string): number | undefined {
    const c = this.consumer(name);
    if (c === undefined) return undefined;
    const now = this.clock.now();
    const plan = planSnapshot({ snapshot: c.snapshot, syncWantedAt: c.syncWantedAt, rebase: this.accepted(name, AgentFeature.ImportRebase) }, now);
    if (plan.step === 'send') {
      this.sendSnapshot(name, c);
      return undefined;
    }
    if (plan.step === 'wait') return plan.ms;
    c.syncWantedAt = now;
    this.outbox.send(clusterSubject(name, 'imports'), importBatchCodec.encode(syncWantedBatch(name, this.deps.revision())));
    this.deps.count('imports', 'sync-wanted');
    return SYNC_WANTED_WAIT_MS;
  }

  private sendSnapshot(name: string, c: Consumer): void {
    const desired = this.deps.desired(name, c.snapshot?.held);
    if (desired === undefined) return;
    const revision = this.deps.revision();
    const batches: ImportBatch[] = snapshotBatches(name, revision, desired.upserts, desired.kept, desired.statuses, this.deps.maxBytes, this.summaryFor(name));
    const target = snapshotTarget(c.snapshot, this.clock.now());
    for (const [i, batch] of batches.entries()) {
      const subject = i === 0 && target !== 'imports' ? target.reply : clusterSubject(name, 'imports');
      this.outbox.send(subject, importBatchCodec.encode(batch));
    }
    c.sent = revision;
    c.pending = undefined;
    c.snapshot = undefined;
    c.syncWantedAt = undefined;
    this.deps.count('imports', 'snapshot');
  }
}

/** Snapshot work between two yields to the event loop (ms). */
const SNAPSHOT_SLICE_MS = 5;

function sameFeatures(have: ReadonlySet<string> | undefined, said: readonly string[]): boolean {
  return have !== undefined && have.size === said.length && said.every((f) => have.has(f));
}
