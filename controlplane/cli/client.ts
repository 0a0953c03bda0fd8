// The hub's HTTP client, used by the CLI (and by tests as a user would): turns Status bodies back
// into the named errors, and failures of the connection into one of two: UnavailableError when
// nothing can have reached the hub (refused, no such host, an untrusted certificate), and, for a
// request that changes state, OutcomeUnknownError when the connection failed after the request
// was sent. node:http rather than fetch: it says when the connection was made (so that the two
// can be told apart) and takes a CA to trust.
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import {
  AlreadyExistsError,
  ConflictError,
  ForbiddenError,
  GoneError,
  InvalidInputError,
  NotFoundError,
  OUTCOME_UNKNOWN_ADVICE,
  OutcomeUnknownError,
  UnauthorizedError,
  UnavailableError,
  type CausewayError,
  type Problem,
} from '../api/errors.ts';
import { KINDS, type KindInfo } from '../api/kinds.ts';
import type { Resource } from '../api/resources.ts';
import type { Source } from '../api/validate.ts';
import type { HistoryEntry } from '../registry/registry.ts';
import type { ConvergenceView, DomainPlanView, DomainRoutesView, GlobalServiceView, PoolUsageView } from '../api/read-model.ts';

export const API_PREFIX = '/apis/causeway.dev/v1alpha1';

export interface ChangeView {
  kind: string;
  namespace?: string;
  name: string;
  action: 'created' | 'updated' | 'deleted' | 'unchanged';
  before?: Resource;
  after?: Resource;
}

export interface ApplyResultView {
  revision: number;
  dryRun: boolean;
  changes: ChangeView[];
}

export interface ListView<T> {
  apiVersion: string;
  kind: 'List';
  metadata: { resourceVersion: string };
  items: T[];
}

export interface HubClientOptions {
  /**
   * PEM text of the CA certificate(s) to trust for an https:// hub. When given, only these are
   * trusted (not the system's store): the hub serves a certificate its own CA signed.
   */
  readonly ca?: string | Buffer;
}

const NOT_A_URL = 'not an http:// or https:// URL (expected http://HOST:PORT or https://HOST:PORT)';

/** How long one request may take in all, connecting included. */
const REQUEST_TIMEOUT_MS = 30_000;

export class HubClient {
  private readonly server: string;
  private readonly token: string | undefined;
  private readonly ca: string | Buffer | undefined;

  constructor(server: string, token: string | undefined, options: HubClientOptions = {}) {
    this.server = server.replace(/\/+$/, '');
    this.token = token;
    this.ca = options.ca;
  }

  apply(documents: { source: Source; object: unknown }[], dryRun: boolean): Promise<ApplyResultView> {
    return this.request('POST', `${API_PREFIX}/apply${dryRun ? '?dryRun=true' : ''}`, { documents });
  }

  diff(documents: { source: Source; object: unknown }[]): Promise<{ changes: ChangeView[] }> {
    return this.request('POST', `${API_PREFIX}/diff`, { documents });
  }

  list(info: KindInfo, namespace?: string): Promise<ListView<Resource>> {
    return this.request('GET', collectionPath(info, namespace));
  }

  get(info: KindInfo, name: string, namespace?: string): Promise<Resource> {
    return this.request('GET', `${collectionPath(info, info.namespaced ? (namespace ?? 'default') : undefined)}/${encodeURIComponent(name)}`);
  }

  delete(info: KindInfo, name: string, namespace: string | undefined, dryRun: boolean): Promise<{ details: { revision: number } }> {
    const path = `${collectionPath(info, info.namespaced ? (namespace ?? 'default') : undefined)}/${encodeURIComponent(name)}`;
    return this.request('DELETE', `${path}${dryRun ? '?dryRun=true' : ''}`);
  }

  history(filter: { info?: KindInfo; name?: string; namespace?: string; limit?: number }): Promise<{ items: HistoryEntry[] }> {
    const q = new URLSearchParams();
    if (filter.info !== undefined) q.set('kind', filter.info.kind);
    if (filter.name !== undefined) q.set('name', filter.name);
    if (filter.namespace !== undefined) q.set('namespace', filter.namespace);
    if (filter.limit !== undefined) q.set('limit', String(filter.limit));
    const qs = q.toString();
    return this.request('GET', `${API_PREFIX}/history${qs === '' ? '' : `?${qs}`}`);
  }

