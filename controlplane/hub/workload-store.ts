// The WorkloadSource (policy-world.ts) the hub reads reported namespaces and pods from: one value
// per cluster in etcd, under WORKLOADS_PREFIX, so that every hub replica sees the same reports
// (ADR 0016: ingest state lives in etcd). What writes it is the agents' `workloads` report
// (issue 10 §5), ingested like the exports; until that message exists an operator or a test may
// write a report there. Every value goes through the codec below; one that does not parse is
// skipped and logged, never half-read.
import { z } from 'zod';
import { ROOT } from '../api/keys.ts';
import { labelSelectorSchema } from '../api/resources.ts';
import type { Store } from '../registry/store.ts';
import type { WorkloadReport, WorkloadSource } from './policy-world.ts';
import { WatchedPrefix } from './watched.ts';

/** `<root>workloads/<cluster>` → WorkloadReport JSON. (Belongs beside EXPORTS_PREFIX in api/keys.ts.) */
export const WORKLOADS_PREFIX = `${ROOT}workloads/`;

export function workloadsKey(cluster: string): string {
  return `${WORKLOADS_PREFIX}${cluster}`;
}

const labels = z.record(z.string().max(317), z.string().max(63));
const ip = z.union([z.ipv4(), z.ipv6()]);

/** The stored (and, later, the wire) form of one cluster's namespaces and pods. */
export const workloadReportSchema = z.strictObject({
  namespaces: z.array(z.strictObject({ name: z.string().min(1).max(63), labels })).max(10_000),
  pods: z.array(z.strictObject({ namespace: z.string().min(1).max(63), labels, ips: z.array(ip).min(1).max(2) })).max(250_000),
  serviceSelectors: z.record(z.string().max(127), labelSelectorSchema).optional(),
});

export function decodeWorkloadReport(json: string): WorkloadReport | undefined {
  try {
    const r = workloadReportSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export class StoredWorkloads implements WorkloadSource {
  private readonly reports = new Map<string, WorkloadReport>();
  private readonly listeners: ((cluster: string) => void)[] = [];

  /** Watches the prefix until `signal` aborts (every replica, not only the leader). */
  constructor(store: Store, signal: AbortSignal, warn: (fields: Record<string, unknown>, message: string) => void) {
    const watched = new WatchedPrefix(store, WORKLOADS_PREFIX);
    watched.onChange((changes) => {
      for (const c of changes) {
        const cluster = c.key.slice(WORKLOADS_PREFIX.length);
        if (cluster === '' || cluster.includes('/')) continue;
        const report = c.value === undefined ? undefined : decodeWorkloadReport(c.value);
        if (c.value !== undefined && report === undefined) warn({ cluster, key: c.key }, 'a stored workload report does not parse; ignored');
        if (report === undefined) this.reports.delete(cluster);
        else this.reports.set(cluster, report);
        for (const l of this.listeners) l(cluster);
      }
    });
    void watched.run(signal, (err) => {
      warn({ err }, 'workloads watch failed; relisting');
    });
  }

  report(cluster: string): WorkloadReport | undefined {
    return this.reports.get(cluster);
  }

  onChange(listener: (cluster: string) => void): void {
    this.listeners.push(listener);
  }
}
