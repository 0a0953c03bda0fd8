// The cluster's own settings from the hub, on the controller kernel: today its LoadBalancer block,
// which MetalLB gets as an IPAddressPool the agent owns (planners/metallb-pool.ts). Two keys:
//
// - `ask`: requests the settings (messages.ts SettingsRequest) at start and after every reconnect
//   (jittered, like the sync), retried on the kernel's backoff while the hub does not answer;
// - `pool`: makes the cluster match the newest settings held (server-side apply with the agent's
//   field manager; deletes only the pool carrying our label, by uid), then looks again every
//   drift-check interval. Nothing is written or deleted before the hub has said what the cluster
//   holds. A cluster without MetalLB's CRD (KindNotServedError) is reported in the heartbeat's
//   LoadBalancerPool condition (MetalLBNotInstalled) and retried on the backoff — never a crash,
//   never a spin; the same for a pool of that name Causeway does not own (PoolNotOwned).
//
// Settings pushed by the hub (on the cluster's settings subject) and replies go through `receive`.
import { PROTOCOL_VERSION, type ClusterSettings } from '../../controlplane/api/messages.ts';
import { Controller, type ReconcileResult } from '../../controlplane/kernel/controller.ts';
import { isOwned, type ObjectRef } from '../objects.ts';
import {
  ADDRESS_POOL_NAME,
  METALLB_NAMESPACE,
  addressPoolCondition,
  desiredAddressPool,
  newerSettings,
  planAddressPool,
  type AddressPoolOutcome,
} from '../planners/metallb-pool.ts';
import type { AgentCondition } from '../planners/conditions.ts';
import { KindNotServedError, type ClusterPort, type HubTransport } from '../ports.ts';
import type { KernelSettings } from './single-key.ts';
import { errorMessage, type AgentLogger, type AgentMetrics } from '../telemetry.ts';

export interface SettingsControllerOptions extends KernelSettings {
  readonly cluster: string;
  readonly session: string;
  readonly port: ClusterPort;
  readonly transport: HubTransport;
  /** Asks after a reconnect wait a random 0..this. */
  readonly jitterMs: number;
  /** How often the pool is looked at again (someone edited or deleted it); 0 disables. */
  readonly driftCheckIntervalMs: number;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
}

const ASK = 'ask';
const POOL = 'pool';
export const ADDRESS_POOL_REF: ObjectRef = { kind: 'IPAddressPool', namespace: METALLB_NAMESPACE, name: ADDRESS_POOL_NAME };

export class SettingsController {
  private readonly opts: SettingsControllerOptions;
  private readonly controller: Controller<string>;
  private held: ClusterSettings | undefined;
  private outcome: AddressPoolOutcome = { kind: 'unknown' };

  constructor(options: SettingsControllerOptions) {
    this.opts = options;
    this.controller = new Controller<string>({
      name: 'settings',
      backoff: options.backoff,
      clock: options.clock,
      random: options.random,
      resync: () => [ASK],
      reconcile: (key, signal) => (key === ASK ? this.ask(signal) : this.reconcilePool(signal)),
      onError: (key, err, retryInMs) => {
        if (key === ASK) {
          options.metrics.settingsRequestFailures += 1;
          options.log.warn({ err, retryInMs }, 'asking the hub for the cluster settings failed; retrying');
        } else options.log.warn({ err, retryInMs }, 'making the MetalLB IPAddressPool match the settings failed; retrying');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** The newest settings held (undefined until the hub answered). */
  settings(): ClusterSettings | undefined {
    return this.held;
  }

  /** The heartbeat's LoadBalancerPool condition, when there is one to report. */
  condition(): AgentCondition | undefined {
    return addressPoolCondition(this.outcome);
  }

  /** Ask again after a random delay (a reconnect: pushes may have been missed meanwhile). */
  requestJittered(): void {
    this.controller.addAfter(ASK, this.opts.random() * this.opts.jitterMs);
  }

  /** Settings from the hub (pushed or a reply): the newest is kept and applied. */
  receive(settings: ClusterSettings): void {
    this.opts.metrics.settingsReceived += 1;
    if (!newerSettings(this.held, settings, this.opts.cluster)) return;
    const changed = JSON.stringify(this.held?.loadBalancer) !== JSON.stringify(settings.loadBalancer) || this.held === undefined;
    this.held = settings;
    if (changed) this.controller.add(POOL);
  }

  private async ask(signal: AbortSignal): Promise<undefined> {
    const { transport } = this.opts;
    // Not connected: the (re)connect asks again.
    if (!transport.connected()) return undefined;
    this.receive(await transport.settings({ v: PROTOCOL_VERSION, cluster: this.opts.cluster, session: this.opts.session }, signal));
    return undefined;
  }

  private async reconcilePool(signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const settings = this.held;
    if (settings === undefined) return undefined;
    const again = this.opts.driftCheckIntervalMs > 0 ? { requeueAfterMs: this.opts.driftCheckIntervalMs } : undefined;
    try {
      this.note(await this.makePool(settings, signal));
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof KindNotServedError) {
        // Nothing of ours can exist where the kind does not: done, unless a block waits for MetalLB.
        if (desiredAddressPool(settings) === undefined) {
          this.note({ kind: 'none' });
          return again;
        }
        this.note({ kind: 'not-installed', message: err.message });
      } else this.note({ kind: 'failed', message: errorMessage(err) });
      throw err;
    }
    return again;
  }

  private async makePool(settings: ClusterSettings, signal: AbortSignal): Promise<AddressPoolOutcome> {
    const { port, metrics } = this.opts;
    const current = await port.get(ADDRESS_POOL_REF, signal);
    const action = planAddressPool(settings, current);
    const cidrs = settings.loadBalancer?.cidrs ?? [];
    switch (action.kind) {
      case 'apply':
        await port.apply(action.object, signal);
        metrics.addressPoolsApplied += 1;
        this.opts.log.info({ pool: ADDRESS_POOL_NAME, cidrs }, 'MetalLB IPAddressPool written with the cluster LoadBalancer block');
        return { kind: 'applied', cidrs };
      case 'delete':
        await port.delete(ADDRESS_POOL_REF, action.uid, signal);
        metrics.addressPoolsDeleted += 1;
        this.opts.log.info({ pool: ADDRESS_POOL_NAME }, 'the cluster holds no LoadBalancer block any more: MetalLB IPAddressPool deleted');
        return { kind: 'none' };
      case 'none':
        if (cidrs.length === 0) return { kind: 'none' };
        // Wanted, and left alone: ours and up to date, or someone else's pool of that name.
        return isOwned(current) ? { kind: 'applied', cidrs } : { kind: 'not-owned' };
    }
  }

  private note(outcome: AddressPoolOutcome): void {
    const before = this.outcome.kind;
    this.outcome = outcome;
    if (outcome.kind === before) return;
    if (outcome.kind === 'not-owned') {
      this.opts.metrics.ownershipConflicts += 1;
      this.opts.log.warn({ pool: ADDRESS_POOL_NAME }, 'an IPAddressPool without the causeway ownership label has this name; leaving it alone');
    } else if (outcome.kind === 'not-installed') {
      this.opts.log.warn({ pool: ADDRESS_POOL_NAME }, 'MetalLB is not installed (no IPAddressPool kind); the LoadBalancer block waits, retrying with backoff');
    }
  }
}
