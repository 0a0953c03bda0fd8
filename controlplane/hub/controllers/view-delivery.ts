// Import delivery through the view stream (ADR 0018): the leader writes what each cluster must
// import — and the status of its own exports — into the cluster's view in a JetStream stream that
// keeps the latest value per subject; the cluster's agent pulls its own durable consumer. NATS,
// not the hub, serves snapshots (a consumer's first pull) and resumes (its acknowledged position),
// so a reconnect storm costs the hub nothing, and a new leader writes only what the stream does not
// hold already.
//
// One controller keyed by consumer cluster, run while this hub leads with the term's signal. A
// term begins by reading what the stream holds (headers only) and comparing every view with the
// model; after that a reconcile writes the entries the model changed for that consumer, then the
// view's revision. A failed write is retried on the kernel's backoff with a full comparison, so
// nothing half-written is taken for done.
import { createHash } from 'node:crypto';
import type { ExportStatus, ImportState } from '../../api/messages.ts';
import { parseViewSubject, viewSubjects } from '../../api/subjects.ts';
import { ViewHeader } from '../../api/view-entries.ts';
import type { ViewStream } from '../../bus/views.ts';
import { Controller } from '../../kernel/controller.ts';
import type { Clock } from '../../kernel/clock.ts';
import { backgroundClock } from './background-clock.ts';
import type { ConsumerDelivery, DeliveryState } from './convergence-plan.ts';
import { applyViewWrites, fullViewChanges, planViewWrites, type EntryChange, type ObservedView } from './view-plan.ts';

/** What delivery reads of the service model, and where it writes. */
export interface ViewDeliveryDeps {
  readonly views: ViewStream;
  readonly registered: (consumer: string) => boolean;
  readonly consumers: () => Iterable<string>;
  /** The revision the model reflects: what views are labelled with. */
  readonly revision: () => number;
  /** The consumer's whole desired state now (undefined before the model is built). */
  readonly desired: (consumer: string) => { readonly imports: readonly ImportState[]; readonly statuses: readonly ExportStatus[] } | undefined;
  /** Answers an agent's sync request once its consumer was reset. */
  readonly reply: (subject: string, consumer: string, revision: number) => void;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly info?: (fields: Record<string, unknown>, message: string) => void;
  readonly clock?: Clock;
  /** Message budget; default MAX_MESSAGE_BYTES. */
  readonly maxBytes?: number;
  /** Consumers reconciled at once (each waits for NATS to store its writes). Default 64. */
  readonly concurrency?: number;
}

/** The digest of a view value's JSON: SHA-256, 22 base64url characters (132 bits). */
export function viewDigest(json: string): string {
  return createHash('sha256').update(json).digest('base64url').slice(0, 22);
}

/** The digest of a subject whose write may or may not have been stored: matches no value. */
const UNKNOWN = '?';

/** Per consumer, for one leadership term. */
interface Consumer {
  /** The revision its view says it is complete at; undefined: none yet. */
  sent: number | undefined;
  /** Entries the model changed since the last write, by "<kind> <key>": their value now. */
  changed: Map<string, EntryChange>;
  /** Compare the whole view with the model (new term, reachability changed, a failed write). */
  full: boolean;
  /** Its durable consumer is known to exist. */
  consumerReady: boolean;
  /** Sync replies waiting for a reset of its consumer. */
  resets: string[];
  resetWanted: boolean;
}

export class ViewDelivery {
  private readonly deps: ViewDeliveryDeps;
  private readonly controller: Controller<string>;
  /** Undefined while not leading. */
  private term: { consumers: Map<string, Consumer>; observed: Map<string, ObservedView>; revisions: Map<string, number> } | undefined;

  constructor(deps: ViewDeliveryDeps) {
    this.deps = deps;
    this.controller = new Controller<string>({
      name: 'views',
      clock: deps.clock ?? backgroundClock,
      concurrency: deps.concurrency ?? 64,
      // A stream that does not answer is a NATS node or stream leader changing, over in seconds: try
      // again soon rather than wait out the kernel's default 30 s ceiling once it is back.
      backoff: { baseMs: 100, maxMs: 1000 },
      reconcile: async (consumer) => {
        const at = performance.now();
        await this.reconcile(consumer);
        const ms = performance.now() - at;
        if (ms > 2000) deps.warn({ cluster: consumer, ms: Math.round(ms) }, 'writing the view was slow');
        return undefined;
      },
      onError: (consumer, err) => {
        deps.warn({ cluster: consumer, err }, 'writing the view failed; retrying');
      },
    });
  }

  /** Leads delivery until `signal` (the term's) aborts. */
  async lead(signal: AbortSignal): Promise<void> {
    const { views } = this.deps;
    const startedAt = performance.now();
    try {
      await views.ensure(signal);
      const [latest, existing] = await Promise.all([views.latest(signal), views.consumers()]);
      const observed = new Map<string, ObservedView>();
      const revisions = new Map<string, number>();
      for (const [subject, headers] of latest) {
        const p = parseViewSubject(subject);
        if (p === undefined) continue;
        let view = observed.get(p.cluster);
        if (view === undefined) observed.set(p.cluster, (view = new Map<string, string>()));
        if (p.kind === 'revision') {
          const r = Number(headers[ViewHeader.Revision]);
          if (Number.isInteger(r)) revisions.set(p.cluster, r);
        } else view.set(subject, headers[ViewHeader.Digest] ?? '');
      }
      if (signal.aborted) return;
      this.term = { consumers: new Map(), observed, revisions };
      for (const name of this.deps.consumers()) {
        const c = this.consumer(name);
        if (c !== undefined) c.consumerReady = existing.includes(name);
        this.controller.add(name);
      }
      // Views of clusters that are gone: their consumers and entries go too.
      for (const name of new Set([...existing, ...observed.keys()])) if (!this.deps.registered(name)) this.controller.add(name);
      this.deps.info?.(
        { subjects: latest.size, consumers: existing.length, ms: Math.round(performance.now() - startedAt) },
        'view stream read; comparing every view with the model',
      );
    } catch (err) {
      if (signal.aborted) return;
      this.deps.warn({ err }, 'reading the view stream failed; this term delivers nothing until the next');
      throw err;
    }
    try {
      await this.controller.run(signal);
    } finally {
      this.term = undefined;
    }
  }

