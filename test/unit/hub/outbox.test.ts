// Delivery's outbox (hub/controllers/outbox.ts): held until drained, published in order, published
// without a drain once OUTBOX_BYTES are held, and a publish that throws loses only its message.
import assert from 'node:assert/strict';
import { OUTBOX_BYTES, Outbox } from '../../../controlplane/hub/controllers/outbox.ts';

function world(refuse: (subject: string) => boolean = () => false) {
  const published: string[] = [];
  const counted: string[] = [];
  const outbox = new Outbox({
    publish: (subject) => {
      if (refuse(subject)) throw new Error('connection closed');
      published.push(subject);
    },
    count: (kind, result) => counted.push(`${kind} ${result}`),
    warn: () => undefined,
  });
  return { outbox, published, counted };
}

describe('delivery outbox (hub/controllers/outbox.ts)', () => {
  it('holds messages until drained, then publishes them in order, once', () => {
    const { outbox, published } = world();
    for (const s of ['a', 'b', 'c']) outbox.send(s, new Uint8Array(10));
    assert.deepEqual(published, []);
    outbox.drain();
    assert.deepEqual(published, ['a', 'b', 'c']);
    outbox.drain();
    assert.deepEqual(published, ['a', 'b', 'c'], 'nothing twice');
  });

  it(`publishes what it holds without a drain once ${OUTBOX_BYTES} bytes are held`, () => {
    const { outbox, published } = world();
    outbox.send('first', new Uint8Array(OUTBOX_BYTES - 1));
    assert.deepEqual(published, []);
    outbox.send('second', new Uint8Array(1));
    assert.deepEqual(published, ['first', 'second']);
    outbox.send('third', new Uint8Array(1));
    assert.deepEqual(published, ['first', 'second'], 'the count starts again');
  });

  it('a publish that throws loses that message only, and is counted', () => {
    const { outbox, published, counted } = world((s) => s === 'b');
    for (const s of ['a', 'b', 'c']) outbox.send(s, new Uint8Array(1));
    outbox.drain();
    assert.deepEqual(published, ['a', 'c']);
    assert.deepEqual(counted, ['imports publish-failed']);
  });
});
