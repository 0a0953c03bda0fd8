// Compute REST API double: a small, stateful, in-memory TEST DOUBLE of Google Compute Engine's
// networking API. It is not GCP and never part of the product. No Compute emulator runs on these
// machines (TESTING.md, "Cloud doubles"), so tests and the demo reach this double through the real
// `@google-cloud/compute` clients (apiEndpoint 127.0.0.1, port, protocol http) and a fixed access
// token; product code is the same against the double and the cloud.
//
// It speaks the REST protocol as the clients do (`/compute/v1/projects/P/...`, JSON bodies, answers
// in the v1 resource shapes with googleapis.com self links), for one project's networks,
// subnetworks, routes, firewall rules, Cloud Routers and VPN tunnels: get, list (maxResults and
// pageToken paging, a `filter` of `field = "value"` terms), insert, patch (JSON merge patch), update
// (PUT) and delete. Every change answers a RUNNING operation that completes `operationDelayMs` later
// (global operations for routes and firewalls, regional ones for routers); the change is visible
// only once it is DONE, as on GCP, and `wait` answers when the operation is DONE or after
// `waitDeadlineMs` with it still RUNNING. Some failures surface as the operation's error, as they do
// on GCP (a next hop that does not exist, a quota), others at once with Google's JSON error shape
// and real status codes (400 invalid, 401, 403, 404 notFound, 409 alreadyExists, 429).
//
// It seeds from a fixture (test/fixtures/providers/compute-journey3.json), holds resources Causeway
// does not own, and can be told to throttle (429 rateLimitExceeded), fail (any status, before or
// after applying the request), fail operations, or delay matching requests. It counts the calls it
// gets, so that an idempotence test can say "no mutating call"; every other test asserts its state.
//
// Deliberate simplifications: one project per instance; bearer tokens are checked only against
// `acceptTokens`, when given; no zones, instances, VPN gateways, interconnects or peerings as
// objects (their URLs are accepted as next hops or stored as given); subnet routes are generated for
// subnetworks' primary ranges; a paging token reads the current state rather than a snapshot; the
// filter language is the `=`, `!=`, `eq`, `ne` and `:` terms joined by AND, no OR.
//
// Standalone, for the demo: node test/harness/compute-double.ts [--seed FILE] [--port N]
// [--operation-delay MS] prints {"url": URL, "endpoint": URL, "project": P} on one line and serves
// until SIGTERM or SIGINT.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { checkCidr } from '../../controlplane/api/cidr.ts';
import { onCleanup } from './cleanup.ts';

/** What every self link starts with, as the real API answers (whatever endpoint was called). */
export const COMPUTE_BASE = 'https://www.googleapis.com/compute/v1/';

// ---- fixture -------------------------------------------------------------------------------

export interface ComputeFixture {
  readonly project: string;
  readonly networks?: readonly { name: string; description?: string; autoCreateSubnetworks?: boolean; routingMode?: 'REGIONAL' | 'GLOBAL'; mtu?: number }[];
  readonly subnetworks?: readonly {
    name: string;
    region: string;
    network: string;
    ipCidrRange: string;
    secondaryIpRanges?: { rangeName: string; ipCidrRange: string }[];
    ipv6CidrRange?: string;
    description?: string;
  }[];
  /** `nextHopVpnTunnel` may be given as `REGION/NAME`; other references by name or URL. */
  readonly routes?: readonly (Partial<RouteResource> & { name: string; network: string; destRange: string })[];
  readonly firewalls?: readonly (Partial<FirewallResource> & { name: string; network: string })[];
  readonly routers?: readonly (Partial<RouterResource> & { name: string; region: string; network: string })[];
  readonly vpnTunnels?: readonly { name: string; region: string; peerIp?: string; status?: string; description?: string; router?: string }[];
}

// ---- resources, in the API's JSON shapes -------------------------------------------------------

export interface NetworkResource {
  kind: 'compute#network';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  selfLink: string;
  selfLinkWithId: string;
  autoCreateSubnetworks: boolean;
  routingConfig: { routingMode: string };
  mtu: number;
  networkFirewallPolicyEnforcementOrder: string;
}

export interface SubnetworkResource {
  kind: 'compute#subnetwork';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  network: string;
  region: string;
  ipCidrRange: string;
  gatewayAddress: string;
  secondaryIpRanges?: { rangeName: string; ipCidrRange: string }[];
  stackType: string;
  ipv6CidrRange?: string;
  privateIpGoogleAccess: boolean;
  purpose: string;
  fingerprint: string;
  selfLink: string;
}

export interface RouteResource {
  kind: 'compute#route';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  network: string;
  destRange: string;
  priority: number;
  nextHopGateway?: string;
  nextHopVpnTunnel?: string;
  nextHopIp?: string;
  nextHopInstance?: string;
  nextHopIlb?: string;
  nextHopNetwork?: string;
  nextHopPeering?: string;
  routeType: 'STATIC' | 'SUBNET';
  tags?: string[];
  selfLink: string;
}

export interface FirewallPermissionJson {
  IPProtocol: string;
  ports?: string[];
}

export interface FirewallResource {
  kind: 'compute#firewall';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  network: string;
  priority: number;
  direction: 'INGRESS' | 'EGRESS';
  sourceRanges?: string[];
  destinationRanges?: string[];
  sourceTags?: string[];
  targetTags?: string[];
  sourceServiceAccounts?: string[];
  targetServiceAccounts?: string[];
  allowed?: FirewallPermissionJson[];
  denied?: FirewallPermissionJson[];
  disabled: boolean;
  logConfig: { enable: boolean };
  selfLink: string;
}

export interface RouterBgpJson {
  asn: number;
  advertiseMode: 'DEFAULT' | 'CUSTOM';
  advertisedGroups?: string[];
  advertisedIpRanges?: { range: string; description?: string }[];
  keepaliveInterval?: number;
}

export interface RouterResource {
  kind: 'compute#router';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  region: string;
  network: string;
  bgp?: RouterBgpJson;
  bgpPeers?: Record<string, unknown>[];
  interfaces?: Record<string, unknown>[];
  selfLink: string;
}

export interface VpnTunnelResource {
  kind: 'compute#vpnTunnel';
  id: string;
  creationTimestamp: string;
  name: string;
  description?: string;
  region: string;
  peerIp: string;
  status: string;
  detailedStatus: string;
  ikeVersion: number;
  router?: string;
  selfLink: string;
}

export interface OperationResource {
  kind: 'compute#operation';
  id: string;
  name: string;
  operationType: string;
  targetLink: string;
  targetId: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  user: string;
  progress: number;
  insertTime: string;
  startTime: string;
  endTime?: string;
  selfLink: string;
  region?: string;
  error?: { errors: { code: string; message: string }[] };
  httpErrorStatusCode?: number;
  httpErrorMessage?: string;
}

