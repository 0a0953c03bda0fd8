// EC2 Query API double: a small, stateful, in-memory TEST DOUBLE of Amazon EC2's networking API. It
// is not AWS and never part of the product. No EC2 emulator runs on these machines (TESTING.md,
// "Cloud doubles"), so tests and the demo reach this double through the real `@aws-sdk/client-ec2`
// and its `endpoint` setting, as users point the client at LocalStack; product code is the same
// against the double and the cloud.
//
// It speaks the Query protocol as the SDK does (POST /, form-encoded `Action=...&Version=2016-11-15`,
// `X.N` lists, XML answers under `<ActionResponse xmlns=...>` with `<item>` sets and `<nextToken>`,
// errors as `<Response><Errors><Error><Code>`), for VPCs, subnets, route tables and routes, transit
// gateways and their attachments, security groups and their rules, and tags: Describe* (filters,
// tags, ids, MaxResults/NextToken paging), Create*/Delete*/Replace*, Authorize*/Revoke*, DryRun
// (DryRunOperation, HTTP 412, after the call's own checks). Route tables hold at most `routeLimit`
// non-propagated routes besides their local ones (RouteLimitExceeded), as AWS's quota does.
//
// It seeds from a fixture (test/fixtures/providers/), holds resources Causeway does not own, and
// can be told to throttle (RequestLimitExceeded, 503), fail or delay matching requests. It counts
// the calls it gets, so that an idempotence test can say "no mutating call"; every other test
// asserts its resulting state.
//
// Deliberate simplifications: no signature or credential checks (the SigV4 header is ignored), one
// account and one region per instance, no VPC endpoints, NAT/internet/VPN gateways or network ACLs
// as objects (their ids are accepted as route targets), no transit gateway route tables, a paging
// token reads the current state rather than a snapshot, rules referencing groups or prefix lists
// are stored but not checked.
//
// Standalone, for the demo: node test/harness/ec2-double.ts [--fixture FILE] [--port N]
// prints {"endpoint": URL} on one line and serves until SIGTERM or SIGINT.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { checkCidr, cidrContains } from '../../controlplane/api/cidr.ts';
import { onCleanup } from './cleanup.ts';

// ---- fixture and state -----------------------------------------------------------------------

export type Tags = Record<string, string>;

export interface Ec2Fixture {
  readonly accountId?: string;
  readonly vpcs?: readonly { id: string; cidrBlock: string; cidrBlocks?: string[]; ipv6CidrBlocks?: string[]; isDefault?: boolean; tags?: Tags }[];
  readonly subnets?: readonly { id: string; vpcId: string; cidrBlock: string; ipv6CidrBlock?: string; availabilityZone?: string; tags?: Tags }[];
  readonly routeTables?: readonly { id: string; vpcId: string; main?: boolean; subnetIds?: string[]; tags?: Tags; routes?: FixtureRoute[] }[];
  readonly transitGateways?: readonly { id: string; amazonSideAsn?: number; description?: string; tags?: Tags }[];
  readonly transitGatewayAttachments?: readonly {
    id: string;
    transitGatewayId: string;
    resourceType: 'vpc' | 'vpn' | 'direct-connect-gateway' | 'peering' | 'connect';
    resourceId: string;
    state?: string;
    tags?: Tags;
  }[];
  readonly securityGroups?: readonly { id: string; vpcId: string; name: string; description?: string; tags?: Tags; rules?: FixtureRule[] }[];
}

export interface FixtureRoute {
  readonly destination: string;
  readonly gatewayId?: string;
  readonly transitGatewayId?: string;
  readonly vpcPeeringConnectionId?: string;
  readonly natGatewayId?: string;
  readonly networkInterfaceId?: string;
  readonly instanceId?: string;
  /** `CreateRoute` (default) or `EnableVgwRoutePropagation`. */
  readonly origin?: RouteOrigin;
  readonly state?: 'active' | 'blackhole';
}

export interface FixtureRule {
  readonly id?: string;
  readonly egress?: boolean;
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly cidr?: string;
  readonly referencedGroupId?: string;
  readonly description?: string;
  readonly tags?: Tags;
}

type RouteOrigin = 'CreateRouteTable' | 'CreateRoute' | 'EnableVgwRoutePropagation';
const TARGET_FIELDS = ['gatewayId', 'transitGatewayId', 'vpcPeeringConnectionId', 'natGatewayId', 'networkInterfaceId', 'instanceId'] as const;
type TargetField = (typeof TARGET_FIELDS)[number];

export interface Ec2Route {
  destination: string;
  target: { field: TargetField; id: string };
  origin: RouteOrigin;
  state: 'active' | 'blackhole';
}

export interface Ec2Vpc {
  id: string;
  cidrBlocks: string[];
  ipv6CidrBlocks: string[];
  isDefault: boolean;
  tags: Tags;
}
export interface Ec2Subnet {
  id: string;
  vpcId: string;
  cidrBlock: string;
  ipv6CidrBlock: string | undefined;
  availabilityZone: string;
  tags: Tags;
}
export interface Ec2RouteTable {
  id: string;
  vpcId: string;
  main: boolean;
  subnetIds: string[];
  routes: Ec2Route[];
  tags: Tags;
}
export interface Ec2TransitGateway {
  id: string;
  amazonSideAsn: number;
  description: string;
  state: string;
  tags: Tags;
}
export interface Ec2TransitGatewayAttachment {
  id: string;
  transitGatewayId: string;
  resourceType: string;
  resourceId: string;
  subnetIds: string[];
  state: string;
  tags: Tags;
}
export interface Ec2SecurityGroup {
  id: string;
  vpcId: string;
  name: string;
  description: string;
  tags: Tags;
}
export interface Ec2SecurityGroupRule {
  id: string;
  groupId: string;
  egress: boolean;
  protocol: string;
  fromPort: number;
  toPort: number;
  cidrIpv4: string | undefined;
  cidrIpv6: string | undefined;
  referencedGroupId: string | undefined;
  description: string | undefined;
  tags: Tags;
}

/** Everything the double holds; tests read it to assert the resulting state. */
export interface Ec2State {
  readonly vpcs: Map<string, Ec2Vpc>;
  readonly subnets: Map<string, Ec2Subnet>;
  readonly routeTables: Map<string, Ec2RouteTable>;
  readonly transitGateways: Map<string, Ec2TransitGateway>;
  readonly attachments: Map<string, Ec2TransitGatewayAttachment>;
  readonly securityGroups: Map<string, Ec2SecurityGroup>;
  readonly rules: Map<string, Ec2SecurityGroupRule>;
}

// ---- the double's interface ------------------------------------------------------------------

export interface Ec2Request {
  readonly action: string;
  readonly params: ReadonlyMap<string, string>;
}

export interface Ec2DoubleOptions {
  readonly fixture?: Ec2Fixture;
  /** Default 0: a free port on 127.0.0.1. */
  readonly port?: number;
  /** Non-propagated routes a route table may hold besides its local ones; default 50. */
  readonly routeLimit?: number;
}