  services(): Promise<{ items: GlobalServiceView[] }> {
    return this.request('GET', `${API_PREFIX}/services`);
  }

  /** How full each IPPool is (admins only). */
  pools(): Promise<{ items: PoolUsageView[] }> {
    return this.request('GET', `${API_PREFIX}/pools`);
  }

  /** The route plan per domain (admins only). */
  routes(): Promise<{ items: DomainRoutesView[] }> {
    return this.request('GET', `${API_PREFIX}/routes`);
  }

  /** Whether every cluster (the token may read) applied what the registry holds as of `revision`. */
  convergence(revision: number): Promise<ConvergenceView> {
    return this.request('GET', `${API_PREFIX}/convergence?revision=${revision}`);
  }

  /** What applying the route plan would change per domain, asked with DryRun (admins only). */
  plan(): Promise<{ items: DomainPlanView[] }> {
    return this.request('GET', `${API_PREFIX}/plan`);
  }

  credentials(cluster: string, rotate: boolean): Promise<{ cluster: string; publicKey: string; issuedAt: string; creds: string }> {
    return this.request('POST', `${API_PREFIX}/clusters/${encodeURIComponent(cluster)}/credentials${rotate ? '?rotate=true' : ''}`);
  }

  rollback(toRevision: number, dryRun: boolean): Promise<ApplyResultView> {
    return this.request('POST', `${API_PREFIX}/rollback`, { toRevision, dryRun });
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let url: URL;
    try {
      url = new URL(`${this.server}${path}`);
    } catch (err) {
      throw new UnavailableError(`cannot reach the hub at ${this.server}: ${NOT_A_URL}`, { cause: err });
    }
    let res: Exchange;
    try {
      res = await this.exchange(method, url, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      throw this.connectionError(err as ExchangeFailure, changesState(method, url, body));
    }
    let parsed: unknown;
    try {
      parsed = res.text === '' ? undefined : JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    if (res.status >= 200 && res.status < 300) return parsed as T;
    throw errorFromStatus(res.status, parsed, res.text, changesState(method, url, body));
  }

  /** One request on a connection of its own (no keep-alive: a reused socket would blur whether the hub got it). */
  private exchange(method: string, url: URL, payload: string | undefined): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      if (!https && url.protocol !== 'http:') {
        reject(new ExchangeFailure('connect', Object.assign(new Error(`${url.protocol} is not http: or https:`), { code: 'ERR_INVALID_PROTOCOL' })));
        return;
      }
      let phase: ExchangePhase = 'connect';
      let status: number | undefined;
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new ExchangeFailure(phase, err, status));
      };
      const options: RequestOptions & { ca?: string | Buffer } = {
        method,
        agent: false,
        headers: {
          ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
        },
        ...(https && this.ca !== undefined ? { ca: this.ca } : {}),
      };
      const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, options);
      const timer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }));
      }, REQUEST_TIMEOUT_MS);
      req.on('socket', (socket: Socket) => {
        // From here on the request is on its way: a failure may come after the hub got it.
        const connected = (): void => {
          if (phase === 'connect') phase = 'sent';
        };
        if (!socket.connecting) connected();
        else socket.once(https ? 'secureConnect' : 'connect', connected);
      });
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        phase = 'answer';
        status = res.statusCode ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) {
            fail(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
            return;
          }
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: status ?? 0, text });
        });
      });
      req.end(payload);
    });
  }

  private connectionError(failure: ExchangeFailure, writes: boolean): CausewayError {
    const code = failure.code;
    const err = failure.cause;
    if (failure.phase === 'connect') {
      if (code === 'ERR_INVALID_PROTOCOL') {
        return new UnavailableError(`cannot reach the hub at ${this.server}: ${NOT_A_URL}`, { cause: err });
      }
      const tls = tlsProblem(code);
      if (tls !== undefined) {
        return new UnavailableError(
          `cannot reach the hub at ${this.server}: ${tls} (${code}); pass the CA certificate that signed it with --certificate-authority <file>`,
          { cause: err },
        );
      }
      return new UnavailableError(`cannot reach the hub at ${this.server} (${code}); is it running? (causeway hub, or npm run demo)`, { cause: err });
    }
    if (failure.phase === 'answer' && failure.status !== undefined && failure.status >= 200 && failure.status < 300) {
      return new UnavailableError(
        `the hub answered HTTP ${failure.status} at ${this.server}, but the rest of its answer was cut off (${code})${writes ? ': the change was applied; see `causeway history`' : ''}`,
        { cause: err },
      );
    }
    const what = code === 'ETIMEDOUT' ? `did not answer within ${REQUEST_TIMEOUT_MS / 1000} s` : `went away during the request (${code})`;
    if (!writes) return new UnavailableError(`the hub at ${this.server} ${what}; this request changes nothing: run it again`, { cause: err });
    return new OutcomeUnknownError(`the hub at ${this.server} ${what}; ${OUTCOME_UNKNOWN_ADVICE}`, { cause: err });
  }
}

