// What every provider adapter (AWS, GCP, on-prem) answers when the hub asks it to reconcile — or,
// with `dryRun`, to plan — one routing domain: the changes it made or would make, what it left
// unchanged, the domain's conditions and whether to retry. Provider-neutral plain data, so the
// hub's NetworkController, `causeway plan` and the Network's status treat every provider alike.
import type { Condition } from '../../controlplane/api/conditions.ts';
import type { PlanProblem } from './plan-types.ts';

export interface ReconcileOptions {
  /** Plan only: ask the provider (DryRun where it offers one) whether each change would succeed; change nothing, record nothing. */
  readonly dryRun?: boolean;
}

export type ChangeKind =
  // AWS route tables and security groups; GCP custom routes.
  | 'create-route'
  | 'replace-route'
  | 'delete-route'
  | 'authorize-rules'
  | 'revoke-rules'
  // GCP firewall rules and Cloud Router custom advertised ranges.
  | 'create-firewall'
  | 'update-firewall'
  | 'delete-firewall'
  | 'advertise-ranges'
  | 'withdraw-ranges'
  // On-prem BGP announcements (GoBGP).
  | 'announce'
  | 'withdraw';

/** `done`: applied; `would-succeed`: a dry run the provider accepted. */
export type MutationOutcome = 'done' | 'would-succeed';

export interface AppliedChange {
  readonly kind: ChangeKind;
  /** The provider object changed: route table, security group, VPC network, router, BGP peer set. */
  readonly object: string;
  /** `destination via target` for routes; the rules' direction, protocol, ports and peers for rules; the prefix for announcements. */
  readonly what: string;
  readonly outcome: MutationOutcome | 'failed' | 'skipped';
  readonly error?: string;
  /** The change put back something Causeway had in place before (drift made outside Causeway). */
  readonly drift: boolean;
}

export interface DomainReconcileResult {
  readonly domain: string;
  readonly dryRun: boolean;
  readonly changes: readonly AppliedChange[];
  /** What already matched the plan: routes, firewall/security-group rules, advertised ranges and BGP announcements. */
  readonly unchanged: { readonly routes: number; readonly rules: number; readonly announcements?: number };
  /** Changes that repaired drift. */
  readonly drift: number;
  readonly problems: readonly PlanProblem[];
  readonly conditions: readonly Condition[];
  /** Calls made to the provider (pages and retries included), and how many of them were changes. */
  readonly calls: number;
  readonly mutatingCalls: number;
  /** True when the failure is transient: the controller should retry with backoff. */
  readonly retry: boolean;
  readonly requeueAfterMs: number;
  /** Provider-specific status for the Network (on-prem: the BGP sessions' state), written beside the conditions. */
  readonly status?: Readonly<Record<string, unknown>>;
}

/** What the hub asks of a provider adapter: reconcile (or, with dryRun, plan) one domain. */
export interface DomainAdapter {
  reconcile(domain: string, signal: AbortSignal, options?: ReconcileOptions): Promise<DomainReconcileResult>;
}
