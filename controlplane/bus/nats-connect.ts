// The one place that opens NATS connections (hub bus, account pushes, agents): how servers are
// given (a URL, a comma-separated list, or an array), how a .creds text authenticates, and the
// reconnect policy. Callers wrap the connection in their own port.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { credsAuthenticator } from '../identity/nats-identity.ts';

export type { NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectOptions {
  /** One URL, several separated by ",", or a list. */
  readonly servers: string | readonly string[];
  readonly name: string;
  /** `.creds` text (user JWT and seed), or where to read the current one at each (re)connect (renewed credentials). */
  readonly creds?: string | (() => string) | undefined;
  readonly token?: string | undefined;
  /** Where this client's replies arrive; an agent's credential allows only its own. */
  readonly inboxPrefix?: string | undefined;
  /** Keep retrying the first connect (for a server that may be starting). Default false. */
  readonly waitOnFirstConnect?: boolean;
  readonly reconnectTimeWaitMs?: number;
  readonly reconnectJitterMs?: number;
  /** Connect timeout; default the client's (20 s). */
  readonly timeoutMs?: number;
  /** PEM of the CA(s) that sign the servers' certificates; TLS is then required. */
  readonly ca?: string | undefined;
}

/** "a,b" and ["a", "b"] alike become a list of server URLs. */
export function natsServers(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',') : [...servers];
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Connects; once connected, the client reconnects forever. */
export function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  return connect({
    servers: natsServers(options.servers),
    name: options.name,
    ...(options.creds !== undefined ? { authenticator: credsAuthenticator(options.creds) } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.inboxPrefix !== undefined ? { inboxPrefix: options.inboxPrefix } : {}),
    ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    ...(options.reconnectJitterMs !== undefined ? { reconnectJitter: options.reconnectJitterMs } : {}),
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    ...(options.ca !== undefined ? { tls: { ca: options.ca } } : {}),
  });
}
