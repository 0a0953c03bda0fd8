// EtcdStore: the Store port on etcd v3 through the etcd3 client. The only file that imports
// etcd3. Revisions are numbers (etcd's int64 stays below 2^53 for any realistic lifetime).
// Every call has a deadline: a frozen etcd keeps its connections open and answers nothing, and
// etcd3 would wait for it forever. A call that fails says whether it was done: a read that got no
// answer, and a write that never left, are UnavailableError ("etcd is not answering"); a write
// sent without an answer is OutcomeUnknownError, since etcd may have applied it.
import {
  ClientClosedError,
  Etcd3,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCUnavailableError,
  type IKeyValue,
  type IOptions,
  type Namespace,
} from 'etcd3';
import { GoneError, OutcomeUnknownError, UnavailableError, type CausewayError } from '../api/errors.ts';
import { raceAbort, sleep } from '../kernel/async.ts';
import { campaignInWorker } from './etcd-election.ts';
import type { EtcdStoreOptions } from './etcd-options.ts';
import { EventQueue, type Compare, type KeyValue, type Leadership, type Op, type Store, type StoreEvent, type TxnResult, type WatchOptions } from './store.ts';

/** A read of the whole registry takes tens of milliseconds; a healthy etcd never comes near this. */
export const DEFAULT_ETCD_CALL_TIMEOUT_MS = 4000;

const ALWAYS_KEY = '/causeway/always';

/** Reads are tried this often within their deadline; writes are sent once. */
const READ_ATTEMPTS = 3;

/** How long after a call's gRPC deadline the store stops waiting for etcd3 to report it. */
const BACKSTOP_MS = 250;

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * etcd3's default global policy retries every failed call three times, writes included: a write
 * that lost its connection may have been applied, and sending it again hides what happened (and
 * stacks deadlines). Every call goes once; `call` below retries reads, and writes that never left.
 */
const SEND_ONCE: FaultPolicy = {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- cockatiel's type-level marker, required by IPolicy and never read
  _altReturn: undefined as never,
  onSuccess: () => ({ dispose: () => undefined }),
  onFailure: () => ({ dispose: () => undefined }),
  execute: (fn, signal) => Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
};

/**
 * The etcd3 client of these options: the store's, and the election worker's own
 * (etcd-election.ts), which must reach the same etcd the same way.
 */