  /** The revision the consumer's view was last written complete at, in this term. */
  sentRevision(consumer: string): number | undefined {
    return this.term?.consumers.get(consumer)?.sent;
  }

  /** What this term has written and has yet to write, per registered consumer; undefined while not leading. */
  deliveryState(): DeliveryState | undefined {
    const term = this.term;
    if (term === undefined) return undefined;
    const consumers: Record<string, ConsumerDelivery> = {};
    for (const name of this.deps.consumers()) {
      const c = term.consumers.get(name);
      consumers[name] = { sent: c?.sent, pending: c === undefined || c.full || c.changed.size > 0 };
    }
    return { modelRevision: this.deps.revision(), consumers };
  }

  /** The model changed what `consumer` imports. */
  recordImport(consumer: string, key: string, next: ImportState | undefined): void {
    this.record(consumer, { kind: 'import', key, value: next });
  }

  /** The model changed the status of one of `consumer`'s exports. */
  recordStatus(consumer: string, key: string, next: ExportStatus | undefined): void {
    this.record(consumer, { kind: 'status', key, value: next });
  }

  /** Every view is compared with the model whole (reachability changed: changes were not computed). */
  resyncAll(): void {
    for (const name of this.deps.consumers()) {
      const c = this.consumer(name);
      if (c === undefined) continue;
      c.full = true;
      this.controller.add(name);
    }
  }

  /**
   * An agent with nothing applied asks for its whole view: its consumer is reset (its next pull
   * reads the view from the start), then `reply` is answered. False when not leading.
   */
  requestSync(consumer: string, reply: string | undefined): boolean {
    const c = this.consumer(consumer);
    if (c === undefined) return false;
    c.resetWanted = true;
    if (reply !== undefined) c.resets.push(reply);
    this.controller.add(consumer);
    return true;
  }

  private record(consumer: string, change: EntryChange): void {
    const c = this.consumer(consumer);
    if (c === undefined) return;
    c.changed.set(`${change.kind} ${change.key}`, change);
    this.controller.add(consumer);
  }

  private consumer(name: string): Consumer | undefined {
    const term = this.term;
    if (term === undefined) return undefined;
    let c = term.consumers.get(name);
    if (c === undefined) {
      c = { sent: term.revisions.get(name), changed: new Map(), full: true, consumerReady: false, resets: [], resetWanted: false };
      term.consumers.set(name, c);
    }
    return c;
  }

  private async reconcile(name: string): Promise<void> {
    const term = this.term;
    if (term === undefined) return;
    const { views } = this.deps;
    if (!this.deps.registered(name)) {
      await views.deleteConsumer(name);
      await views.purge(viewSubjects(name));
      term.consumers.delete(name);
      term.observed.delete(name);
      term.revisions.delete(name);
      this.deps.count('views', 'removed');
      return;
    }
    const c = this.consumer(name);
    if (c === undefined) return;
    if (c.resetWanted) {
      // First, and whatever the writes below do: the agent waits for this answer, and what is
      // written after the reset reaches it anyway (a reset consumer reads the latest of everything).
      c.resetWanted = false;
      const replies = c.resets;
      c.resets = [];
      await views.resetConsumer(name);
      c.consumerReady = true;
      this.deps.count('views', 'reset');
      for (const r of replies) this.deps.reply(r, name, c.sent ?? this.deps.revision());
    }
    let observed = term.observed.get(name);
    if (observed === undefined) term.observed.set(name, (observed = new Map<string, string>()));
    const revision = this.deps.revision();
    let changes: Iterable<EntryChange>;
    const full = c.full;
    if (full) {
      const desired = this.deps.desired(name);
      if (desired === undefined) return;
      changes = fullViewChanges(desired, observed);
    } else changes = c.changed.values();
    const writes = planViewWrites(name, changes, observed, revision, {
      digest: viewDigest,
      ...(this.deps.maxBytes !== undefined ? { maxBytes: this.deps.maxBytes } : {}),
      revisionObserved: c.sent,
    });
    // Taken now: what the model changes while the writes are on their way is written next time.
    c.changed = new Map();
    c.full = false;
    try {
      for (const filter of writes.purges) await views.purge(filter);
      if (writes.messages.length > 0) await views.publish(writes.messages);
    } catch (err) {
      // Some may be stored, some not: what these subjects hold is unknown now, so the next (whole)
      // comparison writes them again whatever the model then says.
      c.full = true;
      for (const m of writes.messages) observed.set(m.subject, UNKNOWN);
      throw err;
    }
    applyViewWrites(observed, writes);
    if (writes.messages.length > 0) c.sent = revision;
    this.deps.count('views', full ? 'compared' : 'written');
    if (!c.consumerReady) {
      await views.ensureConsumer(name);
      c.consumerReady = true;
    }
  }
}
