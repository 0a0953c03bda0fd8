// Takes agents' reports off the bus and writes their exports to etcd: validated like API input,
// bound to the cluster the NATS server authenticated (the subject), deduplicated per agent
// session, written in one transaction per report, unchanged exports skipped. Runs on every hub
// replica (a queue group spreads the reports), so nothing that decides the next report's writes
// is kept in one replica's memory: the cluster's ingest mark in etcd (ingest-plan.ts) is read
// before each report and written, compare-and-swap, with its exports; and the watch-fed index a
// report is planned against must first have caught up with the cluster's last export write,
// whichever replica made it (or the cluster's exports are read from etcd instead).
import { exportFingerprint } from '../api/export-fingerprint.ts';
import { clusterExportsPrefix, ingestMarkKey, ingestPartsPrefix } from '../api/keys.ts';
import { reportCodec, reportReplyCodec, type ExportState, type Report, type ReportReply } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { SerialQueue } from '../kernel/async.ts';
import type { Compare, Op, Store } from '../registry/store.ts';
import type { ExportIndex } from './exports.ts';
import {
  earlierParts,
  isReplay,
  parseMark,
  parsePartRecord,
  planReport,
  runStep,
  txnSlices,
  type IngestMark,
  type PartRecord,
  type StoredExports,
  type StoredMark,
} from './ingest-plan.ts';
import { checkReport } from './report-checks.ts';

/** How long a report waits for this replica's index to show another replica's last write before reading etcd instead. */
const INDEX_CATCH_UP_MS = 200;

/** `namespace/name` of an export key of `cluster` (the index's service key); undefined for other keys (the mark, part records). */
function serviceOfExportKey(cluster: string, key: string): string | undefined {
  const prefix = clusterExportsPrefix(cluster);
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
}

/** A stored export's text, parsed; undefined when it does not parse (the hub wrote it after validation, so it should). */
function parseExport(json: string): ExportState | undefined {
  try {
    return JSON.parse(json) as ExportState;
  } catch {
    return undefined;
  }
}

