// The ComputeApi port on @google-cloud/compute and google-auth-library: the only module that imports
// either (ADR 0014). It resolves credentials itself, so that a missing or refused credential is an
// UnauthorizedError and never the client library's own lookup, which rejects unhandled and takes the
// process down (TESTING.md, "Cloud doubles"); it pages every list by hand so that each page passes
// the domain's call gate; it follows Compute operations until they are DONE; and it translates every
// GoogleError, operation error and transport failure into the contract's named errors at this
// boundary (compute-errors.ts), so no client type or error reaches the adapter's logic or the hub.
//
// The hub calls `computeApi({ endpoint, credentialsFile })` once and `forGate(budget)` per domain.
import { readFile } from 'node:fs/promises';
import {
  FirewallsClient,
  GlobalOperationsClient,
  NetworksClient,
  RegionOperationsClient,
  RoutersClient,
  RoutesClient,
  SubnetworksClient,
  VpnTunnelsClient,
  protos,
} from '@google-cloud/compute';
import { GoogleAuth, JWT, OAuth2Client, UserRefreshClient, type AuthClient } from 'google-auth-library';
import { InvalidInputError, UnauthorizedError, UnavailableError } from '../../controlplane/api/errors.ts';
import {
  OPEN_GATE,
  type CallGate,
  type ComputeApi,
  type FirewallGcp,
  type FirewallPermission,
  type FirewallSpec,
  type NetworkGcp,
  type NextHopField,
  type OperationRef,
  type RouteGcp,
  type RouterBgpGcp,
  type RouterGcp,
  type RouteSpec,
  type SubnetworkGcp,
  type VpnTunnelGcp,
} from './compute-api.ts';
import { messageOf, translateComputeError, translateOperationError, type GoogleErrorShape, type OperationShape } from './compute-errors.ts';

type v1 = typeof protos.google.cloud.compute.v1;
type IRoute = protos.google.cloud.compute.v1.IRoute;
type IFirewall = protos.google.cloud.compute.v1.IFirewall;
type IRouter = protos.google.cloud.compute.v1.IRouter;
type ISubnetwork = protos.google.cloud.compute.v1.ISubnetwork;
type ClientOptions = NonNullable<ConstructorParameters<typeof RoutesClient>[0]>;
interface CallOptions {
  timeout: number;
  autoPaginate?: boolean;
}

const COMPUTE_SCOPE = 'https://www.googleapis.com/auth/compute';
const OPERATION_STATUS: v1['Operation']['Status'] = protos.google.cloud.compute.v1.Operation.Status;

export interface ComputeApiOptions {
  /**
   * The Compute API's base URL instead of compute.googleapis.com: a Private Service Connect
   * endpoint, a proxy, or the Compute test double (`http://127.0.0.1:PORT`). Scheme, host and port
   * only: the client library puts its own `/compute/v1/...` path after it.
   */
  readonly endpoint?: string | undefined;
  /** A service-account (or authorized-user) key file, instead of Google's default credential chain. */
  readonly credentialsFile?: string | undefined;
  /** The gate of `api` (a domain's CallBudget); `forGate` makes one per domain. Default: none. */
  readonly gate?: CallGate | undefined;
  /** Where GOOGLE_APPLICATION_CREDENTIALS is read from; default process.env. */
  readonly environment?: Readonly<Record<string, string | undefined>> | undefined;
  /** maxResults of every list page (1..500); default 500. */
  readonly pageSize?: number | undefined;
  /** A read's deadline, its client-side retries of 503/504 included; default 30 s. */
  readonly readTimeoutMs?: number | undefined;
  /** An insert's, patch's or delete's deadline (the client retries none of them); default 30 s. */
  readonly mutationTimeoutMs?: number | undefined;
  /** How long to follow one operation before giving up on it (it may still finish); default 5 min. */
  readonly operationTimeoutMs?: number | undefined;
}

/** What the hub holds: one set of Compute clients, a port per domain gate, and how to release them. */
export interface ComputeConnection {
  /** The port through `options.gate`. */
  readonly api: ComputeApi;
  /** The port through another gate (each domain's CallBudget), sharing the clients. */
  forGate(gate: CallGate): ComputeApi;
  /** Closes the clients; never rejects. */
  close(): Promise<void>;
}

interface Clients {
  readonly networks: NetworksClient;
  readonly subnetworks: SubnetworksClient;
  readonly routes: RoutesClient;
  readonly firewalls: FirewallsClient;
  readonly routers: RoutersClient;
  readonly vpnTunnels: VpnTunnelsClient;
  readonly globalOperations: GlobalOperationsClient;
  readonly regionOperations: RegionOperationsClient;
}

