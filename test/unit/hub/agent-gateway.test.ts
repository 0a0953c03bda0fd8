// Leadership of the agent gateway, on the in-memory store, bus and view stream fakes: two
// replicas, one leads; its term writes every cluster's view and creates its consumer; when it
// stops, the other's new term finds the views as they were and writes nothing again; only the
// leader answers sync requests (by resetting the cluster's consumer).
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { objectKey } from '../../../controlplane/api/keys.ts';
import { syncRequestCodec } from '../../../controlplane/api/messages.ts';
import { agentSubject, viewRevisionSubject } from '../../../controlplane/api/subjects.ts';
import { decodeRevision } from '../../../controlplane/api/view-entries.ts';
import { MemoryBus } from '../../../controlplane/bus/memory-bus.ts';
import { MemoryViewStream } from '../../../controlplane/bus/memory-views.ts';
import { startAgentGateway, type AgentGateway } from '../../../controlplane/hub/agent-gateway.ts';
import { CredentialStore } from '../../../controlplane/hub/credentials.ts';
import { createHubMetrics } from '../../../controlplane/hub/metrics.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { Registry } from '../../../controlplane/registry/registry.ts';
import { waitFor } from '../../harness/wait.ts';

describe('agent gateway leadership (two replicas on the in-memory store, bus and view stream fakes)', () => {
  let store: MemoryStore;
  let bus: MemoryBus;
  let views: MemoryViewStream;
  const gateways: AgentGateway[] = [];

  const start = (): Promise<AgentGateway> =>
    startAgentGateway({
      store,
      registry: new Registry(store),
      bus,
      views,
      credentials: new CredentialStore(store),
      metrics: createHubMetrics(
        () => Promise.resolve({}),
        () => Promise.resolve(true),
      ),
      logger: pino({ level: 'silent' }),
      flushIntervalMs: 1,
    }).then((g) => {
      gateways.push(g);
      return g;
    });

  beforeEach(async () => {
    store = new MemoryStore();
    bus = new MemoryBus();
    views = new MemoryViewStream();
    const cluster = { apiVersion: 'causeway.dev/v1alpha1', kind: 'Cluster', metadata: { name: 'c' }, spec: { provider: 'aws', region: 'r', network: 'n' } };
    await store.txn([], [{ type: 'put', key: objectKey({ kind: 'Cluster', name: 'c' }), value: JSON.stringify(cluster) }]);
  });

  /** What c's agent would pull next: the subjects. */
  const pull = (): string[] | undefined => views.read('c')?.map((m) => m.message.subject);
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  it("the leader writes the cluster's view and makes its consumer; a new leader finds them and writes nothing again", async () => {
    const a = await start();
    await waitFor("c's consumer and view", async () => (await views.consumers()).includes('c') && views.published > 0);
    assert.deepEqual(pull(), [viewRevisionSubject('c')]);
    const written = views.published;
    await start();
    await a.stop();
    // The standby's term compares what the stream holds with its model: the same, so nothing is written.
    await waitFor('the new leader', () => gateways[1]?.services.deliveryState() !== undefined);
    await waitFor('its comparison', () => gateways[1]?.services.sentRevision('c') !== undefined);
    assert.equal(views.published, written);
    assert.deepEqual(pull(), []);
  });

  it('only the leader answers a sync request, by resetting the consumer: the next pull is the whole view', async () => {
    await start();
    await start();
    await waitFor("c's consumer", async () => (await views.consumers()).includes('c'));
    assert.deepEqual(pull(), [viewRevisionSubject('c')]);
    assert.deepEqual(pull(), []);
    const request = syncRequestCodec.encode({ v: 1, cluster: 'c', session: 'session-1', afterRevision: 0 });
    const reply = decodeRevision(await bus.request(agentSubject('c', 'sync'), request), 'c');
    assert.ok(reply.ok);
    assert.deepEqual(pull(), [viewRevisionSubject('c')]);
    const inbox = bus.published.find((m) => m.subject === agentSubject('c', 'sync'))?.reply;
    await waitFor('the reply', () => bus.published.some((m) => m.subject === inbox));
    assert.equal(bus.published.filter((m) => m.subject === inbox).length, 1);
  });
});
