// The agent's own conditions in its heartbeat, pure: what the watches, the hub and the import
// side say → KubernetesReachable, HubReachable, ImportsApplied, each with a machine-readable
// reason. A service failing to apply makes ImportsApplied False (ApplyFailed) and is named with
// its error, since it no longer holds back the applied revision.
import type { Heartbeat } from '../../controlplane/api/messages.ts';

export type AgentCondition = NonNullable<Heartbeat['conditions']>[number];

/** The heartbeat schema's bound on a condition's message. */
export const MAX_CONDITION_MESSAGE = 1024;

export const ImportsReason = {
  AwaitingSnapshot: 'AwaitingSnapshot',
  ApplyFailed: 'ApplyFailed',
  Applying: 'Applying',
  Syncing: 'Syncing',
  UpToDate: 'UpToDate',
} as const;

export interface AgentConditionInput {
  readonly kube: { readonly synced: boolean; readonly healthy: boolean; readonly message: string };
  readonly hub: { readonly reachable: boolean; readonly message: string };
  readonly imports: {
    readonly snapshotApplied: boolean;
    readonly applied: number;
    readonly revision: number;
    /** Failing services and their errors. */
    readonly failing: ReadonlyMap<string, string>;
    readonly syncing: boolean;
  };
}

function condition(type: string, ok: boolean, reason: string, message: string): AgentCondition {
  return { type, status: ok ? 'True' : 'False', reason, message: message.slice(0, MAX_CONDITION_MESSAGE) };
}

export function agentConditions(input: AgentConditionInput): AgentCondition[] {
  const { kube, hub } = input;
  const kubeOk = kube.synced && kube.healthy;
  return [
    condition('KubernetesReachable', kubeOk, kubeOk ? 'WatchesRunning' : kube.synced ? 'WatchRestarting' : 'NotSynced', kube.message),
    condition('HubReachable', hub.reachable, hub.reachable ? 'Acknowledged' : 'NoAcknowledgement', hub.message),
    importsApplied(input.imports),
  ];
}

function importsApplied(i: AgentConditionInput['imports']): AgentCondition {
  const progress = `applied revision ${i.applied} of ${i.revision}`;
  const type = 'ImportsApplied';
  if (!i.snapshotApplied) return condition(type, false, ImportsReason.AwaitingSnapshot, progress);
  if (i.failing.size > 0) {
    const which = [...i.failing].map(([k, err]) => `${k}: ${err}`).join('; ');
    return condition(
      type,
      false,
      ImportsReason.ApplyFailed,
      `${i.failing.size} service(s) failing to apply, each retried on its own backoff (${progress}): ${which}`,
    );
  }
  if (i.applied !== i.revision) return condition(type, false, ImportsReason.Applying, progress);
  if (i.syncing) return condition(type, false, ImportsReason.Syncing, progress);
  return condition(type, true, ImportsReason.UpToDate, progress);
}