interface Settings {
  readonly pageSize: number;
  readonly readTimeoutMs: number;
  readonly mutationTimeoutMs: number;
  readonly operationTimeoutMs: number;
}

/**
 * The Compute clients for one hub process. Nothing is contacted here: credentials are resolved and
 * the clients made on the first call (an endpoint that cannot be used is refused at once).
 */
export function computeApi(options: ComputeApiOptions = {}): ComputeConnection {
  const endpoint = options.endpoint === undefined ? {} : endpointOptions(options.endpoint);
  const settings: Settings = {
    pageSize: Math.min(500, Math.max(1, options.pageSize ?? 500)),
    readTimeoutMs: options.readTimeoutMs ?? 30_000,
    mutationTimeoutMs: options.mutationTimeoutMs ?? 30_000,
    operationTimeoutMs: options.operationTimeoutMs ?? 300_000,
  };
  let made: Promise<Clients> | undefined;
  let closed = false;
  const clients = (): Promise<Clients> => {
    if (closed) return Promise.reject(new UnavailableError('the Compute clients are closed'));
    if (made === undefined) {
      const p = resolveCredentials(options).then((authClient) => makeClients({ ...endpoint, authClient }));
      // A failure is not kept: the next call resolves the credentials again.
      p.catch(() => {
        if (made === p) made = undefined;
      });
      made = p;
    }
    return made;
  };
  return {
    api: new SdkComputeApi(clients, options.gate ?? OPEN_GATE, settings),
    forGate: (gate) => new SdkComputeApi(clients, gate, settings),
    close: async () => {
      closed = true;
      const c = await made?.catch(() => undefined);
      if (c === undefined) return;
      await Promise.all(Object.values(c).map((x: { close(): Promise<void> }) => x.close().catch(() => undefined)));
    },
  };
}

/** `http://127.0.0.1:8080` → apiEndpoint, port and protocol apart: `apiEndpoint: 'host:port'` alone hangs (TESTING.md). */
export function endpointOptions(endpoint: string): Pick<ClientOptions, 'apiEndpoint' | 'port' | 'protocol'> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidInputError([
      { field: 'providers.gcp.endpoint', value: endpoint, message: 'expected an http(s) URL such as https://compute.googleapis.com' },
    ]);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    throw new InvalidInputError([
      {
        field: 'providers.gcp.endpoint',
        value: endpoint,
        message: 'expected scheme, host and port only (the client adds /compute/v1/...), such as http://127.0.0.1:8080',
      },
    ]);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { apiEndpoint: url.hostname, port: url.port !== '' ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}

function makeClients(options: ClientOptions): Clients {
  return {
    networks: new NetworksClient(options),
    subnetworks: new SubnetworksClient(options),
    routes: new RoutesClient(options),
    firewalls: new FirewallsClient(options),
    routers: new RoutersClient(options),
    vpnTunnels: new VpnTunnelsClient(options),
    globalOperations: new GlobalOperationsClient(options),
    regionOperations: new RegionOperationsClient(options),
  };
}

// ---- credentials ---------------------------------------------------------------------------

async function resolveCredentials(options: ComputeApiOptions): Promise<AuthClient> {
  const env = options.environment ?? process.env;
  if (options.credentialsFile !== undefined) return verified(await credentialsFromFile(options.credentialsFile), `the key file ${options.credentialsFile}`);
  if (options.endpoint !== undefined && (env.GOOGLE_APPLICATION_CREDENTIALS ?? '') === '') {
    // An endpoint and no credentials configured: the Compute test double, or a proxy that
    // authenticates on its own. A fixed bearer token (with no expiry, so it is never refreshed)
    // stands in for one; Google's default chain would otherwise probe the metadata server. Pointed
    // at the real Compute API, the token is refused and the call fails as UnauthorizedError.
    const fixed = new OAuth2Client();
    fixed.setCredentials({ access_token: 'causeway-no-credentials' });
    return fixed;
  }
  let client: AuthClient;
  try {
    client = await new GoogleAuth({ scopes: [COMPUTE_SCOPE] }).getClient();
  } catch (err) {
    throw new UnauthorizedError(
      `no Google credentials: ${messageOf(err)}; set GOOGLE_APPLICATION_CREDENTIALS, log in with gcloud auth application-default login, run with a workload identity, or name a key file in the hub config (providers.gcp.credentialsFile)`,
      { cause: err },
    );
  }
  return verified(client, "Google's default credentials");
}

