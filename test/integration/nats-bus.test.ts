// The hub's NatsBus against a real nats-server (operator mode): a subscription handler that
// throws loses that message only; the hub goes on hearing every later one (issue 12 §1).
import assert from 'node:assert/strict';
import { NatsBus } from '../../controlplane/bus/nats-bus.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { waitFor } from '../harness/wait.ts';

describe('NatsBus (real nats-server)', () => {
  let nats: TestNats;
  let bus: NatsBus;
  const errors: [string, string][] = [];

  before(async () => {
    nats = await startTestNats();
    bus = await NatsBus.connect({
      servers: nats.url,
      creds: nats.hub.creds,
      name: 'test-bus',
      onHandlerError: (subject, err) => {
        errors.push([subject, (err as Error).message]);
      },
    });
  });
  after(async () => {
    await bus.close();
    await nats.stop();
  });

  it('keeps a subscription alive when its handler throws, and reports the error', async () => {
    const heard: string[] = [];
    bus.subscribe('causeway.v1.agent.*.heartbeat', {}, (msg) => {
      const text = new TextDecoder().decode(msg.data);
      if (text === 'poison') throw new Error('a bug this message hits');
      heard.push(text);
    });
    for (const body of ['one', 'poison', 'two', 'poison', 'three']) bus.publish('causeway.v1.agent.a.heartbeat', new TextEncoder().encode(body));
    await bus.flush();
    await waitFor('the messages after the poison ones', () => heard.length === 3);
    assert.deepEqual(heard, ['one', 'two', 'three']);
    assert.deepEqual(errors, [
      ['causeway.v1.agent.a.heartbeat', 'a bug this message hits'],
      ['causeway.v1.agent.a.heartbeat', 'a bug this message hits'],
    ]);
  });

  it('answers a request through the replier, and says who did not answer when nobody does', async () => {
    const sub = bus.subscribe('causeway.v1.hub.delivery-state', {}, (msg) => {
      if (msg.reply !== undefined) bus.publish(msg.reply, new TextEncoder().encode(`state for ${new TextDecoder().decode(msg.data)}`));
    });
    try {
      const answer = await bus.request('causeway.v1.hub.delivery-state', new TextEncoder().encode('r42'), 2000);
      assert.equal(new TextDecoder().decode(answer), 'state for r42');
    } finally {
      sub.unsubscribe();
    }
    await assert.rejects(bus.request('causeway.v1.hub.nobody-here', new Uint8Array(), 500), /no answer on causeway\.v1\.hub\.nobody-here within 500 ms/);
  });
});
