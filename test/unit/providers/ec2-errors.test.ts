// EC2 failures as the contract's named errors (providers/aws/ec2-sdk.ts, translateEc2Error), from the
// shapes @aws-sdk/client-ec2 throws: `name` is EC2's code, `$fault` client or server, and the HTTP
// status in `$metadata` (TESTING.md, "Cloud doubles"). The integration tests see the same codes
// come back from the EC2 double through the real client.
import assert from 'node:assert/strict';
import { AlreadyExistsError, ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError, UnavailableError } from '../../../controlplane/api/errors.ts';
import { QuotaExceededError, ThrottledError } from '../../../providers/aws/ec2-api.ts';
import { translateEc2Error } from '../../../providers/aws/ec2-sdk.ts';

const sdkError = (name: string, fault: 'client' | 'server', status: number): Error =>
  Object.assign(new Error(`message of ${name}`), { name, $fault: fault, $metadata: { httpStatusCode: status } });

describe('EC2 errors translated at the boundary', () => {
  const cases: { error: unknown; expect: new (...args: never[]) => Error; reason: string }[] = [
    { error: sdkError('RequestLimitExceeded', 'client', 503), expect: ThrottledError, reason: 'ServiceUnavailable' },
    { error: sdkError('Throttling', 'client', 400), expect: ThrottledError, reason: 'ServiceUnavailable' },
    { error: sdkError('AuthFailure', 'client', 401), expect: UnauthorizedError, reason: 'Unauthorized' },
    { error: sdkError('UnauthorizedOperation', 'client', 403), expect: ForbiddenError, reason: 'Forbidden' },
    { error: sdkError('InvalidVpcID.NotFound', 'client', 400), expect: NotFoundError, reason: 'NotFound' },
    { error: sdkError('InvalidRouteTableID.Malformed', 'client', 400), expect: NotFoundError, reason: 'NotFound' },
    { error: sdkError('RouteAlreadyExists', 'client', 400), expect: AlreadyExistsError, reason: 'AlreadyExists' },
    { error: sdkError('InvalidPermission.Duplicate', 'client', 400), expect: AlreadyExistsError, reason: 'AlreadyExists' },
    { error: sdkError('RouteLimitExceeded', 'client', 400), expect: QuotaExceededError, reason: 'Conflict' },
    { error: sdkError('RulesPerSecurityGroupLimitExceeded', 'client', 400), expect: QuotaExceededError, reason: 'Conflict' },
    { error: sdkError('InvalidParameterValue', 'client', 400), expect: InvalidInputError, reason: 'Invalid' },
    { error: sdkError('InternalError', 'server', 500), expect: UnavailableError, reason: 'ServiceUnavailable' },
    { error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), expect: UnavailableError, reason: 'ServiceUnavailable' },
  ];
  for (const c of cases) {
    const name = c.error instanceof Error ? c.error.name : String(c.error);
    it(`${name === 'Error' ? 'a refused connection' : name} → ${c.expect.name}`, () => {
      const e = translateEc2Error(c.error, 'creating the route 10.32.0.0/16 in rtb-0a1b2c3d');
      assert.ok(e instanceof c.expect, `${e.name}: ${e.message}`);
      assert.equal(e.reason, c.reason);
      assert.equal(e.cause, c.error);
      assert.match(e.message, /^creating the route 10\.32\.0\.0\/16 in rtb-0a1b2c3d: EC2 /);
    });
  }
});