/**
 * A key file read by Causeway itself, for the two kinds a hub should hold: a service account's key
 * or an authorized user's refresh token. Other kinds (external accounts, executables) can make the
 * auth library run commands or fetch URLs the file names, which is why google-auth-library 11
 * deprecates loading files blindly; they still work through GOOGLE_APPLICATION_CREDENTIALS.
 */
export async function credentialsFromFile(file: string): Promise<AuthClient> {
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    json = parsed as Record<string, unknown>;
  } catch (err) {
    throw new UnauthorizedError(`GCP credentials file ${file}: ${messageOf(err)}`, { cause: err });
  }
  const field = (name: string): string => {
    const v = json[name];
    if (typeof v !== 'string' || v === '') throw new UnauthorizedError(`GCP credentials file ${file}: a ${String(json.type)} key needs "${name}"`);
    return v;
  };
  switch (json.type) {
    case 'service_account':
      return new JWT({
        email: field('client_email'),
        key: field('private_key'),
        ...(typeof json.private_key_id === 'string' ? { keyId: json.private_key_id } : {}),
        scopes: [COMPUTE_SCOPE],
      });
    case 'authorized_user':
      return new UserRefreshClient({ clientId: field('client_id'), clientSecret: field('client_secret'), refreshToken: field('refresh_token') });
    default:
      throw new UnauthorizedError(
        `GCP credentials file ${file}: type ${JSON.stringify(json.type ?? null)} is not read from providers.gcp.credentialsFile (service_account and authorized_user are); point GOOGLE_APPLICATION_CREDENTIALS at it instead`,
      );
  }
}

/** Gets a token once, so that refused credentials fail here, named, rather than inside a call. */
async function verified(client: AuthClient, what: string): Promise<AuthClient> {
  try {
    await client.getAccessToken();
    return client;
  } catch (err) {
    const answered = typeof (err as { response?: unknown } | undefined)?.response === 'object';
    const message = `${what}: no access token: ${messageOf(err)}`;
    // The token endpoint answered and refused: the credentials are wrong. No answer: try later.
    throw answered ? new UnauthorizedError(message, { cause: err }) : new UnavailableError(message, { cause: err });
  }
}

/** The operation's status as Compute spells it (the client may hand back the enum's number). */
function statusOf(op: OperationShape): string {
  const s = op.status;
  if (typeof s === 'string') return s;
  if (typeof s === 'number') return (OPERATION_STATUS as unknown as Record<number, string>)[s] ?? String(s);
  return 'UNKNOWN';
}

/** Waits for `p` unless the signal fires first (the request itself runs on; its answer is dropped). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new UnavailableError('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new UnavailableError('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

// ---- the port ------------------------------------------------------------------------------

/** `.../projects/p/regions/europe-west4/subnetworks/x` → `europe-west4`. */
function regionOfLink(link: string): string | undefined {
  return /\/regions\/([^/]+)\//.exec(link)?.[1];
}

function lastSegment(link: string | null | undefined): string {
  if (link === null || link === undefined) return '';
  const i = link.lastIndexOf('/');
  return i < 0 ? link : link.slice(i + 1);
}

const strings = (v: readonly (string | null | undefined)[] | null | undefined): string[] => (v ?? []).filter((x): x is string => typeof x === 'string');

class SdkComputeApi implements ComputeApi {
  private readonly clients: () => Promise<Clients>;
  private readonly gate: CallGate;
  private readonly settings: Settings;

  constructor(clients: () => Promise<Clients>, gate: CallGate, settings: Settings) {
    this.clients = clients;
    this.gate = gate;
    this.settings = settings;
  }

  private async read<T>(what: string, signal: AbortSignal, fn: (c: Clients, o: CallOptions) => Promise<T>): Promise<T> {
    const c = await this.clients();
    return this.gate.run(async () => {
      try {
        return await abortable(fn(c, { timeout: this.settings.readTimeoutMs }), signal);
      } catch (err) {
        throw translateComputeError(err, what, 'read');
      }
    }, signal);
  }

