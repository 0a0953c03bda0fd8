// The on-prem adapter as the hub wires it: one gRPC client per gobgpd address (made on first use,
// closed by `close()`), the adapter reading its plan inputs from the hub's IntentSource.
import type { Clock } from '../../controlplane/kernel/clock.ts';
import type { IntentSource } from '../model/intents.ts';
import type { OnpremDomain } from '../model/model.ts';
import type { DomainAdapter } from '../model/reconcile.ts';
import { GrpcGobgpApi } from './gobgp-grpc.ts';
import { OnpremBgpAdapter, type OnpremBgpAdapterOptions } from './onprem-adapter.ts';

export interface OnpremAdapterFactoryOptions extends Omit<OnpremBgpAdapterOptions, 'api' | 'intents' | 'clock'> {
  /** gobgpd's API for a domain, `host:port` (the hub config's providers.onprem.sites[site].gobgp, else .gobgp, else 127.0.0.1:50051). */
  readonly gobgpFor: (domain: OnpremDomain) => string;
  readonly intents: IntentSource;
  readonly clock?: Clock;
  /** Deadline of each gRPC call; default 5 s. */
  readonly deadlineMs?: number;
}

export function onpremAdapter(options: OnpremAdapterFactoryOptions): { readonly adapter: DomainAdapter; close(): void } {
  const clients = new Map<string, GrpcGobgpApi>();
  const { gobgpFor, deadlineMs, ...rest } = options;
  const api = (domain: OnpremDomain): GrpcGobgpApi => {
    const address = gobgpFor(domain);
    let c = clients.get(address);
    if (c === undefined) {
      c = new GrpcGobgpApi({ address, ...(deadlineMs !== undefined ? { deadlineMs } : {}) });
      clients.set(address, c);
    }
    return c;
  };
  return {
    adapter: new OnpremBgpAdapter({ ...rest, api }),
    close: () => {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
