// What every provider adapter shares at its boundary, provider-neutral: the named errors an adapter's
// port throws beyond the contract's own (a throttled call, a provider quota), the gate each call of a
// domain passes (its CallBudget), and how a failure becomes the domain's Degraded reason.
import { CausewayError, ConflictError, ForbiddenError, NotFoundError, UnauthorizedError, UnavailableError } from '../../controlplane/api/errors.ts';
import { NetworkReason } from './conditions.ts';
import type { ChangeKind } from './reconcile.ts';

/** The provider throttled the call (after its client's own retries): slow this domain down. */
export class ThrottledError extends UnavailableError {}

/** A provider quota refused the change (route table full, rules per group, routes per project). */
export class QuotaExceededError extends ConflictError {}

/** Passes every call to the provider (each page included); the domain's CallBudget is one. */
export interface CallGate {
  run<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T>;
}

/** The calls of a reconcile ran out (CallBudget's per-reconcile allowance): the rest follows on the next one. */
export class CallBudgetExhaustedError extends UnavailableError {}

export interface Failure {
  readonly reason: string;
  readonly message: string;
  /** Transient: back off and reconcile again. */
  readonly retry: boolean;
}

/** A provider failure as the domain's Degraded reason; anything not a named error is a bug and rethrown. */
export function failureOf(err: unknown, context: string, kind?: ChangeKind): Failure {
  const message = `${context}: ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof CallBudgetExhaustedError) return { reason: NetworkReason.CallBudgetExhausted, message, retry: true };
  if (err instanceof NotFoundError) return { reason: NetworkReason.ProviderObjectNotFound, message, retry: false };
  if (err instanceof ForbiddenError || err instanceof UnauthorizedError) return { reason: NetworkReason.ProviderForbidden, message, retry: false };
  if (err instanceof QuotaExceededError) {
    const routes = kind === 'create-route' || kind === 'replace-route';
    return { reason: routes ? NetworkReason.RouteQuotaExceeded : NetworkReason.ProviderQuotaExceeded, message, retry: false };
  }
  if (err instanceof UnavailableError) return { reason: NetworkReason.ProviderUnavailable, message, retry: true };
  if (err instanceof CausewayError) return { reason: NetworkReason.ProviderRefused, message, retry: false };
  throw err;
}
