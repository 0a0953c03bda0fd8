// Crossing the boundary of @kubernetes/client-node: its objects become plain JSON (lists are
// typed with Date timestamps, watches raw JSON) and its errors the house error set.
import { ApiException } from '@kubernetes/client-node';
import { ConflictError, GoneError, NotFoundError, UnavailableError } from '../controlplane/api/errors.ts';
import type { KubeObject } from './objects.ts';

/** Lists (typed, Date timestamps) and watches (raw JSON) disagree on types; the port gets JSON. */
export function plain(o: unknown): KubeObject {
  return JSON.parse(JSON.stringify(o)) as KubeObject;
}

function statusOf(err: ApiException<unknown>): { reason?: string; message?: string } {
  const body: unknown = err.body;
  try {
    return (typeof body === 'string' && body !== '' ? JSON.parse(body) : (body ?? {})) as { reason?: string; message?: string };
  } catch {
    return {};
  }
}

/**
 * A 404 on the resource itself rather than on an object: the real API server (and the double)
 * answer "the server could not find the requested resource" with no `details.name`, while an
 * absent object or namespace is named in `details`. So a CRD that is not installed is told apart
 * from an object that is not there.
 */
export function isKindNotServed(err: unknown): boolean {
  if (!(err instanceof ApiException) || (err as ApiException<unknown>).code !== 404) return false;
  const details = (statusOf(err as ApiException<unknown>) as { details?: { name?: unknown } }).details;
  return typeof details?.name !== 'string' || details.name === '';
}

/** Translates the client's errors into the house error set. */
export function translate(err: unknown, what: string): Error {
  if (err instanceof ApiException) {
    const code = (err as ApiException<unknown>).code;
    const status = statusOf(err as ApiException<unknown>);
    const message = `${what}: ${status.message ?? `HTTP ${code}`}`;
    if (code === 404) return new NotFoundError(message, { cause: err });
    if (code === 409) return new ConflictError(message, { cause: err });
    if (code === 410) return new GoneError(message, { cause: err });
    return new UnavailableError(message, { cause: err });
  }
  return new UnavailableError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
