// Query parameters that cannot be what they name are a malformed request (400 BadRequest, as
// Kubernetes answers them), not refused input in a body (422 Invalid). The contract has no such
// class yet, so this one extends InvalidInputError: it keeps the problems and the `invalid` label
// of the writes counter, and status.ts gives it its own code.
import { InvalidInputError } from '../../api/errors.ts';

export class BadParameterError extends InvalidInputError {
  constructor(field: string, value: string, message: string) {
    super([{ field, value, message }]);
    this.name = 'BadParameterError';
  }
}

/** A resourceVersion as the hub hands it out: a positive decimal etcd revision. */
export function resourceVersionParam(value: string, field = 'resourceVersion'): number {
  const n = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(n)) {
    throw new BadParameterError(field, value, 'expected a positive integer: the metadata.resourceVersion the hub returned for the object');
  }
  return n;
}
