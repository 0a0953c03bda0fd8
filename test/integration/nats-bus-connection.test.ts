// The hub's NatsBus reports its connection state against a real nats-server (operator mode): a
// stopped server shows as disconnected, its return as connected again, each change once. Liveness
// relies on it to tell "this cluster went silent" from "I can hear nobody" (issue 13 §1).
import assert from 'node:assert/strict';
import { NatsBus } from '../../controlplane/bus/nats-bus.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { waitFor } from '../harness/wait.ts';

describe('NatsBus connection state (real nats-server)', () => {
  let nats: TestNats;
  let bus: NatsBus;

  before(async () => {
    nats = await startTestNats();
    bus = await NatsBus.connect({ servers: nats.url, creds: nats.hub.creds, name: 'test-bus-connection' });
  });
  after(async () => {
    await bus.close();
    await nats.stop();
  });

  it('is connected, reports the server going away and coming back once each, and hears messages again after', async () => {
    assert.equal(bus.connected(), true);
    const changes: boolean[] = [];
    const sub = bus.onConnectionChange((up) => changes.push(up));
    await nats.server().stop();
    await waitFor('the bus to report the connection lost', () => !bus.connected(), 10_000);
    assert.deepEqual(changes, [false]);
    await nats.restart();
    await waitFor('the bus to report the connection back', () => bus.connected(), 15_000);
    assert.deepEqual(changes, [false, true]);
    sub.unsubscribe();

    const heard: string[] = [];
    bus.subscribe('causeway.v1.agent.*.heartbeat', {}, (msg) => heard.push(new TextDecoder().decode(msg.data)));
    bus.publish('causeway.v1.agent.a.heartbeat', new TextEncoder().encode('after'));
    await bus.flush();
    await waitFor('a message after the reconnect', () => heard.length === 1);
    assert.deepEqual(heard, ['after']);
  });
});