/** What this replica itself wrote last for a cluster: its mark as stored, and the exports it wrote that its index may not show yet. */
interface OwnWrites {
  readonly mark: StoredMark;
  readonly exports: Map<string, { readonly json: string | undefined; readonly revision: number }>;
}

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
  /** One report at a time per cluster: this replica never reorders one agent's writes. */
  private readonly serial = new SerialQueue();
  /** The revision the watch-fed index has shown up to, and who waits for it to move. */
  private indexRevision = 0;
  private readonly indexWaiters = new Set<() => void>();
  /**
   * Per cluster, what this replica wrote last (issue 11: one agent's reports mostly land on one
   * replica). While the mark in etcd is still the one this replica wrote, the next report needs
   * neither a read of the mark nor a wait for the watch: the final transaction's compare on the
   * mark proves nobody wrote since, and a failed compare starts the report again from etcd.
   */
  private readonly own = new Map<string, OwnWrites>();
  /** Per cluster, the session and seq of the last report received (an entry per registered cluster that reported). */
  private readonly newest = new Map<string, { readonly session: string; readonly seq: number }>();

  constructor(deps: IngestDeps) {
    this.deps = deps;
    deps.exports.onChange((_, revision) => {
      this.indexRevision = Math.max(this.indexRevision, revision);
      for (const wake of [...this.indexWaiters]) wake();
      // Own writes the index now shows are dropped at the cluster's next write (and ignored until
      // then: overlaid compares revisions), not here: walking every cluster's own writes on every
      // index change was 5 % of a hub's CPU at 1,000 clusters.
    });
  }

  handle(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = reportCodec.decode(msg.data, from);
    if (decoded.ok) {
      const { session, seq } = decoded.value;
      const newest = this.newest.get(from);
      if (newest?.session !== session || seq > newest.seq) this.newest.set(from, { session, seq });
    }
    void this.serial
      .run(() => this.process(msg, from, decoded), from)
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

  private async process(msg: BusMessage, from: string, decoded: ReturnType<typeof reportCodec.decode>): Promise<void> {
    if (!decoded.ok) {
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected agent report');
      this.deps.count('report', `rejected_${decoded.reason.replace('-', '_')}`);
      this.reply(msg, { ok: false, reason: decoded.reason, message: decoded.message });
      return;
    }
    const report = decoded.value;
    if (this.superseded(report)) {
      // Its agent gave up waiting and sent a later one, which carries the same keys as they are
      // now (cluster-agent/controllers/reporter.ts): writing this one would only delay that one.
      // Nobody waits for its reply.
      this.deps.count('report', 'superseded');
      return;
    }
    if (!this.deps.clusterExists(report.cluster)) {
      this.newest.delete(report.cluster);
      this.deps.count('report', 'rejected_unknown_cluster');
      this.reply(msg, { ok: false, reason: 'unknown-cluster', message: `cluster ${report.cluster} is not registered` });
      return;
    }
    const own = this.own.get(report.cluster);
    let last = own?.mark ?? (await this.mark(report.cluster));
    if (last !== undefined && isReplay(last.mark, report)) {
      // A retry of something already stored (by this replica or another): acknowledge without writing it again.
      this.deps.count('report', 'duplicate');
      this.reply(msg, { ok: true, seq: report.seq, revision: last.modRevision });
      return;
    }
    let written = await this.write(report, last, own);
    if (written === undefined && own !== undefined) {
      // Another replica wrote for this cluster since this one did: plan again from what etcd holds.
      this.own.delete(report.cluster);
      this.deps.count('report', 'mark_moved');
      last = await this.mark(report.cluster);
      if (last !== undefined && isReplay(last.mark, report)) {
        this.deps.count('report', 'duplicate');
        this.reply(msg, { ok: true, seq: report.seq, revision: last.modRevision });
        return;
      }
      written = await this.write(report, last, undefined);
    }
    if (written === undefined) {
      // Another replica stored a report of this agent meanwhile (a retry that outran us): if it was this one, say so.
      const now = await this.mark(report.cluster);
      if (now === undefined || !isReplay(now.mark, report)) throw new Error('the ingest mark moved under a report; the agent retries');
      this.deps.count('report', 'duplicate');
      this.reply(msg, { ok: true, seq: report.seq, revision: now.modRevision });
      return;
    }
    this.deps.count('report', 'ok');
    this.reply(msg, { ok: true, seq: report.seq, revision: written });
  }

  /**
   * Whether a later report of the same agent session has arrived here. An agent sends one report at
   * a time and the next only once the one before was acknowledged or timed out, so a report that
   * waited here behind the agent's next one is one its agent has given up on. Reports of another
   * session (a second agent of the cluster, as in a rolling restart) never supersede each other.
   */
  private superseded(report: Report): boolean {
    const newest = this.newest.get(report.cluster);
    if (newest === undefined) return false;
    return newest.session === report.session && newest.seq > report.seq;
  }

  /** The cluster's mark as etcd has it now. */
  private async mark(cluster: string): Promise<StoredMark | undefined> {
    const kv = await this.deps.store.get(ingestMarkKey(cluster), this.deps.signal);
    const mark = kv === undefined ? undefined : parseMark(kv.value);
    return kv === undefined || mark === undefined ? undefined : { mark, modRevision: kv.modRevision };
  }

  /**
   * Writes the report; the revision of its last transaction, or undefined when the mark moved under
   * it. `own`: the mark is this replica's last write (not read from etcd), and the exports it wrote
   * then stand in for what its index does not show yet.
   */
  private async write(received: Report, last: StoredMark | undefined, own: OwnWrites | undefined): Promise<number | undefined> {
    const lastExports = last === undefined ? 0 : (last.mark.exportsRevision ?? last.modRevision);
    const stored =
      own !== undefined && this.indexRevision < lastExports ? this.overlaid(received.cluster, own) : await this.storedExports(received.cluster, lastExports);
    const checked = checkReport(received, {
      ranges: this.deps.clusterRanges(received.cluster),
      exportedAt: (service) => stored.state(service)?.exportedAt,
      now: (this.deps.now?.() ?? new Date()).toISOString(),
    });
    for (const [why, n] of checked.refused) {
      this.deps.count('endpoint', `rejected_${why}`);
      this.deps.warn({ cluster: received.cluster, reason: why, endpoints: n }, 'refused reported endpoints');
    }
    const report = checked.report;
    const step = runStep(report, last?.mark);
    const earlier = step.kind === 'part' && step.last ? earlierParts(step, await this.partRecords(report.cluster)) : undefined;
    const plan = planReport(report, stored, last?.mark, earlier);
    const slices = txnSlices(plan.ops);
    // Export ops come first: every slice before the last one that holds any wrote exports.
    let exportsLeft = plan.exportOps;
    let exportsRevision = lastExports;
    const final = slices.pop() ?? [];
    // Slices before the last commit without the mark's compare: an unread mark must be checked first.
    if (own !== undefined && slices.length > 0 && (await this.mark(report.cluster))?.modRevision !== last?.modRevision) return undefined;
    for (const slice of slices) {
      const { revision } = await this.deps.store.txn([], slice, this.deps.signal);
      if (exportsLeft > 0) exportsRevision = revision;
      exportsLeft -= slice.length;
    }
    // The last slice carries the mark, compared with the one read: two replicas never both advance it.
    const mark: IngestMark = { ...plan.mark, ...(exportsLeft > 0 ? {} : { exportsRevision }) };
    const compare: Compare = { key: ingestMarkKey(report.cluster), modRevision: last?.modRevision ?? 0 };
    const ops: Op[] = [...final, { type: 'put', key: ingestMarkKey(report.cluster), value: JSON.stringify(mark) }];
    const result = await this.deps.store.txn([compare], ops, this.deps.signal);
    if (!result.succeeded) return undefined;
    // Remember what this replica wrote: the next report of this agent starts from it.
    const written = new Map(own?.exports ?? []);
    for (const op of plan.ops) {
      const service = serviceOfExportKey(report.cluster, op.key);
      if (service !== undefined) written.set(service, { json: op.type === 'put' ? op.value : undefined, revision: result.revision });
    }
    for (const [service, w] of written) if (w.revision <= this.indexRevision) written.delete(service);
    this.own.set(report.cluster, { mark: { mark, modRevision: result.revision }, exports: written });
    return result.revision;
  }

  /** The cluster's exports as this replica last wrote them: its index, with its own writes the index does not show yet on top. */
  private overlaid(cluster: string, own: OwnWrites): StoredExports & { state(service: string): ExportState | undefined } {
    const index = this.deps.exports;
    /** The text this replica wrote, when its index does not show that write yet. */
    const written = (c: string, service: string): { readonly json: string | undefined } | undefined => {
      const w = c === cluster ? own.exports.get(service) : undefined;
      return w !== undefined && w.revision > this.indexRevision ? w : undefined;
    };
    return {
      fingerprint: (c, service) => {
        const w = written(c, service);
        if (w === undefined) return index.fingerprint(c, service);
        return w.json === undefined ? undefined : exportFingerprint(w.json);
      },
      servicesOf: (c) => {
        const services = new Set(index.servicesOf(c));
        if (c === cluster) {
          for (const [service, w] of own.exports) {
            if (w.revision <= this.indexRevision) continue;
            if (w.json === undefined) services.delete(service);
            else services.add(service);
          }
        }
        return services;
      },
      state: (service) => {
        const w = written(cluster, service);
        if (w === undefined) return index.state(cluster, service);
        return w.json === undefined ? undefined : parseExport(w.json);
      },
    };
  }

  /**
   * The cluster's exports as stored once `revision` (its last export write) is in: the watch-fed
   * index when it has caught up with it in time, else a read of the cluster's exports from etcd.
   */
  private async storedExports(cluster: string, revision: number): Promise<StoredExports & { state(service: string): ExportState | undefined }> {
    const index = this.deps.exports;
    if (await this.indexAt(revision))
      return { fingerprint: (c, s) => index.fingerprint(c, s), servicesOf: (c) => index.servicesOf(c), state: (s) => index.state(cluster, s) };
    this.deps.count('report', 'read_exports');
    const prefix = clusterExportsPrefix(cluster);
    const { kvs } = await this.deps.store.range(prefix, this.deps.signal);
    const json = new Map(kvs.map((kv) => [kv.key.slice(prefix.length), kv.value]));
    const state = (service: string): ExportState | undefined => {
      const value = json.get(service);
      return value === undefined ? undefined : parseExport(value);
    };
    return {
      fingerprint: (c, s) => {
        const value = c === cluster ? json.get(s) : undefined;
        return value === undefined ? undefined : exportFingerprint(value);
      },
      servicesOf: (c) => (c === cluster ? json.keys() : []),
      state,
    };
  }

  /** Whether the index shows `revision`, waiting a little for it. A revision that wrote no export never shows: then no. */
  private async indexAt(revision: number): Promise<boolean> {
    if (this.indexRevision >= revision) return true;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.indexWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (this.indexRevision >= revision) done();
      };
      const timer = setTimeout(done, INDEX_CATCH_UP_MS);
      this.indexWaiters.add(check);
    });
    return this.indexRevision >= revision;
  }

  /** The records of the parts stored so far of the cluster's run, by index. */
  private async partRecords(cluster: string): Promise<Map<number, PartRecord>> {
    const prefix = ingestPartsPrefix(cluster);
    const { kvs } = await this.deps.store.range(prefix, this.deps.signal);
    const records = new Map<number, PartRecord>();
    for (const kv of kvs) {
      const record = parsePartRecord(kv.value);
      if (record !== undefined) records.set(Number(kv.key.slice(prefix.length)), record);
    }
    return records;
  }

  private reply(msg: BusMessage, body: ReportReply): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, reportReplyCodec.encode(body));
  }
}