/** Everything the double holds; tests read it to assert the resulting state. Keys: name, or `region/name`. */
export interface ComputeState {
  readonly project: string;
  readonly networks: Map<string, NetworkResource>;
  readonly subnetworks: Map<string, SubnetworkResource>;
  readonly routes: Map<string, RouteResource>;
  readonly firewalls: Map<string, FirewallResource>;
  readonly routers: Map<string, RouterResource>;
  readonly vpnTunnels: Map<string, VpnTunnelResource>;
  readonly operations: Map<string, OperationResource>;
}

// ---- the double's interface ------------------------------------------------------------------

export type Collection = 'networks' | 'subnetworks' | 'routes' | 'firewalls' | 'routers' | 'vpnTunnels' | 'operations';
export type Verb = 'list' | 'get' | 'insert' | 'patch' | 'update' | 'delete' | 'wait';

export interface ComputeRequest {
  readonly method: string;
  readonly path: string;
  readonly collection: Collection;
  readonly verb: Verb;
  readonly region: string | undefined;
  /** The resource (or operation) named in the path. */
  readonly name: string | undefined;
  readonly body: unknown;
}

export interface ComputeDoubleOptions {
  readonly fixture?: ComputeFixture;
  /** Default 0: a free port on 127.0.0.1. */
  readonly port?: number;
  /** How long an operation stays RUNNING; default 20 ms. */
  readonly operationDelayMs?: number;
  /** How long `wait` holds a RUNNING operation before answering it as it is; default 2 min, as Compute does. */
  readonly waitDeadlineMs?: number;
  /** When given, only requests carrying `Authorization: Bearer <one of these>` are served (401 otherwise). */
  readonly acceptTokens?: readonly string[];
  /** Static routes the project may hold (quota ROUTES); default 250. */
  readonly routeQuota?: number;
  /** Custom advertised ranges one router may hold; default 200. */
  readonly maxAdvertisedRanges?: number;
}

export interface ComputeFaultOptions {
  /** Only requests this matches count; default all. */
  readonly match?: (request: ComputeRequest) => boolean;
}

export interface ComputeFailure {
  /** HTTP status; default 503. */
  readonly status?: number;
  readonly message?: string;
  /** `errors[0].reason`; default from the status (`backendError`, `forbidden`, ...). */
  readonly reason?: string;
  /** Apply the request first, then answer the error: an answer lost after the change was made. */
  readonly afterApply?: boolean;
}

export interface ComputeDouble {
  /** The endpoint to give the client: `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly project: string;
  readonly state: ComputeState;
  /** The next `count` matching requests answer 429 rateLimitExceeded, as Compute throttles. */
  throttle(count: number, options?: ComputeFaultOptions): void;
  /** The next `count` matching requests fail with this status (default 503 backendError). */
  fail(count: number, failure?: ComputeFailure, options?: ComputeFaultOptions): void;
  /** The operations of the next `count` matching changes finish DONE with this error, changing nothing. */
  failOperations(count: number, error: { code: string; message: string; httpStatus?: number }, options?: ComputeFaultOptions): void;
  /** Matching requests are answered `ms` later, until `clearFaults`. */
  delay(ms: number, options?: ComputeFaultOptions): void;
  clearFaults(): void;
  /** How long operations started from now on stay RUNNING. */
  setOperationDelay(ms: number): void;
  /** Requests received (faulted ones included), optionally only those `match` selects. */
  calls(match?: (request: ComputeRequest) => boolean): number;
  /** Requests that change state (insert, patch, update, delete); waits and reads are not. */
  mutatingCalls(): number;
  resetCounters(): void;
  /** Operations not DONE yet. */
  pendingOperations(): number;
  /** The routes of a network as `name → "destRange -> next hop"` (the next hop's last path segment or IP). */
  routesOf(network: string): Record<string, string>;
  /** The firewall rules of a network. */
  firewallsOf(network: string): FirewallResource[];
  /** A router's custom advertised ranges as `range (description)`. */
  advertisedRanges(region: string, router: string): string[];
  close(): Promise<void>;
}

// ---- errors --------------------------------------------------------------------------------

const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};
const DEFAULT_REASON: Record<number, string> = {
  400: 'invalid',
  401: 'authError',
  403: 'forbidden',
  404: 'notFound',
  409: 'alreadyExists',
  412: 'conditionNotMet',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};
/** An operation's error code for an error found while it ran. */
const OPERATION_CODE: Record<string, string> = {
  notFound: 'RESOURCE_NOT_FOUND',
  alreadyExists: 'RESOURCE_ALREADY_EXISTS',
  quotaExceeded: 'QUOTA_EXCEEDED',
  forbidden: 'PERMISSION_DENIED',
  invalid: 'INVALID_FIELD_VALUE',
};

class ComputeError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly domain: string;
  constructor(status: number, message: string, reason?: string, domain = 'global') {
    super(message);
    this.status = status;
    this.reason = reason ?? DEFAULT_REASON[status] ?? 'backendError';
    this.domain = domain;
  }

  body(): unknown {
    const status = this.status === 409 && this.reason !== 'alreadyExists' ? 'ABORTED' : (GRPC_STATUS[this.status] ?? 'UNKNOWN');
    return { error: { code: this.status, message: this.message, errors: [{ message: this.message, domain: this.domain, reason: this.reason }], status } };
  }
}

const invalidField = (field: string, value: unknown, why: string): ComputeError =>
  new ComputeError(400, `Invalid value for field '${field}': '${typeof value === 'string' ? value : JSON.stringify(value)}'. ${why}`);
const notFound = (path: string): ComputeError => new ComputeError(404, `The resource '${path}' was not found`);
const exists = (path: string): ComputeError => new ComputeError(409, `The resource '${path}' already exists`, 'alreadyExists');

// ---- helpers -------------------------------------------------------------------------------

const NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const MUTATING: ReadonlySet<Verb> = new Set(['insert', 'patch', 'update', 'delete']);
const VERBS: Readonly<Record<string, Verb>> = { GET: 'get', PATCH: 'patch', PUT: 'update', DELETE: 'delete' };

function checkName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw invalidField(field, name ?? '', "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'");
  return name;
}

function canonicalCidr(field: string, value: unknown): string {
  const c = typeof value === 'string' ? checkCidr(value) : undefined;
  if (c?.ok !== true) throw invalidField(field, value ?? '', 'Must be a CIDR range such as 10.0.0.0/16.');
  return c.cidr;
}

