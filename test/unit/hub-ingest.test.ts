// Report ingestion on the hub, against the in-memory store and bus fakes: validation, binding to
// the subject's cluster, replays, and full reports (whole or in parts) sweeping what they omit.
import assert from 'node:assert/strict';
import { EXPORTS_PREFIX } from '../../controlplane/api/keys.ts';
import { reportCodec, type ExportState, type Report, type ReportReply } from '../../controlplane/api/messages.ts';
import { MemoryBus } from '../../controlplane/bus/memory-bus.ts';
import { ExportIndex } from '../../controlplane/hub/exports.ts';
import { ReportIngest } from '../../controlplane/hub/ingest.ts';
import { WatchedPrefix } from '../../controlplane/hub/watched.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { waitFor } from '../harness/wait.ts';

function exp(name: string, address = '10.0.0.1'): ExportState {
  return {
    namespace: 'inference',
    name,
    exportedAt: '2026-01-01T00:00:00Z',
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: [{ addresses: [address], ready: true, serving: true, terminating: false }],
  };
}

describe('hub report ingestion (in-memory store and bus fakes)', () => {
  let store: MemoryStore;
  let bus: MemoryBus;
  let ac: AbortController;
  const counted: string[] = [];
  let seq = 0;

  beforeEach(async () => {
    store = new MemoryStore();
    bus = new MemoryBus();
    ac = new AbortController();
    counted.length = 0;
    const watched = new WatchedPrefix(store, EXPORTS_PREFIX);
    const exports = new ExportIndex(watched);
    void watched.run(ac.signal);
    await watched.ready();
    const ingest = new ReportIngest({
      store,
      bus,
      exports,
      clusterExists: (c) => c === 'a' || c === 'b',
      count: (k, r) => counted.push(`${k}:${r}`),
      warn: () => undefined,
    });
    bus.subscribe('causeway.v1.agent.*.report', {}, (msg) => {
      ingest.handle(msg);
    });
  });
  afterEach(() => {
    ac.abort();
  });

  async function send(subjectCluster: string, body: unknown): Promise<ReportReply> {
    const data = typeof body === 'string' ? new TextEncoder().encode(body) : reportCodec.encode(body as Report);
    return JSON.parse(new TextDecoder().decode(await bus.request(`causeway.v1.agent.${subjectCluster}.report`, data))) as ReportReply;
  }
  function report(cluster: string, o: Partial<Report>): Report {
    return { v: 1, cluster, session: 'session-1', seq: ++seq, full: false, upserts: [], removals: [], ...o };
  }
  async function stored(): Promise<string[]> {
    return (await store.range(EXPORTS_PREFIX)).kvs.map((kv) => kv.key.slice(EXPORTS_PREFIX.length)).sort();
  }

  it('stores upserts and removals under the reporting cluster', async () => {
    assert.equal((await send('a', report('a', { upserts: [exp('x'), exp('y')] }))).ok, true);
    assert.deepEqual(await stored(), ['a/inference/x', 'a/inference/y']);
    await waitFor('index to see both', async () => (await send('a', report('a', { removals: [{ namespace: 'inference', name: 'x' }] }))).ok);
    await waitFor('x removed', async () => JSON.stringify(await stored()) === JSON.stringify(['a/inference/y']));
  });

  const hostile: [string, string, unknown, string][] = [
    ['malformed JSON', 'a', '{not json', 'rejected_malformed'],
    [
      'a body claiming another cluster',
      'a',
      { v: 1, cluster: 'b', session: 'session-1', seq: 1, full: false, upserts: [exp('x')], removals: [] },
      'rejected_wrong_cluster',
    ],
    [
      'an invalid endpoint address',
      'a',
      {
        v: 1,
        cluster: 'a',
        session: 'session-1',
        seq: 1,
        full: false,
        upserts: [{ ...exp('x'), endpoints: [{ addresses: ['10.0.0.300'], ready: true, serving: true, terminating: false }] }],
        removals: [],
      },
      'rejected_invalid',
    ],
    ['an oversized message', 'a', 'x'.repeat(1024 * 1024), 'rejected_oversized'],
    [
      'an unregistered cluster',
      'zzz',
      { v: 1, cluster: 'zzz', session: 'session-1', seq: 1, full: false, upserts: [exp('x')], removals: [] },
      'rejected_unknown_cluster',
    ],
  ];
  for (const [what, subject, body, result] of hostile) {
    it(`refuses ${what}, writes nothing and counts it`, async () => {
      const reply = await send(subject, body);
      assert.equal(reply.ok, false);
      assert.deepEqual(await stored(), []);
      assert.ok(counted.includes(`report:${result}`), counted.join(','));
    });
  }

  it('acknowledges a replay without writing it again', async () => {
    const r = report('a', { upserts: [exp('x')] });
    const first = await send('a', r);
    const rev = (await store.range(EXPORTS_PREFIX)).revision;
    const again = await send('a', r);
    assert.deepEqual(again, first);
    assert.equal((await store.range(EXPORTS_PREFIX)).revision, rev);
    assert.ok(counted.includes('report:duplicate'));
  });

  it('a full report removes what it does not name, and leaves other clusters alone', async () => {
    await send('a', report('a', { upserts: [exp('x'), exp('y')] }));
    await send('b', report('b', { upserts: [exp('x')] }));
    await waitFor('index', async () => (await stored()).length === 3);
    await send('a', report('a', { full: true, upserts: [exp('y', '10.0.0.2')] }));
    await waitFor('swept', async () => JSON.stringify(await stored()) === JSON.stringify(['a/inference/y', 'b/inference/x']));
  });

  it('a full report in parts sweeps only after its last part', async () => {
    await send('a', report('a', { upserts: [exp('old'), exp('x')] }));
    await waitFor('index', async () => (await stored()).length === 2);
    await send('a', report('a', { full: true, part: { index: 0, count: 2 }, upserts: [exp('x')] }));
    assert.deepEqual(await stored(), ['a/inference/old', 'a/inference/x']);
    await send('a', report('a', { full: true, part: { index: 1, count: 2 }, upserts: [exp('y')] }));
    await waitFor('old swept', async () => JSON.stringify(await stored()) === JSON.stringify(['a/inference/x', 'a/inference/y']));
  });

  it('a run of parts with one missing sweeps nothing', async () => {
    await send('a', report('a', { upserts: [exp('old')] }));
    await waitFor('index', async () => (await stored()).length === 1);
    await send('a', report('a', { full: true, part: { index: 0, count: 3 }, upserts: [exp('x')] }));
    await send('a', report('a', { full: true, part: { index: 2, count: 3 }, upserts: [exp('y')] }));
    await waitFor('parts stored', async () => (await stored()).length === 3);
    assert.deepEqual(await stored(), ['a/inference/old', 'a/inference/x', 'a/inference/y']);
  });
});
