// The ViewStream port's contract, held by both implementations: NatsViewStream on a real
// nats-server with JetStream (operator mode, the hub's user), and MemoryViewStream, the unit tests'
// fake. Reads go through each one's consumer as the agent reads: NATS by pulling the durable
// consumer with a fetch, the fake through `read`.
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { VIEW_STREAM, viewConsumerName, viewEntrySubject, viewRevisionSubject } from '../../controlplane/api/subjects.ts';
import { ViewHeader, revisionMessage, type ViewMessage } from '../../controlplane/api/view-entries.ts';
import { MemoryViewStream } from '../../controlplane/bus/memory-views.ts';
import { NatsViewStream } from '../../controlplane/bus/nats-views.ts';
import type { ViewStream } from '../../controlplane/bus/views.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';

interface Subject {
  readonly stream: ViewStream;
  /** The subjects the cluster's consumer delivers next, in order (acknowledging them). */
  read(cluster: string): Promise<string[]>;
  close(): Promise<void>;
}

const entry = (cluster: string, name: string, value: string): ViewMessage => ({
  subject: viewEntrySubject(cluster, 'import', 'apps', name),
  data: new TextEncoder().encode(value),
  headers: { [ViewHeader.Digest]: value },
});

function contract(name: string, make: () => Promise<Subject>): void {
  describe(`ViewStream contract: ${name}`, function () {
    this.timeout(30_000);
    let s: Subject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });

    it('refuses writes before the stream exists; ensure is idempotent', async () => {
      await assert.rejects(s.stream.publish([entry('a', 'web', 'v1')]));
      await s.stream.ensure();
      await s.stream.ensure();
      await s.stream.publish([entry('a', 'web', 'v1')]);
      assert.deepEqual([...(await s.stream.latest()).keys()], [viewEntrySubject('a', 'import', 'apps', 'web')]);
    });

    it('keeps the latest message of each subject, with its headers, and purges by filter', async () => {
      await s.stream.ensure();
      await s.stream.publish([entry('a', 'web', 'v1'), entry('a', 'web', 'v2'), entry('a', 'db', 'd1'), entry('b', 'web', 'b1'), revisionMessage('a', 5)]);
      const latest = await s.stream.latest();
      assert.deepEqual(Object.fromEntries([...latest].map(([k, h]) => [k, h[ViewHeader.Digest] ?? h[ViewHeader.Revision]])), {
        [viewEntrySubject('a', 'import', 'apps', 'web')]: 'v2',
        [viewEntrySubject('a', 'import', 'apps', 'db')]: 'd1',
        [viewEntrySubject('b', 'import', 'apps', 'web')]: 'b1',
        [viewRevisionSubject('a')]: '5',
      });
      await s.stream.purge('causeway.v1.view.a.>');
      assert.deepEqual([...(await s.stream.latest()).keys()], [viewEntrySubject('b', 'import', 'apps', 'web')]);
    });

    it("a consumer reads the latest of every subject of its cluster's view in order, then what comes later; a reset reads it all again", async () => {
      await s.stream.ensure();
      await s.stream.publish([entry('a', 'web', 'v1'), entry('b', 'web', 'b1'), entry('a', 'db', 'd1'), entry('a', 'web', 'v2')]);
      await s.stream.ensureConsumer('a');
      await s.stream.ensureConsumer('a');
      assert.deepEqual(await s.stream.consumers(), ['a']);
      const db = viewEntrySubject('a', 'import', 'apps', 'db');
      const web = viewEntrySubject('a', 'import', 'apps', 'web');
      assert.deepEqual(await s.read('a'), [db, web]);
      await s.stream.publish([entry('a', 'db', 'd2'), entry('b', 'db', 'b2')]);
      assert.deepEqual(await s.read('a'), [db]);
      assert.deepEqual(await s.read('a'), []);
      await s.stream.resetConsumer('a');
      assert.deepEqual(await s.read('a'), [web, db]);
      await s.stream.deleteConsumer('a');
      await s.stream.deleteConsumer('a');
      assert.deepEqual(await s.stream.consumers(), []);
    });
  });
}

let nats: TestNats;
before(async () => {
  nats = await startTestNats();
});
after(async () => {
  await nats.stop();
});

contract('MemoryViewStream', () => {
  const stream = new MemoryViewStream();
  return Promise.resolve({
    stream,
    read: (cluster) => Promise.resolve((stream.read(cluster) ?? []).map((m) => m.message.subject)),
    close: () => Promise.resolve(),
  });
});

contract('NatsViewStream (real nats-server, JetStream)', async () => {
  const nc: NatsConnection = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(nats.hub.creds)) });
  // Each case starts without the stream.
  await jetstream(nc)
    .jetstreamManager()
    .then((m) => m.streams.delete(VIEW_STREAM))
    .catch(() => undefined);
  const stream = new NatsViewStream(nc);
  return {
    stream,
    read: async (cluster) => {
      const consumer = await jetstream(nc).consumers.get(VIEW_STREAM, viewConsumerName(cluster));
      if ((await consumer.info()).num_pending === 0) return [];
      const out: string[] = [];
      for await (const m of await consumer.fetch({ max_messages: 100, expires: 1000 })) {
        out.push(m.subject);
        if (m.info.pending === 0) {
          m.ack();
          break;
        }
      }
      await nc.flush();
      return out;
    },
    close: () => nc.close(),
  };
});
