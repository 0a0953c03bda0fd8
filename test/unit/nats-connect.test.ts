// The first-reconnect jitter (controlplane/bus/nats-connect.ts), as nats.js asks it before each
// dial: the first connect and a server that already failed a dial go at once (later dials wait the
// reconnect time and its jitter already); the first dial after a connection was lost waits
// 0..jitter. test/integration/nats-reconnect-jitter.test.ts measures it against nats-server.
import assert from 'node:assert/strict';
import type { Server, ServerInfo } from '@nats-io/transport-node';
import { firstReconnectJitter } from '../../controlplane/bus/nats-connect.ts';

const server = (reconnects: number): Server => ({
  hostname: '127.0.0.1',
  port: 4222,
  listen: '127.0.0.1:4222',
  src: 'nats://127.0.0.1:4222',
  tlsName: '',
  reconnects,
  lastConnect: 0,
  gossiped: false,
  didConnect: true,
});
const info = { server_id: 'x' } as ServerInfo;

describe('the first-reconnect jitter (nats-connect.ts)', () => {
  it('delays only the first dial after a loss, by 0..jitter ms, to the server nats.js chose', () => {
    const at = (r: number): ReturnType<ReturnType<typeof firstReconnectJitter>> => firstReconnectJitter(1000, () => r)([server(0), server(0)], info);
    assert.deepEqual(at(0), { server: server(0), delay: 0 });
    assert.deepEqual(at(0.5), { server: server(0), delay: 500 });
    assert.deepEqual(at(0.99999), { server: server(0), delay: 1000 });
    const handler = firstReconnectJitter(1000, () => 0.5);
    assert.equal(handler([server(0)], null), null, 'the first connect (no INFO yet) is not delayed');
    assert.equal(handler([server(1)], info), null, 'a server that failed a dial is retried after the reconnect wait alone');
    assert.equal(handler([], info), null);
  });
});
