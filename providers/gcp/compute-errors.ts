// Compute failures as the contract's named errors, at the boundary: GoogleErrors as the REST
// transport of @google-cloud/compute throws them (`code` the gRPC number, `httpStatusCode` the
// HTTP status, the answer's body under google-gax's raw-payload symbol for its `errors[].reason`),
// failed operations (`error.errors[0].code`), and transport failures. Plain shapes only: this file
// imports no client library, so its table is tested without one.
import {
  AlreadyExistsError,
  CausewayError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../controlplane/api/errors.ts';
import { QuotaExceededError, ThrottledError } from './compute-api.ts';

/** Where google-gax keeps the body of an error answer (googleError.ts, setRawHttpResponsePayload). */
const RAW_PAYLOAD = Symbol.for('google-gax.rawHttpResponsePayload');
const RATE_LIMITED = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED']);
const NOT_READY = new Set(['resourceNotReady', 'resourceInUseByAnotherResource', 'RESOURCE_NOT_READY', 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE']);
const GRPC_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

export interface GoogleErrorShape {
  readonly code?: unknown;
  readonly httpStatusCode?: unknown;
  readonly message?: unknown;
  readonly reason?: unknown;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `errors[].reason` of a Compute error answer (`quotaExceeded`, `rateLimitExceeded`, ...). */
function reasonsOf(err: unknown): string[] {
  const out: string[] = [];
  const e = (typeof err === 'object' && err !== null ? err : {}) as GoogleErrorShape & Record<symbol, unknown>;
  if (typeof e.reason === 'string' && e.reason !== '') out.push(e.reason);
  const raw = e[RAW_PAYLOAD];
  if (typeof raw === 'string') {
    try {
      const body = JSON.parse(raw) as { error?: { errors?: { reason?: unknown }[] } };
      for (const x of body.error?.errors ?? []) if (typeof x.reason === 'string') out.push(x.reason);
    } catch {
      // Not JSON (an HTML error page from a proxy): the status says enough.
    }
  }
  return out;
}

/**
 * A client (or transport) failure as one of the contract's named errors, saying what was being
 * done. `mutation`: an insert, patch, delete or operation wait, which the client retries never;
 * a transient failure of one is a ThrottledError so that the domain's budget backs off and tries it
 * again — safe, since each of Causeway's mutations is idempotent (deterministic names, an
 * "already exists" of its own object is success, a delete of what is gone is success).
 */
export function translateComputeError(err: unknown, what: string, kind: 'read' | 'mutation' = 'read'): CausewayError {
  if (err instanceof CausewayError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as GoogleErrorShape;
  const code = typeof e.code === 'number' ? e.code : undefined;
  const http = typeof e.httpStatusCode === 'number' ? e.httpStatusCode : undefined;
  const text = typeof e.message === 'string' ? e.message : String(err);
  const reasons = reasonsOf(err);
  const status = http !== undefined ? `HTTP ${http}` : code !== undefined ? (GRPC_NAMES[code] ?? `code ${code}`) : 'error';
  const message = `${what}: Compute ${status}${reasons.length > 0 ? ` (${[...new Set(reasons)].join(', ')})` : ''}: ${text}`;
  const options = { cause: err };
  if (reasons.includes('quotaExceeded') || /Quota '[^']+' exceeded/.test(text)) return new QuotaExceededError(message, options);
  if (http === 429 || code === 8 || reasons.some((r) => RATE_LIMITED.has(r))) return new ThrottledError(message, options);
  if (http === 401 || code === 16 || /invalid_grant|invalid_client|Could not refresh access token|No refresh token/.test(text)) {
    return new UnauthorizedError(message, options);
  }
  if (http === 403 || code === 7) return new ForbiddenError(message, options);
  if (http === 404 || code === 5) return new NotFoundError(message, options);
  if (http === 409 || code === 6 || code === 10) {
    return code === 6 || reasons.includes('alreadyExists') || /already exists/i.test(text)
      ? new AlreadyExistsError(message, options)
      : new ConflictError(message, options);
  }
  if (reasons.some((r) => NOT_READY.has(r))) return kind === 'mutation' ? new ThrottledError(message, options) : new UnavailableError(message, options);
  if ((http !== undefined && http >= 400 && http < 500) || code === 3 || code === 9 || code === 11) {
    return new InvalidInputError([{ field: '', message }], options);
  }
  // 5xx, an elapsed deadline, a refused or reset connection: nothing is known to have happened.
  return kind === 'mutation' ? new ThrottledError(message, options) : new UnavailableError(message, options);
}

export interface OperationShape {
  readonly name?: string | null;
  readonly status?: unknown;
  readonly region?: string | null;
  readonly error?: { readonly errors?: readonly { readonly code?: string | null; readonly message?: string | null }[] | null } | null;
  readonly httpErrorStatusCode?: number | null;
  readonly httpErrorMessage?: string | null;
}

/** A failed operation's first error (Compute lists them; the first says why) as a named error. */
export function translateOperationError(op: OperationShape, what: string): CausewayError | undefined {
  const errors = op.error?.errors ?? [];
  const first = errors[0];
  if (first === undefined) return undefined;
  const code = first.code ?? 'UNKNOWN';
  const message = `${what}: operation ${op.name ?? '?'} failed: ${code}: ${first.message ?? op.httpErrorMessage ?? ''}`;
  const http = op.httpErrorStatusCode ?? undefined;
  if (code === 'QUOTA_EXCEEDED' || /Quota '[^']+' exceeded/.test(first.message ?? '')) return new QuotaExceededError(message);
  if (code === 'RESOURCE_NOT_FOUND' || code === 'NOT_FOUND' || http === 404) return new NotFoundError(message);
  if (code === 'ALREADY_EXISTS' || code === 'RESOURCE_ALREADY_EXISTS' || http === 409) return new AlreadyExistsError(message);
  if (code === 'PERMISSION_DENIED' || code === 'FORBIDDEN' || http === 403) return new ForbiddenError(message);
  if (RATE_LIMITED.has(code) || NOT_READY.has(code) || (http !== undefined && http >= 500)) return new UnavailableError(message);
  return new InvalidInputError([{ field: '', message }]);
}
