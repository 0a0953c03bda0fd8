// Takes agents' `workloads` reports (namespaces and pods, issue 10 §5) off the bus and writes them
// to etcd, where the World of every replica reads them (workload-store.ts). Runs on every hub
// replica (a queue group): bound to the cluster the NATS server authenticated (the subject), a
// registered one; validated like API input; malformed, oversized or foreign reports are counted
// and refused and write nothing. Pods whose addresses the cluster may not claim (special
// addresses, or outside its pod CIDRs and spec.endpointCIDRs) are dropped and counted: their
// addresses become ipBlocks in other clusters' compiled policy, so an agent must never be able
// to name another cluster's pods. Each part is one compare-and-swap on its key; a replay (the
// same agent session's part at the same or an older seq) is acknowledged without writing.
import { cidrMatcher, specialAddress } from '../api/cidr.ts';
import { reportReplyCodec, serviceKeyString, workloadsCodec, type ReportReply, type Workloads } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { SerialQueue } from '../kernel/async.ts';
import type { Compare, Op, Store } from '../registry/store.ts';
import { decodeWorkloadPart, workloadPartKey, workloadPartsPrefix, type WorkloadPart } from './workload-store.ts';

export interface WorkloadIngestDeps {
  readonly store: Store;
  readonly bus: Pick<Bus, 'publish'>;
  /** True when the cluster is registered (reports from unknown clusters are refused). */
  readonly clusterExists: (cluster: string) => boolean;
  /** The ranges the cluster's pod addresses must fall in; undefined while it declares none. */
  readonly clusterRanges: (cluster: string) => readonly string[] | undefined;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly signal?: AbortSignal;
}

export const PodRefusal = { Special: 'special_address', OutsideCluster: 'outside_cluster_ranges' } as const;
export type PodRefusal = (typeof PodRefusal)[keyof typeof PodRefusal];

/** The stored form of one received part, with the pods the cluster may not claim left out (pure). */
export function storedPart(
  msg: Workloads,
  ranges: readonly string[] | undefined,
): { readonly part: WorkloadPart; readonly index: number; readonly refused: ReadonlyMap<PodRefusal, number> } {
  const refused = new Map<PodRefusal, number>();
  const inRanges = ranges === undefined ? undefined : cidrMatcher(ranges);
  const pods = msg.pods.filter((p) => {
    for (const ip of p.ips) {
      const why = specialAddress(ip) !== undefined ? PodRefusal.Special : inRanges !== undefined && !inRanges(ip) ? PodRefusal.OutsideCluster : undefined;
      if (why !== undefined) {
        refused.set(why, (refused.get(why) ?? 0) + 1);
        return false;
      }
    }
    return true;
  });
  const selectors = msg.serviceSelectors ?? [];
  return {
    index: msg.part?.index ?? 0,
    refused,
    part: {
      session: msg.session,
      seq: msg.seq,
      count: msg.part?.count ?? 1,
      namespaces: msg.namespaces,
      pods,
      ...(selectors.length > 0 ? { serviceSelectors: Object.fromEntries(selectors.map((s) => [serviceKeyString(s), { matchLabels: s.matchLabels }])) } : {}),
    },
  };
}

export class WorkloadIngest {
  private readonly deps: WorkloadIngestDeps;
  /** One report at a time per cluster: this replica never reorders one agent's writes. */
  private readonly serial = new SerialQueue();

  constructor(deps: WorkloadIngestDeps) {
    this.deps = deps;
  }

  handle(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    void this.serial
      .run(() => this.process(msg, from), from)
      .catch((err: unknown) => {
        this.deps.warn({ cluster: from, err }, 'workloads report failed');
        this.reply(msg, { ok: false, reason: 'Unavailable', message: 'the hub could not store the workloads report; retry' });
        this.deps.count('workloads', 'error');
      });
  }

  drain(): Promise<void> {
    return this.serial.drain();
  }

  private async process(msg: BusMessage, from: string): Promise<void> {
    const decoded = workloadsCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected workloads report');
      this.deps.count('workloads', `rejected_${decoded.reason.replace('-', '_')}`);
      this.reply(msg, { ok: false, reason: decoded.reason, message: decoded.message });
      return;
    }
    const report = decoded.value;
    const index = report.part?.index ?? 0;
    if (index >= (report.part?.count ?? 1)) {
      this.deps.count('workloads', 'rejected_invalid');
      this.reply(msg, { ok: false, reason: 'invalid', message: `part ${index} of ${report.part?.count ?? 1}` });
      return;
    }
    if (!this.deps.clusterExists(report.cluster)) {
      this.deps.count('workloads', 'rejected_unknown_cluster');
      this.reply(msg, { ok: false, reason: 'unknown-cluster', message: `cluster ${report.cluster} is not registered` });
      return;
    }
    const { part, refused } = storedPart(report, this.deps.clusterRanges(report.cluster));
    for (const [why, n] of refused) {
      this.deps.count('pod', `rejected_${why}`);
      this.deps.warn({ cluster: report.cluster, reason: why, pods: n }, 'refused reported pods: their addresses are not the cluster’s to claim');
    }
    const key = workloadPartKey(report.cluster, index);
    const { signal } = this.deps;
    const current = await this.deps.store.get(key, signal);
    const held = current === undefined ? undefined : decodeWorkloadPart(current.value);
    if (held !== undefined && held.session === part.session && held.seq >= part.seq) {
      this.deps.count('workloads', 'duplicate');
      this.reply(msg, { ok: true, seq: report.seq, revision: current?.modRevision ?? 0 });
      return;
    }
    const ops: Op[] = [{ type: 'put', key, value: JSON.stringify(part) }];
    if (index === part.count - 1) {
      // The last part: parts of an earlier, larger set are not part of this one.
      const { kvs } = await this.deps.store.range(workloadPartsPrefix(report.cluster), signal);
      for (const kv of kvs) {
        const n = Number(kv.key.slice(workloadPartsPrefix(report.cluster).length));
        if (!Number.isSafeInteger(n) || n >= part.count) ops.push({ type: 'delete', key: kv.key });
      }
    }
    const compares: Compare[] = [{ key, modRevision: current?.modRevision ?? 0 }];
    const result = await this.deps.store.txn(compares, ops, signal);
    if (!result.succeeded) throw new Error('the workloads part moved under a report; the agent retries');
    this.deps.count('workloads', 'ok');
    this.reply(msg, { ok: true, seq: report.seq, revision: result.revision });
  }

  private reply(msg: BusMessage, reply: ReportReply): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, reportReplyCodec.encode(reply));
  }
}
