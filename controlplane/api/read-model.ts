// What the hub derives and serves read-only (never written by users): the global services as
// merged from every cluster's exports. The HTTP edge serves it, the CLI prints it, the service
// controller produces it.
import type { Condition } from './conditions.ts';

/** Global services as the hub has merged them, for `causeway get services`. */
export interface ServicesView {
  list(): readonly GlobalServiceView[];
}

export interface GlobalServiceView {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly ports: readonly { port: number; protocol: string; name?: string | undefined }[];
  readonly ips: readonly string[];
  readonly exporters: readonly { cluster: string; endpoints: number; conflict?: string | undefined }[];
  readonly importers: readonly string[];
  readonly endpoints: number;
  readonly conditions: readonly Condition[];
}
