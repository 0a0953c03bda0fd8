// One reconciler per routing domain (issue 9 §4): a kernel Controller keyed by Network name that
// makes each domain (AWS VPC, GCP VPC network, on-prem site) match the route plan through the provider adapter, writes the adapter's
// conditions (Degraded, with the reason and the object it names) into the Network's status, backs
// off while the provider is unavailable and looks again every drift interval (60 s by default).
// Leader only: it runs with the leadership term's signal.
import { setCondition } from '../../api/conditions.ts';
import { UnavailableError } from '../../api/errors.ts';
import type { NetworkResource, Provider } from '../../api/resources.ts';
import { Controller } from '../../kernel/controller.ts';
import { raceAbort } from '../../kernel/async.ts';
import type { Clock } from '../../kernel/clock.ts';
import type { Registry } from '../../registry/registry.ts';
import type { DomainAdapter } from '../providers.ts';
import { backgroundClock } from './background-clock.ts';

export interface NetworkControllerDeps {
  readonly networks: () => readonly NetworkResource[];
  /** The adapter of a provider, made (and its SDK loaded) on first use. */
  readonly adapter: (provider: Provider) => Promise<DomainAdapter>;
  /** Whether an adapter reconciles Networks of this provider. */
  readonly reconciles: (provider: Provider) => boolean;
  readonly registry: Pick<Registry, 'updateStatus'>;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  /** Each applied reconcile: what it changed and repaired (logs, metrics). */
  readonly reconciled?: (network: string, changes: number, drift: number) => void;
  /** Backoff and requeue timers (tests); default the background clock. */
  readonly clock?: Clock;
}

/**
 * What the last reconciles that changed something did, in the Network's status (`causeway describe
 * network`): written only when a reconcile changes something, so an unchanged domain costs no write.
 */
export interface ReconcileStatus {
  /** When a reconcile last changed something in the provider, and how many changes it made. */
  readonly lastChangeTime: string;
  readonly lastChanges: number;
  /** Repairs of changes made outside Causeway, since the Network was created, and the last one's time. */
  readonly driftRepaired: number;
  readonly lastDriftTime?: string;
}

export function reconcileStatus(previous: ReconcileStatus | undefined, changes: number, drift: number, nowMs: number): ReconcileStatus | undefined {
  if (changes === 0 && drift === 0) return previous;
  const now = new Date(nowMs).toISOString();
  const lastDrift = drift > 0 ? now : previous?.lastDriftTime;
  return {
    lastChangeTime: now,
    lastChanges: changes,
    driftRepaired: (previous?.driftRepaired ?? 0) + drift,
    ...(lastDrift !== undefined ? { lastDriftTime: lastDrift } : {}),
  };
}

export class NetworkController {
  private readonly deps: NetworkControllerDeps;
  private readonly controller: Controller<string>;
  private readonly clock: Clock;

  constructor(deps: NetworkControllerDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? backgroundClock;
    this.controller = new Controller<string>({
      name: 'networks',
      clock: this.clock,
      concurrency: 4,
      reconcile: (name, signal) => this.reconcile(name, signal),
      resync: () => this.keys(),
      onError: (name, err, retryInMs) => {
        deps.warn({ network: name, err, retryInMs }, 'network reconcile failed; retrying');
      },
    });
  }

  /** The Networks this controller reconciles. */
  keys(): string[] {
    return this.deps
      .networks()
      .filter((n) => this.deps.reconciles(n.spec.provider))
      .map((n) => n.metadata.name);
  }

  /** The plan inputs changed: every reconciled domain may have routes or rules to change. */
  changedAll(): void {
    for (const k of this.keys()) this.controller.add(k);
  }

  failing(): number {
    return this.controller.failing();
  }

  lead(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private async reconcile(name: string, signal: AbortSignal): Promise<{ requeueAfterMs: number } | undefined> {
    const network = this.deps.networks().find((n) => n.metadata.name === name);
    if (network === undefined || !this.deps.reconciles(network.spec.provider)) return undefined;
    const adapter = await this.deps.adapter(network.spec.provider);
    const result = await adapter.reconcile(name, signal);
    if (signal.aborted) return undefined;
    const changed = result.changes.filter((c) => c.outcome === 'done').length;
    if (changed > 0 || result.drift > 0) this.deps.reconciled?.(name, changed, result.drift);
    // Re-read inside the compare-and-swap; a lost lease writes nothing more.
    await raceAbort(
      this.deps.registry.updateStatus({ kind: 'Network', name }, (current) => {
        if (signal.aborted) return undefined;
        let conditions = current.status?.conditions ?? [];
        for (const c of result.conditions) conditions = setCondition(conditions, c);
        const reconcile = reconcileStatus(current.status?.reconcile as ReconcileStatus | undefined, changed, result.drift, this.clock.now());
        return { ...current.status, ...result.status, ...(reconcile !== undefined ? { reconcile } : {}), conditions };
      }),
      signal,
    );
    const degraded = result.conditions.find((c) => c.status === 'True');
    if (result.retry) throw new UnavailableError(degraded?.message ?? `Network "${name}": the provider did not answer; retrying`);
    return { requeueAfterMs: result.requeueAfterMs };
  }
}