/** The last path segment of a URL or a plain name. */
function lastSegment(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

function stringList(field: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidField(field, v, 'Must be a list of strings.');
  return [...(v as string[])];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7396 JSON merge patch: objects merge, everything else (lists included) replaces; null deletes. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/** The values a dotted field names in a resource (lists expanded), as strings. */
function fieldValues(item: unknown, path: readonly string[]): string[] {
  if (path.length === 0) {
    if (Array.isArray(item)) return item.flatMap((x) => fieldValues(x, path));
    return item === undefined || item === null ? [] : [typeof item === 'string' ? item : JSON.stringify(item)];
  }
  if (Array.isArray(item)) return item.flatMap((x) => fieldValues(x, path));
  if (!isObject(item)) return [];
  const [head, ...rest] = path;
  return fieldValues(item[head ?? ''], rest);
}

/** Compute's list filter, the part Causeway and the tests use: `field OP value` terms joined by AND. */
function compileFilter(text: string | null): (item: unknown) => boolean {
  if (text === null || text.trim() === '') return () => true;
  const term = /^\s*(?:AND\s+)?\(?\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|=|:|eq\b|ne\b)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s()]+)\s*\)?/;
  const tests: ((item: unknown) => boolean)[] = [];
  let rest = text;
  while (rest.trim() !== '') {
    const m = term.exec(rest);
    if (m === null) throw invalidField('filter', text, 'Invalid list filter expression.');
    const [whole, field = '', op = '', raw = ''] = m;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.startsWith("'") ? raw.slice(1, -1) : raw;
    const path = field.split('.');
    const matches = (v: string): boolean => {
      switch (op) {
        case '=':
        case '!=':
          return glob(value).test(v);
        case 'eq':
        case 'ne':
          return new RegExp(`^(?:${value})$`).test(v);
        default:
          return v.includes(value);
      }
    };
    const negated = op === '!=' || op === 'ne';
    tests.push((item) => fieldValues(item, path).some(matches) !== negated);
    rest = rest.slice(whole.length);
  }
  return (item) => tests.every((t) => t(item));
}

// ---- the server ------------------------------------------------------------------------------

interface Fault {
  remaining: number;
  readonly error: ComputeError;
  readonly afterApply: boolean;
  readonly match: (r: ComputeRequest) => boolean;
}

interface OperationFault {
  remaining: number;
  readonly error: { code: string; message: string; httpStatus?: number };
  readonly match: (r: ComputeRequest) => boolean;
}

