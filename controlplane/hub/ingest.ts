// Takes agents' reports off the bus and writes their exports to etcd: validated like API input,
// bound to the cluster the NATS server authenticated (the subject), deduplicated per agent
// session, written in one transaction per report, unchanged exports skipped. Runs on every hub
// replica (a queue group spreads the reports).
import { clusterExportsPrefix } from '../api/keys.ts';
import { reportCodec, reportReplyCodec, serviceKeyString, type Report, type ReportReply } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { SerialQueue } from '../kernel/async.ts';
import type { Op, Store } from '../registry/store.ts';
import type { ExportIndex } from './exports.ts';
import { isReplay, planReport, txnSlices, type PartialRun, type SessionMark } from './ingest-plan.ts';
import { checkReport } from './report-checks.ts';

export interface IngestDeps {
  readonly store: Store;
  readonly bus: Bus;
  readonly exports: ExportIndex;
  /** True when the cluster is registered (reports from unknown clusters are refused). */
  readonly clusterExists: (cluster: string) => boolean;
  /** The ranges the cluster's endpoints must fall in (report-checks.ts); undefined while it declares none. */
  readonly clusterRanges: (cluster: string) => readonly string[] | undefined;
  /** The hub's clock, for the first-sight time of exports. */
  readonly now?: () => Date;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  /** Ends writes in flight when the gateway stops. */
  readonly signal?: AbortSignal;
}

export class ReportIngest {
  private readonly deps: IngestDeps;
  private readonly sessions = new Map<string, SessionMark>();
  /** Full reports in parts: what the parts so far named, per cluster. */
  private readonly partial = new Map<string, PartialRun>();
  /** One report at a time per cluster: writes of one agent never reorder. */
  private readonly serial = new SerialQueue();
  /** First-sight times this hub wrote, until the watch-fed index shows them: "cluster ns/name" → time. */
  private readonly firstSeen = new Map<string, string>();

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
    if (last !== undefined && isReplay(last, report)) {
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

  private async write(received: Report): Promise<number> {
    const checked = checkReport(received, {
      ranges: this.deps.clusterRanges(received.cluster),
      exportedAt: (service) => this.exportedAt(received.cluster, service),
      now: (this.deps.now?.() ?? new Date()).toISOString(),
    });
    for (const [why, n] of checked.refused) {
      this.deps.count('endpoint', `rejected_${why}`);
      this.deps.warn({ cluster: received.cluster, reason: why, endpoints: n }, 'refused reported endpoints');
    }
    const report = checked.report;
    const plan = planReport(report, this.deps.exports, this.partial.get(report.cluster));
    this.rememberFirstSight(report, plan.ops);
    if (plan.partial === undefined) this.partial.delete(report.cluster);
    else this.partial.set(report.cluster, plan.partial);
    let revision = 0;
    for (const slice of txnSlices(plan.ops)) revision = (await this.deps.store.txn([], slice, this.deps.signal)).revision;
    return revision;
  }

  /** The hub's first sight of an export: as stored, or as this hub wrote it before the watch showed it. */
  private exportedAt(cluster: string, service: string): string | undefined {
    const key = `${cluster} ${service}`;
    const stored = this.deps.exports.state(cluster, service)?.exportedAt;
    // Once the index shows it, the index is the record: the bridge entry is no longer needed.
    if (stored !== undefined) this.firstSeen.delete(key);
    return stored ?? this.firstSeen.get(key);
  }

  /**
   * Bridges the watch's lag: new exports keep the time given them here until the index has them,
   * and every export this write deletes (a removal, or a full report's sweep) is forgotten, so one
   * exported again later is seen anew.
   */
  private rememberFirstSight(report: Report, ops: readonly Op[]): void {
    for (const e of report.upserts) {
      const service = serviceKeyString(e);
      if (this.deps.exports.state(report.cluster, service) === undefined) this.firstSeen.set(`${report.cluster} ${service}`, e.exportedAt);
    }
    const prefix = clusterExportsPrefix(report.cluster);
    for (const op of ops) if (op.type === 'delete' && op.key.startsWith(prefix)) this.firstSeen.delete(`${report.cluster} ${op.key.slice(prefix.length)}`);
  }

  private reply(msg: BusMessage, body: ReportReply): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, reportReplyCodec.encode(body));
  }
}