export interface Ec2FaultOptions {
  /** Only requests this matches count; default all. */
  readonly match?: (request: Ec2Request) => boolean;
}

export interface Ec2Double {
  /** The URL to give the SDK client as `endpoint`. */
  readonly endpoint: string;
  readonly accountId: string;
  readonly state: Ec2State;
  /** The next `count` matching requests answer RequestLimitExceeded (HTTP 503), as AWS throttles. */
  throttle(count: number, options?: Ec2FaultOptions): void;
  /** The next `count` matching requests fail with this error code and HTTP status (default 500 InternalError). */
  fail(count: number, error?: { code?: string; message?: string; status?: number }, options?: Ec2FaultOptions): void;
  /** Matching requests are answered `ms` later, until `clearFaults`. */
  delay(ms: number, options?: Ec2FaultOptions): void;
  clearFaults(): void;
  /** Requests received (faulted ones included), optionally of one action. */
  calls(action?: string): number;
  /** Requests received whose action changes state (Create*, Delete*, Replace*, Authorize*, Revoke*, Modify*, ...), dry runs included. */
  mutatingCalls(): number;
  resetCounters(): void;
  /** The routes of one table as `destination → target id`, local routes included. */
  routesOf(routeTableId: string): Record<string, string>;
  /** The rules of one security group. */
  rulesOf(groupId: string): Ec2SecurityGroupRule[];
  stop(): Promise<void>;
}

// ---- errors --------------------------------------------------------------------------------

class Ec2Error extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const notFound = (code: string, what: string, id: string): Ec2Error => new Ec2Error(code, `The ${what} '${id}' does not exist`);
const invalid = (message: string): Ec2Error => new Ec2Error('InvalidParameterValue', message);
const missing = (name: string): Ec2Error => new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);

// ---- request parameters --------------------------------------------------------------------

type Params = ReadonlyMap<string, string>;

/** `Name.1`, `Name.2`, ... → values in order. */
function listOf(params: Params, name: string): string[] {
  const out: [number, string][] = [];
  const re = new RegExp(`^${name.replace(/\./g, '\\.')}\\.(\\d+)$`);
  for (const [k, v] of params) {
    const m = re.exec(k);
    if (m !== null) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** `Name.1.Field`, `Name.2.Field.1.X`, ... → one sub-map per index, keys relative to it. */
function structsOf(params: Params, name: string): Map<string, string>[] {
  const byIndex = new Map<number, Map<string, string>>();
  const prefix = `${name}.`;
  for (const [k, v] of params) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    const dot = rest.indexOf('.');
    if (dot < 0) continue;
    const index = Number(rest.slice(0, dot));
    if (!Number.isInteger(index)) continue;
    const sub = byIndex.get(index) ?? new Map<string, string>();
    sub.set(rest.slice(dot + 1), v);
    byIndex.set(index, sub);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
}

function required(params: Params, name: string): string {
  const v = params.get(name);
  if (v === undefined || v === '') throw missing(name);
  return v;
}

function intParam(params: Params, name: string): number | undefined {
  const v = params.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalid(`Invalid value '${v}' for ${name}`);
  return n;
}

function tagSpecifications(params: Params, resourceType: string): Tags {
  const tags: Tags = {};
  for (const spec of structsOf(params, 'TagSpecification')) {
    const type = spec.get('ResourceType');
    if (type !== resourceType) throw invalid(`'${type ?? ''}' is not a valid taggable resource type for this operation.`);
    for (const t of structsOf(spec, 'Tag')) {
      const key = t.get('Key');
      if (key === undefined || key === '') throw missing('Tag.Key');
      if (key.startsWith('aws:')) throw invalid("Tag keys starting with 'aws:' are reserved for internal use");
      tags[key] = t.get('Value') ?? '';
    }
  }
  return tags;
}

// ---- filters -------------------------------------------------------------------------------

type Fields = (name: string) => readonly string[] | undefined;

function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}

function tagFields(tags: Tags, name: string): readonly string[] | undefined {
  if (name.startsWith('tag:')) {
    const v = tags[name.slice(4)];
    return v === undefined ? [] : [v];
  }
  if (name === 'tag-key') return Object.keys(tags);
  if (name === 'tag-value') return Object.values(tags);
  return undefined;
}

/** Keeps what every filter matches (values of one filter are alternatives), as EC2 does. */
function applyFilters<T>(params: Params, items: readonly T[], fields: (item: T) => Fields): T[] {
  const filters = structsOf(params, 'Filter').map((f) => {
    const name = f.get('Name');
    if (name === undefined) throw missing('Filter.Name');
    return { name, values: listOf(f, 'Value').map(glob) };
  });
  if (filters.length === 0) return [...items];
  const sample = items[0];
  for (const f of filters) {
    // The set of filter names is per resource type: probe with any item (or fail for an empty list later).
    if (sample !== undefined && fields(sample)(f.name) === undefined) throw invalid(`The filter '${f.name}' is invalid`);
  }
  return items.filter((item) =>
    filters.every((f) => {
      const have = fields(item)(f.name);
      if (have === undefined) throw invalid(`The filter '${f.name}' is invalid`);
      return have.some((v) => f.values.some((re) => re.test(v)));
    }),
  );
}

// ---- XML -----------------------------------------------------------------------------------

type Xml = string | number | boolean | undefined | XmlObject | Xml[];
interface XmlObject {
  [name: string]: Xml;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function toXml(name: string, value: Xml): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => toXml('item', v)).join('')}</${name}>`;
  if (typeof value === 'object') {
    return `<${name}>${Object.entries(value)
      .map(([k, v]) => toXml(k, v))
      .join('')}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

const tagSet = (tags: Tags): Xml[] => Object.entries(tags).map(([key, value]) => ({ key, value }));

// ---- the server ------------------------------------------------------------------------------

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const MUTATING = /^(Create|Delete|Replace|Authorize|Revoke|Modify|Associate|Disassociate|Attach|Detach|Enable|Disable|Accept|Reject)/;

interface Fault {
  remaining: number;
  readonly error: Ec2Error;
  readonly match: (r: Ec2Request) => boolean;
}

class Ec2DoubleServer implements Ec2Double {
  readonly accountId: string;
  readonly state: Ec2State;
  endpoint = '';
  private readonly routeLimit: number;
  private readonly server: Server;
  private faults: Fault[] = [];
  private delays: { ms: number; match: (r: Ec2Request) => boolean }[] = [];
  private readonly counts = new Map<string, number>();
  private mutating = 0;
  private seq = 0;
  private requestSeq = 0;
  private readonly pages = new Map<string, { action: string; offset: number }>();

