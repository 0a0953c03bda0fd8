// What the agent's controllers tell the world: a pino-compatible logger and the counters
// (AgentMetrics) that tests, benchmarks and /metrics (metrics-server.ts) read.

/** pino-compatible, so the composition root can pass its logger straight in. */
export interface AgentLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: AgentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Counters since the agent started; every field only grows. */
export interface AgentMetrics {
  reportsSent: number;
  fullReportsSent: number;
  reportFailures: number;
  exportsReported: number;
  heartbeatsSent: number;
  /** The NATS connection came back after it was lost. */
  reconnects: number;
  syncRequests: number;
  syncFailures: number;
  batchesReceived: number;
  batchesApplied: number;
  batchesIgnored: number;
  /** Patches and kept imports that did not fit what is held (each time the agent asked to sync again). */
  importsUnfit: number;
  /** Imports a restarted agent read back from its cluster's objects and the first snapshot kept (not sent). */
  importsRecovered: number;
  objectsApplied: number;
  objectsDeleted: number;
  objectsAdopted: number;
  statusesApplied: number;
  applyErrors: number;
  ownershipConflicts: number;
  missingNamespaces: number;
  /** Heartbeats that carried a newly applied revision, sent early (or the periodic one came first); also in heartbeatsSent. */
  earlyHeartbeats: number;
  settingsReceived: number;
  settingsRequestFailures: number;
  /** Writes of the MetalLB IPAddressPool the agent owns. */
  addressPoolsApplied: number;
  addressPoolsDeleted: number;
  /** Workloads reports (namespaces and pods) acknowledged, and failed attempts. */
  workloadReportsSent: number;
  workloadReportFailures: number;
  /** Compiled-policy snapshots received complete, NetworkPolicies written and deleted, apply failures. */
  policySnapshotsReceived: number;
  policiesApplied: number;
  policiesDeleted: number;
  policyApplyErrors: number;
}

export function newMetrics(): AgentMetrics {
  return {
    reportsSent: 0,
    fullReportsSent: 0,
    reportFailures: 0,
    exportsReported: 0,
    heartbeatsSent: 0,
    reconnects: 0,
    syncRequests: 0,
    syncFailures: 0,
    batchesReceived: 0,
    batchesApplied: 0,
    batchesIgnored: 0,
    importsUnfit: 0,
    importsRecovered: 0,
    objectsApplied: 0,
    objectsDeleted: 0,
    objectsAdopted: 0,
    statusesApplied: 0,
    applyErrors: 0,
    ownershipConflicts: 0,
    missingNamespaces: 0,
    earlyHeartbeats: 0,
    settingsReceived: 0,
    settingsRequestFailures: 0,
    addressPoolsApplied: 0,
    addressPoolsDeleted: 0,
    workloadReportsSent: 0,
    workloadReportFailures: 0,
    policySnapshotsReceived: 0,
    policiesApplied: 0,
    policiesDeleted: 0,
    policyApplyErrors: 0,
  };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
