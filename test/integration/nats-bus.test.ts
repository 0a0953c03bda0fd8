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
  const refused: [string, string][] = [];

  before(async () => {
    nats = await startTestNats();
    bus = await NatsBus.connect({
      servers: nats.url,
      creds: nats.hub.creds,
      name: 'test-bus',
      onHandlerError: (subject, err) => {
        errors.push([subject, (err as Error).message]);
      },
      onPublishError: (subject, err) => {
        refused.push([subject, (err as Error).message]);
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

  it('delivers publishes in order across its end-of-turn outbox, a drain at its byte bound, a request and a flush', async () => {
    const heard: string[] = [];
    const sub = bus.subscribe('causeway.v1.cluster.a.imports', {}, (msg) => {
      const text = new TextDecoder().decode(msg.data);
      heard.push(text.length > 20 ? `big:${text.length}` : text);
    });
    const replier = bus.subscribe('causeway.v1.hub.echo', {}, (msg) => {
      if (msg.reply !== undefined) bus.publish(msg.reply, msg.data);
    });
    try {
      await bus.flush();
      const big = 'x'.repeat(200 * 1024);
      const expected: string[] = [];
      const send = (text: string): void => {
        bus.publish('causeway.v1.cluster.a.imports', new TextEncoder().encode(text));
        expected.push(text.length > 20 ? `big:${text.length}` : text);
      };
      // Two big ones cross the outbox's bound: the first three go at once, the rest at the turn's end.
      send('1');
      send(big);
      send(big);
      send('2');
      // A request goes after what was published before it.
      const answer = bus.request('causeway.v1.hub.echo', new TextEncoder().encode('ping'), 2000);
      send('3');
      assert.equal(new TextDecoder().decode(await answer), 'ping');
      send('4');
      await bus.flush();
      await waitFor('every message', () => heard.length === expected.length);
      assert.deepEqual(heard, expected);
    } finally {
      sub.unsubscribe();
      replier.unsubscribe();
    }
  });

  it("reports a publish nats.js refuses (over the server's max_payload) instead of throwing, and goes on publishing", async () => {
    const heard: string[] = [];
    const sub = bus.subscribe('causeway.v1.cluster.b.imports', {}, (msg) => {
      heard.push(new TextDecoder().decode(msg.data).slice(0, 5));
    });
    try {
      await bus.flush();
      bus.publish('causeway.v1.cluster.b.imports', new TextEncoder().encode('before'));
      bus.publish('causeway.v1.cluster.b.imports', new Uint8Array(8 * 1024 * 1024));
      bus.publish('causeway.v1.cluster.b.imports', new TextEncoder().encode('after'));
      await bus.flush();
      await waitFor('the messages around the refused one', () => heard.length === 2);
      assert.deepEqual(heard, ['befor', 'after']);
      assert.equal(refused.length, 1);
      const [subject, message] = refused[0] ?? ['', ''];
      assert.equal(subject, 'causeway.v1.cluster.b.imports');
      assert.match(message, /payload/i);
    } finally {
      sub.unsubscribe();
    }
  });
});
