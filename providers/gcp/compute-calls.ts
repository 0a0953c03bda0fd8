// How every call of the ComputeApi port reaches a Compute client: through the domain's call gate
// (its budget and backoff), with the port's own deadline, abortable, and with every GoogleError
// translated at once (compute-errors.ts). Lists are paged by hand, so that each page is one gated
// call; a mutation answers the operation it started, and `waitOperation` follows that until it is
// DONE. The resource modules (compute-networks.ts, -routes, -firewalls, -routers) are written on it.
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { raceAbort } from '../../controlplane/kernel/async.ts';
import type { CallGate, OperationRef } from './compute-api.ts';
import { translateComputeError, translateOperationError, type GoogleErrorShape, type OperationShape } from './compute-errors.ts';
import { statusOf, type CallOptions, type Clients } from './compute-sdk.ts';

export interface CallSettings {
  /** maxResults of every list page (1..500). */
  readonly pageSize: number;
  readonly readTimeoutMs: number;
  readonly mutationTimeoutMs: number;
  readonly operationTimeoutMs: number;
}

/** A list page as the clients answer it with `autoPaginate: false`: items, the next request, the raw answer. */
type Page<I> = [I[], { pageToken?: string | null } | null, unknown];

export class ComputeCalls {
  private readonly clients: () => Promise<Clients>;
  private readonly gate: CallGate;
  readonly settings: CallSettings;

  constructor(clients: () => Promise<Clients>, gate: CallGate, settings: CallSettings) {
    this.clients = clients;
    this.gate = gate;
    this.settings = settings;
  }

  async read<T>(what: string, signal: AbortSignal, fn: (c: Clients, o: CallOptions) => Promise<T>): Promise<T> {
    const c = await this.clients();
    return this.gate.run(async () => {
      try {
        return await raceAbort(fn(c, { timeout: this.settings.readTimeoutMs }), signal);
      } catch (err) {
        throw translateComputeError(err, what, 'read');
      }
    }, signal);
  }

  /** Every page of a list, each page one gated call. */
  async pages<I>(what: string, signal: AbortSignal, fetch: (c: Clients, pageToken: string | undefined, o: CallOptions) => Promise<Page<I>>): Promise<I[]> {
    const out: I[] = [];
    let token: string | undefined;
    do {
      const [items, next] = await this.read(what, signal, (c, o) => fetch(c, token, { ...o, autoPaginate: false }));
      out.push(...items);
      token = next?.pageToken ?? undefined;
    } while (token !== undefined && token !== '');
    return out;
  }

  /** The request fields of one page of a list of what belongs to a network. */
  networkPage(networkSelfLink: string, pageToken: string | undefined): { filter: string; maxResults: number; pageToken?: string } {
    return { filter: `network = "${networkSelfLink}"`, maxResults: this.settings.pageSize, ...(pageToken ? { pageToken } : {}) };
  }

  async mutate(
    what: string,
    signal: AbortSignal,
    region: string | undefined,
    fn: (c: Clients, o: CallOptions) => Promise<readonly [{ latestResponse: unknown }, ...unknown[]]>,
  ): Promise<OperationRef> {
    const c = await this.clients();
    return this.gate.run(async () => {
      try {
        const [lro] = await raceAbort(fn(c, { timeout: this.settings.mutationTimeoutMs }), signal);
        const op = lro.latestResponse as OperationShape;
        return { name: op.name ?? '', ...(region !== undefined ? { region } : {}), status: statusOf(op), what };
      } catch (err) {
        throw translateComputeError(err, what, 'mutation');
      }
    }, signal);
  }

  async waitOperation(project: string, operation: OperationRef, signal: AbortSignal): Promise<void> {
    const c = await this.clients();
    const started = Date.now();
    const deadline = started + this.settings.operationTimeoutMs;
    let current: OperationShape = { name: operation.name, status: operation.status };
    while (statusOf(current) !== 'DONE') {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new UnavailableError(
          `${operation.what}: operation ${operation.name} is still ${statusOf(current)} after ${Math.round((Date.now() - started) / 1000)} s; the next reconcile sees what it did`,
        );
      }
      const last = current;
      current = await this.gate.run(async (): Promise<OperationShape> => {
        // Compute answers a wait when the operation is DONE or after about two minutes, whichever
        // comes first; a wait that outlives our own deadline is simply another round.
        const o = { timeout: Math.max(1000, Math.min(left, 150_000)) };
        const request = { project, operation: operation.name };
        try {
          const [op] = await raceAbort(
            operation.region !== undefined ? c.regionOperations.wait({ ...request, region: operation.region }, o) : c.globalOperations.wait(request, o),
            signal,
          );
          return op;
        } catch (err) {
          if ((err as GoogleErrorShape | undefined)?.code === 4 && !signal.aborted) return last;
          throw translateComputeError(err, `waiting for ${operation.what}`, 'mutation');
        }
      }, signal);
    }
    const failed = translateOperationError(current, operation.what);
    if (failed !== undefined) throw failed;
  }
}

// ---- shared by the resource modules ----------------------------------------------------------

export function lastSegment(link: string | null | undefined): string {
  if (link === null || link === undefined) return '';
  const i = link.lastIndexOf('/');
  return i < 0 ? link : link.slice(i + 1);
}

export const strings = (v: readonly (string | null | undefined)[] | null | undefined): string[] => (v ?? []).filter((x): x is string => typeof x === 'string');
