// Which routes Causeway created, in etcd: the RouteOwnership port (providers/model/ownership.ts) over
// the Store. One key per route (layout in api/keys.ts), its value the record as JSON. Every write is
// a compare-and-swap on the key's mod revision (0: create-only), retried on a concurrent change;
// no lease, because a record must outlive the hub that wrote it (a route it made stays in the VPC).
import { UnavailableError } from '../api/errors.ts';
import { routeOwnershipKey, routeOwnershipPrefix } from '../api/keys.ts';
import type { RouteOwnership, RouteRecord } from '../../providers/model/ownership.ts';
import type { Store } from './store.ts';

export interface EtcdRouteOwnershipOptions {
  /** Transactions to try when another writer keeps changing the key; default 10. */
  readonly maxAttempts?: number;
}

/** A stored record, or undefined when it cannot be read (then it is not ours to act on). */
function parseRecord(value: string): RouteRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.table !== 'string' || typeof r.destination !== 'string' || typeof r.target !== 'string') return undefined;
  if (r.state !== 'pending' && r.state !== 'confirmed') return undefined;
  return {
    table: r.table,
    destination: r.destination,
    target: r.target,
    state: r.state,
    ...(typeof r.previousTarget === 'string' ? { previousTarget: r.previousTarget } : {}),
  };
}

function encodeRecord(r: RouteRecord): string {
  return JSON.stringify({
    table: r.table,
    destination: r.destination,
    target: r.target,
    state: r.state,
    ...(r.previousTarget !== undefined ? { previousTarget: r.previousTarget } : {}),
  });
}

export class EtcdRouteOwnership implements RouteOwnership {
  private readonly store: Store;
  private readonly maxAttempts: number;

  constructor(store: Store, options: EtcdRouteOwnershipOptions = {}) {
    this.store = store;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  async list(domain: string, signal: AbortSignal): Promise<readonly RouteRecord[]> {
    notAborted(signal);
    const { kvs } = await this.store.range(routeOwnershipPrefix(domain), signal);
    return kvs.flatMap((kv) => parseRecord(kv.value) ?? []);
  }

  put(domain: string, record: RouteRecord, signal: AbortSignal): Promise<void> {
    const key = routeOwnershipKey(domain, record.table, record.destination);
    return this.swap(key, signal, () => ({ type: 'put', key, value: encodeRecord(record) }), `record ${record.table} ${record.destination}`);
  }

  remove(domain: string, table: string, destination: string, signal: AbortSignal): Promise<void> {
    const key = routeOwnershipKey(domain, table, destination);
    return this.swap(key, signal, (exists) => (exists ? { type: 'delete', key } : undefined), `remove the record of ${table} ${destination}`);
  }

  private async swap(
    key: string,
    signal: AbortSignal,
    op: (exists: boolean) => { type: 'put'; key: string; value: string } | { type: 'delete'; key: string } | undefined,
    what: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      notAborted(signal);
      const current = await this.store.get(key, signal);
      const next = op(current !== undefined);
      if (next === undefined) return;
      const r = await this.store.txn([{ key, modRevision: current?.modRevision ?? 0 }], [next], signal);
      if (r.succeeded) return;
    }
    throw new UnavailableError(`route ownership store: could not ${what}: ${this.maxAttempts} transactions lost to concurrent writers; retry`);
  }
}

function notAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new UnavailableError('aborted');
}
