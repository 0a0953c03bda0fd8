// Asking the hub to sync, on the controller kernel: one key, queued when the import side found a
// gap (or has no snapshot yet) and after every (re)connect — then after a random delay, so that
// a thousand agents coming back together do not arrive at once. A failed sync is retried on the
// kernel's backoff. Replies (and chunks pushed meanwhile) go through the same `deliver` as pushed
// batches; the sync is done once the revision the replies name is reached.
import { AGENT_FEATURES, PROTOCOL_VERSION, type ImportBatch } from '../../controlplane/api/messages.ts';
import { aborted } from '../../controlplane/kernel/async.ts';
import type { Controller } from '../../controlplane/kernel/controller.ts';
import type { HubTransport } from '../ports.ts';
import { singleKeyController, type KernelSettings } from './single-key.ts';
import { errorName, type AgentLogger, type AgentMetrics } from '../telemetry.ts';
import type { ImportController } from './import-controller.ts';

/**
 * What the sync needs of the import side: where it stands, what it holds, a way to wait for a
 * revision, and (where it has a cluster) a way to wait for the cluster's objects to be listed.
 */
export type SyncTarget = Pick<ImportController, 'snapshotApplied' | 'revision' | 'reached' | 'hasGap' | 'held'> & Partial<Pick<ImportController, 'listed'>>;

export interface SyncControllerOptions extends KernelSettings {
  readonly cluster: string;
  readonly session: string;
  readonly transport: HubTransport;
  readonly imports: SyncTarget;
  /** Hands a reply to the agent (which passes it to the import controller, solicited). */
  readonly deliver: (batch: ImportBatch) => void;
  readonly jitterMs: number;
  /**
   * Before the first snapshot, how long the sync waits for the cluster's objects to be listed, so
   * that it can name what a previous agent left there (ImportController.held). Nothing is applied
   * before that listing anyway; past this bound the sync asks for everything. Default 10 s.
   */
  readonly listWaitMs?: number;
  /** How long the remaining chunks of a chunked reply may take. */
  readonly chunkWaitMs: number;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
  readonly onHub: (reachable: boolean, message: string) => void;
}

const KEY = 'sync';

export class SyncController {
  private readonly opts: SyncControllerOptions;
  private readonly controller: Controller<string>;
  private inFlight = false;
  /** Aborts the sync in flight, when a newer one must replace it. */
  private current: AbortController | undefined;

  constructor(options: SyncControllerOptions) {
    this.opts = options;
    this.controller = singleKeyController({
      ...options,
      name: KEY,
      reconcile: (signal) => this.reconcile(signal),
      onError: (err, retryInMs) => {
        this.opts.log.warn({ err, retryInMs }, 'sync failed; retrying');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** A sync request is on its way or being answered. */
  syncing(): boolean {
    return this.inFlight;
  }

  /**
   * Sync now (a gap in the deltas). With `restart` (a new leader asked for it), a sync in flight
   * is given up and asked again: it went to a hub that no longer answers, and would otherwise
   * hold the new one back until its reply timeout.
   */
  request(restart = false): void {
    if (restart) this.current?.abort();
    this.controller.add(KEY);
  }

  /** Sync after a random delay (start, reconnect): the hub may have sent deltas we missed. */
  requestJittered(): void {
    this.controller.addAfter(KEY, this.opts.random() * this.opts.jitterMs);
  }

  private async reconcile(signal: AbortSignal): Promise<{ requeueAfterMs: number } | undefined> {
    const { transport, imports, metrics } = this.opts;
    // Not connected: the (re)connect event asks again.
    if (!transport.connected()) return undefined;
    if (!imports.snapshotApplied() && imports.listed !== undefined) await imports.listed(signal, this.opts.listWaitMs ?? 10_000);
    if (aborted(signal)) return undefined;
    const afterRevision = imports.snapshotApplied() ? imports.revision() : 0;
    // What we hold, so that the answer carries only what differs (and a new leader's too).
    const held = imports.held();
    this.inFlight = true;
    const mine = new AbortController();
    this.current = mine;
    const either = AbortSignal.any([signal, mine.signal]);
    try {
      metrics.syncRequests += 1;
      const replies = await transport.sync(
        {
          v: PROTOCOL_VERSION,
          cluster: this.opts.cluster,
          session: this.opts.session,
          afterRevision,
          accepts: [...AGENT_FEATURES],
          ...(held !== undefined ? { held } : {}),
        },
        either,
      );
      if (replies.length === 0) throw new Error('no reply to the sync request');
      for (const r of replies) this.opts.deliver(r);
      const target = Math.max(...replies.map((r) => r.revision));
      // Remaining chunks may come on the imports subject; wait for them, bounded.
      if (!(await imports.reached(target, either, this.opts.chunkWaitMs)) && !either.aborted) {
        throw new Error(`sync reply for revision ${target} did not complete within ${this.opts.chunkWaitMs} ms`);
      }
    } catch (err) {
      // Replaced by a newer sync (request(true) queued it): not a failure, nothing to back off from.
      if (mine.signal.aborted && !signal.aborted) return undefined;
      if (!signal.aborted) {
        metrics.syncFailures += 1;
        this.opts.onHub(false, `sync failed: ${errorName(err)}`);
      }
      throw err;
    } finally {
      this.inFlight = false;
      if (this.current === mine) this.current = undefined;
    }
    this.opts.onHub(true, 'synced');
    // Deltas buffered during the sync were drained already; only a real gap left asks again.
    return imports.hasGap() ? { requeueAfterMs: this.opts.backoff.baseMs } : undefined;
  }
}
