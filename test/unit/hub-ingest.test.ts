// Report ingestion on the hub. The decisions (what a report writes, full reports whole or in parts
// sweeping what they omit, replays, transaction slices) through the pure planner, table-driven;
// the loop (validation, binding to the subject's cluster, replies, one write) against the
// in-memory store and bus fakes.
import assert from 'node:assert/strict';
import { exportFingerprint } from '../../controlplane/api/export-fingerprint.ts';
import { EXPORTS_PREFIX } from '../../controlplane/api/keys.ts';
import { reportCodec, type ExportState, type Report, type ReportReply } from '../../controlplane/api/messages.ts';
import { MemoryBus } from '../../controlplane/bus/memory-bus.ts';
import { ExportIndex } from '../../controlplane/hub/exports.ts';
import { ReportIngest } from '../../controlplane/hub/ingest.ts';
import {
  earlierParts,
  ingestPartKey,
  isReplay,
  planReport,
  runStep,
  txnSlices,
  type IngestMark,
  type PartRecord,
  type StoredExports,
} from '../../controlplane/hub/ingest-plan.ts';
import type { Op } from '../../controlplane/registry/store.ts';
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

// ---- the planner ---------------------------------------------------------------------------------

/** What is stored, as the ExportIndex would give it: cluster → service → the export. */
function storedOf(entries: Record<string, ExportState[]>): StoredExports {
  const byCluster = new Map(
    Object.entries(entries).map(([c, list]) => [c, new Map(list.map((e) => [`${e.namespace}/${e.name}`, exportFingerprint(JSON.stringify(e))]))]),
  );
  return {
    fingerprint: (cluster, service) => byCluster.get(cluster)?.get(service),
    servicesOf: (cluster) => [...(byCluster.get(cluster)?.keys() ?? [])],
  };
}

function opsOf(ops: readonly Op[]): string[] {
  return ops.map((o) => `${o.type} ${o.key.slice(EXPORTS_PREFIX.length)}`).sort();
}

function planned(cluster: string, o: Partial<Report>): Report {
  return { v: 1, cluster, session: 'session-1', seq: 1, full: false, upserts: [], removals: [], ...o };
}

