// The export side on the controller kernel: one key, so reports go strictly one after another
// (the next only once the previous is acknowledged), coalescing whatever changed meanwhile. The
// first report after start and after every reconnect or refusal is `full`. A failed report is
// retried on the kernel's backoff. Report bodies come from planners/report-plan.ts.
import { PROTOCOL_VERSION, parseServiceKey, serviceKeyString, type ExportState, type Report } from '../../controlplane/api/messages.ts';
import type { Controller } from '../../controlplane/kernel/controller.ts';
import { computeExport } from '../exports.ts';
import { MAX_REPORT_ITEMS, fitExport, keysOf, planFullReport, planIncrementalReport, reportedForm, type ReportBody } from '../planners/report-plan.ts';
import type { ClusterPort, HubTransport } from '../ports.ts';
import { singleKeyController, type KernelSettings } from './single-key.ts';
import { errorName, type AgentLogger, type AgentMetrics } from '../telemetry.ts';

export interface ReporterOptions extends KernelSettings {
  readonly cluster: string;
  readonly session: string;
  readonly port: ClusterPort;
  readonly transport: HubTransport;
  readonly maxReportBytes: number;
  readonly nodeLabelAllowList: readonly string[] | undefined;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
  /** Whether the hub acknowledged the last report, and why not. */
  readonly onHub: (reachable: boolean, message: string) => void;
}

const KEY = 'report';
/** What `reported` holds for a key whose last report was not acknowledged: equal to no export's form. */
const OUTCOME_UNKNOWN = '';

export class Reporter {
  private readonly opts: ReporterOptions;
  private readonly controller: Controller<string>;
  private readonly dirty = new Set<string>();
  private needFull = true;
  /** Kubernetes caches listed once: only then is the export set complete. */
  private ready = false;
  /** What the hub acknowledged, per key (reportedForm of the ExportState). */
  private reported = new Map<string, string>();
  private seq = 0;

  constructor(options: ReporterOptions) {
    this.opts = options;
    this.controller = singleKeyController({
      ...options,
      name: KEY,
      reconcile: (signal) => this.reconcile(signal),
      onError: (err, retryInMs) => {
        this.opts.log.warn({ err, retryInMs }, 'report failed; retrying');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** The caches are complete: the next report is full. */
  synced(): void {
    this.ready = true;
    this.requestFull();
  }

  /** The hub may have missed reports (a reconnect): the next report is full. */
  requestFull(): void {
    this.needFull = true;
    this.controller.add(KEY);
  }

  /** Transport up again: send what waits (no-op when nothing does). */
  poke(): void {
    this.controller.add(KEY);
  }

  markDirty(key: string): void {
    this.dirty.add(key);
    this.controller.add(KEY);
  }

  private async reconcile(signal: AbortSignal): Promise<undefined> {
    // Nothing to do until the caches are complete and the hub is there; both events add the key.
    if (!this.ready || !this.opts.transport.connected()) return undefined;
    if (this.needFull) await this.sendFull(signal);
    else if (this.dirty.size > 0) await this.sendIncremental(signal);
    return undefined;
  }

  private exportOf(key: string): ExportState | undefined {
    const k = parseServiceKey(key);
    const serviceExport = this.opts.port.serviceExport(k);
    if (serviceExport === undefined) return undefined;
    const result = computeExport({
      serviceExport,
      service: this.opts.port.service(k),
      endpointSlices: this.opts.port.endpointSlices(k),
      nodeLabels: (node) => this.opts.port.nodeLabels(node),
      nodeLabelAllowList: this.opts.nodeLabelAllowList,
    });
    if (!result.ok) return undefined;
    const fitted = fitExport(result.state, this.opts.maxReportBytes);
    const dropped = result.truncatedEndpoints + fitted.dropped;
    if (dropped > 0) {
      this.opts.log.warn({ service: key, dropped }, 'export has more endpoints than a report may carry; the rest are not exported');
    }
    return fitted.state;
  }

  private limits(): { maxBytes: number; maxItems: number } {
    return { maxBytes: this.opts.maxReportBytes, maxItems: MAX_REPORT_ITEMS };
  }

  private async sendFull(signal: AbortSignal): Promise<void> {
    this.needFull = false;
    this.dirty.clear();
    const states: ExportState[] = [];
    for (const se of this.opts.port.serviceExports()) {
      const state = this.exportOf(serviceKeyString({ namespace: se.metadata.namespace ?? '', name: se.metadata.name }));
      if (state !== undefined) states.push(state);
    }
    const bodies = planFullReport(states, this.limits());
    if (bodies.length > 1) this.opts.log.info({ exports: states.length, parts: bodies.length }, 'full report sent in parts');
    try {
      for (const body of bodies) await this.send(body, signal);
    } catch (err) {
      this.needFull = true;
      throw err;
    }
    this.reported = new Map(states.map((s) => [serviceKeyString(s), reportedForm(s)]));
  }

  private async sendIncremental(signal: AbortSignal): Promise<void> {
    const current = new Map<string, ExportState | undefined>();
    for (const k of this.dirty) current.set(k, this.exportOf(k));
    this.dirty.clear();
    const bodies = planIncrementalReport(current, this.reported, this.limits());
    for (const [i, body] of bodies.entries()) {
      try {
        await this.send(body, signal);
      } catch (err) {
        // Not acknowledged: everything not yet acknowledged is dirty again (re-read when retried).
        for (const rest of bodies.slice(i)) for (const k of keysOf(rest)) this.dirty.add(k);
        // This body's outcome is unknown (a lost reply may follow a stored report): the retry
        // sends each of its keys as it is then, an upsert or a removal, whatever was acknowledged.
        for (const k of keysOf(body)) this.reported.set(k, OUTCOME_UNKNOWN);
        throw err;
      }
      for (const s of body.upserts) this.reported.set(serviceKeyString(s), reportedForm(s));
      for (const r of body.removals) this.reported.delete(serviceKeyString(r));
    }
  }

  private async send(body: ReportBody, signal: AbortSignal): Promise<void> {
    const { metrics, log } = this.opts;
    this.seq += 1;
    const report: Report = {
      v: PROTOCOL_VERSION,
      cluster: this.opts.cluster,
      session: this.opts.session,
      seq: this.seq,
      full: body.full,
      ...(body.part !== undefined ? { part: { ...body.part } } : {}),
      upserts: [...body.upserts],
      removals: body.removals.map((r) => ({ namespace: r.namespace, name: r.name })),
    };
    let reply;
    try {
      reply = await this.opts.transport.report(report, signal);
    } catch (err) {
      if (!signal.aborted) {
        metrics.reportFailures += 1;
        this.opts.onHub(false, `report failed: ${errorName(err)}`);
      }
      throw err;
    }
    if (!reply.ok) {
      metrics.reportFailures += 1;
      // The hub did not take it (e.g. it lost our session): start over with the complete set.
      this.needFull = true;
      this.opts.onHub(false, `hub refused report: ${reply.reason}: ${reply.message}`);
      throw new Error(`the hub refused report ${report.seq}: ${reply.reason}: ${reply.message}`);
    }
    metrics.reportsSent += 1;
    metrics.exportsReported += report.upserts.length;
    if (report.full) metrics.fullReportsSent += 1;
    this.opts.onHub(true, 'reports acknowledged');
    log.debug(
      { seq: report.seq, full: report.full, upserts: report.upserts.length, removals: report.removals.length, revision: reply.revision },
      'report acknowledged',
    );
  }
}
