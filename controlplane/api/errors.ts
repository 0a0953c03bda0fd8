// The small named error set every part of Causeway throws and catches. Each maps to one HTTP
// status and one CLI exit code at the edge (hub/http/status.ts, `report` in cli/program.ts);
// nothing in between invents its own.

/** One thing wrong with an input, located precisely enough to fix it. */
export interface Problem {
  /** File the document came from, when it came from a file. */
  readonly file?: string;
  /** 1-based index of the document within its file or request. */
  readonly document?: number;
  readonly kind?: string;
  readonly name?: string;
  /** Dotted field path, e.g. `spec.podCIDRs[0]`; empty for the document as a whole. */
  readonly field: string;
  /** What the field held, when showing it helps. */
  readonly value?: unknown;
  /** What is wrong and what was expected. */
  readonly message: string;
}

export const ErrorReason = {
  Invalid: 'Invalid',
  NotFound: 'NotFound',
  Conflict: 'Conflict',
  AlreadyExists: 'AlreadyExists',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  Gone: 'Expired',
  Unavailable: 'ServiceUnavailable',
  OutcomeUnknown: 'OutcomeUnknown',
} as const;
export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

export abstract class CausewayError extends Error {
  abstract readonly reason: ErrorReason;
  abstract readonly httpStatus: number;
}

export class InvalidInputError extends CausewayError {
  readonly reason = ErrorReason.Invalid;
  readonly httpStatus = 422;
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], options?: ErrorOptions) {
    super(problems.map(formatProblem).join('\n'), options);
    this.name = 'InvalidInputError';
    this.problems = problems;
  }
}

export class NotFoundError extends CausewayError {
  readonly reason = ErrorReason.NotFound;
  readonly httpStatus = 404;
  override readonly name = 'NotFoundError';
}

export class ConflictError extends CausewayError {
  readonly reason: ErrorReason = ErrorReason.Conflict;
  readonly httpStatus = 409;
  override readonly name: string = 'ConflictError';
}

export class AlreadyExistsError extends ConflictError {
  override readonly reason = ErrorReason.AlreadyExists;
  override readonly name = 'AlreadyExistsError';
}

export class UnauthorizedError extends CausewayError {
  readonly reason = ErrorReason.Unauthorized;
  readonly httpStatus = 401;
  override readonly name = 'UnauthorizedError';
}

export class ForbiddenError extends CausewayError {
  readonly reason = ErrorReason.Forbidden;
  readonly httpStatus = 403;
  override readonly name = 'ForbiddenError';
}

/** A watch asked for history that etcd has compacted away: relist, then watch again. */
export class GoneError extends CausewayError {
  readonly reason = ErrorReason.Gone;
  readonly httpStatus = 410;
  override readonly name = 'GoneError';
}

/** Nothing was done: the hub, or its etcd, could not be reached or did not answer a read. Try again later. */
export class UnavailableError extends CausewayError {
  readonly reason = ErrorReason.Unavailable;
  readonly httpStatus = 503;
  override readonly name = 'UnavailableError';
}

/**
 * A write whose outcome nobody can tell: it was sent, and the answer never came (the connection
 * dropped, the hub died, etcd stopped answering after it got the write). It may have been applied.
 * Not a refusal: check the history before concluding, or send the same declaration again (apply
 * is idempotent). The same exit code as UnavailableError in the CLI.
 */
export class OutcomeUnknownError extends CausewayError {
  readonly reason = ErrorReason.OutcomeUnknown;
  readonly httpStatus = 503;
  override readonly name = 'OutcomeUnknownError';
}

/** What to do about an OutcomeUnknownError, in the words of the CLI (the hub's 503 bodies say it too). */
export const OUTCOME_UNKNOWN_ADVICE =
  'the change may have been applied: check `causeway history`; re-running the same `causeway apply` is safe (apply is idempotent: what is already as declared is left unchanged)';

/** `file: document 2 (Cluster aws-train): spec.podCIDRs[0]: got "x", expected ...` */
export function formatProblem(p: Problem): string {
  const where: string[] = [];
  if (p.file !== undefined) where.push(p.file);
  if (p.document !== undefined) {
    const what = p.kind !== undefined ? ` (${p.kind}${p.name !== undefined ? ` ${p.name}` : ''})` : '';
    where.push(`document ${p.document}${what}`);
  } else if (p.kind !== undefined) {
    where.push(`${p.kind}${p.name !== undefined ? ` ${p.name}` : ''}`);
  }
  if (p.field !== '') where.push(p.field);
  const got = p.value === undefined ? '' : ` (got ${showValue(p.value)})`;
  return `${where.join(': ')}${where.length > 0 ? ': ' : ''}${p.message}${got}`;
}

function showValue(v: unknown): string {
  const s = JSON.stringify(v) as string | undefined;
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