  constructor(options: Ec2DoubleOptions) {
    const f = options.fixture ?? {};
    this.accountId = f.accountId ?? '123456789012';
    this.routeLimit = options.routeLimit ?? 50;
    this.state = {
      vpcs: new Map(),
      subnets: new Map(),
      routeTables: new Map(),
      transitGateways: new Map(),
      attachments: new Map(),
      securityGroups: new Map(),
      rules: new Map(),
    };
    this.seed(f);
    this.server = createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendError(res, new Ec2Error('InternalError', String(err), 500));
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
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  throttle(count: number, options: Ec2FaultOptions = {}): void {
    this.faults.push({ remaining: count, error: new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503), match: options.match ?? (() => true) });
  }

  fail(count: number, error: { code?: string; message?: string; status?: number } = {}, options: Ec2FaultOptions = {}): void {
    const e = new Ec2Error(error.code ?? 'InternalError', error.message ?? 'An internal error has occurred', error.status ?? 500);
    this.faults.push({ remaining: count, error: e, match: options.match ?? (() => true) });
  }

  delay(ms: number, options: Ec2FaultOptions = {}): void {
    this.delays.push({ ms, match: options.match ?? (() => true) });
  }

  clearFaults(): void {
    this.faults = [];
    this.delays = [];
  }

  calls(action?: string): number {
    if (action !== undefined) return this.counts.get(action) ?? 0;
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  mutatingCalls(): number {
    return this.mutating;
  }

  resetCounters(): void {
    this.counts.clear();
    this.mutating = 0;
  }

  routesOf(routeTableId: string): Record<string, string> {
    const t = this.state.routeTables.get(routeTableId);
    if (t === undefined) throw new Error(`no route table ${routeTableId}`);
    return Object.fromEntries(t.routes.map((r) => [r.destination, r.target.id]));
  }

  rulesOf(groupId: string): Ec2SecurityGroupRule[] {
    return [...this.state.rules.values()].filter((r) => r.groupId === groupId);
  }

  // ---- seeding ----

  private seed(f: Ec2Fixture): void {
    for (const v of f.vpcs ?? []) {
      this.state.vpcs.set(v.id, {
        id: v.id,
        cidrBlocks: [v.cidrBlock, ...(v.cidrBlocks ?? [])],
        ipv6CidrBlocks: v.ipv6CidrBlocks ?? [],
        isDefault: v.isDefault ?? false,
        tags: { ...v.tags },
      });
    }
    for (const s of f.subnets ?? []) {
      this.requireVpc(s.vpcId);
      this.state.subnets.set(s.id, {
        id: s.id,
        vpcId: s.vpcId,
        cidrBlock: s.cidrBlock,
        ipv6CidrBlock: s.ipv6CidrBlock,
        availabilityZone: s.availabilityZone ?? 'us-east-1a',
        tags: { ...s.tags },
      });
    }
    for (const t of f.routeTables ?? []) {
      const vpc = this.requireVpc(t.vpcId);
      const routes = [...this.localRoutes(vpc)];
      for (const r of t.routes ?? []) {
        const field = TARGET_FIELDS.find((k) => r[k] !== undefined);
        const id = field === undefined ? undefined : r[field];
        if (field === undefined || id === undefined) throw new Error(`fixture route ${r.destination} in ${t.id} has no target`);
        routes.push({ destination: normalise(r.destination), target: { field, id }, origin: r.origin ?? 'CreateRoute', state: r.state ?? 'active' });
      }
      this.state.routeTables.set(t.id, { id: t.id, vpcId: t.vpcId, main: t.main ?? false, subnetIds: t.subnetIds ?? [], routes, tags: { ...t.tags } });
    }
    for (const g of f.transitGateways ?? []) {
      this.state.transitGateways.set(g.id, {
        id: g.id,
        amazonSideAsn: g.amazonSideAsn ?? 64512,
        description: g.description ?? '',
        state: 'available',
        tags: { ...g.tags },
      });
    }
    for (const a of f.transitGatewayAttachments ?? []) {
      this.state.attachments.set(a.id, {
        id: a.id,
        transitGatewayId: a.transitGatewayId,
        resourceType: a.resourceType,
        resourceId: a.resourceId,
        subnetIds: [],
        state: a.state ?? 'available',
        tags: { ...a.tags },
      });
    }
    for (const g of f.securityGroups ?? []) {
      this.requireVpc(g.vpcId);
      this.state.securityGroups.set(g.id, { id: g.id, vpcId: g.vpcId, name: g.name, description: g.description ?? g.name, tags: { ...g.tags } });
      for (const r of g.rules ?? []) {
        const id = r.id ?? this.newId('sgr');
        const v6 = r.cidr?.includes(':') === true;
        this.state.rules.set(id, {
          id,
          groupId: g.id,
          egress: r.egress ?? false,
          protocol: normaliseProtocol(r.protocol),
          fromPort: r.fromPort ?? -1,
          toPort: r.toPort ?? -1,
          cidrIpv4: r.cidr !== undefined && !v6 ? normalise(r.cidr) : undefined,
          cidrIpv6: r.cidr !== undefined && v6 ? normalise(r.cidr) : undefined,
          referencedGroupId: r.referencedGroupId,
          description: r.description,
          tags: { ...r.tags },
        });
      }
    }
  }

  private localRoutes(vpc: Ec2Vpc): Ec2Route[] {
    return [...vpc.cidrBlocks, ...vpc.ipv6CidrBlocks].map((c) => ({
      destination: c,
      target: { field: 'gatewayId', id: 'local' },
      origin: 'CreateRouteTable',
      state: 'active',
    }));
  }

  private newId(prefix: string): string {
    this.seq += 1;
    return `${prefix}-${this.seq.toString(16).padStart(17, '0')}`;
  }

  // ---- HTTP ----

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST') {
      this.sendError(res, new Ec2Error('InvalidAction', 'The double answers POST requests only', 400));
      return;
    }
    const params = new Map(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const action = params.get('Action') ?? '';
    const request: Ec2Request = { action, params };
    this.counts.set(action, (this.counts.get(action) ?? 0) + 1);
    if (MUTATING.test(action)) this.mutating += 1;
    for (const d of this.delays) {
      if (d.match(request)) await new Promise((resolve) => setTimeout(resolve, d.ms));
    }
    const fault = this.faults.find((f) => f.remaining > 0 && f.match(request));
    if (fault !== undefined) {
      fault.remaining -= 1;
      this.sendError(res, fault.error);
      return;
    }
    try {
      const handler = this.handlers[action];
      if (handler === undefined) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
      if (params.get('DryRun') === 'true') {
        // The call's own checks run against a copy: a dry run reports what the real one would.
        const saved = structuredClone(this.state);
        try {
          handler(params);
        } finally {
          restore(this.state, saved);
        }
        throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
      }
      const body = handler(params);
      this.send(
        res,
        200,
        `<?xml version="1.0" encoding="UTF-8"?>\n${toXml(`${action}Response`, { requestId: this.requestId(), ...body }).replace(`<${action}Response>`, `<${action}Response xmlns="${NAMESPACE}">`)}`,
      );
    } catch (err) {
      if (err instanceof Ec2Error) this.sendError(res, err);
      else throw err;
    }
  }

