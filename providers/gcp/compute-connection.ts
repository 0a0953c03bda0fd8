// The ComputeApi port on @google-cloud/compute (ADR 0014), as the hub holds it: one set of Compute
// clients for the process, made on the first call (compute-sdk.ts, the only module that imports the
// client library, makes them and resolves their credentials), and a port per domain gate. The port
// is assembled from one module per resource (compute-networks.ts, -routes, -firewalls, -routers),
// each written on compute-calls.ts, which gates, pages, follows operations and translates every
// GoogleError, operation error and transport failure into the contract's named errors at this
// boundary (compute-errors.ts), so no client type or error reaches the adapter's logic or the hub.
//
// The hub calls `computeApi({ endpoint, credentialsFile })` once and `forGate(budget)` per domain.
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { OPEN_GATE, type CallGate, type ComputeApi } from './compute-api.ts';
import { ComputeCalls, type CallSettings } from './compute-calls.ts';
import { firewallCalls } from './compute-firewalls.ts';
import { networkCalls } from './compute-networks.ts';
import { routeCalls } from './compute-routes.ts';
import { routerCalls } from './compute-routers.ts';
import { endpointOptions, makeClients, resolveCredentials, type Clients, type ClientsOptions } from './compute-sdk.ts';

export interface ComputeApiOptions extends ClientsOptions {
  /** The gate of `api` (a domain's CallBudget); `forGate` makes one per domain. Default: none. */
  readonly gate?: CallGate | undefined;
  /** maxResults of every list page (1..500); default 500. */
  readonly pageSize?: number | undefined;
  /** A read's deadline, its client-side retries of 503/504 included; default 30 s. */
  readonly readTimeoutMs?: number | undefined;
  /** An insert's, patch's or delete's deadline (the client retries none of them); default 30 s. */
  readonly mutationTimeoutMs?: number | undefined;
  /** How long to follow one operation before giving up on it (it may still finish); default 5 min. */
  readonly operationTimeoutMs?: number | undefined;
}

/** What the hub holds: one set of Compute clients, a port per domain gate, and how to release them. */
export interface ComputeConnection {
  /** The port through `options.gate`. */
  readonly api: ComputeApi;
  /** The port through another gate (each domain's CallBudget), sharing the clients. */
  forGate(gate: CallGate): ComputeApi;
  /** Closes the clients; never rejects. */
  close(): Promise<void>;
}

/**
 * The Compute clients for one hub process. Nothing is contacted here: credentials are resolved and
 * the clients made on the first call (an endpoint that cannot be used is refused at once).
 */
export function computeApi(options: ComputeApiOptions = {}): ComputeConnection {
  const endpoint = options.endpoint === undefined ? {} : endpointOptions(options.endpoint);
  const settings: CallSettings = {
    pageSize: Math.min(500, Math.max(1, options.pageSize ?? 500)),
    readTimeoutMs: options.readTimeoutMs ?? 30_000,
    mutationTimeoutMs: options.mutationTimeoutMs ?? 30_000,
    operationTimeoutMs: options.operationTimeoutMs ?? 300_000,
  };
  let made: Promise<Clients> | undefined;
  let closed = false;
  const clients = (): Promise<Clients> => {
    if (closed) return Promise.reject(new UnavailableError('the Compute clients are closed'));
    if (made === undefined) {
      const p = resolveCredentials(options).then((authClient) => makeClients({ ...endpoint, authClient }));
      // A failure is not kept: the next call resolves the credentials again.
      p.catch(() => {
        if (made === p) made = undefined;
      });
      made = p;
    }
    return made;
  };
  return {
    api: port(new ComputeCalls(clients, options.gate ?? OPEN_GATE, settings)),
    forGate: (gate) => port(new ComputeCalls(clients, gate, settings)),
    close: async () => {
      closed = true;
      const c = await made?.catch(() => undefined);
      if (c === undefined) return;
      await Promise.all(Object.values(c).map((x: { close(): Promise<void> }) => x.close().catch(() => undefined)));
    },
  };
}

/** The whole port through one gate: each resource's calls, and following their operations. */
function port(calls: ComputeCalls): ComputeApi {
  return {
    ...networkCalls(calls),
    ...routeCalls(calls),
    ...firewallCalls(calls),
    ...routerCalls(calls),
    waitOperation: (project, operation, signal) => calls.waitOperation(project, operation, signal),
  };
}
