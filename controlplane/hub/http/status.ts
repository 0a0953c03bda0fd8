// Errors as Kubernetes `Status` bodies: the named error set (api/errors.ts) and fastify's own
// failures (body too large, media type, schema validation) each mapped to one code and reason.
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { CausewayError, InvalidInputError, OUTCOME_UNKNOWN_ADVICE, OutcomeUnknownError, type Problem } from '../../api/errors.ts';
import { BODY_LIMIT } from './limits.ts';
import { BadParameterError } from './bad-request.ts';

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  status: 'Failure' | 'Success';
  code: number;
  reason: string;
  message: string;
  details?: { problems?: readonly Problem[]; revision?: number };
}

export function statusBody(code: number, reason: string, message: string, problems?: readonly Problem[]): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, ...(problems !== undefined ? { details: { problems } } : {}) };
}

export function statusOf(err: unknown): StatusBody {
  if (hasZodFastifySchemaValidationErrors(err)) return statusOf(invalidFromSchema(err.validation));
  if (err instanceof BadParameterError) return statusBody(400, 'BadRequest', err.message, err.problems);
  if (err instanceof InvalidInputError) return statusBody(err.httpStatus, err.reason, err.message, err.problems);
  if (err instanceof OutcomeUnknownError) return statusBody(err.httpStatus, err.reason, `${err.message}; ${OUTCOME_UNKNOWN_ADVICE}`);
  if (err instanceof CausewayError) return statusBody(err.httpStatus, err.reason, err.message);
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return statusBody(413, 'RequestEntityTooLarge', `request body is larger than ${BODY_LIMIT} bytes (1 MiB); split the apply into smaller sets`);
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return statusBody(415, 'UnsupportedMediaType', e.message ?? 'unsupported media type: send application/json or application/yaml');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return statusBody(e.statusCode, 'BadRequest', e.message ?? 'bad request');
  }
  return statusBody(500, 'InternalError', e.message ?? 'internal error');
}

/** A route schema's refusal is refused input like any other: 422 with the field path. */
function invalidFromSchema(issues: readonly { instancePath: string; message?: string | undefined }[]): InvalidInputError {
  return new InvalidInputError(issues.map((i) => ({ field: i.instancePath.replace(/^\//, '').replaceAll('/', '.'), message: i.message ?? 'invalid' })));
}

/** The `result` label of causeway_registry_writes_total. */
export function resultLabel(err: unknown): string {
  if (err instanceof CausewayError) {
    switch (err.reason) {
      case 'Invalid':
        return 'invalid';
      case 'Conflict':
      case 'AlreadyExists':
        return 'conflict';
      case 'Forbidden':
      case 'Unauthorized':
        return 'forbidden';
      case 'NotFound':
        return 'not_found';
      case 'Expired':
      case 'ServiceUnavailable':
      case 'OutcomeUnknown':
        return 'error';
    }
  }
  return 'error';
}
