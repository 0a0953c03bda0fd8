// What the hub depends on, checked the same way for /readyz and /metrics: etcd answers, the hub's
// NATS connection is up, and each server it started is running (not restarting, not given up).
export interface HealthCheck {
  /** etcd, nats, or an embedded server's name (etcd-server, nats-server). */
  readonly name: string;
  readonly ready: boolean;
  /** Why not, in words an operator acts on; "ok" when ready. */
  readonly message: string;
}

export type HealthChecks = () => Promise<readonly HealthCheck[]>;

/** One line naming every check that failed, for the 503 of /readyz. */
export function notReadyMessage(checks: readonly HealthCheck[]): string {
  return `not ready: ${checks
    .filter((c) => !c.ready)
    .map((c) => `${c.name}: ${c.message}`)
    .join('; ')}`;
}