describe('report planner (pure)', () => {
  const stored = storedOf({ a: [exp('x'), exp('y')], b: [exp('x')] });
  const cases: { name: string; report: Report; mark?: IngestMark; earlier?: string[]; ops: string[]; next?: number | undefined }[] = [
    { name: 'an unchanged upsert writes nothing', report: planned('a', { upserts: [exp('x')] }), ops: [] },
    { name: 'a changed upsert is put', report: planned('a', { upserts: [exp('x', '10.0.0.9')] }), ops: ['put a/inference/x'] },
    { name: 'a new export is put', report: planned('a', { upserts: [exp('z')] }), ops: ['put a/inference/z'] },
    {
      name: 'a removal of a stored export deletes it',
      report: planned('a', { removals: [{ namespace: 'inference', name: 'x' }] }),
      ops: ['delete a/inference/x'],
    },
    { name: 'a removal of nothing stored writes nothing', report: planned('a', { removals: [{ namespace: 'inference', name: 'q' }] }), ops: [] },
    {
      name: 'an upsert and a removal of one service keep the upsert',
      report: planned('a', { upserts: [exp('z')], removals: [{ namespace: 'inference', name: 'z' }] }),
      ops: ['put a/inference/z'],
    },
    {
      name: 'a full report deletes what it does not name, in its own cluster only',
      report: planned('a', { full: true, upserts: [exp('y', '10.0.0.2')] }),
      ops: ['delete a/inference/x', 'put a/inference/y'],
    },
    {
      name: 'an empty full report deletes everything of its cluster',
      report: planned('a', { full: true }),
      ops: ['delete a/inference/x', 'delete a/inference/y'],
    },
    {
      name: 'the first part of a full report sweeps nothing and starts a run',
      report: planned('a', { full: true, part: { index: 0, count: 2 }, upserts: [exp('x')] }),
      ops: [],
      next: 1,
    },
    {
      name: 'the last part of an unbroken run sweeps what no part named',
      report: planned('a', { full: true, part: { index: 1, count: 2 }, upserts: [exp('z')] }),
      mark: { session: 'session-1', seq: 1, run: { session: 'session-1', start: 1, next: 1, count: 2 } },
      earlier: ['inference/x'],
      ops: ['delete a/inference/y', 'put a/inference/z'],
      next: undefined,
    },
    {
      name: 'a part after a lost one sweeps nothing and ends the run',
      report: planned('a', { full: true, part: { index: 2, count: 3 }, upserts: [exp('z')] }),
      mark: { session: 'session-1', seq: 1, run: { session: 'session-1', start: 1, next: 1, count: 3 } },
      ops: ['put a/inference/z'],
      next: undefined,
    },
    {
      name: 'a part of another session does not continue the run',
      report: planned('a', { session: 'session-2', full: true, part: { index: 1, count: 2 } }),
      mark: { session: 'session-1', seq: 1, run: { session: 'session-1', start: 1, next: 1, count: 2 } },
      ops: [],
      next: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planReport(c.report, stored, c.mark, c.earlier === undefined ? undefined : new Set(c.earlier));
      assert.deepEqual(opsOf(plan.ops.slice(0, plan.exportOps)), c.ops);
      if ('next' in c) assert.equal(plan.mark.run?.next, c.next);
    });
  }

  it('records what each part kept, and the last part reads them back, sweeps and deletes them', () => {
    const first = planned('a', { seq: 7, full: true, part: { index: 0, count: 3 }, upserts: [exp('x')] });
    const p0 = planReport(first, stored, undefined);
    const second = planned('a', { seq: 8, full: true, part: { index: 1, count: 3 }, upserts: [exp('q')] });
    const p1 = planReport(second, stored, p0.mark);
    const records = new Map<number, PartRecord>();
    for (const [i, plan] of [p0, p1].entries()) {
      const put = plan.ops.slice(plan.exportOps).flatMap((o) => (o.type === 'put' ? [o] : []))[0];
      assert.equal(put?.key, ingestPartKey('a', i));
      records.set(i, JSON.parse(put.value) as PartRecord);
    }
    const third = planned('a', { seq: 9, full: true, part: { index: 2, count: 3 } });
    const step = runStep(third, p1.mark);
    const earlier = earlierParts(step, records);
    assert.deepEqual([...(earlier ?? [])].sort(), ['inference/q', 'inference/x']);
    const p2 = planReport(third, stored, p1.mark, earlier);
    assert.deepEqual(opsOf(p2.ops.slice(0, p2.exportOps)), ['delete a/inference/y']);
    assert.deepEqual(
      p2.ops.slice(p2.exportOps).map((o) => `${o.type} ${o.key}`),
      [`delete ${ingestPartKey('a', 0)}`, `delete ${ingestPartKey('a', 1)}`],
    );
    assert.equal(p2.mark.run, undefined);
    // A record of another run (a part 0 of a run that broke) is not this run's: no sweep.
    records.set(1, { session: 'session-1', start: 3, services: [] });
    assert.equal(earlierParts(step, records), undefined);
  });

  it('tells replays of an agent session from new reports', () => {
    const last = { session: 's', seq: 5 };
    assert.equal(isReplay(undefined, planned('a', { session: 's', seq: 1 })), false);
    assert.equal(isReplay(last, planned('a', { session: 's', seq: 5 })), true);
    assert.equal(isReplay(last, planned('a', { session: 's', seq: 4 })), true);
    assert.equal(isReplay(last, planned('a', { session: 's', seq: 6 })), false);
    assert.equal(isReplay(last, planned('a', { session: 't', seq: 1 })), false);
  });

  it('slices large writes under the operation and byte bounds, keeping order', () => {
    const ops: Op[] = Array.from({ length: 2500 }, (_, i) => ({ type: 'put', key: `k${i}`, value: 'v'.repeat(10) }));
    const slices = txnSlices(ops, 1000, 1024 * 1024);
    assert.deepEqual(
      slices.map((s) => s.length),
      [1000, 1000, 500],
    );
    assert.deepEqual(slices.flat(), ops);
    const big: Op[] = Array.from({ length: 5 }, (_, i) => ({ type: 'put', key: `k${i}`, value: 'v'.repeat(400) }));
    assert.deepEqual(
      txnSlices(big, 1000, 1000).map((s) => s.length),
      [2, 2, 1],
    );
    assert.deepEqual(txnSlices([]), []);
  });
});

// ---- the loop ------------------------------------------------------------------------------------

