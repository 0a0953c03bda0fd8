// The AddressConflict condition, the loop: a controller keyed by object ("Cluster/a",
// "Network/vpc") that writes the condition the pure planner (address-conflict-plan.ts) says, on
// both objects of an overlap that a later observation (a Network's status.observedPrefixes) made,
// and clears it once the overlap goes. Fed by the registry view; status writes only (no history).
// Leader only: it runs with the leadership term's signal.
import { setCondition } from '../../api/conditions.ts';
import type { Kind } from '../../api/kinds.ts';
import type { Resource } from '../../api/resources.ts';
import { Controller } from '../../kernel/controller.ts';
import { raceAbort } from '../../kernel/async.ts';
import type { Registry } from '../../registry/registry.ts';
import { backgroundClock } from './background-clock.ts';
import { addressCondition, affectedObjects, conflictsByObject } from './address-conflict-plan.ts';

export interface AddressConflictDeps {
  /** Every Cluster, IPPool and Network as the registry view holds them now. */
  readonly resources: () => readonly Resource[];
  readonly registry: Pick<Registry, 'updateStatus'>;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly now?: () => Date;
}

const KINDS: ReadonlySet<string> = new Set(['Cluster', 'IPPool', 'Network']);

export class AddressConflictController {
  private readonly deps: AddressConflictDeps;
  private readonly controller: Controller<string>;
  /** The overlaps of the view as last computed: derived, rebuilt on every change. */
  private conflicts = new Map<string, string[]>();

  constructor(deps: AddressConflictDeps) {
    this.deps = deps;
    this.controller = new Controller<string>({
      name: 'address-conflicts',
      clock: backgroundClock,
      concurrency: 2,
      reconcile: async (key, signal) => {
        await this.reconcile(key, signal);
        return undefined;
      },
      resync: () => this.recompute(),
      onError: (key, err, retryInMs) => {
        deps.warn({ object: key, err, retryInMs }, 'writing the AddressConflict condition failed; retrying');
      },
    });
  }

  /** Objects of these kinds changed (their spec or status): overlaps may have come or gone. */
  changed(kinds: Iterable<Kind>): void {
    if (![...kinds].some((k) => KINDS.has(k))) return;
    for (const key of this.recompute()) this.controller.add(key);
  }

  lead(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private recompute(): string[] {
    const resources = this.deps.resources();
    const before = this.conflicts;
    this.conflicts = conflictsByObject(resources);
    return affectedObjects(resources, this.conflicts, before);
  }

  private async reconcile(key: string, signal: AbortSignal): Promise<void> {
    const slash = key.indexOf('/');
    const kind = key.slice(0, slash) as Kind;
    const name = key.slice(slash + 1);
    const now = this.deps.now?.() ?? new Date();
    await raceAbort(
      this.deps.registry.updateStatus({ kind, name }, (current) => {
        if (signal.aborted) return undefined;
        const conditions = current.status?.conditions ?? [];
        const next = addressCondition(conditions, this.conflicts.get(key) ?? [], now);
        return next === undefined ? undefined : { ...current.status, conditions: setCondition(conditions, next) };
      }),
      signal,
    );
  }
}
