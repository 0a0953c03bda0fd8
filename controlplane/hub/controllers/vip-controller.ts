// Clusterset VIPs, the loop: a controller keyed by service ("namespace/name") that makes sure a
// ClusterSetIP service has its VIP and that a service gone releases it. What to do is decided by
// ipam's pure vipAction/planVip; the writes go through the VipRegistry port. Leader only.
//
// What it writes reaches the model (and `known`) only through the VIP prefix's watch, as on every
// replica: etcd orders the writes, and a second source would not be ordered with it (a VIP that
// moved twice was put back to its first move by the watch's late echo). Until the watch shows a
// write, a look at the same service finds its VIP in etcd and writes nothing.
import { parseServiceKey } from '../../api/messages.ts';
import type { IPPoolResource } from '../../api/resources.ts';
import { PoolExhaustedError, vipAction, type VipRegistry } from '../../ipam/vips.ts';
import { Controller, TerminalError } from '../../kernel/controller.ts';
import { backgroundClock } from './background-clock.ts';

export interface VipControllerDeps {
  readonly vips: VipRegistry;
  readonly pools: () => readonly IPPoolResource[];
  /** Whether the service exists and is ClusterSetIP, and the VIP the model holds for it. */
  readonly service: (key: string) => { readonly wanted: boolean; readonly known: string | undefined };
  /** Every service key the model knows (with or without a VIP): a new term looks at each. */
  readonly keys: () => Iterable<string>;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly now?: () => Date;
}

export class VipController {
  private readonly deps: VipControllerDeps;
  private readonly controller: Controller<string>;

  constructor(deps: VipControllerDeps) {
    this.deps = deps;
    this.controller = new Controller<string>({
      name: 'vips',
      clock: backgroundClock,
      concurrency: 4,
      reconcile: async (key, signal) => {
        await this.reconcile(key, signal);
        return undefined;
      },
      resync: () => deps.keys(),
      onError: (key, err, retryInMs) => {
        deps.warn(
          { service: key, err, retryInMs },
          retryInMs === undefined ? 'no clusterset VIP for the service' : 'clusterset VIP allocation failed; retrying',
        );
      },
    });
  }

  /** The service (or the pools) changed: look at it again. */
  changed(key: string): void {
    this.controller.add(key);
  }

  /** Pools changed: every service may now get (or need to move) its VIP. */
  changedAll(): void {
    for (const key of this.deps.keys()) this.controller.add(key);
  }

  /** Services whose last attempt failed and that wait for a retry. */
  failing(): number {
    return this.controller.failing();
  }

  lead(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private async reconcile(key: string, signal: AbortSignal): Promise<void> {
    const { wanted, known } = this.deps.service(key);
    const pools = this.deps.pools();
    const now = this.deps.now?.() ?? new Date();
    switch (vipAction(wanted, known, pools)) {
      case 'none':
        return;
      case 'release':
        await this.deps.vips.release(parseServiceKey(key), now, signal);
        return;
      case 'ensure':
        try {
          await this.deps.vips.ensure(parseServiceKey(key), pools, now, signal);
        } catch (err) {
          // Retrying cannot make room: a change of the pools adds every service again.
          if (err instanceof PoolExhaustedError) throw new TerminalError(err.message, { cause: err });
          throw err;
        }
        return;
    }
  }
}