export function etcdClient(options: EtcdStoreOptions): Etcd3 {
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_ETCD_CALL_TIMEOUT_MS;
  return new Etcd3({
    hosts: [...options.endpoints],
    dialTimeout: options.dialTimeoutMs ?? 3000,
    ...(options.tls !== undefined
      ? {
          credentials: {
            rootCertificate: Buffer.from(options.tls.ca),
            ...(options.tls.cert !== undefined && options.tls.key !== undefined
              ? { certChain: Buffer.from(options.tls.cert), privateKey: Buffer.from(options.tls.key) }
              : {}),
          },
        }
      : {}),
    // gRPC's default 4 MiB receive limit is far below one range of a large prefix (250,000
    // endpoints of exports are ~36 MB) or one big watch response.
    grpcOptions: {
      'grpc.max_receive_message_length': 512 * 1024 * 1024,
      // HTTP/2's default 64 KiB window lets a watch deliver only one window per event-loop turn
      // of the hub: at 1,000 export writes/s (a few KB each) the hub's watches fell seconds behind
      // and etcd counted them as slow watchers (bench, 1,000 clusters). A 16 MiB window keeps
      // a loaded hub's watches current; memory is bounded by what etcd sends ahead of reads.
      'grpc-node.flow_control_window': 16 * 1024 * 1024,
      ...(options.tls?.serverName !== undefined ? { 'grpc.ssl_target_name_override': options.tls.serverName } : {}),
    },
    // The gRPC deadline cancels a call etcd never answers, so that calls do not pile up on a
    // frozen etcd (and its circuit breaker's trial call ends). `call` sets it for its own calls;
    // this one is for the rest (leases, elections).
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { global: SEND_ONCE },
  });
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private readonly callTimeoutMs: number;
  private readonly options: EtcdStoreOptions;
  /** What the last failed call found, for the calls the circuit breaker then holds back. */
  private lastFailure = 'it failed repeatedly';

  constructor(options: EtcdStoreOptions) {
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_ETCD_CALL_TIMEOUT_MS;
    this.callTimeoutMs = callTimeoutMs;
    this.options = options;
    this.client = etcdClient(options);
    this.ns = options.namespace !== undefined ? this.client.namespace(options.namespace) : this.client;
  }

  async get(key: string, signal?: AbortSignal): Promise<KeyValue | undefined> {
    const res = await this.call('read', (o) => this.ns.get(key).options(o).exec(), signal);
    const kv = res.kvs[0];
    // The single-key read leaves the namespace prefix on the key; answer with the key asked for.
    return kv === undefined ? undefined : { ...toKeyValue(kv), key };
  }

  async range(prefix: string, signal?: AbortSignal): Promise<{ kvs: KeyValue[]; revision: number }> {
    const res = await this.call('read', (o) => this.ns.getAll().prefix(prefix).options(o).exec(), signal);
    return { kvs: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async txn(compares: readonly Compare[], ops: readonly Op[], signal?: AbortSignal): Promise<TxnResult> {
    const [first, ...rest] = compares;
    // etcd3's builder starts from a compare; with none, use one that always holds.
    let builder = first === undefined ? this.ns.if(ALWAYS_KEY, 'Version', '>', -1) : this.ns.if(first.key, 'Mod', '==', first.modRevision);
    for (const c of rest) builder = builder.and(c.key, 'Mod', '==', c.modRevision);
    const txn = builder.then(...ops.map((op) => (op.type === 'put' ? this.ns.put(op.key).value(op.value) : this.ns.delete().key(op.key))));
    const res = await this.call('write', (o) => txn.options(o).commit(), signal);
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  watch(prefix: string, afterRevision: number, signal: AbortSignal, options: WatchOptions = {}): AsyncIterable<readonly StoreEvent[]> {
    const queue = new EventQueue<readonly StoreEvent[]>(signal);
    const start = async (): Promise<void> => {
      const builder = this.ns
        .watch()
        .prefix(prefix)
        .startRevision(String(afterRevision + 1));
      // prev_kv comes with every event, puts included: only ask for it when deletes need their value.
      const watcher = await (options.deletedValues === false ? builder : builder.withPreviousKV()).create();
      const stop = (): void => {
        void watcher.cancel().catch(() => undefined);
      };
      if (signal.aborted) stop();
      signal.addEventListener('abort', stop, { once: true });
      let delivered = afterRevision;
      watcher.on('data', (res) => {
        const events: StoreEvent[] = [];
        for (const ev of res.events) {
          if (ev.type === 'Put') events.push({ type: 'put', ...toKeyValue(ev.kv) });
          else {
            const prev = ev.prev_kv;
            events.push({
              type: 'delete',
              key: ev.kv.key.toString(),
              // Typed as present, but etcd omits prev_kv when the old revision is compacted.
              value: (prev as IKeyValue | undefined)?.value.toString() ?? '',
              createRevision: Number((prev as IKeyValue | undefined)?.create_revision ?? 0),
              modRevision: Number(ev.kv.mod_revision),
            });
          }
        }
        if (events.length > 0) {
          delivered = events[events.length - 1]?.modRevision ?? delivered;
          queue.push(events);
        }
      });
      // The client re-establishes a broken watch stream by itself and may resume past events it
      // never delivered: treat a disconnect as a possible gap, so the caller relists.
      watcher.on('disconnected', (err) => {
        stop();
        queue.fail(new UnavailableError(`etcd watch disconnected: ${err.message}; relist`, { cause: err }));
      });
      watcher.on('error', (err) => {
        stop();
        // etcd cancels a watch whose start revision was compacted away, but the client drops the
        // compact revision from the error; reading at the revision we wanted tells us for sure.
        const wanted = delivered + 1;
        this.ns
          .get(prefix)
          .revision(wanted)
          .exec()
          .then(
            () => {
              queue.fail(new UnavailableError(`etcd watch ended: ${err.message}`, { cause: err }));
            },
            (probe: unknown) => {
              queue.fail(
                /compacted/i.test(String(probe))
                  ? new GoneError(`revision ${wanted} has been compacted; relist`, { cause: err })
                  : new UnavailableError(`etcd watch ended: ${err.message}`, { cause: err }),
              );
            },
          );
      });
    };
    start().catch((err: unknown) => {
      queue.fail(new UnavailableError(`etcd watch failed: ${String(err)}`, { cause: err }));
    });
    return queue;
  }

  async reclaimLeadership(name: string, candidatePrefix: string, signal?: AbortSignal): Promise<number> {
    // etcd3's elections keep one key per campaign, `election/<name>/<lease id>`, holding the candidate.
    const res = await this.call('read', (o) => this.ns.getAll().prefix(`election/${name}/`).options(o).exec(), signal);
    let ended = 0;
    for (const kv of res.kvs) {
      if (!kv.value.toString().startsWith(candidatePrefix)) continue;
      await this.call('write', (o) => this.client.leaseClient.leaseRevoke({ ID: kv.lease }, o), signal).catch((err: unknown) => {
        // Expired meanwhile: what we wanted.
        if (!/not found/i.test(String(err))) throw err;
      });
      ended++;
    }
    return ended;
  }

  /** In a worker thread (etcd-election.ts): the lease lives through stalls of this thread up to the stall bound. */
  campaign(name: string, candidate: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership> {
    return campaignInWorker(this.options, { name, candidate, ttlSeconds, stallBoundMs: this.options.electionStallBoundMs }, signal);
  }

  async compact(revision: number): Promise<void> {
    // Compacting twice to one revision is harmless: a lost answer is retried like a read's.
    await this.call('read', (o) => this.client.kv.compact({ revision: String(revision), physical: true }, o));
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.call('read', (o) => this.client.get('/causeway/ping').options(o).exec(), signal);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }

  /**
   * Runs one etcd call within the call deadline and the caller's AbortSignal (etcd3 takes none),
   * and maps its failure to the named errors. Reads are tried again while the deadline allows,
   * after a failure that left etcd's state as it was; writes only when they never left.
   */
  private async call<T>(kind: 'read' | 'write', run: (options: { deadline: Date }) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const deadline = Date.now() + this.callTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      // gRPC's deadline comes first and says whether the call had left; this one is the backstop
      // for waits inside etcd3 itself.
      const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now() + BACKSTOP_MS));
      try {
        return await raceAbort(run({ deadline: new Date(deadline) }), signal === undefined ? timeout : AbortSignal.any([signal, timeout]));
      } catch (err) {
        if (signal?.aborted === true) throw err;
        const failure = classify(err, timeout.aborted, this.callTimeoutMs, this.lastFailure);
        if (!failure.held) this.lastFailure = failure.detail;
        const pause = 25 * 2 ** attempt;
        if (failure.retry && (kind === 'read' || !failure.sent) && attempt < READ_ATTEMPTS && Date.now() + pause < deadline) {
          await sleep(pause, signal ?? NEVER);
          continue;
        }
        throw failure.error(kind);
      }
    }
  }
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

const NEVER = new AbortController().signal;

interface Failure {
  /** What was found, in a few words ("no answer within 4000 ms"). */
  readonly detail: string;
  /** Whether the circuit breaker held the call back (it found nothing new). */
  readonly held: boolean;
  /** Whether the call may have reached etcd (and a write may have been applied). */
  readonly sent: boolean;
  /** Whether trying again can help now. */
  readonly retry: boolean;
  readonly error: (kind: 'read' | 'write') => CausewayError;
}

/**
 * What an etcd3 failure says about the call. Three kinds: it never left (no connection, the
 * circuit breaker open, or the deadline passed while waiting for a connection); it left and no
 * answer came (deadline, dropped connection); or etcd answered with an error (anything else).
 */
function classify(err: unknown, timedOut: boolean, timeoutMs: number, lastFailure: string): Failure {
  const message = err instanceof Error ? err.message : String(err);
  const notAnswering = (detail: string): UnavailableError => new UnavailableError(`etcd is not answering: ${detail}`, { cause: err });
  // `forRead` says what happened; `forWrite` the same of a write that etcd may have applied.
  const lost = (forRead: string, forWrite: string): Failure => ({
    detail: forRead,
    held: false,
    sent: true,
    retry: !timedOut,
    error: (kind) => (kind === 'read' ? notAnswering(forRead) : new OutcomeUnknownError(`etcd is not answering: ${forWrite}`, { cause: err })),
  });
  const neverSent = (detail: string, retry: boolean): Failure => ({ detail, held: false, sent: false, retry, error: () => notAnswering(detail) });

  if (err instanceof ClientClosedError) {
    return { detail: 'client closed', held: false, sent: false, retry: false, error: () => new UnavailableError('etcd client closed', { cause: err }) };
  }
  // cockatiel's BrokenCircuitError: after three failures in a row etcd3 sends nothing for 5 s.
  if ((err as { name?: unknown }).name === 'BrokenCircuitError' || /circuit breaker is open/.test(message)) {
    const detail = `${lastFailure}; after repeated failures the hub holds its calls for a few seconds before trying again`;
    return { ...neverSent(detail, false), held: true };
  }
  if (err instanceof GRPCUnavailableError && /No connection established/.test(message)) {
    const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note|$)/.exec(message)?.[1];
    return neverSent(`cannot connect${last !== undefined ? ` (${last})` : ''}`, true);
  }
  // gRPC names the phase a deadline passed in: still waiting for a connection means nothing was sent.
  if (err instanceof GRPCDeadlineExceededError && /Waiting for LB pick|waiting for connect/i.test(message)) {
    return neverSent(`no connection within ${timeoutMs} ms`, false);
  }
  if (timedOut || err instanceof GRPCDeadlineExceededError) {
    return lost(`no answer within ${timeoutMs} ms`, `no answer within ${timeoutMs} ms to a write it was sent`);
  }
  if (err instanceof GRPCUnavailableError || err instanceof GRPCCancelledError || err instanceof GRPCInternalError) {
    // "14 UNAVAILABLE: Connection dropped" says "Connection dropped".
    const detail = message.replace(/^(\w+Error: )?(\d+ [A-Z_]+: )?/, '');
    return lost(`the connection failed (${detail})`, `the connection failed (${detail}) after a write was sent`);
  }
  return { detail: message, held: false, sent: true, retry: false, error: () => new UnavailableError(`etcd: ${message}`, { cause: err }) };
}