class ComputeDoubleServer implements ComputeDouble {
  readonly state: ComputeState;
  readonly project: string;
  url = '';
  port = 0;
  private readonly server: Server;
  private readonly options: ComputeDoubleOptions;
  private operationDelayMs: number;
  private faults: Fault[] = [];
  private operationFaults: OperationFault[] = [];
  private delays: { ms: number; match: (r: ComputeRequest) => boolean }[] = [];
  private readonly requests: ComputeRequest[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Names an insert has taken whose operation is still running. */
  private readonly reserved = new Set<string>();
  private seq = 0;

  constructor(options: ComputeDoubleOptions) {
    this.options = options;
    this.operationDelayMs = options.operationDelayMs ?? 20;
    const f = options.fixture ?? { project: 'causeway-test' };
    this.project = f.project;
    this.state = {
      project: f.project,
      networks: new Map(),
      subnetworks: new Map(),
      routes: new Map(),
      firewalls: new Map(),
      routers: new Map(),
      vpnTunnels: new Map(),
      operations: new Map(),
    };
    this.seed(f);
    this.server = createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, 500, new ComputeError(500, String(err)).body());
      });
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  // ---- commands ----

  throttle(count: number, options: ComputeFaultOptions = {}): void {
    this.faults.push({
      remaining: count,
      error: new ComputeError(429, 'Rate Limit Exceeded', 'rateLimitExceeded', 'usageLimits'),
      afterApply: false,
      match: options.match ?? (() => true),
    });
  }

  fail(count: number, failure: ComputeFailure = {}, options: ComputeFaultOptions = {}): void {
    const status = failure.status ?? 503;
    const error = new ComputeError(status, failure.message ?? (status >= 500 ? 'Internal error. Please try again.' : 'Request refused.'), failure.reason);
    this.faults.push({ remaining: count, error, afterApply: failure.afterApply === true, match: options.match ?? (() => true) });
  }

  failOperations(count: number, error: { code: string; message: string; httpStatus?: number }, options: ComputeFaultOptions = {}): void {
    this.operationFaults.push({ remaining: count, error, match: options.match ?? (() => true) });
  }

  delay(ms: number, options: ComputeFaultOptions = {}): void {
    this.delays.push({ ms, match: options.match ?? (() => true) });
  }

  clearFaults(): void {
    this.faults = [];
    this.operationFaults = [];
    this.delays = [];
  }

  setOperationDelay(ms: number): void {
    this.operationDelayMs = ms;
  }

  calls(match?: (request: ComputeRequest) => boolean): number {
    return match === undefined ? this.requests.length : this.requests.filter(match).length;
  }

  mutatingCalls(): number {
    return this.requests.filter((r) => MUTATING.has(r.verb)).length;
  }

  resetCounters(): void {
    this.requests.length = 0;
  }

  pendingOperations(): number {
    return [...this.state.operations.values()].filter((o) => o.status !== 'DONE').length;
  }

  routesOf(network: string): Record<string, string> {
    const link = this.networkLink(network);
    const out: Record<string, string> = {};
    for (const r of this.state.routes.values()) {
      if (r.network !== link) continue;
      const hop = r.nextHopVpnTunnel ?? r.nextHopGateway ?? r.nextHopIp ?? r.nextHopInstance ?? r.nextHopIlb ?? r.nextHopNetwork ?? r.nextHopPeering ?? '';
      out[r.name] = `${r.destRange} -> ${hop.includes('/') ? lastSegment(hop) : hop}`;
    }
    return out;
  }

  firewallsOf(network: string): FirewallResource[] {
    const link = this.networkLink(network);
    return [...this.state.firewalls.values()].filter((f) => f.network === link).sort((a, b) => a.name.localeCompare(b.name));
  }

  advertisedRanges(region: string, router: string): string[] {
    const r = this.state.routers.get(`${region}/${router}`);
    if (r === undefined) throw new Error(`no router ${region}/${router}`);
    return (r.bgp?.advertisedIpRanges ?? []).map((x) => `${x.range} (${x.description ?? ''})`);
  }

  // ---- links and ids ----

  private projectLink(): string {
    return `${COMPUTE_BASE}projects/${this.project}`;
  }

  private networkLink(name: string): string {
    return `${this.projectLink()}/global/networks/${name}`;
  }

  private regionLink(region: string): string {
    return `${this.projectLink()}/regions/${region}`;
  }

  private newId(): string {
    this.seq += 1;
    return (4_100_000_000_000_000_000n + BigInt(this.seq)).toString();
  }

  private now(): string {
    return new Date().toISOString();
  }

  /** A reference (full URL, partial URL or name) to a network of this project, which must exist. */
  private resolveNetwork(field: string, ref: unknown): string {
    if (typeof ref !== 'string' || ref === '') throw invalidField(field, ref ?? '', 'The network must be specified.');
    const m = /(?:^|\/)projects\/([^/]+)\/global\/networks\/([^/]+)$/.exec(ref);
    const [project, name] = m === null ? [this.project, lastSegment(ref)] : [m[1], m[2]];
    if (project !== this.project || name === undefined || !this.state.networks.has(name))
      throw notFound(`projects/${project ?? ''}/global/networks/${name ?? ref}`);
    return this.networkLink(name);
  }

  /** `projects/P/regions/R/vpnTunnels/T` (full or partial) or `R/T` → the tunnel's full URL (not checked). */
  private tunnelLink(ref: string): string {
    const m = /(?:^|\/)projects\/([^/]+)\/regions\/([^/]+)\/vpnTunnels\/([^/]+)$/.exec(ref);
    if (m !== null) return `${COMPUTE_BASE}projects/${m[1] ?? ''}/regions/${m[2] ?? ''}/vpnTunnels/${m[3] ?? ''}`;
    const [region, name] = ref.split('/');
    if (region === undefined || name === undefined) throw invalidField('resource.nextHopVpnTunnel', ref, 'Must be a VPN tunnel URL.');
    return `${this.regionLink(region)}/vpnTunnels/${name}`;
  }

  // ---- seeding ----

  private seed(f: ComputeFixture): void {
    const at = this.now();
    for (const n of f.networks ?? []) {
      const id = this.newId();
      this.state.networks.set(n.name, {
        kind: 'compute#network',
        id,
        creationTimestamp: at,
        name: n.name,
        ...(n.description !== undefined ? { description: n.description } : {}),
        selfLink: this.networkLink(n.name),
        selfLinkWithId: `${this.projectLink()}/global/networks/${id}`,
        autoCreateSubnetworks: n.autoCreateSubnetworks ?? false,
        routingConfig: { routingMode: n.routingMode ?? 'REGIONAL' },
        mtu: n.mtu ?? 1460,
        networkFirewallPolicyEnforcementOrder: 'AFTER_CLASSIC_FIREWALL',
      });
    }
    for (const s of f.subnetworks ?? []) {
      const network = this.resolveNetwork('subnetwork.network', s.network);
      const primary = canonicalCidr('subnetwork.ipCidrRange', s.ipCidrRange);
      const sub: SubnetworkResource = {
        kind: 'compute#subnetwork',
        id: this.newId(),
        creationTimestamp: at,
        name: s.name,
        ...(s.description !== undefined ? { description: s.description } : {}),
        network,
        region: this.regionLink(s.region),
        ipCidrRange: primary,
        gatewayAddress: gatewayOf(primary),
        ...(s.secondaryIpRanges !== undefined
          ? { secondaryIpRanges: s.secondaryIpRanges.map((r) => ({ rangeName: r.rangeName, ipCidrRange: canonicalCidr('secondaryIpRanges', r.ipCidrRange) })) }
          : {}),
        stackType: s.ipv6CidrRange !== undefined ? 'IPV4_IPV6' : 'IPV4_ONLY',
        ...(s.ipv6CidrRange !== undefined ? { ipv6CidrRange: canonicalCidr('ipv6CidrRange', s.ipv6CidrRange) } : {}),
        privateIpGoogleAccess: true,
        purpose: 'PRIVATE',
        fingerprint: Buffer.from(`fp-${s.name}`).toString('base64'),
        selfLink: `${this.regionLink(s.region)}/subnetworks/${s.name}`,
      };
      this.state.subnetworks.set(`${s.region}/${s.name}`, sub);
      // GCP adds a subnet route for each subnetwork's primary range.
      const routeName = `default-route-${(BigInt(sub.id) % 0xffffffffffffn).toString(16).padStart(12, '0')}`;
      this.state.routes.set(routeName, {
        kind: 'compute#route',
        id: this.newId(),
        creationTimestamp: at,
        name: routeName,
        description: `Default local route to the subnetwork ${primary}.`,
        network,
        destRange: primary,
        priority: 0,
        nextHopNetwork: network,
        routeType: 'SUBNET',
        selfLink: `${this.projectLink()}/global/routes/${routeName}`,
      });
    }
    for (const t of f.vpnTunnels ?? []) {
      this.state.vpnTunnels.set(`${t.region}/${t.name}`, {
        kind: 'compute#vpnTunnel',
        id: this.newId(),
        creationTimestamp: at,
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        region: this.regionLink(t.region),
        peerIp: t.peerIp ?? '198.51.100.1',
        status: t.status ?? 'ESTABLISHED',
        detailedStatus: 'Tunnel is up and running.',
        ikeVersion: 2,
        ...(t.router !== undefined ? { router: `${this.regionLink(t.region)}/routers/${t.router}` } : {}),
        selfLink: `${this.regionLink(t.region)}/vpnTunnels/${t.name}`,
      });
    }
    for (const r of f.routes ?? []) {
      const body = { ...r, ...(r.nextHopVpnTunnel !== undefined ? { nextHopVpnTunnel: this.tunnelLink(r.nextHopVpnTunnel) } : {}) };
      const route = this.routeFrom(body, at);
      this.state.routes.set(route.name, route);
    }
    for (const fw of f.firewalls ?? []) {
      const rule = this.firewallFrom(fw, at);
      this.state.firewalls.set(rule.name, rule);
    }
    for (const r of f.routers ?? []) {
      const router = this.routerFrom(r, r.region, at);
      this.state.routers.set(`${r.region}/${r.name}`, router);
    }
  }

  // ---- validation into resources ----

  private routeFrom(body: unknown, at: string): RouteResource {
    if (!isObject(body)) throw new ComputeError(400, "Required field 'resource' not specified");
    const name = checkName('resource.name', body.name);
    const network = this.resolveNetwork('resource.network', body.network);
    const destRange = canonicalCidr('resource.destRange', body.destRange);
    const priority = body.priority === undefined ? 1000 : Number(body.priority);
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw invalidField('resource.priority', body.priority, 'Must be between 0 and 65535.');
    const hops = ['nextHopGateway', 'nextHopVpnTunnel', 'nextHopIp', 'nextHopInstance', 'nextHopIlb'].filter(
      (k) => typeof body[k] === 'string' && body[k] !== '',
    );
    if (hops.length !== 1)
      throw new ComputeError(
        400,
        "Invalid value for field 'resource': exactly one of nextHopGateway, nextHopVpnTunnel, nextHopIp, nextHopInstance or nextHopIlb must be specified.",
      );
    const hop = hops[0] ?? '';
    let target = String(body[hop]);
    if (hop === 'nextHopVpnTunnel') target = this.tunnelLink(target);
    if (hop === 'nextHopGateway') {
      if (lastSegment(target) !== 'default-internet-gateway')
        throw invalidField('resource.nextHopGateway', target, 'Only the default internet gateway is supported.');
      target = `${this.projectLink()}/global/gateways/default-internet-gateway`;
    }
    const description = body.description;
    if (description !== undefined && (typeof description !== 'string' || description.length > 2048))
      throw invalidField('resource.description', description, 'Must be at most 2048 characters.');
    const tags = stringList('resource.tags', body.tags);
    return {
      kind: 'compute#route',
      id: this.newId(),
      creationTimestamp: at,
      name,
      ...(typeof description === 'string' && description !== '' ? { description } : {}),
      network,
      destRange,
      priority,
      [hop]: target,
      routeType: 'STATIC',
      ...(tags !== undefined && tags.length > 0 ? { tags } : {}),
      selfLink: `${this.projectLink()}/global/routes/${name}`,
    };
  }

  private permissions(field: string, v: unknown): FirewallPermissionJson[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw invalidField(field, v, 'Must be a list.');
    return v.map((p: unknown, i) => {
      if (!isObject(p)) throw invalidField(`${field}[${i}]`, p, 'Must be an object.');
      const protocol = typeof p.IPProtocol === 'string' ? p.IPProtocol.toLowerCase() : '';
      const known = ['tcp', 'udp', 'icmp', 'esp', 'ah', 'sctp', 'ipip', 'all'];
      if (!known.includes(protocol) && !(/^\d{1,3}$/.test(protocol) && Number(protocol) <= 255)) {
        throw invalidField(`${field}[${i}].IPProtocol`, p.IPProtocol ?? '', 'Must be a protocol name or number.');
      }
      const ports = stringList(`${field}[${i}].ports`, p.ports);
      if (ports !== undefined && ports.length > 0) {
        if (!['tcp', 'udp', 'sctp', '6', '17', '132'].includes(protocol))
          throw invalidField(`${field}[${i}].ports`, ports, 'Ports are only allowed for tcp, udp and sctp.');
        for (const port of ports) {
          const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(port);
          const lo = Number(m?.[1] ?? -1);
          const hi = Number(m?.[2] ?? m?.[1] ?? -1);
          if (m === null || lo > hi || hi > 65535) throw invalidField(`${field}[${i}].ports`, port, 'Must be a port or a port range such as 8000-8010.');
        }
      }
      return { IPProtocol: protocol, ...(ports !== undefined && ports.length > 0 ? { ports } : {}) };
    });
  }

  private firewallFrom(body: unknown, at: string, keep?: FirewallResource): FirewallResource {
    if (!isObject(body)) throw new ComputeError(400, "Required field 'resource' not specified");
    const name = checkName('resource.name', body.name);
    const network = this.resolveNetwork('resource.network', body.network ?? 'default');
    const direction = body.direction ?? 'INGRESS';
    if (direction !== 'INGRESS' && direction !== 'EGRESS') throw invalidField('resource.direction', direction, 'Must be INGRESS or EGRESS.');
    const priority = body.priority === undefined ? 1000 : Number(body.priority);
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw invalidField('resource.priority', body.priority, 'Must be between 0 and 65535.');
    const allowed = this.permissions('resource.allowed', body.allowed);
    const denied = this.permissions('resource.denied', body.denied);
    if ((allowed?.length ?? 0) > 0 === (denied?.length ?? 0) > 0)
      throw new ComputeError(400, "Invalid value for field 'resource': exactly one of 'allowed' or 'denied' must be specified.");
    const ranges = (field: string): string[] | undefined => stringList(field, body[field.slice('resource.'.length)])?.map((c) => canonicalCidr(field, c));
    let sourceRanges = ranges('resource.sourceRanges');
    let destinationRanges = ranges('resource.destinationRanges');
    const sourceTags = stringList('resource.sourceTags', body.sourceTags);
    const targetTags = stringList('resource.targetTags', body.targetTags);
    const sourceServiceAccounts = stringList('resource.sourceServiceAccounts', body.sourceServiceAccounts);
    const targetServiceAccounts = stringList('resource.targetServiceAccounts', body.targetServiceAccounts);
    if (direction === 'EGRESS' && ((sourceTags?.length ?? 0) > 0 || (sourceServiceAccounts?.length ?? 0) > 0)) {
      throw new ComputeError(400, "Invalid value for field 'resource.sourceTags': source tags and service accounts cannot be specified for an EGRESS rule.");
    }
    if ((targetTags?.length ?? 0) > 0 && (targetServiceAccounts?.length ?? 0) > 0) {
      throw new ComputeError(400, "Invalid value for field 'resource.targetTags': target tags and target service accounts cannot both be specified.");
    }
    // As on GCP: an ingress rule with no source, or an egress rule with no destination, means everywhere.
    if (direction === 'INGRESS' && (sourceRanges?.length ?? 0) === 0 && (sourceTags?.length ?? 0) === 0 && (sourceServiceAccounts?.length ?? 0) === 0) {
      sourceRanges = ['0.0.0.0/0'];
    }
    if (direction === 'EGRESS' && (destinationRanges?.length ?? 0) === 0) destinationRanges = ['0.0.0.0/0'];
    const description = body.description;
    if (description !== undefined && (typeof description !== 'string' || description.length > 2048))
      throw invalidField('resource.description', description, 'Must be at most 2048 characters.');
    const nonEmpty = (k: string, v: string[] | undefined): Record<string, string[]> => (v !== undefined && v.length > 0 ? { [k]: v } : {});
    return {
      kind: 'compute#firewall',
      id: keep?.id ?? this.newId(),
      creationTimestamp: keep?.creationTimestamp ?? at,
      name,
      ...(typeof description === 'string' && description !== '' ? { description } : {}),
      network,
      priority,
      direction,
      ...nonEmpty('sourceRanges', sourceRanges),
      ...nonEmpty('destinationRanges', destinationRanges),
      ...nonEmpty('sourceTags', sourceTags),
      ...nonEmpty('targetTags', targetTags),
      ...nonEmpty('sourceServiceAccounts', sourceServiceAccounts),
      ...nonEmpty('targetServiceAccounts', targetServiceAccounts),
      ...(allowed !== undefined && allowed.length > 0 ? { allowed } : {}),
      ...(denied !== undefined && denied.length > 0 ? { denied } : {}),
      disabled: body.disabled === true,
      logConfig: { enable: isObject(body.logConfig) && body.logConfig.enable === true },
      selfLink: `${this.projectLink()}/global/firewalls/${name}`,
    };
  }

  private routerFrom(body: unknown, region: string, at: string, keep?: RouterResource): RouterResource {
    if (!isObject(body)) throw new ComputeError(400, "Required field 'resource' not specified");
    const name = checkName('resource.name', body.name);
    const network = this.resolveNetwork('resource.network', body.network);
    let bgp: RouterBgpJson | undefined;
    if (body.bgp !== undefined && body.bgp !== null) {
      if (!isObject(body.bgp)) throw invalidField('resource.bgp', body.bgp, 'Must be an object.');
      const b = body.bgp;
      const asn = Number(b.asn);
      if (!Number.isInteger(asn) || asn < 1 || asn > 4_294_967_295) throw invalidField('resource.bgp.asn', b.asn ?? '', 'Must be a private ASN.');
      const mode = b.advertiseMode ?? 'DEFAULT';
      if (mode !== 'DEFAULT' && mode !== 'CUSTOM') throw invalidField('resource.bgp.advertiseMode', mode, 'Must be DEFAULT or CUSTOM.');
      const groups = stringList('resource.bgp.advertisedGroups', b.advertisedGroups) ?? [];
      for (const g of groups) if (g !== 'ALL_SUBNETS') throw invalidField('resource.bgp.advertisedGroups', g, 'Must be ALL_SUBNETS.');
      const rawRanges = b.advertisedIpRanges ?? [];
      if (!Array.isArray(rawRanges)) throw invalidField('resource.bgp.advertisedIpRanges', rawRanges, 'Must be a list.');
      const seen = new Set<string>();
      const ranges = rawRanges.map((r: unknown) => {
        if (!isObject(r)) throw invalidField('resource.bgp.advertisedIpRanges', r, 'Must be an object.');
        const range = canonicalCidr('resource.bgp.advertisedIpRanges.range', r.range);
        if (seen.has(range)) throw invalidField('resource.bgp.advertisedIpRanges', range, 'Duplicate advertised IP range.');
        seen.add(range);
        return { range, ...(typeof r.description === 'string' && r.description !== '' ? { description: r.description } : {}) };
      });
      if (mode === 'DEFAULT' && (groups.length > 0 || ranges.length > 0)) {
        throw new ComputeError(
          400,
          "Invalid value for field 'resource.bgp.advertiseMode': 'DEFAULT'. Custom advertised groups and IP ranges are allowed only with advertiseMode CUSTOM.",
        );
      }
      const max = this.options.maxAdvertisedRanges ?? 200;
      if (ranges.length > max)
        throw invalidField('resource.bgp.advertisedIpRanges', `${ranges.length} ranges`, `A router advertises at most ${max} custom IP ranges.`);
      bgp = {
        asn,
        advertiseMode: mode,
        ...(groups.length > 0 ? { advertisedGroups: groups } : {}),
        ...(ranges.length > 0 ? { advertisedIpRanges: ranges } : {}),
        keepaliveInterval: typeof b.keepaliveInterval === 'number' ? b.keepaliveInterval : 20,
      };
    }
    const list = (k: 'bgpPeers' | 'interfaces'): Record<string, unknown>[] | undefined =>
      Array.isArray(body[k]) ? (body[k] as unknown[]).filter(isObject).map((x) => ({ ...x })) : undefined;
    const bgpPeers = list('bgpPeers');
    const interfaces = list('interfaces');
    return {
      kind: 'compute#router',
      id: keep?.id ?? this.newId(),
      creationTimestamp: keep?.creationTimestamp ?? at,
      name,
      ...(typeof body.description === 'string' && body.description !== '' ? { description: body.description } : {}),
      region: this.regionLink(region),
      network,
      ...(bgp !== undefined ? { bgp } : {}),
      ...(bgpPeers !== undefined && bgpPeers.length > 0 ? { bgpPeers } : {}),
      ...(interfaces !== undefined && interfaces.length > 0 ? { interfaces } : {}),
      selfLink: `${this.regionLink(region)}/routers/${name}`,
    };
  }

  // ---- operations ----

  /**
   * Starts an operation whose `apply` runs when it completes, `operationDelayMs` from now: the change
   * becomes visible then. An error `apply` throws (or an injected one) is the operation's error.
   */
  private operation(request: ComputeRequest, type: string, targetLink: string, targetId: string, apply: () => void, reserve?: string): OperationResource {
    this.seq += 1;
    const name = `operation-${Date.now()}-${this.seq.toString(16).padStart(8, '0')}-${((this.seq * 2_654_435_761) % 0xffffffff).toString(16)}`;
    const at = this.now();
    const scope = request.region === undefined ? `${this.projectLink()}/global` : this.regionLink(request.region);
    const op: OperationResource = {
      kind: 'compute#operation',
      id: this.newId(),
      name,
      operationType: type,
      targetLink,
      targetId,
      status: 'RUNNING',
      user: 'causeway@compute-double.example',
      progress: 0,
      insertTime: at,
      startTime: at,
      selfLink: `${scope}/operations/${name}`,
      ...(request.region !== undefined ? { region: this.regionLink(request.region) } : {}),
    };
    this.state.operations.set(name, op);
    if (reserve !== undefined) this.reserved.add(reserve);
    const fault = this.operationFaults.find((f) => f.remaining > 0 && f.match(request));
    if (fault !== undefined) fault.remaining -= 1;
    const complete = (): void => {
      if (reserve !== undefined) this.reserved.delete(reserve);
      let error: { code: string; message: string; httpStatus: number } | undefined =
        fault === undefined ? undefined : { code: fault.error.code, message: fault.error.message, httpStatus: fault.error.httpStatus ?? 400 };
      if (error === undefined) {
        try {
          apply();
        } catch (err) {
          if (!(err instanceof ComputeError)) throw err;
          error = { code: OPERATION_CODE[err.reason] ?? 'INTERNAL_ERROR', message: err.message, httpStatus: err.status };
        }
      }
      op.status = 'DONE';
      op.progress = 100;
      op.endTime = this.now();
      if (error !== undefined) {
        op.error = { errors: [{ code: error.code, message: error.message }] };
        op.httpErrorStatusCode = error.httpStatus;
        op.httpErrorMessage = GRPC_STATUS[error.httpStatus] ?? 'BAD REQUEST';
      }
      for (const w of this.waiters.get(name) ?? []) w();
      this.waiters.delete(name);
    };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      complete();
    }, this.operationDelayMs);
    this.timers.add(timer);
    return op;
  }

  private async waitFor(op: OperationResource): Promise<void> {
    if (op.status === 'DONE') return;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(op.name) ?? new Set<() => void>();
      this.waiters.set(op.name, set);
      const done = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.options.waitDeadlineMs ?? 120_000);
      this.timers.add(timer);
      set.add(done);
    });
  }

  // ---- HTTP ----

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  }

  private parse(method: string, url: URL, body: unknown): ComputeRequest {
    const prefix = `/compute/v1/projects/`;
    if (!url.pathname.startsWith(prefix)) throw new ComputeError(404, `The requested URL ${url.pathname} was not found on this server.`, 'notFound');
    const parts = url.pathname.slice(prefix.length).split('/').map(decodeURIComponent);
    const [project, scope, ...rest] = parts;
    if (project !== this.project) throw notFound(`projects/${project ?? ''}`);
    let region: string | undefined;
    let tail = rest;
    if (scope === 'regions') {
      region = rest[0];
      tail = rest.slice(1);
    } else if (scope !== 'global') throw new ComputeError(404, `The requested URL ${url.pathname} was not found on this server.`, 'notFound');
    const [collection, name, action] = tail;
    const known: Record<string, readonly ('global' | 'regions')[]> = {
      networks: ['global'],
      routes: ['global'],
      firewalls: ['global'],
      subnetworks: ['regions'],
      routers: ['regions'],
      vpnTunnels: ['regions'],
      operations: ['global', 'regions'],
    };
    if (collection === undefined || known[collection]?.includes(scope) !== true || (region === '' && scope === 'regions')) {
      throw new ComputeError(404, `The requested URL ${url.pathname} was not found on this server.`, 'notFound');
    }
    let verb: Verb;
    if (collection === 'operations' && action === 'wait' && method === 'POST') verb = 'wait';
    else if (action !== undefined) throw new ComputeError(404, `The requested URL ${url.pathname} was not found on this server.`, 'notFound');
    else if (name === undefined) verb = method === 'GET' ? 'list' : method === 'POST' ? 'insert' : 'list';
    else verb = VERBS[method] ?? 'get';
    if ((name === undefined && method !== 'GET' && method !== 'POST') || (name !== undefined && !['GET', 'PATCH', 'PUT', 'DELETE', 'POST'].includes(method))) {
      throw new ComputeError(405, `Method ${method} is not allowed here.`, 'methodNotAllowed');
    }
    return { method, path: url.pathname, collection: collection as Collection, verb, region, name, body };
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://double');
    const text = Buffer.concat(chunks).toString('utf8');
    let request: ComputeRequest;
    try {
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        throw new ComputeError(400, 'Invalid JSON payload received.', 'parseError');
      }
      request = this.parse(req.method ?? 'GET', url, body);
    } catch (err) {
      if (err instanceof ComputeError) this.send(res, err.status, err.body());
      else throw err;
      return;
    }
    this.requests.push(request);
    const accept = this.options.acceptTokens;
    if (accept !== undefined) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !accept.includes(auth.slice('Bearer '.length))) {
        const e = new ComputeError(
          401,
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
          'authError',
        );
        this.send(res, 401, e.body());
        return;
      }
    }
    for (const d of this.delays) if (d.match(request)) await new Promise((resolve) => setTimeout(resolve, d.ms));
    const fault = this.faults.find((f) => f.remaining > 0 && f.match(request));
    if (fault !== undefined) fault.remaining -= 1;
    if (fault !== undefined && !fault.afterApply) {
      this.send(res, fault.error.status, fault.error.body());
      return;
    }
    try {
      const body = await this.handle(request, url.searchParams);
      if (fault !== undefined) this.send(res, fault.error.status, fault.error.body());
      else this.send(res, 200, body);
    } catch (err) {
      if (err instanceof ComputeError) this.send(res, err.status, err.body());
      else throw err;
    }
  }

  /** One page of `items`: maxResults 0..500 (default 500) and an opaque pageToken. */
  private page(request: ComputeRequest, query: URLSearchParams, items: unknown[], kind: string): unknown {
    const filter = compileFilter(query.get('filter'));
    const matched = (items as { name: string }[]).filter(filter).sort((a, b) => a.name.localeCompare(b.name));
    const raw = query.get('maxResults');
    const max = raw === null ? 500 : Number(raw);
    if (!Number.isInteger(max) || max < 0 || max > 500) throw invalidField('maxResults', raw, 'Must be less than or equal to 500.');
    const size = max === 0 ? 500 : max;
    const scope = `${request.path}|${query.get('filter') ?? ''}`;
    let offset = 0;
    const token = query.get('pageToken');
    if (token !== null && token !== '') {
      let decoded: { s?: unknown; o?: unknown } = {};
      try {
        decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { s?: unknown; o?: unknown };
      } catch {
        // Falls through to the refusal below.
      }
      if (decoded.s !== scope || typeof decoded.o !== 'number') throw invalidField('pageToken', token, 'The page token is not valid for this request.');
      offset = decoded.o;
    }
    const slice = matched.slice(offset, offset + size);
    const next = offset + size < matched.length ? Buffer.from(JSON.stringify({ s: scope, o: offset + size })).toString('base64url') : undefined;
    return {
      kind,
      id: request.path,
      items: slice,
      ...(next !== undefined ? { nextPageToken: next } : {}),
      selfLink: `${COMPUTE_BASE.slice(0, -1)}${request.path.slice('/compute/v1'.length)}`,
    };
  }

  private key(request: ComputeRequest): string {
    return request.region === undefined ? (request.name ?? '') : `${request.region}/${request.name ?? ''}`;
  }

  private pathOf(request: ComputeRequest, name = request.name ?? ''): string {
    return request.region === undefined
      ? `projects/${this.project}/global/${request.collection}/${name}`
      : `projects/${this.project}/regions/${request.region}/${request.collection}/${name}`;
  }

  private async handle(request: ComputeRequest, query: URLSearchParams): Promise<unknown> {
    const s = this.state;
    const at = this.now();
    switch (request.collection) {
      case 'networks': {
        if (request.verb === 'list')
          return this.page(
            request,
            query,
            [...s.networks.values()].map((n) => this.networkJson(n)),
            'compute#networkList',
          );
        const n = s.networks.get(request.name ?? '');
        if (n === undefined || request.verb !== 'get') throw notFound(this.pathOf(request));
        return this.networkJson(n);
      }
      case 'subnetworks': {
        const region = this.regionLink(request.region ?? '');
        if (request.verb === 'list')
          return this.page(
            request,
            query,
            [...s.subnetworks.values()].filter((x) => x.region === region),
            'compute#subnetworkList',
          );
        const sub = s.subnetworks.get(this.key(request));
        if (sub === undefined || request.verb !== 'get') throw notFound(this.pathOf(request));
        return sub;
      }
      case 'vpnTunnels': {
        const region = this.regionLink(request.region ?? '');
        if (request.verb === 'list')
          return this.page(
            request,
            query,
            [...s.vpnTunnels.values()].filter((x) => x.region === region),
            'compute#vpnTunnelList',
          );
        const t = s.vpnTunnels.get(this.key(request));
        if (t === undefined || request.verb !== 'get') throw notFound(this.pathOf(request));
        return t;
      }
      case 'routes':
        return this.routes(request, query, at);
      case 'firewalls':
        return this.firewalls(request, query, at);
      case 'routers':
        return this.routers(request, query, at);
      case 'operations': {
        const op = s.operations.get(request.name ?? '');
        const scope = request.region === undefined ? undefined : this.regionLink(request.region);
        if (op === undefined || op.region !== scope) throw notFound(this.pathOf(request));
        if (request.verb === 'wait') await this.waitFor(op);
        return op;
      }
    }
  }

  private networkJson(n: NetworkResource): unknown {
    const subnetworks = [...this.state.subnetworks.values()].filter((x) => x.network === n.selfLink).map((x) => x.selfLink);
    return { ...n, ...(subnetworks.length > 0 ? { subnetworks } : {}) };
  }

  private routes(request: ComputeRequest, query: URLSearchParams, at: string): unknown {
    const s = this.state;
    switch (request.verb) {
      case 'list':
        return this.page(request, query, [...s.routes.values()], 'compute#routeList');
      case 'insert': {
        const route = this.routeFrom(request.body, at);
        const path = this.pathOf(request, route.name);
        if (s.routes.has(route.name) || this.reserved.has(`routes/${route.name}`)) throw exists(path);
        return this.operation(
          request,
          'insert',
          route.selfLink,
          route.id,
          () => {
            // Found while the operation runs, as on GCP: a next hop that does not exist, the quota.
            if (route.nextHopVpnTunnel !== undefined) {
              const m = /projects\/([^/]+)\/regions\/([^/]+)\/vpnTunnels\/([^/]+)$/.exec(route.nextHopVpnTunnel);
              if (m?.[1] !== this.project || !s.vpnTunnels.has(`${m[2] ?? ''}/${m[3] ?? ''}`))
                throw notFound(route.nextHopVpnTunnel.slice(COMPUTE_BASE.length));
            }
            const statics = [...s.routes.values()].filter((r) => r.routeType === 'STATIC').length;
            const quota = this.options.routeQuota ?? 250;
            if (statics >= quota) throw new ComputeError(403, `Quota 'ROUTES' exceeded.  Limit: ${quota}.0 globally.`, 'quotaExceeded', 'usageLimits');
            s.routes.set(route.name, route);
          },
          `routes/${route.name}`,
        );
      }
      case 'get':
      case 'delete': {
        const route = s.routes.get(request.name ?? '');
        if (route === undefined) throw notFound(this.pathOf(request));
        if (request.verb === 'get') return route;
        if (route.routeType === 'SUBNET')
          throw new ComputeError(400, `The route '${this.pathOf(request)}' is a subnetwork route and cannot be deleted.`, 'invalid');
        return this.operation(request, 'delete', route.selfLink, route.id, () => {
          if (s.routes.get(route.name) === route) s.routes.delete(route.name);
        });
      }
      case 'patch':
      case 'update':
      case 'wait':
        throw new ComputeError(405, 'Routes cannot be changed: delete the route and insert another.', 'methodNotAllowed');
    }
  }

  private firewalls(request: ComputeRequest, query: URLSearchParams, at: string): unknown {
    const s = this.state;
    switch (request.verb) {
      case 'list':
        return this.page(request, query, [...s.firewalls.values()], 'compute#firewallList');
      case 'insert': {
        const rule = this.firewallFrom(request.body, at);
        if (s.firewalls.has(rule.name) || this.reserved.has(`firewalls/${rule.name}`)) throw exists(this.pathOf(request, rule.name));
        return this.operation(request, 'insert', rule.selfLink, rule.id, () => s.firewalls.set(rule.name, rule), `firewalls/${rule.name}`);
      }
      case 'get':
      case 'delete':
      case 'patch':
      case 'update': {
        const current = s.firewalls.get(request.name ?? '');
        if (current === undefined) throw notFound(this.pathOf(request));
        if (request.verb === 'get') return current;
        if (request.verb === 'delete') {
          return this.operation(request, 'delete', current.selfLink, current.id, () => {
            s.firewalls.delete(current.name);
          });
        }
        const next = (base: FirewallResource): FirewallResource => {
          // PATCH merges into the rule; PUT (update) replaces it, the name and network kept.
          const merged = request.verb === 'patch' ? mergePatch(base, request.body) : request.body;
          if (!isObject(merged)) throw new ComputeError(400, "Required field 'resource' not specified");
          if ((merged.name ?? base.name) !== base.name) throw invalidField('resource.name', merged.name, 'The name of a firewall rule cannot change.');
          const rule = this.firewallFrom({ ...merged, name: base.name, network: merged.network ?? base.network }, at, base);
          if (rule.network !== base.network) throw invalidField('resource.network', merged.network, 'The network of a firewall rule cannot change.');
          if (rule.direction !== base.direction) throw invalidField('resource.direction', merged.direction, 'The direction of a firewall rule cannot change.');
          return rule;
        };
        next(current);
        return this.operation(request, request.verb, current.selfLink, current.id, () => {
          const base = s.firewalls.get(current.name);
          if (base === undefined) throw notFound(this.pathOf(request));
          s.firewalls.set(current.name, next(base));
        });
      }
      case 'wait':
        throw notFound(this.pathOf(request));
    }
  }

  private routers(request: ComputeRequest, query: URLSearchParams, at: string): unknown {
    const s = this.state;
    const region = request.region ?? '';
    switch (request.verb) {
      case 'list':
        return this.page(
          request,
          query,
          [...s.routers.values()].filter((r) => r.region === this.regionLink(region)),
          'compute#routerList',
        );
      case 'get':
      case 'patch':
      case 'update': {
        const key = this.key(request);
        const current = s.routers.get(key);
        if (current === undefined) throw notFound(this.pathOf(request));
        if (request.verb === 'get') return current;
        const next = (base: RouterResource): RouterResource => {
          const merged = request.verb === 'patch' ? mergePatch(base, request.body) : request.body;
          if (!isObject(merged)) throw new ComputeError(400, "Required field 'resource' not specified");
          const name = merged.name ?? base.name;
          if (name !== base.name) throw invalidField('resource.name', merged.name, 'The name of a router cannot change.');
          const router = this.routerFrom({ ...merged, name, network: merged.network ?? base.network }, region, at, base);
          if (router.network !== base.network) throw invalidField('resource.network', merged.network, 'The network of a router cannot change.');
          return router;
        };
        next(current);
        return this.operation(request, request.verb, current.selfLink, current.id, () => {
          const base = s.routers.get(key);
          if (base === undefined) throw notFound(this.pathOf(request));
          s.routers.set(key, next(base));
        });
      }
      case 'insert':
      case 'delete':
      case 'wait':
        throw new ComputeError(405, 'The double does not create or delete routers.', 'methodNotAllowed');
    }
  }
}