interface Exchange {
  readonly status: number;
  readonly text: string;
}

/** How far a request got: connecting (nothing sent), sent (no answer yet), or answering. */
type ExchangePhase = 'connect' | 'sent' | 'answer';

class ExchangeFailure extends Error {
  readonly phase: ExchangePhase;
  readonly code: string;
  readonly status: number | undefined;
  constructor(phase: ExchangePhase, cause: Error, status?: number) {
    super(cause.message, { cause });
    this.phase = phase;
    this.code = (cause as { code?: unknown }).code !== undefined ? String((cause as { code?: unknown }).code) : cause.message;
    this.status = status;
  }
}

/** Whether a request can change the registry: a diff and a dry run cannot. */
function changesState(method: string, url: URL, body: unknown): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  if (url.pathname.endsWith('/diff')) return false;
  const dryRun = url.searchParams.get('dryRun');
  if (dryRun !== null && dryRun !== 'false' && dryRun !== '0') return false;
  return (body as { dryRun?: unknown } | undefined)?.dryRun !== true;
}

/** What a TLS failure code means for the user, when it is one. */
function tlsProblem(code: string): string | undefined {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_UNTRUSTED':
    case 'CERT_SIGNATURE_FAILURE':
      return 'its certificate is not trusted';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'its certificate is not for this host name';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'its certificate is not valid now';
    default:
      return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') ? 'the TLS handshake failed' : undefined;
  }
}

function collectionPath(info: KindInfo, namespace: string | undefined): string {
  return namespace !== undefined && info.namespaced
    ? `${API_PREFIX}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`
    : `${API_PREFIX}/${info.plural}`;
}

function errorFromStatus(code: number, body: unknown, text: string, writes: boolean): CausewayError | Error {
  const status = (body ?? {}) as { message?: string; reason?: string; details?: { problems?: Problem[] } };
  const message = status.message ?? (text !== '' ? text : `HTTP ${code}`);
  switch (code) {
    case 401:
      return new UnauthorizedError(`${message} (the hub refused the token)`);
    case 403:
      return new ForbiddenError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return /already exists/.test(message) ? new AlreadyExistsError(message) : new ConflictError(message);
    case 410:
      return new GoneError(message);
    case 400:
    case 413:
    case 415:
    case 422:
      return new InvalidInputError(status.details?.problems ?? [{ field: '', message }]);
    case 503:
      if (status.reason === 'OutcomeUnknown') return new OutcomeUnknownError(message);
      // A proxy, or an older hub, saying a write's connection dropped: it may still have been applied.
      if (writes && /connection (dropped|reset|closed)/i.test(message)) return new OutcomeUnknownError(`${message}; ${OUTCOME_UNKNOWN_ADVICE}`);
      return new UnavailableError(message);
    default:
      return new Error(`hub answered ${code}: ${message}`);
  }
}

export { KINDS };
