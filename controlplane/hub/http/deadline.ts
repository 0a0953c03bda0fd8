// The request deadline: every route answers within `deadlineMs` of its handler starting (its
// body has been read by then), whatever etcd does. A frozen etcd keeps its connections open and
// answers nothing; without a deadline a request waits as long as its client does. When the
// deadline passes the answer is a 503 that says what is known: a request that changes nothing is
// plainly unavailable, a write may have been sent to etcd (or be queued behind one that was) and
// is OutcomeUnknown. Each etcd call has a shorter deadline of its own (EtcdStore callTimeoutMs),
// so that a request held up by one call usually gets that call's more precise answer first.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OutcomeUnknownError, UnavailableError } from '../../api/errors.ts';
import type { Store } from '../../registry/store.ts';
import type { HubApp } from './app.ts';
import { flag } from './requests.ts';

/** A few seconds: far above any healthy answer, well below a person's patience or a client's timeout. */
export const DEFAULT_REQUEST_DEADLINE_MS = 5000;

/** How long the hub asks etcd, once the deadline passed, whether it is etcd that is not answering. */
const PROBE_MS = 250;

/** Wraps every route registered after this call in the deadline. */
export function addRequestDeadline(app: HubApp, deadlineMs: number, store: Pick<Store, 'ping'>): void {
  app.addHook('onRoute', (route) => {
    const handler = route.handler as (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown;
    const bounded = function (this: unknown, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
      const work = Promise.resolve().then(() => handler.call(this, request, reply));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          // A watch has answered (its headers are out) and streams on: its deadline was for starting.
          if (reply.sent || reply.raw.headersSent) return;
          void overdue(request, deadlineMs, store).then(reject);
        }, deadlineMs);
      });
      return Promise.race([work, late]).finally(() => {
        clearTimeout(timer);
      });
    };
    route.handler = bounded;
  });
}

/** The error for a request past its deadline: whose fault, and whether a write may have happened. */
async function overdue(request: FastifyRequest, deadlineMs: number, store: Pick<Store, 'ping'>): Promise<Error> {
  const etcdAnswers = await store.ping(AbortSignal.timeout(PROBE_MS)).then(
    () => true,
    () => false,
  );
  const detail = etcdAnswers
    ? `the hub did not finish within its ${deadlineMs} ms request deadline, although etcd answers (the hub may be overloaded)`
    : `etcd is not answering: no answer within the ${deadlineMs} ms request deadline`;
  return mayWrite(request) ? new OutcomeUnknownError(`${detail}, with the write possibly under way`) : new UnavailableError(detail);
}

/** Whether a request can change state: not a read, a diff or a dry run. */
function mayWrite(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  if (request.routeOptions.url?.endsWith('/diff') === true) return false;
  const query = request.query as { dryRun?: string } | undefined;
  if (flag(query?.dryRun)) return false;
  return (request.body as { dryRun?: unknown } | undefined)?.dryRun !== true;
}
