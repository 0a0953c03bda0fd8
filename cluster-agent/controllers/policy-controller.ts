// The cluster's compiled GlobalPolicy from the hub (issue 10 §2; ADR 0017), on the controller
// kernel, like the settings controller. Two keys:
//
// - `ask`: publishes a policy request at start and after every reconnect (jittered), and asks
//   again every `askRetryMs` (on the kernel's clock) until a complete snapshot has arrived —
//   the hub's leader answers on the cluster's policy subject, and only once it has compiled;
// - `apply`: makes the cluster's policy objects — the kinds of the snapshot's format: NetworkPolicy,
//   ClusterNetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy, Calico's Tier and
//   GlobalNetworkPolicy, CiliumClusterwideNetworkPolicy (all but NetworkPolicy cluster-scoped) —
//   match the newest complete snapshot held (planners/policy-plan.ts): server-side apply with the
//   agent's field manager and ownership label, then deletes the owned objects of every policy kind
//   the snapshot does not name (a format the cluster left included) — only once every object of it
//   applied, so the cluster goes from one complete snapshot to the next. Then it looks again every
//   drift-check interval. A refused object (the API server's validation, a
//   missing namespace, a name someone else owns) is reported in the heartbeat's
//   NetworkPolicyApplied condition and retried on the kernel's backoff: never a crash, never a
//   spin. Nothing is written or deleted before the first complete snapshot.
import { PROTOCOL_VERSION, type ClusterPolicyMessage } from '../../controlplane/api/messages.ts';
import { Controller, type ReconcileResult } from '../../controlplane/kernel/controller.ts';
import { FORMAT_KINDS, isOwned, policyKind, refOf, type KubeObject, type ObjectRef } from '../objects.ts';
import type { AgentCondition } from '../planners/conditions.ts';
import {
  NETWORK_POLICY_CONDITION,
  NetworkPolicyReason,
  SnapshotAssembler,
  desiredPolicies,
  newerSnapshot,
  planPolicies,
  type PolicySnapshot,
} from '../planners/policy-plan.ts';
import { KindNotServedError, type ClusterPort, type HubTransport } from '../ports.ts';
import type { KernelSettings } from './single-key.ts';
import { errorMessage, type AgentLogger, type AgentMetrics } from '../telemetry.ts';

export interface PolicyControllerOptions extends KernelSettings {
  readonly cluster: string;
  readonly session: string;
  readonly port: ClusterPort;
  readonly transport: HubTransport;
  /** Asks after a reconnect wait a random 0..this. */
  readonly jitterMs: number;
  /** How long to wait for a snapshot before asking again. */
  readonly askRetryMs: number;
  /** How often the policy objects are looked at again (someone edited or deleted one); 0 disables. */
  readonly driftCheckIntervalMs: number;
  readonly metrics: AgentMetrics;
  readonly log: AgentLogger;
}

const ASK = 'ask';
const APPLY = 'apply';
const MAX_MESSAGE = 1024;

/** A live read; a kind the cluster does not serve holds nothing (applying it then says why). */
async function liveOrNone(port: ClusterPort, ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
  try {
    return await port.get(ref, signal);
  } catch (err) {
    if (err instanceof KindNotServedError) return undefined;
    throw err;
  }
}

export class PolicyController {
  private readonly opts: PolicyControllerOptions;
  private readonly controller: Controller<string>;
  private readonly assembler = new SnapshotAssembler();
  private held: PolicySnapshot | undefined;
  /** The snapshot applied in full (every object written, stale ones deleted). */
  private applied: { term: number; seq: number } | undefined;
  private condition: AgentCondition | undefined;
  /** A snapshot arrived since the last ask. */
  private answered = false;

