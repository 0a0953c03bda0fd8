// The WorkloadSource (policy-world.ts) the hub reads reported namespaces and pods from, in etcd
// under WORKLOADS_PREFIX, so that every hub replica sees the same reports (ADR 0016: ingest state
// lives in etcd). Two layouts:
//
// - `<prefix><cluster>/<part>`: what the agents' `workloads` reports write (workload-ingest.ts),
//   one key per part of the cluster's complete set, each stamped with the agent session, the
//   report's seq and the part count. The set is used only once every part carries the same
//   stamp; while a new report is half written, the last complete one stays in use;
// - `<prefix><cluster>`: one whole report (an operator, a test, or a hub before agents reported),
//   used while the cluster has no parts.
//
// Every value goes through the codecs below; one that does not parse is skipped and logged,
// never half-read.
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ROOT } from '../api/keys.ts';
import type { LabelSelector } from '../api/labels.ts';
import { labelSelectorSchema } from '../api/resources.ts';
import type { Store } from '../registry/store.ts';
import type { WorkloadReport, WorkloadSource } from './policy-world.ts';
import { WatchedPrefix } from './watched.ts';

/** `<root>workloads/<cluster>` → WorkloadReport JSON. (Belongs beside EXPORTS_PREFIX in api/keys.ts.) */
export const WORKLOADS_PREFIX = `${ROOT}workloads/`;

export function workloadsKey(cluster: string): string {
  return `${WORKLOADS_PREFIX}${cluster}`;
}

/** `<root>workloads/<cluster>/`: the parts of the cluster's reported set. */
export function workloadPartsPrefix(cluster: string): string {
  return `${WORKLOADS_PREFIX}${cluster}/`;
}

export function workloadPartKey(cluster: string, index: number): string {
  return `${workloadPartsPrefix(cluster)}${index}`;
}

const labels = z.record(z.string().max(317), z.string().max(63));
const ip = z.union([z.ipv4(), z.ipv6()]);

/** The stored (and, later, the wire) form of one cluster's namespaces and pods. */
export const workloadReportSchema = z.strictObject({
  namespaces: z.array(z.strictObject({ name: z.string().min(1).max(63), labels })).max(10_000),
  pods: z
    .array(z.strictObject({ namespace: z.string().min(1).max(63), name: z.string().min(1).max(253).optional(), labels, ips: z.array(ip).min(1).max(2) }))
    .max(250_000),
  serviceSelectors: z.record(z.string().max(127), labelSelectorSchema).optional(),
});

/** One stored part of an agent's report: a WorkloadReport slice with the stamp of the report it belongs to. */
export const workloadPartSchema = workloadReportSchema.extend({
  session: z.string().min(1).max(64),
  seq: z.int().min(1),
  count: z.int().min(1).max(1000),
});
export type WorkloadPart = z.output<typeof workloadPartSchema>;

export function decodeWorkloadPart(json: string): WorkloadPart | undefined {
  try {
    const r = workloadPartSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The complete set the parts make, or undefined while they are not all of one report. */
export function assembleParts(parts: ReadonlyMap<number, WorkloadPart>): WorkloadReport | undefined {
  const first = parts.get(0);
  if (first === undefined) return undefined;
  const namespaces: WorkloadReport['namespaces'][number][] = [];
  const pods: WorkloadReport['pods'][number][] = [];
  const serviceSelectors: Record<string, LabelSelector> = {};
  for (let i = 0; i < first.count; i++) {
    const p = parts.get(i);
    if (p === undefined || p.session !== first.session || p.seq !== first.seq || p.count !== first.count) return undefined;
    namespaces.push(...p.namespaces);
    pods.push(...p.pods);
    Object.assign(serviceSelectors, p.serviceSelectors);
  }
  return { namespaces, pods, serviceSelectors };
}

export function decodeWorkloadReport(json: string): WorkloadReport | undefined {
  try {
    const r = workloadReportSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export class StoredWorkloads implements WorkloadSource {
  /** What the World reads: per cluster, the last complete set of parts, else the whole report. */
  private readonly reports = new Map<string, WorkloadReport>();
  private readonly whole = new Map<string, WorkloadReport>();
  private readonly parts = new Map<string, Map<number, WorkloadPart>>();
  private readonly assembled = new Map<string, WorkloadReport>();
  private readonly listeners: ((cluster: string) => void)[] = [];

  /** Watches the prefix until `signal` aborts (every replica, not only the leader). */
  constructor(store: Store, signal: AbortSignal, warn: (fields: Record<string, unknown>, message: string) => void) {
    const watched = new WatchedPrefix(store, WORKLOADS_PREFIX);
    watched.onChange((changes) => {
      const touched = new Set<string>();
      for (const c of changes) {
        const [cluster = '', part, ...rest] = c.key.slice(WORKLOADS_PREFIX.length).split('/');
        if (cluster === '' || rest.length > 0) continue;
        touched.add(cluster);
        if (part === undefined) {
          const report = c.value === undefined ? undefined : decodeWorkloadReport(c.value);
          if (c.value !== undefined && report === undefined) warn({ cluster, key: c.key }, 'a stored workload report does not parse; ignored');
          if (report === undefined) this.whole.delete(cluster);
          else this.whole.set(cluster, report);
          continue;
        }
        const index = Number(part);
        if (!Number.isSafeInteger(index) || index < 0 || String(index) !== part) continue;
        const decoded = c.value === undefined ? undefined : decodeWorkloadPart(c.value);
        if (c.value !== undefined && decoded === undefined) warn({ cluster, key: c.key }, 'a stored workload report part does not parse; ignored');
        let held = this.parts.get(cluster);
        if (decoded !== undefined) {
          if (held === undefined) this.parts.set(cluster, (held = new Map<number, WorkloadPart>()));
          held.set(index, decoded);
        } else {
          held?.delete(index);
          if (held?.size === 0) this.parts.delete(cluster);
        }
      }
      for (const cluster of touched) this.settle(cluster);
    });
    void watched.run(signal, (err) => {
      warn({ err }, 'workloads watch failed; relisting');
    });
  }

  /** Recomputes a cluster's report; listeners hear only of a change. */
  private settle(cluster: string): void {
    const held = this.parts.get(cluster);
    if (held === undefined) this.assembled.delete(cluster);
    else {
      const complete = assembleParts(held);
      // Half written (a report in progress): the last complete set stays.
      if (complete !== undefined) this.assembled.set(cluster, complete);
    }
    const next = this.assembled.get(cluster) ?? this.whole.get(cluster);
    const before = this.reports.get(cluster);
    if (next === before) return;
    if (next === undefined) this.reports.delete(cluster);
    else this.reports.set(cluster, next);
    if (before !== undefined && next !== undefined && isDeepStrictEqual(before, next)) return;
    for (const l of this.listeners) l(cluster);
  }

  report(cluster: string): WorkloadReport | undefined {
    return this.reports.get(cluster);
  }

  onChange(listener: (cluster: string) => void): void {
    this.listeners.push(listener);
  }
}
