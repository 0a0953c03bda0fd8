// The GCP adapter as the hub wires it: one set of Compute clients for the process (credentials
// resolved and clients made on the first call, closed by `close()`), each domain's calls through
// its own budget, the adapter reading its plan inputs from the hub's IntentSource.
import type { IntentSource } from '../model/intents.ts';
import type { DomainAdapter } from '../model/reconcile.ts';
import { computeApi, type ComputeApiOptions } from './compute-connection.ts';
import { GcpVpcAdapter, type GcpVpcAdapterOptions } from './gcp-adapter.ts';

export interface GcpAdapterFactoryOptions extends Omit<GcpVpcAdapterOptions, 'api' | 'intents'> {
  /** The hub config's providers.gcp.endpoint (the Compute double in the demo); default compute.googleapis.com. */
  readonly endpoint?: string | undefined;
  /** The hub config's providers.gcp.credentialsFile; default Google's credential chain. */
  readonly credentialsFile?: string | undefined;
  readonly intents: IntentSource;
  /** Page size, timeouts and the environment of the Compute port (tests). */
  readonly compute?: Omit<ComputeApiOptions, 'endpoint' | 'credentialsFile' | 'gate'>;
}

/** Refuses an endpoint with a path (InvalidInputError) at once; contacts nothing until the first reconcile. */
export function gcpAdapter(options: GcpAdapterFactoryOptions): { readonly adapter: DomainAdapter; close(): void } {
  const { endpoint, credentialsFile, compute, ...rest } = options;
  const connection = computeApi({ ...compute, endpoint, credentialsFile });
  return {
    adapter: new GcpVpcAdapter({ ...rest, api: (_domain, gate) => connection.forGate(gate) }),
    close: () => {
      void connection.close();
    },
  };
}
