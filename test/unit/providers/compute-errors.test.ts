// Compute failures as the contract's named errors (providers/gcp/compute-errors.ts): GoogleErrors as
// the REST transport of @google-cloud/compute throws them (`code` the gRPC number, `httpStatusCode`
// the HTTP status, the answer's body kept under google-gax's raw-payload symbol for its
// `errors[].reason`), and failed operations' `error.errors[0].code` (TESTING.md, "Cloud doubles").
// The integration tests see the same answers come back from the Compute double through the client.
import assert from 'node:assert/strict';
import {
  AlreadyExistsError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../../controlplane/api/errors.ts';
import { QuotaExceededError, ThrottledError } from '../../../providers/gcp/compute-api.ts';
import { translateComputeError, translateOperationError } from '../../../providers/gcp/compute-errors.ts';
import { endpointOptions } from '../../../providers/gcp/compute-sdk.ts';

const RAW = Symbol.for('google-gax.rawHttpResponsePayload');

function googleError(code: number, http: number | undefined, message: string, reason?: string): Error {
  const e = Object.assign(new Error(message), { code, ...(http !== undefined ? { httpStatusCode: http } : {}) });
  if (reason !== undefined) {
    Object.defineProperty(e, RAW, { value: JSON.stringify({ error: { code: http, message, errors: [{ message, domain: 'global', reason }] } }) });
  }
  return e;
}

type ErrorClass = new (...args: never[]) => Error;

describe('Compute errors translated at the boundary', () => {
  const cases: { name: string; error: unknown; read: ErrorClass; mutation?: ErrorClass }[] = [
    { name: '403 forbidden', error: googleError(7, 403, "Required 'compute.routes.list' permission", 'forbidden'), read: ForbiddenError },
    { name: '403 quotaExceeded', error: googleError(7, 403, "Quota 'ROUTES' exceeded.  Limit: 250.0 globally.", 'quotaExceeded'), read: QuotaExceededError },
    { name: '403 rateLimitExceeded', error: googleError(7, 403, 'Rate Limit Exceeded', 'rateLimitExceeded'), read: ThrottledError },
    { name: '429', error: googleError(8, 429, 'Rate Limit Exceeded'), read: ThrottledError },
    { name: '401', error: googleError(16, 401, 'Request had invalid authentication credentials.'), read: UnauthorizedError },
    { name: '404', error: googleError(5, 404, "The resource 'projects/p/global/networks/n' was not found", 'notFound'), read: NotFoundError },
    {
      name: '409 alreadyExists',
      error: googleError(6, 409, "The resource 'projects/p/global/routes/r' already exists", 'alreadyExists'),
      read: AlreadyExistsError,
    },
    { name: '409 without a status in the body (ABORTED)', error: googleError(10, 409, 'The resource is being modified'), read: ConflictError },
    { name: '400 invalid', error: googleError(3, 400, "Invalid value for field 'resource.destRange'", 'invalid'), read: InvalidInputError },
    {
      name: '400 resourceNotReady',
      error: googleError(3, 400, 'The resource is not ready', 'resourceNotReady'),
      read: UnavailableError,
      mutation: ThrottledError,
    },
    { name: '503', error: googleError(14, 503, 'Internal error. Please try again.'), read: UnavailableError, mutation: ThrottledError },
    {
      name: 'a deadline the client gave up at',
      error: googleError(4, undefined, 'Total timeout of API exceeded'),
      read: UnavailableError,
      mutation: ThrottledError,
    },
    {
      name: 'a refused connection',
      error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      read: UnavailableError,
      mutation: ThrottledError,
    },
    { name: 'a token refresh refused', error: new Error('invalid_grant: Invalid JWT Signature.'), read: UnauthorizedError },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.read.name}${c.mutation !== undefined ? ` (a change: ${c.mutation.name})` : ''}`, () => {
      const read = translateComputeError(c.error, 'reading network train of project ml-platform-prod');
      assert.equal(read.constructor, c.read, `${read.name}: ${read.message}`);
      assert.equal(read.cause, c.error);
      assert.match(read.message, /^reading network train of project ml-platform-prod: Compute /);
      const change = translateComputeError(c.error, 'inserting route r', 'mutation');
      assert.equal(change.constructor, c.mutation ?? c.read, `${change.name}: ${change.message}`);
    });
  }

  const operations: { code: string; http?: number; expect: ErrorClass }[] = [
    { code: 'RESOURCE_NOT_FOUND', http: 404, expect: NotFoundError },
    { code: 'QUOTA_EXCEEDED', http: 403, expect: QuotaExceededError },
    { code: 'RESOURCE_ALREADY_EXISTS', http: 409, expect: AlreadyExistsError },
    { code: 'PERMISSION_DENIED', http: 403, expect: ForbiddenError },
    { code: 'RESOURCE_NOT_READY', http: 400, expect: UnavailableError },
    { code: 'INVALID_FIELD_VALUE', http: 400, expect: InvalidInputError },
    { code: 'INTERNAL_ERROR', http: 500, expect: UnavailableError },
  ];
  for (const o of operations) {
    it(`a failed operation's ${o.code} → ${o.expect.name}, naming the operation`, () => {
      const e = translateOperationError(
        {
          name: 'operation-1',
          status: 'DONE',
          error: { errors: [{ code: o.code, message: 'why' }] },
          ...(o.http !== undefined ? { httpErrorStatusCode: o.http } : {}),
        },
        'inserting route r',
      );
      assert.equal(e?.constructor, o.expect, e?.message);
      assert.equal(e.message, `inserting route r: operation operation-1 failed: ${o.code}: why`);
    });
  }

  it('a DONE operation without errors is no error', () => {
    assert.equal(translateOperationError({ name: 'operation-1', status: 'DONE' }, 'x'), undefined);
  });

  it('takes an endpoint apart into host, port and protocol, and refuses one with a path', () => {
    assert.deepEqual(endpointOptions('http://127.0.0.1:8080'), { apiEndpoint: '127.0.0.1', port: 8080, protocol: 'http' });
    assert.deepEqual(endpointOptions('https://compute-psc.p.googleapis.com'), { apiEndpoint: 'compute-psc.p.googleapis.com', port: 443, protocol: 'https' });
    assert.deepEqual(endpointOptions('http://[::1]:9'), { apiEndpoint: '[::1]', port: 9, protocol: 'http' });
    assert.throws(() => endpointOptions('http://127.0.0.1:8080/compute/v1'), InvalidInputError);
    assert.throws(() => endpointOptions('127.0.0.1:8080'), InvalidInputError);
  });
});
