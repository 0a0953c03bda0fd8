// The hub's HTTP client, used by the CLI (and by tests as a user would): turns Status bodies back
// into the named errors, and a refused connection into UnavailableError.
import {
  AlreadyExistsError,
  ConflictError,
  ForbiddenError,
  GoneError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
  type CausewayError,
  type Problem,
} from '../api/errors.ts';
import { KINDS, type KindInfo } from '../api/kinds.ts';
import type { Resource } from '../api/resources.ts';
import type { Source } from '../api/validate.ts';
import type { HistoryEntry } from '../registry/registry.ts';
import type { GlobalServiceView } from '../api/read-model.ts';

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

export class HubClient {
  private readonly server: string;
  private readonly token: string | undefined;

  constructor(server: string, token: string | undefined) {
    this.server = server.replace(/\/+$/, '');
    this.token = token;
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

  credentials(cluster: string, rotate: boolean): Promise<{ cluster: string; publicKey: string; issuedAt: string; creds: string }> {
    return this.request('POST', `${API_PREFIX}/clusters/${encodeURIComponent(cluster)}/credentials${rotate ? '?rotate=true' : ''}`);
  }

  rollback(toRevision: number, dryRun: boolean): Promise<ApplyResultView> {
    return this.request('POST', `${API_PREFIX}/rollback`, { toRevision, dryRun });
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers: {
          ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new UnavailableError(`cannot reach the hub at ${this.server} (${cause}); is it running? (causeway hub, or npm run demo)`, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed as T;
    throw errorFromStatus(res.status, parsed, text);
  }
}

function collectionPath(info: KindInfo, namespace: string | undefined): string {
  return namespace !== undefined && info.namespaced
    ? `${API_PREFIX}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`
    : `${API_PREFIX}/${info.plural}`;
}

function errorFromStatus(code: number, body: unknown, text: string): CausewayError | Error {
  const status = (body ?? {}) as { message?: string; details?: { problems?: Problem[] } };
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
      return new UnavailableError(message);
    default:
      return new Error(`hub answered ${code}: ${message}`);
  }
}

export { KINDS };
