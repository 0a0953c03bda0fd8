// EtcdStore: the Store port on etcd v3 through the etcd3 client. The only file that imports
// etcd3. Revisions are numbers (etcd's int64 stays below 2^53 for any realistic lifetime).
import { Etcd3, type IKeyValue, type Namespace } from 'etcd3';
import { GoneError, UnavailableError } from '../api/errors.ts';
import { raceAbort } from '../kernel/async.ts';
import { EventQueue, type Compare, type KeyValue, type Leadership, type Op, type Store, type StoreEvent, type TxnResult } from './store.ts';

export interface EtcdStoreOptions {
  /** Comma-separated or list of client URLs. */
  readonly endpoints: readonly string[];
  /** Nests every key under this prefix (tests isolate themselves this way). */
  readonly namespace?: string;
  readonly dialTimeoutMs?: number;
  /** PEMs for an etcd that speaks TLS: the CA that signs it, and the client certificate it requires. */
  readonly tls?: { readonly ca: string; readonly cert?: string | undefined; readonly key?: string | undefined } | undefined;
}

const ALWAYS_KEY = '/causeway/always';

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly ns: Namespace;

  constructor(options: EtcdStoreOptions) {
    this.client = new Etcd3({
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
      grpcOptions: { 'grpc.max_receive_message_length': 512 * 1024 * 1024 },
    });
    this.ns = options.namespace !== undefined ? this.client.namespace(options.namespace) : this.client;
  }

  async get(key: string, signal?: AbortSignal): Promise<KeyValue | undefined> {
    const res = await guard(this.ns.get(key).exec(), signal);
    const kv = res.kvs[0];
    // The single-key read leaves the namespace prefix on the key; answer with the key asked for.
    return kv === undefined ? undefined : { ...toKeyValue(kv), key };
  }

  async range(prefix: string, signal?: AbortSignal): Promise<{ kvs: KeyValue[]; revision: number }> {
    const res = await guard(this.ns.getAll().prefix(prefix).exec(), signal);
    return { kvs: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async txn(compares: readonly Compare[], ops: readonly Op[], signal?: AbortSignal): Promise<TxnResult> {
    const [first, ...rest] = compares;
    // etcd3's builder starts from a compare; with none, use one that always holds.
    let builder = first === undefined ? this.ns.if(ALWAYS_KEY, 'Version', '>', -1) : this.ns.if(first.key, 'Mod', '==', first.modRevision);
    for (const c of rest) builder = builder.and(c.key, 'Mod', '==', c.modRevision);
    const res = await guard(
      builder.then(...ops.map((op) => (op.type === 'put' ? this.ns.put(op.key).value(op.value) : this.ns.delete().key(op.key)))).commit(),
      signal,
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  watch(prefix: string, afterRevision: number, signal: AbortSignal): AsyncIterable<readonly StoreEvent[]> {
    const queue = new EventQueue<readonly StoreEvent[]>(signal);
    const start = async (): Promise<void> => {
      const watcher = await this.ns
        .watch()
        .prefix(prefix)
        .startRevision(String(afterRevision + 1))
        .withPreviousKV()
        .create();
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

  campaign(name: string, candidate: string, ttlSeconds: number, signal: AbortSignal): Promise<Leadership> {
    const campaign = this.ns.election(name, ttlSeconds).campaign(candidate);
    return new Promise((resolve, reject) => {
      let loseNow: (err: Error) => void = () => undefined;
      const lost = new Promise<Error>((r) => {
        loseNow = r;
      });
      let elected = false;
      const resign = async (): Promise<void> => {
        await campaign.resign().catch(() => undefined);
      };
      signal.addEventListener(
        'abort',
        () => {
          void resign();
          if (!elected) reject(new Error('campaign aborted'));
        },
        { once: true },
      );
      campaign.on('elected', () => {
        elected = true;
        resolve({ lost, resign });
      });
      campaign.on('error', (err) => {
        if (elected) loseNow(err);
        else reject(new UnavailableError(`election ${name}: ${err.message}`, { cause: err }));
      });
    });
  }

  async compact(revision: number): Promise<void> {
    await this.client.kv.compact({ revision: String(revision), physical: true });
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await guard(this.client.get('/causeway/ping').exec(), signal);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
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

/**
 * Maps etcd client failures to UnavailableError and honours the caller's AbortSignal (etcd3 takes
 * none): an abort rejects at once with UnavailableError, and the listener goes when `p` settles.
 */
async function guard<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await (signal === undefined ? p : raceAbort(p, signal));
  } catch (err) {
    if (signal?.aborted === true) throw err;
    throw new UnavailableError(`etcd: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
