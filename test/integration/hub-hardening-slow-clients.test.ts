// Slow and idle clients (issue 12 §2): the hub's HTTP server bounds how long a request may take to
// arrive, how long an idle keep-alive connection stays, and closes the socket of a request it
// refused before reading its body. Real sockets against the real HTTP edge on a real etcd; the
// timeouts are the server's own options, set short for the test so that it stays fast.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { hashToken, TokenAuthenticator } from '../../controlplane/hub/auth.ts';
import { buildHubServer, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from '../../controlplane/hub/http/server.ts';
import { createHubMetrics } from '../../controlplane/hub/metrics.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

const TOKEN = 'cw_slow-client-test-token';

interface Exchange {
  /** Everything the server sent before it closed the socket. */
  readonly received: string;
  /** Milliseconds from connecting until the server closed the socket. */
  readonly closedAfterMs: number;
  /** Bytes of the request body the client managed to send. */
  readonly bodyBytesSent: number;
}

/**
 * Sends `head` at once, then one body byte every `intervalMs` (of a body announced as
 * `bodyLength` bytes) until the server closes the socket or `giveUpMs` passes.
 */
function slowRequest(port: number, head: string, options: { bodyLength: number; intervalMs: number; giveUpMs: number }): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = '';
    let sent = 0;
    const socket: Socket = connect(port, '127.0.0.1');
    const drip = setInterval(() => {
      if (sent < options.bodyLength && !socket.destroyed) {
        socket.write('x');
        sent++;
      }
    }, options.intervalMs);
    const giveUp = setTimeout(() => {
      clearInterval(drip);
      socket.destroy();
      reject(new Error(`the server kept the socket open for ${options.giveUpMs} ms; received: ${JSON.stringify(received.slice(0, 200))}`));
    }, options.giveUpMs);
    socket.on('connect', () => {
      socket.write(head);
    });
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ received, closedAfterMs: Date.now() - started, bodyBytesSent: sent });
    });
  });
}

function applyHead(token: string | undefined, bodyLength: number, keepAlive = true): string {
  return [
    'POST /apis/causeway.dev/v1alpha1/apply HTTP/1.1',
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `Content-Length: ${bodyLength}`,
    ...(token !== undefined ? [`Authorization: Bearer ${token}`] : []),
    keepAlive ? 'Connection: keep-alive' : 'Connection: close',
    '',
    '',
  ].join('\r\n');
}

describe('the hub HTTP server and slow or idle clients (real sockets, real etcd)', function () {
  this.timeout(60_000);
  const timeouts: HttpTimeouts = { requestTimeoutMs: 2000, headersTimeoutMs: 1500, keepAliveTimeoutMs: 500, connectionTimeoutMs: 10_000 };
  let etcd: TestEtcd;
  let store: EtcdStore;
  let app: ReturnType<typeof buildHubServer>;
  let port: number;

  before(async () => {
    etcd = await startTestEtcd();
    store = new EtcdStore({ endpoints: [etcd.url], namespace: '/slow-clients' });
    const registry = new Registry(store);
    const metrics = createHubMetrics(
      () => Promise.resolve({}),
      () => Promise.resolve(true),
    );
    const auth = new TokenAuthenticator([{ name: 'admin', role: 'admin', namespaces: [], sha256: hashToken(TOKEN) }]);
    app = buildHubServer({ registry, store, auth, metrics, logger: pino({ level: 'silent' }), timeouts });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    port = address.port;
  });
  after(async () => {
    await app.close();
    await store.close();
    await etcd.stop();
  });

  it('has defaults that bound a request to 30 s and an idle keep-alive connection to 5 s', () => {
    assert.deepEqual(DEFAULT_HTTP_TIMEOUTS, { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, connectionTimeoutMs: 60_000 });
  });

  it('a body sent one byte at a time with a valid token: 408 and the socket closed once the request timeout passes', async () => {
    const ex = await slowRequest(port, applyHead(TOKEN, 100), { bodyLength: 100, intervalMs: 250, giveUpMs: 15_000 });
    assert.match(ex.received, /^HTTP\/1\.1 408 /);
    assert.ok(ex.closedAfterMs >= timeouts.requestTimeoutMs - 100, `closed after ${ex.closedAfterMs} ms, before the request timeout`);
    assert.ok(ex.closedAfterMs < timeouts.requestTimeoutMs + 3000, `closed after ${ex.closedAfterMs} ms`);
    assert.ok(ex.bodyBytesSent < 100);
  });

  it('the same without a token: 401 at once, and the socket closed without waiting for the body', async () => {
    const ex = await slowRequest(port, applyHead(undefined, 100), { bodyLength: 100, intervalMs: 250, giveUpMs: 15_000 });
    assert.match(ex.received, /^HTTP\/1\.1 401 /);
    assert.match(ex.received, /\r\nconnection: close\r\n/i);
    assert.match(ex.received, /"reason":"Unauthorized"/);
    assert.ok(ex.closedAfterMs < timeouts.requestTimeoutMs - 500, `closed after ${ex.closedAfterMs} ms: the refusal must not wait for the timeout`);
  });

  it('request headers sent one byte at a time: the socket closed once the headers timeout passes', async () => {
    const head = applyHead(TOKEN, 2);
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let i = 0;
    const drip = setInterval(() => {
      if (i < head.length && !socket.destroyed) socket.write(head[i++] ?? '');
    }, 200);
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const giveUp = setTimeout(() => {
        socket.destroy();
        reject(new Error('the server kept a slowly sent header open for 15 s'));
      }, 15_000);
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve(Date.now() - started);
      });
    });
    clearInterval(drip);
    assert.ok(i < head.length, 'the headers were still incomplete when the server closed');
    assert.ok(closedAfter < timeouts.headersTimeoutMs + 3000, `closed after ${closedAfter} ms`);
  });

  it('an idle keep-alive connection after a complete request: closed once the keep-alive timeout passes', async () => {
    const ex = await slowRequest(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n', {
      bodyLength: 0,
      intervalMs: 1000,
      giveUpMs: 10_000,
    });
    assert.match(ex.received, /^HTTP\/1\.1 200 /);
    assert.ok(ex.closedAfterMs < timeouts.keepAliveTimeoutMs + 3000, `closed after ${ex.closedAfterMs} ms`);
  });

  it('a request whose body arrives in time is still served', async () => {
    const body = JSON.stringify({ documents: [] });
    const ex = await slowRequest(port, applyHead(TOKEN, body.length, false) + body, { bodyLength: 0, intervalMs: 1000, giveUpMs: 10_000 });
    // An empty apply is refused as input (422), which proves the body was read and parsed.
    assert.match(ex.received, /^HTTP\/1\.1 422 /);
    assert.match(ex.received, /no documents to apply/);
  });
});