function gatewayOf(cidr: string): string {
  const [a = '0', b = '0', c = '0', d = '0'] = cidr.split('/')[0]?.split('.') ?? [];
  return `${a}.${b}.${c}.${Number(d) + 1}`;
}

/** Starts a double on 127.0.0.1; it is closed by `close()` or, at the latest, by the harness's cleanup. */
export async function startComputeDouble(options: ComputeDoubleOptions = {}): Promise<ComputeDouble> {
  const double = new ComputeDoubleServer(options);
  await double.listen(options.port ?? 0);
  const forget = onCleanup(() => double.close());
  const close = double.close.bind(double);
  double.close = async () => {
    forget();
    await close();
  };
  return double;
}

export async function readComputeFixture(path: string): Promise<ComputeFixture> {
  return JSON.parse(await readFile(path, 'utf8')) as ComputeFixture;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, fixture: { type: 'string' }, port: { type: 'string' }, 'operation-delay': { type: 'string' } },
  });
  const seed = values.seed ?? values.fixture;
  const double = await startComputeDouble({
    ...(seed !== undefined ? { fixture: await readComputeFixture(seed) } : {}),
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
    ...(values['operation-delay'] !== undefined ? { operationDelayMs: Number(values['operation-delay']) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ url: double.url, endpoint: double.url, project: double.project })}\n`);
  const shutdown = (): void => {
    void double.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