  /** Every page of a list, each page one gated call. */
  private async pages<I>(
    what: string,
    signal: AbortSignal,
    fetch: (c: Clients, pageToken: string | undefined, o: CallOptions) => Promise<[I[], { pageToken?: string | null } | null, unknown]>,
  ): Promise<I[]> {
    const out: I[] = [];
    let token: string | undefined;
    do {
      const [items, next] = await this.read(what, signal, (c, o) => fetch(c, token, { ...o, autoPaginate: false }));
      out.push(...items);
      token = next?.pageToken ?? undefined;
    } while (token !== undefined && token !== '');
    return out;
  }

  private async mutate(
    what: string,
    signal: AbortSignal,
    region: string | undefined,
    fn: (c: Clients, o: CallOptions) => Promise<readonly [{ latestResponse: unknown }, ...unknown[]]>,
  ): Promise<OperationRef> {
    const c = await this.clients();
    return this.gate.run(async () => {
      try {
        const [lro] = await abortable(fn(c, { timeout: this.settings.mutationTimeoutMs }), signal);
        const op = lro.latestResponse as OperationShape;
        return { name: op.name ?? '', ...(region !== undefined ? { region } : {}), status: statusOf(op), what };
      } catch (err) {
        throw translateComputeError(err, what, 'mutation');
      }
    }, signal);
  }

  getNetwork(project: string, network: string, signal: AbortSignal): Promise<NetworkGcp> {
    return this.read(`reading network ${network} of project ${project}`, signal, async (c, o) => {
      const [n] = await c.networks.get({ project, network }, o);
      return { name: n.name ?? network, selfLink: n.selfLink ?? '', subnetworks: strings(n.subnetworks) };
    });
  }

  listSubnetworks(project: string, region: string, networkSelfLink: string, signal: AbortSignal): Promise<SubnetworkGcp[]> {
    return this.pages(`listing the subnetworks of ${lastSegment(networkSelfLink)} in ${region} of project ${project}`, signal, (c, pageToken, o) =>
      c.subnetworks.list(
        { project, region, filter: `network = "${networkSelfLink}"`, maxResults: this.settings.pageSize, ...(pageToken ? { pageToken } : {}) },
        o,
      ),
    ).then((items) => items.map((s) => subnetwork(s, region)));
  }

  listRoutes(project: string, networkSelfLink: string, signal: AbortSignal): Promise<RouteGcp[]> {
    return this.pages(`listing the routes of ${lastSegment(networkSelfLink)} in project ${project}`, signal, (c, pageToken, o) =>
      c.routes.list({ project, filter: `network = "${networkSelfLink}"`, maxResults: this.settings.pageSize, ...(pageToken ? { pageToken } : {}) }, o),
    ).then((items) => items.map(route));
  }

  getRoute(project: string, name: string, signal: AbortSignal): Promise<RouteGcp> {
    return this.read(`reading route ${name} of project ${project}`, signal, async (c, o) => route((await c.routes.get({ project, route: name }, o))[0]));
  }

  insertRoute(project: string, r: RouteSpec, signal: AbortSignal): Promise<OperationRef> {
    const routeResource: IRoute = {
      name: r.name,
      network: r.network,
      destRange: r.destRange,
      priority: r.priority,
      nextHopVpnTunnel: r.nextHopVpnTunnel,
      description: r.description,
    };
    return this.mutate(`inserting route ${r.name} (${r.destRange} via ${lastSegment(r.nextHopVpnTunnel)}) in project ${project}`, signal, undefined, (c, o) =>
      c.routes.insert({ project, routeResource }, o),
    );
  }

  deleteRoute(project: string, name: string, signal: AbortSignal): Promise<OperationRef> {
    return this.mutate(`deleting route ${name} in project ${project}`, signal, undefined, (c, o) => c.routes.delete({ project, route: name }, o));
  }

  listFirewalls(project: string, networkSelfLink: string, signal: AbortSignal): Promise<FirewallGcp[]> {
    return this.pages(`listing the firewall rules of ${lastSegment(networkSelfLink)} in project ${project}`, signal, (c, pageToken, o) =>
      c.firewalls.list({ project, filter: `network = "${networkSelfLink}"`, maxResults: this.settings.pageSize, ...(pageToken ? { pageToken } : {}) }, o),
    ).then((items) => items.map(firewall));
  }

  getFirewall(project: string, name: string, signal: AbortSignal): Promise<FirewallGcp> {
    return this.read(`reading firewall rule ${name} of project ${project}`, signal, async (c, o) =>
      firewall((await c.firewalls.get({ project, firewall: name }, o))[0]),
    );
  }

