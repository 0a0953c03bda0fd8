// Leadership of the agent gateway, on the in-memory store and bus fakes: two replicas, one leads;
// its term's controllers re-base every agent on a snapshot; when it stops, the other's new term
// does the same, and only the leader answers sync requests.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { objectKey } from '../../../controlplane/api/keys.ts';
import { importBatchCodec, syncRequestCodec, type ImportBatch } from '../../../controlplane/api/messages.ts';
import { agentSubject, clusterSubject } from '../../../controlplane/api/subjects.ts';
import { MemoryBus } from '../../../controlplane/bus/memory-bus.ts';
import { startAgentGateway, type AgentGateway } from '../../../controlplane/hub/agent-gateway.ts';
import { CredentialStore } from '../../../controlplane/hub/credentials.ts';
import { createHubMetrics } from '../../../controlplane/hub/metrics.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { Registry } from '../../../controlplane/registry/registry.ts';
import { waitFor } from '../../harness/wait.ts';

describe('agent gateway leadership (two replicas on the in-memory store and bus fakes)', () => {
  let store: MemoryStore;
  let bus: MemoryBus;
  let received: ImportBatch[];
  const gateways: AgentGateway[] = [];

  const start = (): Promise<AgentGateway> =>
    startAgentGateway({
      store,
      registry: new Registry(store),
      bus,
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
    received = [];
    const cluster = { apiVersion: 'causeway.dev/v1alpha1', kind: 'Cluster', metadata: { name: 'c' }, spec: { provider: 'aws', region: 'r', network: 'n' } };
    await store.txn([], [{ type: 'put', key: objectKey({ kind: 'Cluster', name: 'c' }), value: JSON.stringify(cluster) }]);
    bus.subscribe(clusterSubject('c', 'imports'), {}, (msg) => {
      const d = importBatchCodec.decode(msg.data, 'c');
      if (d.ok) received.push(d.value);
    });
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  it('the leader re-bases every agent; when it stops the other replica takes over and does the same', async () => {
    const a = await start();
    await waitFor("the first leader's snapshot", () => received.length === 1);
    await start();
    assert.deepEqual(
      received.map((b) => b.kind),
      ['snapshot'],
    );
    await a.stop();
    await waitFor("the new leader's snapshot", () => received.length === 2);
    assert.deepEqual(
      received.map((b) => b.kind),
      ['snapshot', 'snapshot'],
    );
  });

  it('only the leader answers a sync request', async () => {
    await start();
    await start();
    await waitFor('the snapshot', () => received.length === 1);
    const request = syncRequestCodec.encode({ v: 1, cluster: 'c', session: 'session-1', afterRevision: 0 });
    const reply = importBatchCodec.decode(await bus.request(agentSubject('c', 'sync'), request), 'c');
    assert.ok(reply.ok);
    assert.equal(reply.value.kind, 'snapshot');
    const inbox = bus.published.find((m) => m.subject === agentSubject('c', 'sync'))?.reply;
    await waitFor('the reply', () => bus.published.some((m) => m.subject === inbox));
    assert.equal(bus.published.filter((m) => m.subject === inbox).length, 1);
  });
});
