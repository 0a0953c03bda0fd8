// Leadership on etcd with the lease kept alive off the main thread. etcd3's campaign renews its
// lease from the event loop it runs on; a hub whose main thread stalls for longer than the TTL's
// margin (2 s of a 3 s lease: one keepalive missed after another) lost its term although it was
// alive — six times in one 1,000-cluster benchmark run, each loss re-basing every consumer. Here the
// campaign runs in a worker thread (etcd-election-worker.ts) with its own etcd client, and the
// main thread only beats: a dead process loses the lease within the TTL as before, a stalled one
// keeps it up to the stall bound, and then gives it up so that a standby leads.
import { Worker } from 'node:worker_threads';
import { UnavailableError } from '../api/errors.ts';
import type { EtcdStoreOptions } from './etcd-options.ts';
import type { Leadership } from './store.ts';

/** A main thread silent this long ends its term (the worker revokes the lease). */
export const DEFAULT_STALL_BOUND_MS = 10_000;

/** How often the main thread beats. */
const BEAT_MS = 250;

/** How long resigning waits for the worker to revoke the lease before it is stopped regardless. */
const RESIGN_WAIT_MS = 3000;

/** What the worker is given. */
export interface ElectionWork {
  readonly options: EtcdStoreOptions;
  readonly name: string;
  readonly candidate: string;
  readonly ttlSeconds: number;
  /** The main thread's last beat (ms since the epoch, one BigInt64). */
  readonly beat: SharedArrayBuffer;
  readonly stallBoundMs: number;
}

/** What the worker tells: elected (with the term's guard), the term lost, the campaign failed, or resigned as asked. */
export type ElectionEvent =
  | { readonly type: 'elected'; readonly key: string; readonly modRevision: number }
  | { readonly type: 'lost'; readonly message: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'resigned' };

/**
 * Campaigns for `name` in a worker thread; resolves once elected, with the term's guard, `lost`
 * (the lease expired or was revoked, the stall bound passed, or the worker died) and `resign`.
 * Rejects if the campaign fails first or `signal` aborts it.
 */
export function campaignInWorker(
  options: EtcdStoreOptions,
  election: { readonly name: string; readonly candidate: string; readonly ttlSeconds: number; readonly stallBoundMs?: number | undefined },
  signal: AbortSignal,
): Promise<Leadership> {
  if (signal.aborted) return Promise.reject(new Error('campaign aborted'));
  const beat = new SharedArrayBuffer(8);
  const beats = new BigInt64Array(beat);
  const tick = (): void => {
    Atomics.store(beats, 0, BigInt(Date.now()));
  };
  tick();
  const heart = setInterval(tick, BEAT_MS);
  heart.unref();
  const work: ElectionWork = {
    options,
    name: election.name,
    candidate: election.candidate,
    ttlSeconds: election.ttlSeconds,
    beat,
    stallBoundMs: election.stallBoundMs ?? DEFAULT_STALL_BOUND_MS,
  };
  const worker = new Worker(new URL('./etcd-election-worker.ts', import.meta.url), { workerData: work });

  return new Promise((resolve, reject) => {
    let loseNow: (err: Error) => void = () => undefined;
    const lost = new Promise<Error>((r) => {
      loseNow = r;
    });
    let elected = false;
    let exited = false;
    let resigned: () => void = () => undefined;
    const resignedOrExited = new Promise<void>((r) => {
      resigned = r;
    });
    // Either way the campaign is over; for a standby that had not won, the campaign failed.
    const over = (err: Error): void => {
      clearInterval(heart);
      if (elected) loseNow(err);
      else reject(err);
    };
    let resigning: Promise<void> | undefined;
    const resign = (): Promise<void> =>
      (resigning ??= (async () => {
        if (!exited) {
          worker.postMessage({ type: 'resign' });
          const wait = new Promise<void>((r) => setTimeout(r, RESIGN_WAIT_MS).unref());
          await Promise.race([resignedOrExited, wait]);
        }
        clearInterval(heart);
        await worker.terminate();
      })());

    worker.on('message', (event: ElectionEvent) => {
      switch (event.type) {
        case 'elected':
          if (signal.aborted) return;
          elected = true;
          resolve({ lost, guard: { key: event.key, modRevision: event.modRevision }, resign });
          return;
        case 'lost':
        case 'failed':
          over(new UnavailableError(event.message));
          return;
        case 'resigned':
          resigned();
          return;
      }
    });
    worker.on('error', (err: Error) => {
      over(new UnavailableError(`election ${election.name}: the election worker failed: ${err.message}`, { cause: err }));
    });
    const onAbort = (): void => {
      void resign();
      if (!elected) reject(new Error('campaign aborted'));
    };
    worker.on('exit', () => {
      exited = true;
      // The signal outlives many terms: a term that ended must not stay registered on it.
      signal.removeEventListener('abort', onAbort);
      resigned();
      over(new UnavailableError(`election ${election.name}: the election worker stopped`));
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
