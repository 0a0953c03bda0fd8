// Where a provider controller reads what to plan from: the network model and the exported services,
// as of now. The hub implements it over the registry (Networks, Clusters, IPPools and the merged
// exports); tests use a fixed one.
import type { NetworkModel } from './model.ts';
import type { ExportedService, PodRoutes } from './route-plan.ts';

export interface PlanInputs {
  readonly model: NetworkModel;
  readonly services: readonly ExportedService[];
  /** PlanOptions.podRoutes: `allowed-flows` while GlobalPolicy narrows the plan. */
  readonly podRoutes?: PodRoutes;
}

export interface IntentSource {
  current(signal: AbortSignal): Promise<PlanInputs>;
}

/** A source that answers what it was last given (tests, and the CLI's `plan` on proposed manifests). */
export class FixedIntentSource implements IntentSource {
  private inputs: PlanInputs;

  constructor(inputs: PlanInputs) {
    this.inputs = inputs;
  }

  set(inputs: PlanInputs): void {
    this.inputs = inputs;
  }

  current(): Promise<PlanInputs> {
    return Promise.resolve(this.inputs);
  }
}