  constructor(options: PolicyControllerOptions) {
    this.opts = options;
    this.controller = new Controller<string>({
      name: 'policy',
      backoff: options.backoff,
      clock: options.clock,
      random: options.random,
      resync: () => [ASK],
      reconcile: (key, signal) => (key === ASK ? Promise.resolve(this.ask()) : this.reconcileApply(signal)),
      onError: (key, err, retryInMs) => {
        if (key === APPLY) options.log.warn({ err, retryInMs }, 'making the policy objects match the compiled policy failed; retrying');
        else options.log.warn({ err, retryInMs }, 'asking the hub for the compiled policy failed; retrying');
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** Ask again after a random delay (a reconnect: pushes may have been missed meanwhile). */
  requestJittered(): void {
    this.answered = false;
    this.controller.addAfter(ASK, this.opts.random() * this.opts.jitterMs);
  }

  /** A part of a snapshot from the hub: once one is complete and newer than the one held, it is applied. */
  receive(part: ClusterPolicyMessage): void {
    if (part.cluster !== this.opts.cluster) return;
    const snapshot = this.assembler.add(part);
    if (snapshot === undefined) return;
    this.answered = true;
    if (!newerSnapshot(this.held, snapshot)) return;
    this.opts.metrics.policySnapshotsReceived += 1;
    this.held = snapshot;
    this.controller.add(APPLY);
  }

  /** The snapshot applied in full, for the heartbeat. */
  appliedSnapshot(): { term: number; seq: number } | undefined {
    return this.applied;
  }

  /** The newest complete snapshot held (tests, the demo). */
  snapshot(): PolicySnapshot | undefined {
    return this.held;
  }

  /** The heartbeat's NetworkPolicyApplied condition, once there is something to say. */
  heartbeatCondition(): AgentCondition | undefined {
    return this.condition;
  }

  private ask(): ReconcileResult | undefined {
    const { transport } = this.opts;
    // Not connected: the (re)connect asks again. Answered: nothing to ask until the next reconnect.
    if (this.answered || transport.requestPolicy === undefined || !transport.connected()) return undefined;
    transport.requestPolicy({ v: PROTOCOL_VERSION, cluster: this.opts.cluster, session: this.opts.session });
    return { requeueAfterMs: this.opts.askRetryMs };
  }

  private note(ok: boolean, reason: string, message: string): void {
    const next: AgentCondition = { type: NETWORK_POLICY_CONDITION, status: ok ? 'True' : 'False', reason, message: message.slice(0, MAX_MESSAGE) };
    const before = this.condition;
    this.condition = next;
    if (!ok && (before?.reason !== reason || before.status !== next.status)) this.opts.log.warn({ reason, message }, 'compiled policy not applied in full');
  }

  private async reconcileApply(signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const snapshot = this.held;
    const { port, metrics, log } = this.opts;
    if (snapshot === undefined || port.listOwnedPolicies === undefined) return undefined;
    const again = this.opts.driftCheckIntervalMs > 0 ? { requeueAfterMs: this.opts.driftCheckIntervalMs } : undefined;
    const desired = desiredPolicies(snapshot);
    // Every kind the agent writes policy as that the cluster serves: objects of a format the cluster left are swept too.
    const owned = await port.listOwnedPolicies(signal);
    const plan = { apply: [] as KubeObject[], delete: [] as (ObjectRef & { uid: string | undefined })[], notOwned: [] as string[] };
    // Objects of one kind are told apart by namespace and name: plan each kind on its own.
    for (const kind of [...new Set([...desired.objects, ...owned].map((o) => o.kind))].sort()) {
      const want = desired.objects.filter((o) => o.kind === kind);
      const have = owned.filter((o) => o.kind === kind);
      const haveIds = new Set(have.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`));
      // A wanted name we do not hold may be someone else's: read it before writing over it.
      const unowned = new Set<string>();
      for (const d of want) {
        const id = `${d.metadata.namespace ?? ''}/${d.metadata.name}`;
        if (haveIds.has(id)) continue;
        const live = await liveOrNone(port, refOf(d), signal);
        if (live !== undefined && !isOwned(live)) unowned.add(id);
      }
      const p = planPolicies(want, have, unowned);
      plan.apply.push(...p.apply);
      plan.notOwned.push(...p.notOwned.map((id) => `${kind} ${id}`));
      plan.delete.push(...p.delete.map((d) => ({ ...refOf({ apiVersion: '', kind, metadata: d }), uid: d.uid })));
    }
    // A kind others refer to goes first and leaves last (a Calico Tier before the policies in it).
    const rank = (kind: string): number => policyKind(kind)?.rank ?? 1;
    plan.apply.sort((a, b) => rank(a.kind) - rank(b.kind));
    plan.delete.sort((a, b) => rank(b.kind) - rank(a.kind));
    const failures: string[] = [];
    for (const o of plan.apply) {
      try {
        await port.apply(o, signal);
        metrics.policiesApplied += 1;
      } catch (err) {
        if (signal.aborted) throw err;
        metrics.policyApplyErrors += 1;
        failures.push(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${errorMessage(err)}`);
      }
    }
    if (failures.length > 0 || plan.notOwned.length > 0) {
      const message =
        failures.length > 0
          ? `${failures.length} of ${desired.objects.length} policy objects of snapshot ${snapshot.term}/${snapshot.seq} refused (retrying with backoff; stale ones are kept until all apply): ${failures.join('; ')}`
          : `${plan.notOwned.join(', ')} exist without the causeway.dev/owned-by label; Causeway leaves them alone (rename or delete them)`;
      this.note(false, failures.length > 0 ? NetworkPolicyReason.ApplyFailed : NetworkPolicyReason.NotOwned, message);
      throw new Error(message);
    }
    for (const { uid, ...r } of plan.delete) {
      await port.delete(r, uid, signal);
      metrics.policiesDeleted += 1;
    }
    if (plan.apply.length > 0 || plan.delete.length > 0) {
      log.info(
        { term: snapshot.term, seq: snapshot.seq, format: snapshot.format, applied: plan.apply.length, deleted: plan.delete.length },
        'policy objects match the compiled policy',
      );
    }
    this.applied = { term: snapshot.term, seq: snapshot.seq };
    if (desired.unsupported.length > 0) {
      this.note(
        false,
        NetworkPolicyReason.UnsupportedFormat,
        `the agent applies ${(FORMAT_KINDS[snapshot.format] ?? []).join(', ') || 'nothing'} for format ${snapshot.format}; not applied: ${desired.unsupported.slice(0, 5).join(', ')}${desired.unsupported.length > 5 ? ', ...' : ''}`,
      );
    } else {
      this.note(true, NetworkPolicyReason.Applied, `${desired.objects.length} ${snapshot.format} objects of snapshot ${snapshot.term}/${snapshot.seq} applied`);
    }
    return again;
  }
}
