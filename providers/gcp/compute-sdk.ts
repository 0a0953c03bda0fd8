// @google-cloud/compute and google-auth-library: the only module that imports either (ADR 0014).
// It makes the Compute clients and resolves their credentials itself, so that a missing or refused
// credential is an UnauthorizedError and never the client library's own lookup, which rejects
// unhandled and takes the process down (TESTING.md, "Cloud doubles"). The modules that implement
// the ComputeApi port on these clients (compute-connection.ts and the one per resource) name the
// client and resource types through this file, never the library.
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
import { messageOf, type OperationShape } from './compute-errors.ts';

type v1 = typeof protos.google.cloud.compute.v1;
export type IRoute = protos.google.cloud.compute.v1.IRoute;
export type IFirewall = protos.google.cloud.compute.v1.IFirewall;
export type IRouter = protos.google.cloud.compute.v1.IRouter;
export type ISubnetwork = protos.google.cloud.compute.v1.ISubnetwork;
type ClientOptions = NonNullable<ConstructorParameters<typeof RoutesClient>[0]>;
export type EndpointOptions = Pick<ClientOptions, 'apiEndpoint' | 'port' | 'protocol'>;
/** The options every call of the port hands a client method. */
export interface CallOptions {
  timeout: number;
  autoPaginate?: boolean;
}

const COMPUTE_SCOPE = 'https://www.googleapis.com/auth/compute';
const OPERATION_STATUS: v1['Operation']['Status'] = protos.google.cloud.compute.v1.Operation.Status;

/** Where the clients connect, and with which credentials. */
export interface ClientsOptions {
  /**
   * The Compute API's base URL instead of compute.googleapis.com: a Private Service Connect
   * endpoint, a proxy, or the Compute test double (`http://127.0.0.1:PORT`). Scheme, host and port
   * only: the client library puts its own `/compute/v1/...` path after it.
   */
  readonly endpoint?: string | undefined;
  /** A service-account (or authorized-user) key file, instead of Google's default credential chain. */
  readonly credentialsFile?: string | undefined;
  /** Where GOOGLE_APPLICATION_CREDENTIALS is read from; default process.env. */
  readonly environment?: Readonly<Record<string, string | undefined>> | undefined;
}

/** One client per Compute service the port uses. */
export interface Clients {
  readonly networks: NetworksClient;
  readonly subnetworks: SubnetworksClient;
  readonly routes: RoutesClient;
  readonly firewalls: FirewallsClient;
  readonly routers: RoutersClient;
  readonly vpnTunnels: VpnTunnelsClient;
  readonly globalOperations: GlobalOperationsClient;
  readonly regionOperations: RegionOperationsClient;
}

/** `http://127.0.0.1:8080` → apiEndpoint, port and protocol apart: `apiEndpoint: 'host:port'` alone hangs (TESTING.md). */
export function endpointOptions(endpoint: string): EndpointOptions {
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

export function makeClients(options: ClientOptions): Clients {
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

export async function resolveCredentials(options: ClientsOptions): Promise<AuthClient> {
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

// ---- operations ----------------------------------------------------------------------------

/** The operation's status as Compute spells it (the client may hand back the enum's number). */
export function statusOf(op: OperationShape): string {
  const s = op.status;
  if (typeof s === 'string') return s;
  if (typeof s === 'number') return (OPERATION_STATUS as unknown as Record<number, string>)[s] ?? String(s);
  return 'UNKNOWN';
}
