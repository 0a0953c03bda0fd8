// Reconnects after a nats-server restart are spread (issue 11 §1), against a real nats-server.
// nats.js dials a server it last dialled longer ago than its reconnect wait at once, so every
// client of a restarted server used to dial in the same instant; connectNats's
// `firstReconnectJitterMs` (the agent's default is 1 s) spreads that first dial. Later dials are
// set here to 50 ms without jitter, so that only the first dial's spread is measured.
import assert from 'node:assert/strict';
import { connectNats, type NatsConnection } from '../../controlplane/bus/nats-connect.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { waitFor } from '../harness/wait.ts';

const CLIENTS = 20;

interface Client {
  readonly nc: NatsConnection;
  reconnectedAt: number | undefined;
}

async function clients(nats: TestNats, firstReconnectJitterMs: number | undefined): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const nc = await connectNats({
        servers: nats.url,
        creds: nats.hub.creds,
        name: `jitter-${firstReconnectJitterMs ?? 0}-${i}`,
        reconnectTimeWaitMs: 50,
        reconnectJitterMs: 0,
        ...(firstReconnectJitterMs !== undefined ? { firstReconnectJitterMs } : {}),
      });
      const client: Client = { nc, reconnectedAt: undefined };
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') client.reconnectedAt ??= performance.now();
      })();
      return client;
    }),
  );
}

const spread = (group: readonly Client[]): number => {
  const times = group.map((c) => c.reconnectedAt ?? Number.NaN);
  return Math.max(...times) - Math.min(...times);
};

describe('reconnects after a nats-server restart (real nats-server)', () => {
  let nats: TestNats;
  const all: Client[] = [];

  before(async () => {
    nats = await startTestNats();
  });
  after(async () => {
    await Promise.all(all.map((c) => c.nc.close()));
    await nats.stop();
  });

  it("spreads every client's first dial over the jitter, where clients without it reconnect together", async () => {
    const jittered = await clients(nats, 1000);
    const plain = await clients(nats, undefined);
    all.push(...jittered, ...plain);
    const restartedAt = performance.now();
    await nats.restart();
    const upAt = performance.now();
    await waitFor('every client reconnected', () => all.every((c) => c.reconnectedAt !== undefined), 15_000);
    const late = Math.max(...jittered.map((c) => (c.reconnectedAt ?? 0) - restartedAt));
    // The server was back after upAt - restartedAt; the jittered dials spread over the second after the loss.
    assert.ok(
      spread(jittered) >= 300,
      `jittered clients reconnected within ${spread(jittered).toFixed(0)} ms of each other (server back after ${(upAt - restartedAt).toFixed(0)} ms)`,
    );
    assert.ok(
      spread(plain) < spread(jittered) / 2,
      `clients without it reconnected within ${spread(plain).toFixed(0)} ms, jittered within ${spread(jittered).toFixed(0)} ms`,
    );
    assert.ok(late < 1000 + (upAt - restartedAt) + 1000, `the last jittered client reconnected ${late.toFixed(0)} ms after the restart began`);
    // Connected again means working again: a message goes through on every jittered connection.
    const sub = plain[0]?.nc.subscribe('jitter.check');
    await plain[0]?.nc.flush();
    for (const c of jittered) c.nc.publish('jitter.check', 'x');
    await Promise.all(jittered.map((c) => c.nc.flush()));
    let heard = 0;
    for await (const _ of sub ?? []) if (++heard === CLIENTS) break;
    assert.equal(heard, CLIENTS);
  });
});
