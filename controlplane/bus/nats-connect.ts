// The one place that opens NATS connections (hub bus, account pushes, agents): how servers are
// given (a URL, a comma-separated list, or an array), how a .creds text authenticates, and the
// reconnect policy. Callers wrap the connection in their own port.
import { connect, type NatsConnection, type ReconnectToServerHandler } from '@nats-io/transport-node';
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
  /**
   * The first dial to a server after the connection is lost waits a random 0..this (default 0).
   * nats.js dials a server it last dialled longer ago than the reconnect wait at once, so without
   * it every agent of a restarted (or failed-over) server would dial in the same instant.
   */
  readonly firstReconnectJitterMs?: number;
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
    ...(options.firstReconnectJitterMs !== undefined && options.firstReconnectJitterMs > 0
      ? { reconnectToServer: firstReconnectJitter(options.firstReconnectJitterMs) }
      : {}),
    ...(options.ca !== undefined ? { tls: { ca: options.ca } } : {}),
  });
}

/**
 * nats.js asks this before every dial, with the server it would dial first. A server that has not
 * failed a dial since it was last connected to (`reconnects` is 0) is dialled after a random
 * 0..`jitterMs`: the first dial after a disconnect, spread. Later dials already wait the reconnect
 * time and its jitter, and the first connect (no server INFO yet) is not delayed.
 */
export function firstReconnectJitter(jitterMs: number, random: () => number = Math.random): ReconnectToServerHandler {
  return (pool, info) => {
    const server = pool[0];
    if (info === null || server === undefined || server.reconnects > 0) return null;
    return { server, delay: Math.floor(random() * (jitterMs + 1)) };
  };
}
