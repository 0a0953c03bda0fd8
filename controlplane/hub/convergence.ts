// Convergence across hub replicas (issue 11 §3): any replica answers "has every cluster applied
// revision R?" (`GET .../convergence?revision=R`, what `causeway apply --wait` polls). Every replica
// hears every heartbeat, so each knows what each agent last applied; only the leader's delivery
// knows what it sent and has pending. The leader answers that over NATS on a hub-only subject, and
// a replica that does not lead asks it there: the state stays where it is made, in one place.
import { z } from 'zod';
import { API_VERSION } from '../api/kinds.ts';
import type { ConvergenceSource, ConvergenceView } from '../api/read-model.ts';
import type { ClusterResource } from '../api/resources.ts';
import { SUBJECT_ROOT } from '../api/subjects.ts';
import type { Bus } from '../bus/bus.ts';
import type { Clock } from '../kernel/clock.ts';
import { planConvergence, type DeliveryState } from './controllers/convergence-plan.ts';
import type { Seen } from './controllers/liveness-plan.ts';

/** Where the leader answers with its delivery state; hub credentials only (agents cannot publish here). */
export const DELIVERY_STATE_SUBJECT = `${SUBJECT_ROOT}.hub.delivery-state`;

/** How long a replica waits for the leader's answer. */
const ASK_LEADER_TIMEOUT_MS = 1000;

const deliveryStateSchema = z.object({
  modelRevision: z.int().min(0),
  consumers: z.record(z.string(), z.object({ sent: z.int().min(0).optional(), pending: z.boolean() })),
});

export interface ConvergenceDeps {
  readonly bus: Bus;
  /** This replica's delivery state: defined only while it leads. */
  readonly deliveryState: () => DeliveryState | undefined;
  readonly clusters: () => readonly ClusterResource[];
  readonly lastHeard: (cluster: string) => Seen | undefined;
  readonly clock: Clock;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

export class ConvergenceService implements ConvergenceSource {
  private readonly deps: ConvergenceDeps;

  constructor(deps: ConvergenceDeps) {
    this.deps = deps;
  }

  /** While this replica leads (until the term's signal aborts), answer the others' questions. */
  lead(signal: AbortSignal): Promise<void> {
    const sub = this.deps.bus.subscribe(DELIVERY_STATE_SUBJECT, {}, (msg) => {
      const state = this.deps.deliveryState();
      if (msg.reply === undefined || state === undefined) return;
      this.deps.bus.publish(msg.reply, new TextEncoder().encode(JSON.stringify(state)));
    });
    return new Promise((resolve) => {
      const stop = (): void => {
        sub.unsubscribe();
        resolve();
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  }

  async convergence(revision: number, signal: AbortSignal, visible: (cluster: ClusterResource) => boolean = () => true): Promise<ConvergenceView> {
    const delivery = this.deps.deliveryState() ?? (await this.askLeader(signal));
    const plan = planConvergence({
      revision,
      clusters: this.deps.clusters().filter(visible),
      delivery,
      seen: (c) => this.deps.lastHeard(c),
      now: this.deps.clock.now(),
    });
    return { apiVersion: API_VERSION, kind: 'Convergence', ...plan };
  }

  /** The leader's delivery state; undefined while no hub leads (or it does not answer in time). */
  private async askLeader(signal: AbortSignal): Promise<DeliveryState | undefined> {
    if (signal.aborted) return undefined;
    try {
      const data = await this.deps.bus.request(DELIVERY_STATE_SUBJECT, new Uint8Array(), ASK_LEADER_TIMEOUT_MS);
      const parsed = deliveryStateSchema.safeParse(JSON.parse(new TextDecoder().decode(data)));
      if (parsed.success) {
        const consumers = Object.fromEntries(Object.entries(parsed.data.consumers).map(([name, c]) => [name, { sent: c.sent, pending: c.pending }]));
        return { modelRevision: parsed.data.modelRevision, consumers };
      }
      this.deps.warn({ error: parsed.error.message }, 'the leader answered a delivery state this replica cannot read');
    } catch {
      // No leader right now (a failover in progress): every cluster reads as not yet sent.
    }
    return undefined;
  }
}
