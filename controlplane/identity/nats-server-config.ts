// Owns the nats-server configuration text for operator mode with the full resolver: the server
// trusts our operator JWT, knows the system and app accounts from `resolver_preload` at first
// start, and stores every account JWT pushed later (and so every revocation) in `resolverDir`,
// where it survives restarts. Rendering only; the caller writes the file and starts the server.
import { InvalidInputError } from '../api/errors.ts';

export interface NatsServerConfigOptions {
  readonly serverName: string;
  readonly port: number;
  /** Loopback unless the caller says otherwise. */
  readonly host?: string;
  readonly operatorJwt: string;
  /** Public key (A...) of the system account named in the operator JWT. */
  readonly systemAccount: string;
  /**
   * Account public key → account JWT, stored into `resolverDir` at every start unless the stored
   * one was issued in an earlier second. Render these from the current IdentityState every time:
   * a stale preload issued in the same second as a later push replaces it, revocations and all.
   */
  readonly preload: Readonly<Record<string, string>>;
  readonly resolverDir: string;
  readonly jetStreamDir: string;
  /** Bytes; nats-server picks from the machine when absent. */
  readonly jetStreamMaxMemory?: number;
  readonly jetStreamMaxFile?: number;
  /** Serve TLS only (clients verify the server; they authenticate with their JWTs, not certificates). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
}

/** nats-server's `authorization.timeout`: the TLS handshake's 5 s plus 1 s, as nats-server gives TLS by default. */
export const AUTH_TIMEOUT_SECONDS = 6;

const ACCOUNT_KEY = /^A[A-Z2-7]{55}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SERVER_NAME = /^[A-Za-z0-9_-]+$/;

export function renderNatsServerConfig(options: NatsServerConfigOptions): string {
  validate(options);
  const host = options.host ?? '127.0.0.1';
  const jetStream = [`  store_dir: ${quote(options.jetStreamDir)}`];
  if (options.jetStreamMaxMemory !== undefined) jetStream.push(`  max_memory_store: ${options.jetStreamMaxMemory}`);
  if (options.jetStreamMaxFile !== undefined) jetStream.push(`  max_file_store: ${options.jetStreamMaxFile}`);
  const preload = Object.entries(options.preload).map(([account, jwt]) => `  ${account}: ${quote(jwt)}`);
  return [
    `server_name: ${options.serverName}`,
    `listen: ${quote(`${host}:${options.port}`)}`,
    ...(options.tls === undefined
      ? []
      : ['tls: {', `  cert_file: ${quote(options.tls.certFile)}`, `  key_file: ${quote(options.tls.keyFile)}`, '  timeout: 5', '}']),
    // How long a client may take from connecting to authenticating (nats-server's default: 2 s,
    // or the TLS handshake's timeout + 1 s with TLS). A thousand agents reconnecting at once after a
    // restart sign their nonces on busy machines: one late by more than 2 s was refused
    // ('Authentication Timeout'), twice made nats.js close the connection, and each retry added to
    // the storm. The same allowance with or without TLS, and the agents' own connect timeout (5 s)
    // stays the tighter bound.
    `authorization: { timeout: ${AUTH_TIMEOUT_SECONDS} }`,
    '',
    `operator: ${quote(options.operatorJwt)}`,
    `system_account: ${options.systemAccount}`,
    'resolver: {',
    '  type: full',
    `  dir: ${quote(options.resolverDir)}`,
    // Deleting accounts would let a stale push resurrect revoked users' access: never allow it.
    '  allow_delete: false',
    '  interval: "2m"',
    '}',
    'resolver_preload: {',
    ...preload,
    '}',
    '',
    'jetstream: {',
    ...jetStream,
    '}',
    '',
  ].join('\n');
}

function validate(options: NatsServerConfigOptions): void {
  const problems: { field: string; value?: unknown; message: string }[] = [];
  if (!SERVER_NAME.test(options.serverName)) {
    problems.push({ field: 'serverName', value: options.serverName, message: 'use letters, digits, "_" and "-" only' });
  }
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    problems.push({ field: 'port', value: options.port, message: 'must be a TCP port (1-65535)' });
  }
  if (!JWT.test(options.operatorJwt)) problems.push({ field: 'operatorJwt', message: 'not a JWT' });
  if (!ACCOUNT_KEY.test(options.systemAccount)) {
    problems.push({ field: 'systemAccount', value: options.systemAccount, message: 'not an account public key (A...)' });
  }
  if (options.preload[options.systemAccount] === undefined) {
    problems.push({ field: 'preload', message: 'must include the system account, or the server cannot start its resolver' });
  }
  for (const [account, jwt] of Object.entries(options.preload)) {
    if (!ACCOUNT_KEY.test(account)) problems.push({ field: `preload.${account}`, message: 'key is not an account public key (A...)' });
    if (!JWT.test(jwt)) problems.push({ field: `preload.${account}`, message: 'value is not a JWT' });
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
}

// NATS config strings accept JSON-style double quotes and escapes.
function quote(value: string): string {
  return JSON.stringify(value);
}
