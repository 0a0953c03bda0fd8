// The workloads report (issue 10 §5) on the controller kernel: one key, so reports go one after
// another, and changes of Namespaces and Pods (or of exported Services' selectors) that arrive
// meanwhile coalesce into the next — which waits `coalesceMs` after the first change, so a
// rollout of many pods is one report, not one per pod. Every report is the complete set
// (planners/workload-plan.ts), in parts when large; it is sent only when the set differs from
// the one the hub last acknowledged, and in full again after start, a reconnect or a refusal.
// A failed report is retried on the kernel's backoff.
import { PROTOCOL_VERSION, serviceKeyString, type Workloads } from '../../controlplane/api/messages.ts';
import type { Controller } from '../../controlplane/kernel/controller.ts';
import { planWorkloadParts, workloadDigest, workloadSet } from '../planners/workload-plan.ts';
import type { ClusterPort, HubTransport } from '../ports.ts';
import type { ServiceObject } from '../objects.ts';
import { singleKeyController, type KernelSettings } from './single-key.ts';
import { errorName, type AgentLogger, type AgentMetrics } from '../telemetry.ts';

export interface WorkloadReporterOptions extends KernelSettings {
  readonly cluster: string;
  readonly session: string;
  readonly port: ClusterPort;
  readonly transport: HubTransport;
  readonly maxReportBytes: number;
  /** How long changes gather before a report. */
  readonly coalesceMs: number;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
}

const KEY = 'workloads';

export class WorkloadReporter {
  private readonly opts: WorkloadReporterOptions;
  private readonly controller: Controller<string>;
  private ready = false;
  /** The digest of the set the hub acknowledged last; undefined: send in full. */
  private acknowledged: string | undefined;
  private seq = 0;
  private skippedWarned = 0;

  constructor(options: WorkloadReporterOptions) {
    this.opts = options;
    this.controller = singleKeyController({
      ...options,
      name: KEY,
      reconcile: (signal) => this.reconcile(signal),
      onError: (err, retryInMs) => {
        options.metrics.workloadReportFailures += 1;
        options.log.warn({ err, retryInMs }, 'workloads report failed; retrying');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** The caches are complete: the first report can go. */
  synced(): void {
    this.ready = true;
    this.requestFull();
  }

  /** The hub may have missed reports (a reconnect): send the set again even if unchanged. */
  requestFull(): void {
    this.acknowledged = undefined;
    this.controller.add(KEY);
  }

  /** A Namespace, Pod or exported Service changed: report after the coalescing delay. */
  markDirty(): void {
    this.controller.addAfter(KEY, this.opts.coalesceMs);
  }

  private exportedServices(): ServiceObject[] {
    const { port } = this.opts;
    return port.serviceExports().flatMap((se) => {
      const s = port.service({ namespace: se.metadata.namespace ?? '', name: se.metadata.name });
      return s === undefined ? [] : [s];
    });
  }

  private async reconcile(signal: AbortSignal): Promise<undefined> {
    const { port, transport, metrics, log } = this.opts;
    if (!this.ready || !transport.connected() || transport.workloads === undefined || port.namespaces === undefined || port.pods === undefined)
      return undefined;
    const set = workloadSet(port.namespaces(), port.pods(), this.exportedServices());
    if (set.skipped > 0 && set.skipped !== this.skippedWarned)
      log.warn({ skipped: set.skipped }, 'namespaces or pods that cannot be reported as they are were left out');
    this.skippedWarned = set.skipped;
    const digest = workloadDigest(set);
    if (digest === this.acknowledged) return undefined;
    const bodies = planWorkloadParts(set, this.opts.maxReportBytes);
    this.seq += 1;
    // Until this set is acknowledged the hub's is unknown (a lost reply may follow a stored report):
    // a set that changes back to the last acknowledged one must still be sent.
    this.acknowledged = undefined;
    for (const body of bodies) {
      const msg: Workloads = { v: PROTOCOL_VERSION, cluster: this.opts.cluster, session: this.opts.session, seq: this.seq, ...body };
      let reply;
      try {
        reply = await transport.workloads(msg, signal);
      } catch (err) {
        if (!signal.aborted) log.debug({ err: errorName(err) }, 'workloads report not acknowledged');
        throw err;
      }
      if (!reply.ok) throw new Error(`the hub refused workloads report ${msg.seq}: ${reply.reason}: ${reply.message}`);
    }
    this.acknowledged = digest;
    metrics.workloadReportsSent += 1;
    if (bodies.length > 1) log.info({ pods: set.pods.length, parts: bodies.length }, 'workloads report sent in parts');
    log.debug(
      { seq: this.seq, namespaces: set.namespaces.length, pods: set.pods.length, services: set.serviceSelectors.map(serviceKeyString) },
      'workloads reported',
    );
    return undefined;
  }
}