describe('hub report ingestion (in-memory store and bus fakes)', () => {
  let store: MemoryStore;
  let bus: MemoryBus;
  let ac: AbortController;
  let exports: ExportIndex;
  const counted: string[] = [];
  let seq = 0;
  let now = new Date('2026-12-01T10:00:00.000Z');

  beforeEach(async () => {
    store = new MemoryStore();
    bus = new MemoryBus();
    ac = new AbortController();
    counted.length = 0;
    const watched = new WatchedPrefix(store, EXPORTS_PREFIX);
    exports = new ExportIndex(watched);
    void watched.run(ac.signal);
    await watched.ready();
    const ingest = new ReportIngest({
      store,
      bus,
      exports,
      clusterExists: (c) => c === 'a' || c === 'b',
      clusterRanges: () => undefined,
      now: () => now,
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

  it('stores the hub’s first sight as the export time, keeps it while the export lasts, and sees a re-export anew after a sweep', async () => {
    const exportedAt = async (): Promise<string | undefined> =>
      (JSON.parse((await store.range(EXPORTS_PREFIX)).kvs[0]?.value ?? '{}') as { exportedAt?: string }).exportedAt;
    now = new Date('2026-12-01T10:00:00.000Z');
    assert.equal((await send('a', report('a', { upserts: [{ ...exp('x'), exportedAt: '1970-01-01T00:00:00Z' }] }))).ok, true);
    assert.equal(await exportedAt(), '2026-12-01T10:00:00.000Z', 'the hub’s clock, not the forged 1970');
    // Changed right away (before or after the index caught up): the first sight stays.
    now = new Date('2026-12-01T10:05:00.000Z');
    const changed = { ...exp('x'), ports: [{ port: 9000, protocol: 'TCP' as const }] };
    assert.equal((await send('a', report('a', { upserts: [changed] }))).ok, true);
    assert.equal(await exportedAt(), '2026-12-01T10:00:00.000Z');
    // A full report without it sweeps it; exported again later, it is seen anew.
    await waitFor('the index to show x', async () => (await stored()).length === 1);
    assert.equal((await send('a', report('a', { full: true, upserts: [] }))).ok, true);
    await waitFor('x swept', async () => (await stored()).length === 0);
    now = new Date('2026-12-01T11:00:00.000Z');
    assert.equal((await send('a', report('a', { upserts: [exp('x')] }))).ok, true);
    assert.equal(await exportedAt(), '2026-12-01T11:00:00.000Z');
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

  it('writes an export again only when its text would change: the index keeps a fingerprint of what is stored, not the text', async () => {
    assert.equal((await send('a', report('a', { upserts: [exp('x')] }))).ok, true);
    const kv = (await store.range(EXPORTS_PREFIX)).kvs[0];
    assert.ok(kv !== undefined);
    await waitFor('the index to show x', () => Promise.resolve(exports.fingerprint('a', 'inference/x') !== undefined));
    assert.equal(exports.fingerprint('a', 'inference/x'), exportFingerprint(kv.value));
    assert.equal(exports.state('a', 'inference/x')?.endpoints[0]?.addresses[0], '10.0.0.1');
    // The same export in a new report (not a replay): not written again, from the index's fingerprint.
    const rev = kv.modRevision;
    assert.equal((await send('a', report('a', { upserts: [exp('x')] }))).ok, true);
    assert.equal((await store.range(EXPORTS_PREFIX)).kvs[0]?.modRevision, rev);
    // A changed endpoint is written, and the index follows it.
    assert.equal((await send('a', report('a', { upserts: [exp('x', '10.0.0.2')] }))).ok, true);
    const changed = (await store.range(EXPORTS_PREFIX)).kvs[0];
    assert.ok(changed !== undefined && changed.modRevision > rev);
    await waitFor('the index to follow', () => Promise.resolve(exports.fingerprint('a', 'inference/x') === exportFingerprint(changed.value)));
    assert.equal(exports.state('a', 'inference/x')?.endpoints[0]?.addresses[0], '10.0.0.2');
  });

  it('a full report removes what it does not name, and leaves other clusters alone', async () => {
    await send('a', report('a', { upserts: [exp('x'), exp('y')] }));
    await send('b', report('b', { upserts: [exp('x')] }));
    await waitFor('index', async () => (await stored()).length === 3);
    await send('a', report('a', { full: true, upserts: [exp('y', '10.0.0.2')] }));
    await waitFor('swept', async () => JSON.stringify(await stored()) === JSON.stringify(['a/inference/y', 'b/inference/x']));
  });

  it('skips a report its agent gave up on: one that waited behind a later report of the same session', async () => {
    const address = async (): Promise<string | undefined> =>
      (JSON.parse((await store.range(EXPORTS_PREFIX)).kvs[0]?.value ?? '{}') as ExportState).endpoints[0]?.addresses[0];
    assert.equal((await send('a', report('a', { upserts: [exp('x', '10.0.0.1')] }))).ok, true);
    const before = (await store.range(EXPORTS_PREFIX)).revision;
    // Three reports arrive before the first is taken up: as when an agent's requests timed out and
    // it sent again (each time with the same keys as they are then) while the hub was behind.
    const replies = [2, 3, 4].map((n) =>
      send('a', report('a', { upserts: [exp('x', `10.0.0.${n}`)] })).then(
        (r) => r.ok,
        () => 'no reply',
      ),
    );
    assert.deepEqual(await Promise.all(replies), ['no reply', 'no reply', true], 'those its agent gave up on are neither written nor answered');
    assert.equal(await address(), '10.0.0.4');
    assert.equal((await store.range(EXPORTS_PREFIX)).revision, before + 1, 'one write, not three');
    assert.equal(counted.filter((c) => c === 'report:superseded').length, 2);
    // Another session's reports (a second agent of the cluster) are never skipped for this one's.
    const other = [5, 6].map((n) => send('a', report('a', { session: `session-${n}`, upserts: [exp('x', `10.0.0.${n}`)] })).then((r) => r.ok));
    assert.deepEqual(await Promise.all(other), [true, true]);
  });
});