  insertFirewall(project: string, rule: FirewallSpec, signal: AbortSignal): Promise<OperationRef> {
    return this.mutate(`inserting firewall rule ${rule.name} in project ${project}`, signal, undefined, (c, o) =>
      c.firewalls.insert({ project, firewallResource: firewallResource(rule) }, o),
    );
  }

  replaceFirewall(project: string, rule: FirewallSpec, signal: AbortSignal): Promise<OperationRef> {
    // PUT, not PATCH: the client leaves empty lists out of a request, so a merge patch cannot clear
    // target tags someone added to Causeway's rule; a rule that is wholly Causeway's is replaced whole.
    return this.mutate(`replacing firewall rule ${rule.name} in project ${project}`, signal, undefined, (c, o) =>
      c.firewalls.update({ project, firewall: rule.name, firewallResource: firewallResource(rule) }, o),
    );
  }

  deleteFirewall(project: string, name: string, signal: AbortSignal): Promise<OperationRef> {
    return this.mutate(`deleting firewall rule ${name} in project ${project}`, signal, undefined, (c, o) => c.firewalls.delete({ project, firewall: name }, o));
  }

  getRouter(project: string, region: string, name: string, signal: AbortSignal): Promise<RouterGcp> {
    return this.read(`reading Cloud Router ${region}/${name} of project ${project}`, signal, async (c, o) => {
      const [r] = await c.routers.get({ project, region, router: name }, o);
      return router(r, region);
    });
  }

  async setRouterAdvertisements(project: string, region: string, name: string, bgp: RouterBgpGcp, signal: AbortSignal): Promise<OperationRef> {
    const what = `setting the advertised ranges of Cloud Router ${region}/${name} in project ${project}`;
    const wanted = {
      asn: bgp.asn,
      advertiseMode: bgp.advertiseMode,
      advertisedGroups: [...bgp.advertisedGroups],
      advertisedIpRanges: bgp.advertisedIpRanges.map((r) => ({ range: r.range, description: r.description })),
    };
    if (wanted.advertisedIpRanges.length > 0 && (wanted.advertisedGroups.length > 0 || bgp.advertiseMode === 'DEFAULT')) {
      // A merge patch of `bgp` keeps the router's peers, interfaces and NATs (Router has no
      // fingerprint to compare-and-swap on: an edit of bgp made since the read is overwritten).
      return this.mutate(what, signal, region, (c, o) => c.routers.patch({ project, region, router: name, routerResource: { bgp: wanted } }, o));
    }
    // An emptied list cannot be patched (the client leaves empty lists out of the request): the
    // router is read again and replaced whole, with only its advertisement changed.
    const current = await this.read(`reading Cloud Router ${region}/${name} of project ${project}`, signal, async (c, o) => {
      return (await c.routers.get({ project, region, router: name }, o))[0];
    });
    const routerResource: IRouter = { ...current, bgp: { ...current.bgp, ...wanted } };
    return this.mutate(what, signal, region, (c, o) => c.routers.update({ project, region, router: name, routerResource }, o));
  }

  getVpnTunnel(project: string, region: string, name: string, signal: AbortSignal): Promise<VpnTunnelGcp> {
    return this.read(`reading Cloud VPN tunnel ${region}/${name} of project ${project}`, signal, async (c, o) => {
      const [t] = await c.vpnTunnels.get({ project, region, vpnTunnel: name }, o);
      return { name: t.name ?? name, region, status: t.status ?? '' };
    });
  }

  async waitOperation(project: string, operation: OperationRef, signal: AbortSignal): Promise<void> {
    const c = await this.clients();
    const started = Date.now();
    const deadline = started + this.settings.operationTimeoutMs;
    let current: OperationShape = { name: operation.name, status: operation.status };
    while (statusOf(current) !== 'DONE') {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new UnavailableError(
          `${operation.what}: operation ${operation.name} is still ${statusOf(current)} after ${Math.round((Date.now() - started) / 1000)} s; the next reconcile sees what it did`,
        );
      }
      const last = current;
      current = await this.gate.run(async (): Promise<OperationShape> => {
        // Compute answers a wait when the operation is DONE or after about two minutes, whichever
        // comes first; a wait that outlives our own deadline is simply another round.
        const o = { timeout: Math.max(1000, Math.min(left, 150_000)) };
        const request = { project, operation: operation.name };
        try {
          const [op] = await abortable(
            operation.region !== undefined ? c.regionOperations.wait({ ...request, region: operation.region }, o) : c.globalOperations.wait(request, o),
            signal,
          );
          return op;
        } catch (err) {
          if ((err as GoogleErrorShape | undefined)?.code === 4 && !signal.aborted) return last;
          throw translateComputeError(err, `waiting for ${operation.what}`, 'mutation');
        }
      }, signal);
    }
    const failed = translateOperationError(current, operation.what);
    if (failed !== undefined) throw failed;
  }
}

