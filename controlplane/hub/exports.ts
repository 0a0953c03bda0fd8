// What every cluster exports, as the hub knows it: a watch-fed index of the exports prefix
// (cluster → "namespace/name" → ExportState), shared by report ingestion and the service model.
// The stored text itself is not kept, only its fingerprint: 10,000 exports of 25 endpoints are
// 32 MB of JSON that the parsed state already holds, and ingestion only asks whether a write
// would change the text.
import { exportFingerprint } from '../api/export-fingerprint.ts';
import { EXPORTS_PREFIX } from '../api/keys.ts';
import { parseServiceKey, type ExportState } from '../api/messages.ts';
import type { PrefixChange, WatchedPrefix } from './watched.ts';

export interface ExportChange {
  readonly cluster: string;
  /** "namespace/name" */
  readonly service: string;
  readonly state: ExportState | undefined;
}

export class ExportIndex {
  private readonly byCluster = new Map<string, Map<string, { fingerprint: string; state: ExportState }>>();
  private readonly listeners: ((changes: readonly ExportChange[], revision: number) => void)[] = [];

  constructor(watched: WatchedPrefix) {
    watched.onChange((changes, revision) => {
      this.apply(changes, revision);
    });
  }

  onChange(listener: (changes: readonly ExportChange[], revision: number) => void): void {
    this.listeners.push(listener);
  }

  /** The fingerprint of the text stored for one export (api/export-fingerprint.ts), to skip writes that would change nothing. */
  fingerprint(cluster: string, service: string): string | undefined {
    return this.byCluster.get(cluster)?.get(service)?.fingerprint;
  }

  /** The stored export, as parsed. */
  state(cluster: string, service: string): ExportState | undefined {
    return this.byCluster.get(cluster)?.get(service)?.state;
  }

  servicesOf(cluster: string): string[] {
    return [...(this.byCluster.get(cluster)?.keys() ?? [])];
  }

  /** cluster → service → state, for building the model from scratch. */
  all(): ReadonlyMap<string, ReadonlyMap<string, ExportState>> {
    const out = new Map<string, Map<string, ExportState>>();
    for (const [cluster, services] of this.byCluster) {
      out.set(cluster, new Map([...services].map(([k, v]) => [k, v.state])));
    }
    return out;
  }

  private apply(changes: readonly PrefixChange[], revision: number): void {
    const out: ExportChange[] = [];
    for (const c of changes) {
      // exports/<cluster>/<namespace>/<name>: the cluster, then the service key as messages.ts spells it.
      const rest = c.key.slice(EXPORTS_PREFIX.length);
      const slash = rest.indexOf('/');
      const cluster = rest.slice(0, slash);
      const service = rest.slice(slash + 1);
      const { namespace, name } = parseServiceKey(service);
      if (slash <= 0 || namespace === '' || name === '') continue;
      let services = this.byCluster.get(cluster);
      if (c.value === undefined) {
        services?.delete(service);
        if (services?.size === 0) this.byCluster.delete(cluster);
        out.push({ cluster, service, state: undefined });
        continue;
      }
      // Written by the hub after validation; a value that does not parse is skipped, not fatal.
      let state: ExportState;
      try {
        state = JSON.parse(c.value) as ExportState;
      } catch {
        continue;
      }
      if (services === undefined) {
        services = new Map();
        this.byCluster.set(cluster, services);
      }
      services.set(service, { fingerprint: exportFingerprint(c.value), state });
      out.push({ cluster, service, state });
    }
    if (out.length > 0) for (const l of this.listeners) l(out, revision);
  }
}