  private requestId(): string {
    this.requestSeq += 1;
    return `00000000-0000-4000-8000-${this.requestSeq.toString(16).padStart(12, '0')}`;
  }

  private send(res: ServerResponse, status: number, body: string, requestId?: string): void {
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId ?? this.requestId() });
    res.end(body);
  }

  private sendError(res: ServerResponse, err: Ec2Error): void {
    const id = this.requestId();
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message></Error></Errors><RequestID>${id}</RequestID></Response>`;
    this.send(res, err.status, body, id);
  }

  // ---- paging ----

  /** One page of `items`, EC2-style: MaxResults 5..1000 (or all when absent) and an opaque NextToken. */
  private page<T>(
    params: Params,
    action: string,
    items: readonly T[],
    opts: { max?: number; noPagingWithIds?: string } = {},
  ): { items: T[]; nextToken: string | undefined } {
    const maxResults = intParam(params, 'MaxResults');
    const token = params.get('NextToken');
    if (maxResults !== undefined && opts.noPagingWithIds !== undefined && listOf(params, opts.noPagingWithIds).length > 0) {
      throw new Ec2Error('InvalidParameterCombination', `The parameter ${opts.noPagingWithIds}s cannot be used with the parameter maxResults`);
    }
    const max = opts.max ?? 1000;
    if (maxResults !== undefined && (maxResults < 5 || maxResults > max))
      throw invalid(`Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and ${max}.`);
    let offset = 0;
    if (token !== undefined) {
      const p = this.pages.get(token);
      if (p?.action !== action) throw new Ec2Error('InvalidNextToken', 'The token provided is invalid or has expired.');
      offset = p.offset;
    }
    const size = maxResults ?? items.length;
    const slice = items.slice(offset, offset + size);
    let nextToken: string | undefined;
    if (offset + size < items.length) {
      nextToken = Buffer.from(`${action}:${offset + size}:${this.requestSeq}`).toString('base64url');
      this.pages.set(nextToken, { action, offset: offset + size });
    }
    return { items: slice, nextToken };
  }

  /** Resources named by `IdName.N`, each required to exist (EC2 fails the call on any unknown id). */
  private byIds<T>(params: Params, idName: string, map: Map<string, T>, code: string, what: string): T[] {
    const ids = listOf(params, idName);
    if (ids.length === 0) return [...map.values()];
    return ids.map((id) => {
      const v = map.get(id);
      if (v === undefined) throw notFound(code, what, id);
      return v;
    });
  }

  private requireVpc(id: string): Ec2Vpc {
    const v = this.state.vpcs.get(id);
    if (v === undefined) throw notFound('InvalidVpcID.NotFound', 'vpc ID', id);
    return v;
  }

  private requireTable(id: string): Ec2RouteTable {
    const t = this.state.routeTables.get(id);
    if (t === undefined) throw notFound('InvalidRouteTableID.NotFound', 'routeTable ID', id);
    return t;
  }

  private requireGroup(id: string): Ec2SecurityGroup {
    const g = this.state.securityGroups.get(id);
    if (g === undefined) throw notFound('InvalidGroup.NotFound', 'security group', id);
    return g;
  }

  // ---- actions ----

  private readonly handlers: Record<string, ((p: Params) => XmlObject) | undefined> = {
    DescribeVpcs: (p) => {
      const all = this.byIds(p, 'VpcId', this.state.vpcs, 'InvalidVpcID.NotFound', 'vpc ID');
      const matched = applyFilters(p, all, (v) => (name) => {
        switch (name) {
          case 'vpc-id':
            return [v.id];
          case 'cidr':
          case 'cidr-block-association.cidr-block':
            return v.cidrBlocks;
          case 'ipv6-cidr-block-association.ipv6-cidr-block':
            return v.ipv6CidrBlocks;
          case 'state':
            return ['available'];
          case 'is-default':
            return [String(v.isDefault)];
          case 'owner-id':
            return [this.accountId];
          default:
            return tagFields(v.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeVpcs', matched);
      return { vpcSet: items.map((v) => this.vpcXml(v)), nextToken };
    },
    CreateVpc: (p) => {
      const cidr = cidrParam(p, 'CidrBlock', 4);
      const id = this.newId('vpc');
      const vpc: Ec2Vpc = { id, cidrBlocks: [cidr], ipv6CidrBlocks: [], isDefault: false, tags: tagSpecifications(p, 'vpc') };
      this.state.vpcs.set(id, vpc);
      // A new VPC comes with its main route table and default security group, as on AWS.
      const rtb = this.newId('rtb');
      this.state.routeTables.set(rtb, { id: rtb, vpcId: id, main: true, subnetIds: [], routes: this.localRoutes(vpc), tags: {} });
      this.createGroup(id, 'default', 'default VPC security group', {});
      return { vpc: this.vpcXml(vpc) };
    },
    DeleteVpc: (p) => {
      const vpc = this.requireVpc(required(p, 'VpcId'));
      const inUse =
        [...this.state.subnets.values()].some((s) => s.vpcId === vpc.id) || [...this.state.routeTables.values()].some((t) => t.vpcId === vpc.id && !t.main);
      if (inUse) throw new Ec2Error('DependencyViolation', `The vpc '${vpc.id}' has dependencies and cannot be deleted.`);
      for (const t of [...this.state.routeTables.values()]) if (t.vpcId === vpc.id) this.state.routeTables.delete(t.id);
      for (const g of [...this.state.securityGroups.values()]) if (g.vpcId === vpc.id) this.deleteGroup(g.id);
      this.state.vpcs.delete(vpc.id);
      return { return: true };
    },
    DescribeSubnets: (p) => {
      const all = this.byIds(p, 'SubnetId', this.state.subnets, 'InvalidSubnetID.NotFound', 'subnet ID');
      const matched = applyFilters(p, all, (s) => (name) => {
        switch (name) {
          case 'subnet-id':
            return [s.id];
          case 'vpc-id':
            return [s.vpcId];
          case 'cidr-block':
            return [s.cidrBlock];
          case 'availability-zone':
            return [s.availabilityZone];
          case 'state':
            return ['available'];
          default:
            return tagFields(s.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeSubnets', matched);
      return { subnetSet: items.map((s) => this.subnetXml(s)), nextToken };
    },
    CreateSubnet: (p) => {
      const vpc = this.requireVpc(required(p, 'VpcId'));
      const cidr = cidrParam(p, 'CidrBlock', 4);
      if (!vpc.cidrBlocks.some((c) => cidrContains(c, cidr))) throw new Ec2Error('InvalidSubnet.Range', `The CIDR '${cidr}' is invalid.`);
      const id = this.newId('subnet');
      const s: Ec2Subnet = {
        id,
        vpcId: vpc.id,
        cidrBlock: cidr,
        ipv6CidrBlock: undefined,
        availabilityZone: p.get('AvailabilityZone') ?? 'us-east-1a',
        tags: tagSpecifications(p, 'subnet'),
      };
      this.state.subnets.set(id, s);
      return { subnet: this.subnetXml(s) };
    },
    DeleteSubnet: (p) => {
      const id = required(p, 'SubnetId');
      if (!this.state.subnets.delete(id)) throw notFound('InvalidSubnetID.NotFound', 'subnet ID', id);
      for (const t of this.state.routeTables.values()) t.subnetIds = t.subnetIds.filter((s) => s !== id);
      return { return: true };
    },
    DescribeRouteTables: (p) => {
      const all = this.byIds(p, 'RouteTableId', this.state.routeTables, 'InvalidRouteTableID.NotFound', 'routeTable ID');
      const matched = applyFilters(p, all, (t) => (name) => {
        switch (name) {
          case 'route-table-id':
            return [t.id];
          case 'vpc-id':
            return [t.vpcId];
          case 'association.main':
            return [String(t.main)];
          case 'association.subnet-id':
            return t.subnetIds;
          case 'route.destination-cidr-block':
            return t.routes.filter((r) => !r.destination.includes(':')).map((r) => r.destination);
          case 'route.destination-ipv6-cidr-block':
            return t.routes.filter((r) => r.destination.includes(':')).map((r) => r.destination);
          case 'route.transit-gateway-id':
            return t.routes.filter((r) => r.target.field === 'transitGatewayId').map((r) => r.target.id);
          case 'owner-id':
            return [this.accountId];
          default:
            return tagFields(t.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeRouteTables', matched, { max: 100 });
      return { routeTableSet: items.map((t) => this.routeTableXml(t)), nextToken };
    },
    CreateRouteTable: (p) => {
      const vpc = this.requireVpc(required(p, 'VpcId'));
      const id = this.newId('rtb');
      const t: Ec2RouteTable = { id, vpcId: vpc.id, main: false, subnetIds: [], routes: this.localRoutes(vpc), tags: tagSpecifications(p, 'route-table') };
      this.state.routeTables.set(id, t);
      return { routeTable: this.routeTableXml(t) };
    },
    DeleteRouteTable: (p) => {
      const t = this.requireTable(required(p, 'RouteTableId'));
      if (t.main || t.subnetIds.length > 0) throw new Ec2Error('DependencyViolation', `The routeTable '${t.id}' has dependencies and cannot be deleted.`);
      this.state.routeTables.delete(t.id);
      return { return: true };
    },
    CreateRoute: (p) => {
      const t = this.requireTable(required(p, 'RouteTableId'));
      const destination = routeDestination(p);
      const target = this.routeTarget(p);
      if (t.routes.some((r) => r.destination === destination))
        throw new Ec2Error('RouteAlreadyExists', `The route identified by ${destination} already exists.`);
      const v6 = destination.includes(':');
      const counted = t.routes.filter((r) => r.origin === 'CreateRoute' && r.destination.includes(':') === v6).length;
      if (counted >= this.routeLimit) throw new Ec2Error('RouteLimitExceeded', `The maximum number of routes has been reached for route table ${t.id}.`);
      t.routes.push({ destination, target, origin: 'CreateRoute', state: 'active' });
      return { return: true };
    },
    ReplaceRoute: (p) => {
      const t = this.requireTable(required(p, 'RouteTableId'));
      const destination = routeDestination(p);
      const target = this.routeTarget(p);
      const r = t.routes.find((x) => x.destination === destination);
      if (r === undefined)
        throw new Ec2Error('InvalidRoute.NotFound', `There is no route defined for '${destination}' in the route table. Use CreateRoute instead.`);
      if (r.origin === 'CreateRouteTable' && target.id !== 'local') throw invalid(`Cannot replace the local route ${destination}`);
      r.target = target;
      r.state = 'active';
      return { return: true };
    },
    DeleteRoute: (p) => {
      const t = this.requireTable(required(p, 'RouteTableId'));
      const destination = routeDestination(p);
      const i = t.routes.findIndex((r) => r.destination === destination);
      if (i < 0) throw new Ec2Error('InvalidRoute.NotFound', `no route with destination-cidr-block ${destination} in route table ${t.id}`);
      if (t.routes[i]?.origin === 'CreateRouteTable') throw invalid(`cannot remove local route ${destination} in route table ${t.id}`);
      t.routes.splice(i, 1);
      return { return: true };
    },
    DescribeTransitGateways: (p) => {
      const all = this.byIds(p, 'TransitGatewayIds', this.state.transitGateways, 'InvalidTransitGatewayID.NotFound', 'transit gateway ID');
      const matched = applyFilters(p, all, (g) => (name) => {
        switch (name) {
          case 'transit-gateway-id':
            return [g.id];
          case 'state':
            return [g.state];
          case 'owner-id':
            return [this.accountId];
          default:
            return tagFields(g.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeTransitGateways', matched);
      return { transitGatewaySet: items.map((g) => this.transitGatewayXml(g)), nextToken };
    },
    CreateTransitGateway: (p) => {
      const id = this.newId('tgw');
      const g: Ec2TransitGateway = {
        id,
        amazonSideAsn: intParam(p, 'Options.AmazonSideAsn') ?? 64512,
        description: p.get('Description') ?? '',
        state: 'available',
        tags: tagSpecifications(p, 'transit-gateway'),
      };
      this.state.transitGateways.set(id, g);
      return { transitGateway: this.transitGatewayXml(g) };
    },
    DeleteTransitGateway: (p) => {
      const id = required(p, 'TransitGatewayId');
      const g = this.state.transitGateways.get(id);
      if (g === undefined) throw notFound('InvalidTransitGatewayID.NotFound', 'transit gateway ID', id);
      if ([...this.state.attachments.values()].some((a) => a.transitGatewayId === id))
        throw new Ec2Error('IncorrectState', `${id} has non-deleted Transit Gateway Attachments`);
      this.state.transitGateways.delete(id);
      return { transitGateway: this.transitGatewayXml({ ...g, state: 'deleting' }) };
    },
    DescribeTransitGatewayAttachments: (p) => {
      const all = this.byIds(
        p,
        'TransitGatewayAttachmentIds',
        this.state.attachments,
        'InvalidTransitGatewayAttachmentID.NotFound',
        'transit gateway attachment ID',
      );
      const matched = applyFilters(p, all, (a) => (name) => {
        switch (name) {
          case 'transit-gateway-attachment-id':
            return [a.id];
          case 'transit-gateway-id':
            return [a.transitGatewayId];
          case 'resource-id':
            return [a.resourceId];
          case 'resource-type':
            return [a.resourceType];
          case 'state':
            return [a.state];
          default:
            return tagFields(a.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeTransitGatewayAttachments', matched);
      return { transitGatewayAttachments: items.map((a) => this.attachmentXml(a)), nextToken };
    },
    CreateTransitGatewayVpcAttachment: (p) => {
      const tgw = required(p, 'TransitGatewayId');
      if (!this.state.transitGateways.has(tgw)) throw notFound('InvalidTransitGatewayID.NotFound', 'transit gateway ID', tgw);
      const vpc = this.requireVpc(required(p, 'VpcId'));
      const subnetIds = listOf(p, 'SubnetIds');
      if (subnetIds.length === 0) throw missing('SubnetIds');
      for (const s of subnetIds) if (this.state.subnets.get(s)?.vpcId !== vpc.id) throw notFound('InvalidSubnetID.NotFound', 'subnet ID', s);
      const id = this.newId('tgw-attach');
      const a: Ec2TransitGatewayAttachment = {
        id,
        transitGatewayId: tgw,
        resourceType: 'vpc',
        resourceId: vpc.id,
        subnetIds,
        state: 'available',
        tags: tagSpecifications(p, 'transit-gateway-attachment'),
      };
      this.state.attachments.set(id, a);
      return {
        transitGatewayVpcAttachment: {
          transitGatewayAttachmentId: id,
          transitGatewayId: tgw,
          vpcId: vpc.id,
          vpcOwnerId: this.accountId,
          state: a.state,
          subnetIds,
          tagSet: tagSet(a.tags),
        },
      };
    },
    DeleteTransitGatewayVpcAttachment: (p) => {
      const id = required(p, 'TransitGatewayAttachmentId');
      const a = this.state.attachments.get(id);
      if (a === undefined) throw notFound('InvalidTransitGatewayAttachmentID.NotFound', 'transit gateway attachment ID', id);
      this.state.attachments.delete(id);
      return { transitGatewayVpcAttachment: { transitGatewayAttachmentId: id, transitGatewayId: a.transitGatewayId, vpcId: a.resourceId, state: 'deleting' } };
    },
    DescribeSecurityGroups: (p) => {
      const all = this.byIds(p, 'GroupId', this.state.securityGroups, 'InvalidGroup.NotFound', 'security group');
      const matched = applyFilters(p, all, (g) => (name) => {
        switch (name) {
          case 'group-id':
            return [g.id];
          case 'group-name':
            return [g.name];
          case 'vpc-id':
            return [g.vpcId];
          case 'owner-id':
            return [this.accountId];
          default:
            return tagFields(g.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeSecurityGroups', matched, { noPagingWithIds: 'GroupId' });
      return { securityGroupInfo: items.map((g) => this.securityGroupXml(g)), nextToken };
    },
    CreateSecurityGroup: (p) => {
      const vpc = this.requireVpc(required(p, 'VpcId'));
      const name = required(p, 'GroupName');
      if ([...this.state.securityGroups.values()].some((g) => g.vpcId === vpc.id && g.name === name)) {
        throw new Ec2Error('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpc.id}'`);
      }
      const g = this.createGroup(vpc.id, name, required(p, 'GroupDescription'), tagSpecifications(p, 'security-group'));
      return { return: true, groupId: g.id, tagSet: tagSet(g.tags) };
    },
    DeleteSecurityGroup: (p) => {
      const g = this.requireGroup(required(p, 'GroupId'));
      if (g.name === 'default') throw new Ec2Error('CannotDelete', `the specified group: "${g.id}" name: "default" cannot be deleted by a user`);
      this.deleteGroup(g.id);
      return { return: true, groupId: g.id };
    },
    DescribeSecurityGroupRules: (p) => {
      const all = this.byIds(p, 'SecurityGroupRuleId', this.state.rules, 'InvalidSecurityGroupRuleId.NotFound', 'security group rule ID');
      const matched = applyFilters(p, all, (r) => (name) => {
        switch (name) {
          case 'group-id':
            return [r.groupId];
          case 'security-group-rule-id':
            return [r.id];
          default:
            return tagFields(r.tags, name);
        }
      });
      const { items, nextToken } = this.page(p, 'DescribeSecurityGroupRules', matched);
      return { securityGroupRuleSet: items.map((r) => this.ruleXml(r)), nextToken };
    },
    AuthorizeSecurityGroupIngress: (p) => this.authorize(p, false),
    AuthorizeSecurityGroupEgress: (p) => this.authorize(p, true),
    RevokeSecurityGroupIngress: (p) => this.revoke(p, false),
    RevokeSecurityGroupEgress: (p) => this.revoke(p, true),
    CreateTags: (p) => {
      const targets = listOf(p, 'ResourceId').map((id) => this.taggable(id));
      const tags = structsOf(p, 'Tag');
      if (targets.length === 0) throw missing('ResourceId');
      for (const t of targets) {
        for (const tag of tags) {
          const key = tag.get('Key');
          if (key === undefined) throw missing('Tag.Key');
          t[key] = tag.get('Value') ?? '';
        }
      }
      return { return: true };
    },
    DeleteTags: (p) => {
      const targets = listOf(p, 'ResourceId').map((id) => this.taggable(id));
      for (const t of targets) {
        for (const tag of structsOf(p, 'Tag')) {
          const key = tag.get('Key');
          const value = tag.get('Value');
          if (key !== undefined && (value === undefined || t[key] === value)) Reflect.deleteProperty(t, key);
        }
      }
      return { return: true };
    },
  };

  private routeTarget(p: Params): Ec2Route['target'] {
    const given = (
      [
        ['GatewayId', 'gatewayId'],
        ['TransitGatewayId', 'transitGatewayId'],
        ['VpcPeeringConnectionId', 'vpcPeeringConnectionId'],
        ['NatGatewayId', 'natGatewayId'],
        ['NetworkInterfaceId', 'networkInterfaceId'],
        ['InstanceId', 'instanceId'],
      ] as const
    ).filter(([param]) => p.get(param) !== undefined);
    if (given.length !== 1)
      throw new Ec2Error(
        'InvalidParameterCombination',
        'The request must contain exactly one of gatewayId, transitGatewayId, vpcPeeringConnectionId, natGatewayId, networkInterfaceId or instanceId',
      );
    const [param, field] = given[0] ?? ['GatewayId', 'gatewayId'];
    const id = p.get(param) ?? '';
    if (field === 'transitGatewayId' && !this.state.transitGateways.has(id)) throw notFound('InvalidTransitGatewayID.NotFound', 'transit gateway ID', id);
    return { field, id };
  }

  private createGroup(vpcId: string, name: string, description: string, tags: Tags): Ec2SecurityGroup {
    const g: Ec2SecurityGroup = { id: this.newId('sg'), vpcId, name, description, tags };
    this.state.securityGroups.set(g.id, g);
    // Every new group allows all egress until someone revokes it, as on AWS.
    const r = this.newId('sgr');
    this.state.rules.set(r, {
      id: r,
      groupId: g.id,
      egress: true,
      protocol: '-1',
      fromPort: -1,
      toPort: -1,
      cidrIpv4: '0.0.0.0/0',
      cidrIpv6: undefined,
      referencedGroupId: undefined,
      description: undefined,
      tags: {},
    });
    return g;
  }

  private deleteGroup(id: string): void {
    this.state.securityGroups.delete(id);
    for (const r of [...this.state.rules.values()]) if (r.groupId === id) this.state.rules.delete(r.id);
  }

  private taggable(id: string): Tags {
    const all = [
      this.state.vpcs,
      this.state.subnets,
      this.state.routeTables,
      this.state.transitGateways,
      this.state.attachments,
      this.state.securityGroups,
      this.state.rules,
    ] as const;
    for (const m of all) {
      const r = (m as Map<string, { tags: Tags }>).get(id);
      if (r !== undefined) return r.tags;
    }
    throw new Ec2Error('InvalidID', `The ID '${id}' is not valid`);
  }

  /** The rules an `IpPermissions.N` list asks for (one per range), validated as EC2 does. */
  private permissions(p: Params, groupId: string, egress: boolean): Omit<Ec2SecurityGroupRule, 'id' | 'tags'>[] {
    const perms = structsOf(p, 'IpPermissions');
    if (perms.length === 0) throw missing('IpPermissions');
    const out: Omit<Ec2SecurityGroupRule, 'id' | 'tags'>[] = [];
    for (const perm of perms) {
      const protocol = normaliseProtocol(perm.get('IpProtocol') ?? '');
      if (protocol === '') throw missing('IpPermissions.IpProtocol');
      const ported = protocol === 'tcp' || protocol === 'udp' || protocol === '132';
      const fromPort = intParam(perm, 'FromPort') ?? -1;
      const toPort = intParam(perm, 'ToPort') ?? -1;
      if (ported && (fromPort < 0 || toPort > 65535 || fromPort > toPort))
        throw invalid(`Invalid value for portRange. Must specify both from and to ports with TCP/UDP.`);
      const base = {
        groupId,
        egress,
        protocol,
        fromPort: ported || protocol === 'icmp' ? fromPort : -1,
        toPort: ported || protocol === 'icmp' ? toPort : -1,
        referencedGroupId: undefined,
      };
      for (const r of structsOf(perm, 'IpRanges'))
        out.push({ ...base, cidrIpv4: cidrOf(r.get('CidrIp'), 4), cidrIpv6: undefined, description: r.get('Description') });
      for (const r of structsOf(perm, 'Ipv6Ranges'))
        out.push({ ...base, cidrIpv4: undefined, cidrIpv6: cidrOf(r.get('CidrIpv6'), 6), description: r.get('Description') });
      for (const r of structsOf(perm, 'Groups')) {
        const ref = r.get('GroupId') ?? '';
        this.requireGroup(ref);
        out.push({ ...base, cidrIpv4: undefined, cidrIpv6: undefined, referencedGroupId: ref, description: r.get('Description') });
      }
    }
    return out;
  }

  private authorize(p: Params, egress: boolean): XmlObject {
    const g = this.requireGroup(required(p, 'GroupId'));
    const wanted = this.permissions(p, g.id, egress);
    const tags = tagSpecifications(p, 'security-group-rule');
    const existing = this.rulesOf(g.id);
    for (const w of wanted) {
      if (existing.some((r) => sameRule(r, w))) {
        const peer = w.cidrIpv4 ?? w.cidrIpv6 ?? w.referencedGroupId ?? '';
        throw new Ec2Error(
          'InvalidPermission.Duplicate',
          `the specified rule "peer: ${peer}, ${w.protocol.toUpperCase()}, from port: ${w.fromPort}, to port: ${w.toPort}, ALLOW" already exists`,
        );
      }
    }
    const created = wanted.map((w) => {
      const rule: Ec2SecurityGroupRule = { ...w, id: this.newId('sgr'), tags: { ...tags } };
      this.state.rules.set(rule.id, rule);
      return rule;
    });
    return { return: true, securityGroupRuleSet: created.map((r) => this.ruleXml(r)) };
  }

  private revoke(p: Params, egress: boolean): XmlObject {
    const g = this.requireGroup(required(p, 'GroupId'));
    const ids = listOf(p, 'SecurityGroupRuleId');
    if (ids.length > 0) {
      const rules = ids.map((id) => {
        const r = this.state.rules.get(id);
        if (r?.groupId !== g.id || r.egress !== egress)
          throw new Ec2Error('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`);
        return r;
      });
      for (const r of rules) this.state.rules.delete(r.id);
      return { return: true };
    }
    const wanted = this.permissions(p, g.id, egress);
    const found = wanted.map((w) => {
      const r = this.rulesOf(g.id).find((x) => sameRule(x, w));
      if (r === undefined) throw new Ec2Error('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
      return r;
    });
    for (const r of found) this.state.rules.delete(r.id);
    return { return: true };
  }

  // ---- XML shapes ----

  private vpcXml(v: Ec2Vpc): XmlObject {
    return {
      vpcId: v.id,
      ownerId: this.accountId,
      state: 'available',
      cidrBlock: v.cidrBlocks[0],
      cidrBlockAssociationSet: v.cidrBlocks.map((c, i) => ({
        associationId: `vpc-cidr-assoc-${v.id.slice(4)}${i}`,
        cidrBlock: c,
        cidrBlockState: { state: 'associated' },
      })),
      ipv6CidrBlockAssociationSet: v.ipv6CidrBlocks.map((c, i) => ({
        associationId: `vpc-cidr-assoc-${v.id.slice(4)}6${i}`,
        ipv6CidrBlock: c,
        ipv6CidrBlockState: { state: 'associated' },
      })),
      instanceTenancy: 'default',
      isDefault: v.isDefault,
      tagSet: tagSet(v.tags),
    };
  }

  private subnetXml(s: Ec2Subnet): XmlObject {
    return {
      subnetId: s.id,
      vpcId: s.vpcId,
      state: 'available',
      cidrBlock: s.cidrBlock,
      ipv6CidrBlockAssociationSet:
        s.ipv6CidrBlock === undefined
          ? []
          : [{ associationId: `subnet-cidr-assoc-${s.id.slice(7)}`, ipv6CidrBlock: s.ipv6CidrBlock, ipv6CidrBlockState: { state: 'associated' } }],
      availabilityZone: s.availabilityZone,
      ownerId: this.accountId,
      tagSet: tagSet(s.tags),
    };
  }

  private routeTableXml(t: Ec2RouteTable): XmlObject {
    const associations: Xml[] = [];
    if (t.main)
      associations.push({ routeTableAssociationId: `rtbassoc-${t.id.slice(4)}`, routeTableId: t.id, main: true, associationState: { state: 'associated' } });
    for (const s of t.subnetIds)
      associations.push({
        routeTableAssociationId: `rtbassoc-${s.slice(7)}`,
        routeTableId: t.id,
        subnetId: s,
        main: false,
        associationState: { state: 'associated' },
      });
    return {
      routeTableId: t.id,
      vpcId: t.vpcId,
      ownerId: this.accountId,
      routeSet: t.routes.map((r) => ({
        [r.destination.includes(':') ? 'destinationIpv6CidrBlock' : 'destinationCidrBlock']: r.destination,
        [r.target.field]: r.target.id,
        state: r.state,
        origin: r.origin,
      })),
      associationSet: associations,
      propagatingVgwSet: [],
      tagSet: tagSet(t.tags),
    };
  }

  private transitGatewayXml(g: Ec2TransitGateway): XmlObject {
    return {
      transitGatewayId: g.id,
      transitGatewayArn: `arn:aws:ec2:us-east-1:${this.accountId}:transit-gateway/${g.id}`,
      state: g.state,
      ownerId: this.accountId,
      description: g.description,
      options: { amazonSideAsn: g.amazonSideAsn, defaultRouteTableAssociation: 'enable', defaultRouteTablePropagation: 'enable' },
      tagSet: tagSet(g.tags),
    };
  }

  private attachmentXml(a: Ec2TransitGatewayAttachment): XmlObject {
    return {
      transitGatewayAttachmentId: a.id,
      transitGatewayId: a.transitGatewayId,
      transitGatewayOwnerId: this.accountId,
      resourceOwnerId: this.accountId,
      resourceType: a.resourceType,
      resourceId: a.resourceId,
      state: a.state,
      tagSet: tagSet(a.tags),
    };
  }

  private securityGroupXml(g: Ec2SecurityGroup): XmlObject {
    const perms = (egress: boolean): Xml[] => {
      const groups = new Map<string, Ec2SecurityGroupRule[]>();
      for (const r of this.rulesOf(g.id).filter((x) => x.egress === egress)) {
        const key = `${r.protocol}|${r.fromPort}|${r.toPort}`;
        groups.set(key, [...(groups.get(key) ?? []), r]);
      }
      return [...groups.values()].map((rules) => {
        const first = rules[0];
        const ported = first !== undefined && first.fromPort >= 0;
        return {
          ipProtocol: first?.protocol,
          fromPort: ported ? first.fromPort : undefined,
          toPort: ported ? first.toPort : undefined,
          groups: rules
            .filter((r) => r.referencedGroupId !== undefined)
            .map((r) => ({ groupId: r.referencedGroupId, userId: this.accountId, description: r.description })),
          ipRanges: rules.filter((r) => r.cidrIpv4 !== undefined).map((r) => ({ cidrIp: r.cidrIpv4, description: r.description })),
          ipv6Ranges: rules.filter((r) => r.cidrIpv6 !== undefined).map((r) => ({ cidrIpv6: r.cidrIpv6, description: r.description })),
          prefixListIds: [],
        };
      });
    };
    return {
      ownerId: this.accountId,
      groupId: g.id,
      groupName: g.name,
      groupDescription: g.description,
      vpcId: g.vpcId,
      ipPermissions: perms(false),
      ipPermissionsEgress: perms(true),
      tagSet: tagSet(g.tags),
    };
  }

  private ruleXml(r: Ec2SecurityGroupRule): XmlObject {
    return {
      securityGroupRuleId: r.id,
      groupId: r.groupId,
      groupOwnerId: this.accountId,
      isEgress: r.egress,
      ipProtocol: r.protocol,
      fromPort: r.fromPort,
      toPort: r.toPort,
      cidrIpv4: r.cidrIpv4,
      cidrIpv6: r.cidrIpv6,
      referencedGroupInfo: r.referencedGroupId === undefined ? undefined : { groupId: r.referencedGroupId, userId: this.accountId },
      description: r.description,
      tagSet: tagSet(r.tags),
      securityGroupRuleArn: `arn:aws:ec2:us-east-1:${this.accountId}:security-group-rule/${r.id}`,
    };
  }
}

// ---- small helpers -----------------------------------------------------------------------------

function normalise(cidr: string): string {
  const c = checkCidr(cidr);
  if (!c.ok) throw new Error(`fixture CIDR ${cidr}: ${c.message}`);
  return c.cidr;
}

function cidrOf(value: string | undefined, family: 4 | 6): string {
  if (value === undefined) throw missing(family === 4 ? 'CidrIp' : 'CidrIpv6');
  const c = checkCidr(value);
  if (!c.ok || c.family !== family) throw invalid(`CIDR block ${value} is malformed`);
  return c.cidr;
}

function cidrParam(p: Params, name: string, family: 4 | 6): string {
  return cidrOf(required(p, name), family);
}

function routeDestination(p: Params): string {
  const v4 = p.get('DestinationCidrBlock');
  const v6 = p.get('DestinationIpv6CidrBlock');
  if ((v4 === undefined) === (v6 === undefined)) throw missing('DestinationCidrBlock or DestinationIpv6CidrBlock');
  const value = v4 ?? v6 ?? '';
  const c = checkCidr(value);
  if (!c.ok || c.family !== (v4 !== undefined ? 4 : 6))
    throw invalid(
      `Value (${value}) for parameter ${v4 !== undefined ? 'destinationCidrBlock' : 'destinationIpv6CidrBlock'} is invalid. This is not a valid CIDR block.`,
    );
  return c.cidr;
}

function normaliseProtocol(p: string): string {
  const lower = p.toLowerCase();
  const byNumber: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6', all: '-1' };
  return byNumber[lower] ?? (lower === 'sctp' ? '132' : lower);
}

function sameRule(a: Omit<Ec2SecurityGroupRule, 'id' | 'tags'>, b: Omit<Ec2SecurityGroupRule, 'id' | 'tags'>): boolean {
  return (
    a.egress === b.egress &&
    a.protocol === b.protocol &&
    a.fromPort === b.fromPort &&
    a.toPort === b.toPort &&
    a.cidrIpv4 === b.cidrIpv4 &&
    a.cidrIpv6 === b.cidrIpv6 &&
    a.referencedGroupId === b.referencedGroupId
  );
}

function restore(state: Ec2State, saved: Ec2State): void {
  for (const key of Object.keys(state) as (keyof Ec2State)[]) {
    const target = state[key] as Map<string, unknown>;
    target.clear();
    for (const [k, v] of saved[key] as Map<string, unknown>) target.set(k, v);
  }
}

/** Starts a double on 127.0.0.1; it is stopped by `stop()` or, at the latest, by the harness's cleanup. */
export async function startEc2Double(options: Ec2DoubleOptions = {}): Promise<Ec2Double> {
  const double = new Ec2DoubleServer(options);
  await double.listen(options.port ?? 0);
  const forget = onCleanup(() => double.stop());
  const stop = double.stop.bind(double);
  double.stop = async () => {
    forget();
    await stop();
  };
  return double;
}

export async function readEc2Fixture(path: string): Promise<Ec2Fixture> {
  return JSON.parse(await readFile(path, 'utf8')) as Ec2Fixture;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { fixture: { type: 'string' }, port: { type: 'string' } } });
  const double = await startEc2Double({
    ...(values.fixture !== undefined ? { fixture: await readEc2Fixture(values.fixture) } : {}),
    ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ endpoint: double.endpoint })}\n`);
  const shutdown = (): void => {
    void double.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