// ---- shapes --------------------------------------------------------------------------------

function subnetwork(s: ISubnetwork, region: string): SubnetworkGcp {
  const ranges: { cidr: string; range: string }[] = [];
  if (s.ipCidrRange) ranges.push({ cidr: s.ipCidrRange, range: 'primary' });
  for (const r of s.secondaryIpRanges ?? []) if (r.ipCidrRange) ranges.push({ cidr: r.ipCidrRange, range: r.rangeName ?? 'secondary' });
  const v6 = s.ipv6CidrRange ?? s.internalIpv6Prefix ?? s.externalIpv6Prefix;
  if (v6) ranges.push({ cidr: v6, range: 'ipv6' });
  return { name: s.name ?? '', region: regionOfLink(s.selfLink ?? '') ?? region, network: s.network ?? '', ranges };
}

function route(r: IRoute): RouteGcp {
  const hops: [NextHopField, string | null | undefined][] = [
    ['vpn-tunnel', r.nextHopVpnTunnel],
    ['gateway', r.nextHopGateway],
    ['ip', r.nextHopIp],
    ['instance', r.nextHopInstance],
    ['ilb', r.nextHopIlb],
    ['peering', r.nextHopPeering],
    ['interconnect', r.nextHopInterconnectAttachment],
    ['hub', r.nextHopHub],
    ['network', r.nextHopNetwork],
  ];
  const hop = hops.find(([, v]) => typeof v === 'string' && v !== '');
  return {
    name: r.name ?? '',
    network: r.network ?? '',
    destRange: r.destRange ?? '',
    priority: r.priority ?? 1000,
    nextHop: hop === undefined ? { field: 'other', target: '' } : { field: hop[0], target: hop[1] ?? '' },
    description: r.description ?? '',
    routeType: r.routeType ?? '',
    tags: strings(r.tags),
  };
}

function permissions(list: readonly { IPProtocol?: string | null; ports?: (string | null)[] | null }[] | null | undefined): FirewallPermission[] {
  return (list ?? []).map((a) => ({ protocol: (a.IPProtocol ?? '').toLowerCase(), ports: strings(a.ports) }));
}

function firewall(f: IFirewall): FirewallGcp {
  return {
    name: f.name ?? '',
    network: f.network ?? '',
    direction: f.direction === 'EGRESS' ? 'EGRESS' : 'INGRESS',
    priority: f.priority ?? 1000,
    sourceRanges: strings(f.sourceRanges),
    destinationRanges: strings(f.destinationRanges),
    allowed: permissions(f.allowed),
    denied: permissions(f.denied),
    description: f.description ?? '',
    disabled: f.disabled === true,
    sourceTags: strings(f.sourceTags),
    targetTags: strings(f.targetTags),
    sourceServiceAccounts: strings(f.sourceServiceAccounts),
    targetServiceAccounts: strings(f.targetServiceAccounts),
  };
}

function firewallResource(rule: FirewallSpec): IFirewall {
  return {
    name: rule.name,
    network: rule.network,
    direction: rule.direction,
    priority: rule.priority,
    sourceRanges: [...rule.sourceRanges],
    destinationRanges: [...rule.destinationRanges],
    allowed: rule.allowed.map((a) => ({ IPProtocol: a.protocol, ...(a.ports.length > 0 ? { ports: [...a.ports] } : {}) })),
    description: rule.description,
    disabled: false,
  };
}

function router(r: IRouter, region: string): RouterGcp {
  const b = r.bgp;
  return {
    name: r.name ?? '',
    region,
    network: r.network ?? '',
    bgp:
      b === null || b === undefined
        ? undefined
        : {
            asn: b.asn ?? 0,
            advertiseMode: b.advertiseMode === 'CUSTOM' ? 'CUSTOM' : 'DEFAULT',
            advertisedGroups: strings(b.advertisedGroups),
            advertisedIpRanges: (b.advertisedIpRanges ?? []).map((x) => ({ range: x.range ?? '', description: x.description ?? '' })),
          },
    customPeers: (r.bgpPeers ?? []).filter((p) => p.advertiseMode === 'CUSTOM').map((p) => p.name ?? ''),
  };
}
