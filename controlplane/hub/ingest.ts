// Takes agents' reports off the bus and writes their exports to etcd: validated like API input,
// bound to the cluster the NATS server authenticated (the subject), deduplicated per agent
// session, written in one transaction per report, unchanged exports skipped. Runs on every hub
// replica (a queue group spreads the reports).
import { exportKey } from '../api/keys.ts';
import { parseServiceKey, reportCodec, reportReplyCodec, serviceKeyString, type Report, type ReportReply } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { SerialQueue } from '../kernel/async.ts';
import type { Op, Store } from '../registry/store.ts';
import type { ExportIndex } from './exports.ts';

export interface IngestDeps {
  readonly store: Store;
  readonly bus: Bus;
  readonly exports: ExportIndex;
  /** True when the cluster is registered (reports from unknown clusters are refused). */
  readonly clusterExists: (cluster: string) => boolean;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

export class ReportIngest {
  private readonly deps: IngestDeps;
  private readonly sessions = new Map<string, { session: string; seq: number; revision: number }>();
  /** Full reports in parts: what the parts so far named, per cluster. */
  private readonly partial = new Map<string, { session: string; next: number; kept: Set<string> }>();
  /** One report at a time per cluster: writes of one agent never reorder. */
  private readonly serial = new SerialQueue();

  constructor(deps: IngestDeps) {
    this.deps = deps;
  }

  handle(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    void this.serial
      .run(() => this.process(msg, from), from)
      .catch((err: unknown) => {
        this.deps.warn({ cluster: from, err }, 'report failed');
        this.reply(msg, { ok: false, reason: 'Unavailable', message: 'the hub could not store the report; retry' });
        this.deps.count('report', 'error');
      });
  }

  /** Resolves once every report received so far has been handled (tests, shutdown). */
  drain(): Promise<void> {
    return this.serial.drain();
  }

  private async process(msg: BusMessage, from: string): Promise<void> {
    const decoded = reportCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected agent report');
      this.deps.count('report', `rejected_${decoded.reason.replace('-', '_')}`);
      this.reply(msg, { ok: false, reason: decoded.reason, message: decoded.message });
      return;
    }
    const report = decoded.value;
    if (!this.deps.clusterExists(report.cluster)) {
      this.deps.count('report', 'rejected_unknown_cluster');
      this.reply(msg, { ok: false, reason: 'unknown-cluster', message: `cluster ${report.cluster} is not registered` });
      return;
    }
    const last = this.sessions.get(report.cluster);
    if (last !== undefined && last.session === report.session && report.seq <= last.seq) {
      // A retry of something already stored: acknowledge without writing it again.
      this.deps.count('report', 'duplicate');
      this.reply(msg, { ok: true, seq: report.seq, revision: last.revision });
      return;
    }
    const revision = await this.write(report);
    this.sessions.set(report.cluster, { session: report.session, seq: report.seq, revision });
    this.deps.count('report', 'ok');
    this.reply(msg, { ok: true, seq: report.seq, revision });
  }

  private async write(report: Report): Promise<number> {
    const { exports } = this.deps;
    const ops: Op[] = [];
    const kept = new Set<string>();
    for (const e of report.upserts) {
      const service = serviceKeyString(e);
      kept.add(service);
      const json = JSON.stringify(e);
      if (exports.json(report.cluster, service) !== json) ops.push({ type: 'put', key: exportKey(report.cluster, e.namespace, e.name), value: json });
    }
    for (const r of report.removals) {
      if (kept.has(serviceKeyString(r))) continue;
      if (exports.json(report.cluster, serviceKeyString(r)) !== undefined) ops.push({ type: 'delete', key: exportKey(report.cluster, r.namespace, r.name) });
    }
    let sweep = report.full && report.part === undefined;
    if (report.full && report.part !== undefined) {
      const { index, count } = report.part;
      const run = index === 0 ? { session: report.session, next: 0, kept: new Set<string>() } : this.partial.get(report.cluster);
      if (run?.session === report.session && run.next === index) {
        for (const k of kept) run.kept.add(k);
        run.next = index + 1;
        this.partial.set(report.cluster, run);
        if (index === count - 1) {
          sweep = true;
          for (const k of run.kept) kept.add(k);
          this.partial.delete(report.cluster);
        }
      } else {
        // A part out of order (a lost one): store what it says, sweep nothing until a whole run.
        this.partial.delete(report.cluster);
      }
    }
    if (sweep) {
      for (const service of exports.servicesOf(report.cluster)) {
        if (kept.has(service)) continue;
        const { namespace, name } = parseServiceKey(service);
        ops.push({ type: 'delete', key: exportKey(report.cluster, namespace, name) });
      }
    }
    let revision = 0;
    // etcd bounds a transaction's operations and bytes; large full reports go in slices, each
    // a complete statement about the services it holds.
    for (const slice of slices(ops, 1000, 1024 * 1024)) revision = (await this.deps.store.txn([], slice)).revision;
    return revision;
  }

  private reply(msg: BusMessage, body: ReportReply): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, reportReplyCodec.encode(body));
  }
}

function* slices(ops: readonly Op[], maxOps: number, maxBytes: number): Iterable<Op[]> {
  let current: Op[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = op.key.length + (op.type === 'put' ? op.value.length : 0);
    if (current.length > 0 && (current.length >= maxOps || bytes + size > maxBytes)) {
      yield current;
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) yield current;
}
