// Which routes Causeway created. Routes cannot be tagged (AWS route table entries have no tags), so
// ownership is a record per route, kept outside the provider: a route is Causeway's only where a
// record names that exact route (table, destination and target). Anything else in a route table is
// someone else's and is never changed.
//
// A record is written `pending` before the route is created and `confirmed` after, so that a hub
// that dies between the two still knows the route it may have made: a pending record whose route
// exists with its target is confirmed on the next reconcile; one whose route never appeared is
// dropped. A replace keeps the previous target on the pending record for the same reason.
import { UnavailableError } from '../../controlplane/api/errors.ts';

export interface RouteRecord {
  readonly table: string;
  readonly destination: string;
  /** The target id the route points at (`tgw-...`, `vgw-...`). */
  readonly target: string;
  readonly state: 'pending' | 'confirmed';
  /** While a replace is pending: the target the route had before. */
  readonly previousTarget?: string;
}

/** The port. The hub's implementation keeps records in etcd, per domain, written by the leader only. */
export interface RouteOwnership {
  list(domain: string, signal: AbortSignal): Promise<readonly RouteRecord[]>;
  /** Creates or replaces the record of (table, destination). */
  put(domain: string, record: RouteRecord, signal: AbortSignal): Promise<void>;
  /** Removes the record of (table, destination); absent is fine. */
  remove(domain: string, table: string, destination: string, signal: AbortSignal): Promise<void>;
}

/** In-memory RouteOwnership for tests, with failure injection. */
export class MemoryRouteOwnership implements RouteOwnership {
  private readonly byDomain = new Map<string, Map<string, RouteRecord>>();
  private failures: { remaining: number; op: 'list' | 'put' | 'remove' | undefined }[] = [];

  list(domain: string, signal: AbortSignal): Promise<readonly RouteRecord[]> {
    return this.run('list', signal, () => [...(this.byDomain.get(domain)?.values() ?? [])]);
  }

  put(domain: string, record: RouteRecord, signal: AbortSignal): Promise<void> {
    return this.run('put', signal, () => {
      const m = this.byDomain.get(domain) ?? new Map<string, RouteRecord>();
      m.set(key(record.table, record.destination), { ...record });
      this.byDomain.set(domain, m);
    });
  }

  remove(domain: string, table: string, destination: string, signal: AbortSignal): Promise<void> {
    return this.run('remove', signal, () => {
      this.byDomain.get(domain)?.delete(key(table, destination));
    });
  }

  /** The next `count` calls (of `op`, or any) fail with UnavailableError, as a lost etcd would. */
  failNext(count: number, op?: 'list' | 'put' | 'remove'): void {
    this.failures.push({ remaining: count, op });
  }

  /** Records of a domain, sorted, for assertions. */
  records(domain: string): RouteRecord[] {
    return [...(this.byDomain.get(domain)?.values() ?? [])].sort((a, b) => key(a.table, a.destination).localeCompare(key(b.table, b.destination)));
  }

  private run<T>(op: 'list' | 'put' | 'remove', signal: AbortSignal, fn: () => T): Promise<T> {
    if (signal.aborted) return Promise.reject(new UnavailableError('aborted'));
    const f = this.failures.find((x) => x.remaining > 0 && (x.op === undefined || x.op === op));
    if (f !== undefined) {
      f.remaining -= 1;
      return Promise.reject(new UnavailableError(`route ownership store: injected failure of ${op}`));
    }
    return Promise.resolve(fn());
  }
}

function key(table: string, destination: string): string {
  return `${table}|${destination}`;
}
