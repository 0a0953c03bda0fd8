// Import delivery: the pure decisions (what a consumer gets next, how a sync is answered, where a
// snapshot goes) and the batches (values through the codec, snapshots packed under the budget),
// table-driven; then a thin test of the loop against an in-memory publisher.
import assert from 'node:assert/strict';
import { modelImport } from './model-import.ts';
import { importBatchCodec, type ExportStatus, type HeldImport, type ImportBatch, type ImportState } from '../../../controlplane/api/messages.ts';
import { importDigest } from '../../../controlplane/api/import-digest.ts';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { deltaBatch, emptyDelta, snapshotBatches, upToDateBatch } from '../../../controlplane/hub/controllers/batches.ts';
import { DeliveryController, type DeliveryDeps } from '../../../controlplane/hub/controllers/delivery.ts';
import { ResumeBook } from '../../../controlplane/hub/controllers/resume.ts';
import {
  SYNC_WANTED_WAIT_MS,
  planDelivery,
  planSnapshot,
  planSync,
  snapshotTarget,
  SYNC_REPLY_FRESH_MS,
  type ConsumerDeliveryState,
  type DeliveryStep,
} from '../../../controlplane/hub/controllers/delivery-plan.ts';
import { waitFor } from '../../harness/wait.ts';

function imp(name: string, addresses = 1): ImportState {
  return modelImport({ name, namespace: 'inference', addresses, ips: ['10.96.0.1'] });
}

function status(name: string): ExportStatus {
  return {
    namespace: 'inference',
    name,
    conditions: [{ type: 'Valid', status: 'True', reason: 'Valid', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }],
  };
}

function decode(data: Uint8Array, cluster = 'c'): ImportBatch {
  const d = importBatchCodec.decode(data, cluster);
  assert.ok(d.ok, d.ok ? '' : d.message);
  return d.value;
}

describe('delivery decisions (pure)', () => {
  const base: ConsumerDeliveryState = { registered: true, sent: 7, pending: false, snapshot: undefined };
  const asked = { reply: '_INBOX_c.1', askedAt: 0 };
  const steps: [string, ConsumerDeliveryState, DeliveryStep][] = [
    ['an unregistered consumer is forgotten', { ...base, registered: false, pending: true }, 'forget'],
    ['a consumer that got nothing in this term gets a snapshot', { ...base, sent: undefined }, 'snapshot'],
    ['a consumer that asked gets a snapshot, pending changes included', { ...base, pending: true, snapshot: asked }, 'snapshot'],
    ['pending changes on top of what it got go as a delta', { ...base, pending: true }, 'delta'],
    ['nothing pending: nothing to send', base, 'nothing'],
  ];
  for (const [name, state, step] of steps) {
    it(name, () => {
      assert.equal(planDelivery(state), step);
    });
  }

  const syncs: [string, number, ConsumerDeliveryState, 'up-to-date' | 'snapshot'][] = [
    ['at the revision it was sent, with nothing pending: up to date', 7, base, 'up-to-date'],
    ['asking for a snapshot (0)', 0, { ...base, sent: 0 }, 'snapshot'],
    ['at another revision', 5, base, 'snapshot'],
    ['with changes pending', 7, { ...base, pending: true }, 'snapshot'],
    ['with a snapshot already on its way', 7, { ...base, snapshot: asked }, 'snapshot'],
    ['after a new leader sent nothing yet', 7, { ...base, sent: undefined }, 'snapshot'],
  ];
  for (const [name, after, state, answer] of syncs) {
    it(`answers a sync request ${name}`, () => {
      assert.equal(planSync(after, state), answer);
    });
  }

  it('sends a snapshot to the reply inbox only while the agent still waits there', () => {
    assert.deepEqual(snapshotTarget({ reply: 'r', askedAt: 1000 }, 1000 + SYNC_REPLY_FRESH_MS - 1), { reply: 'r' });
    assert.equal(snapshotTarget({ reply: 'r', askedAt: 1000 }, 1000 + SYNC_REPLY_FRESH_MS), 'imports');
    assert.equal(snapshotTarget({ reply: undefined, askedAt: 1000 }, 1000), 'imports');
    assert.equal(snapshotTarget(undefined, 1000), 'imports');
  });

  it('a snapshot due is sent when asked for or when the agent cannot resume; otherwise the agent is asked to sync, and waited for a while', () => {
    const asked = { reply: 'r', askedAt: 0 };
    const table: [Parameters<typeof planSnapshot>[0], number, ReturnType<typeof planSnapshot>][] = [
      [{ snapshot: asked, syncWantedAt: undefined, rebase: true }, 0, { step: 'send' }],
      [{ snapshot: undefined, syncWantedAt: undefined, rebase: false }, 0, { step: 'send' }],
      [{ snapshot: undefined, syncWantedAt: undefined, rebase: true }, 0, { step: 'ask' }],
      [{ snapshot: undefined, syncWantedAt: 1000, rebase: true }, 1500, { step: 'wait', ms: SYNC_WANTED_WAIT_MS - 500 }],
      [{ snapshot: undefined, syncWantedAt: 1000, rebase: true }, 1000 + SYNC_WANTED_WAIT_MS, { step: 'send' }],
      [{ snapshot: asked, syncWantedAt: 1000, rebase: true }, 1001, { step: 'send' }],
    ];
    for (const [state, now, want] of table) assert.deepEqual(planSnapshot(state, now), want, JSON.stringify(state));
  });
});

/** What the service model's snapshotFor does with what an agent holds: those held as they are go by name. */
function heldApart(imports: readonly ImportState[], held: ReadonlyMap<string, string> | undefined): { upserts: ImportState[]; kept: HeldImport[] } {
  const upserts: ImportState[] = [];
  const kept: HeldImport[] = [];
  for (const s of imports) {
    const digest = held?.get(`${s.namespace}/${s.name}`);
    if (digest !== undefined && digest === importDigest(s)) kept.push({ namespace: s.namespace, name: s.name, digest });
    else upserts.push(s);
  }
  return { upserts, kept };
}

describe('import batches (values through the codec)', () => {
  it('digests agree on content whoever built the import: the hub’s object and the agent’s decoded copy', () => {
    const built: ImportState = { ...imp('a', 4), labels: { tier: 'gpu' }, sessionAffinityConfig: undefined };
    const decoded = importBatchCodec.decode(importBatchCodec.encode({ ...upToDateBatch('c', 1), upserts: [built] }), 'c');
    assert.ok(decoded.ok);
    const back = decoded.value.upserts[0] as ImportState;
    assert.notEqual(JSON.stringify(Object.keys(back)), JSON.stringify(Object.keys(built)), 'a different key order, even');
    assert.equal(importDigest(back), importDigest(built));
    assert.notEqual(importDigest(imp('a', 5)), importDigest(built));
  });

  it('a delta carries upserts, removals and status changes, and decodes back', () => {
    const d = emptyDelta();
    d.imports.set('inference/a', imp('a'));
    d.imports.set('inference/gone', undefined);
    d.statuses.set('inference/a', status('a'));
    d.statuses.set('inference/old', undefined);
    const batch = decode(importBatchCodec.encode(deltaBatch('c', 3, 4, d)));
    assert.deepEqual(batch, {
      v: 1,
      cluster: 'c',
      kind: 'delta',
      fromRevision: 3,
      revision: 4,
      upserts: [imp('a')],
      removals: [{ namespace: 'inference', name: 'gone' }],
      exportStatus: [status('a')],
      exportStatusRemovals: [{ namespace: 'inference', name: 'old' }],
    });
    assert.equal('exportStatusRemovals' in deltaBatch('c', 3, 4, emptyDelta()), false);
  });

  it('a small snapshot is one batch without a chunk', () => {
    const [only, ...rest] = snapshotBatches('c', 9, [imp('a'), imp('b')], [], [status('a')]);
    assert.deepEqual(rest, []);
    assert.deepEqual(decode(importBatchCodec.encode(only ?? assert.fail('no batch'))), {
      v: 1,
      cluster: 'c',
      kind: 'snapshot',
      fromRevision: 0,
      revision: 9,
      upserts: [imp('a'), imp('b')],
      removals: [],
      exportStatus: [status('a')],
    });
  });

  it('a large snapshot is split into numbered chunks, each under the budget, together the whole state', () => {
    const imports = Array.from({ length: 40 }, (_, i) => imp(`s${i}`, 20));
    const statuses = imports.map((i) => status(i.name));
    const budget = 16 * 1024;
    const chunks = snapshotBatches('c', 9, imports, [], statuses, budget);
    assert.ok(chunks.length > 2, `${chunks.length} chunks`);
    for (const [index, c] of chunks.entries()) {
      const data = importBatchCodec.encode(c);
      assert.ok(data.byteLength <= budget, `chunk ${index}: ${data.byteLength} bytes`);
      assert.deepEqual(decode(data).chunk, { index, count: chunks.length });
    }
    assert.deepEqual(
      chunks.flatMap((c) => c.upserts),
      imports,
    );
    assert.deepEqual(
      chunks.flatMap((c) => c.exportStatus),
      statuses,
    );
  });
});

describe('DeliveryController loop (in-memory publisher)', () => {
  let published: { subject: string; batch: ImportBatch }[];
  let desired: Map<string, ImportState[]>;
  let revision: number;
  let delivery: DeliveryController;
  const registered = new Set(['c', 'd']);

  beforeEach(() => {
    published = [];
    desired = new Map([
      ['c', [imp('a')]],
      ['d', [imp('a'), imp('b')]],
    ]);
    revision = 10;
    delivery = controller();
  });

  /** A controller over this suite's consumers, publishing into `published`. */
  const controller = (extra: Partial<DeliveryDeps> = {}): DeliveryController =>
    new DeliveryController({
      registered: (c) => registered.has(c),
      consumers: () => [...registered],
      revision: () => revision,
      desired: (c, held) => ({ ...heldApart(desired.get(c) ?? [], held), statuses: [] }),
      state: (c) => ({ imports: (desired.get(c) ?? []).map((i) => [`${i.namespace}/${i.name}`, importDigest(i)] as const), statuses: [] }),
      publish: (subject, data) => {
        const cluster = subject.includes('.c.') || subject.startsWith('_INBOX_c') ? 'c' : 'd';
        published.push({ subject, batch: decode(data, cluster) });
      },
      count: () => undefined,
      warn: () => undefined,
      ...extra,
    });

  const kinds = (): string[] => published.map((p) => `${p.batch.cluster} ${p.batch.kind} ${p.batch.fromRevision}->${p.batch.revision}`);

  it('a new term snapshots every consumer, then sends deltas on top of what each got', async () => {
    const term = new AbortController();
    const leading = delivery.lead(term.signal);
    await waitFor('a snapshot each', () => published.length === 2);
    assert.deepEqual(kinds().sort(), ['c snapshot 0->10', 'd snapshot 0->10']);
    assert.equal(delivery.sentRevision('c'), 10);
    revision = 11;
    delivery.recordImport('c', 'inference/b', imp('b'), undefined);
    await waitFor('a delta', () => published.length === 3);
    assert.deepEqual(published[2]?.batch.upserts, [imp('b')]);
    assert.equal(kinds()[2], 'c delta 10->11');
    term.abort();
    await leading;
    // A new term knows nothing of what the last one sent: everyone is re-based on a snapshot.
    assert.equal(delivery.sentRevision('c'), undefined);
    const next = new AbortController();
    const again = delivery.lead(next.signal);
    await waitFor('snapshots again', () => published.length === 5);
    assert.deepEqual(kinds().slice(3).sort(), ['c snapshot 0->11', 'd snapshot 0->11']);
    next.abort();
    await again;
  });

  it('answers a sync at the sent revision with an empty delta, and other syncs with a snapshot to the reply inbox', async () => {
    const term = new AbortController();
    const leading = delivery.lead(term.signal);
    await waitFor('snapshots', () => published.length === 2);
    assert.equal(delivery.requestSync('c', 10, '_INBOX_c.1'), true);
    const upToDate = published.at(2);
    assert.equal(upToDate?.subject, '_INBOX_c.1');
    assert.equal(kinds()[2], 'c delta 10->10');
    assert.deepEqual(upToDate.batch.upserts, []);
    delivery.requestSync('c', 3, '_INBOX_c.2');
    await waitFor('a snapshot to the inbox', () => published.length === 4);
    assert.equal(published[3]?.subject, '_INBOX_c.2');
    assert.equal(kinds()[3], 'c snapshot 0->10');
    term.abort();
    await leading;
  });

  it('publishes a burst of deltas and snapshots in one synchronous run, as nats.js then writes them in one go', async () => {
    // nats.js writes its buffer in a microtask after the first publish into it: count the writes so.
    const many = new Set(Array.from({ length: 50 }, (_, i) => `k${i}`));
    const writes: number[] = [];
    let pending = false;
    const burst = controller({
      registered: (c) => many.has(c),
      consumers: () => [...many],
      desired: () => ({ upserts: [imp('a')], kept: [], statuses: [] }),
      publish: (subject) => {
        if (!pending) {
          pending = true;
          writes.push(0);
          queueMicrotask(() => {
            pending = false;
          });
        }
        writes[writes.length - 1] = (writes.at(-1) ?? 0) + 1;
        assert.match(subject, /^causeway\.v1\.cluster\.k\d+\.imports$/);
      },
    });
    const term = new AbortController();
    const leading = burst.lead(term.signal);
    await waitFor('a snapshot each', () => writes.reduce((a, b) => a + b, 0) === 50);
    assert.ok(writes.length <= 3, `50 snapshots in ${writes.length} writes (${writes.join(', ')})`);
    writes.length = 0;
    revision = 11;
    for (const c of many) burst.recordImport(c, 'inference/b', imp('b'), undefined);
    await waitFor('a delta each', () => writes.reduce((a, b) => a + b, 0) === 50);
    assert.deepEqual(writes, [50], 'the deltas of one flush are one write');
    term.abort();
    await leading;
  });

  it('a publish that throws loses that message only; the rest of the burst goes out and the failure is counted', async () => {
    const counted: string[] = [];
    const failing = controller({
      publish: (subject, data) => {
        if (subject.includes('.c.')) throw new Error('connection closed');
        published.push({ subject, batch: decode(data, 'd') });
      },
      count: (kind, result) => {
        counted.push(`${kind} ${result}`);
      },
    });
    const term = new AbortController();
    const leading = failing.lead(term.signal);
    // c's snapshot goes first in the burst and is refused; d's, after it, still goes out.
    await waitFor("d's snapshot", () => published.length === 1);
    assert.deepEqual(kinds(), ['d snapshot 0->10']);
    await waitFor('the failure counted', () => counted.includes('imports publish-failed'));
    term.abort();
    await leading;
  });

  it('sends nothing and records nothing while it does not lead', () => {
    delivery.recordImport('c', 'inference/b', imp('b'), undefined);
    assert.equal(delivery.requestSync('c', 0, '_INBOX_c.1'), false);
    assert.deepEqual(published, []);
  });

  it('sends endpoint patches only to an agent that accepts them, and goes back to whole imports when it stops', async () => {
    desired.set('c', [imp('a', 10)]);
    desired.set('d', [imp('a', 10)]);
    delivery.accepts('c', ['import-patches']);
    const term = new AbortController();
    const leading = delivery.lead(term.signal);
    await waitFor('a snapshot each', () => published.length === 2);
    revision = 11;
    const [before, after] = [imp('a', 10), imp('a', 11)];
    delivery.recordImport('c', 'inference/a', after, before);
    delivery.recordImport('d', 'inference/a', after, before);
    await waitFor('a delta each', () => published.length === 4);
    const sent = (cluster: string, at: number): ImportBatch | undefined => published.slice(at).find((p) => p.batch.cluster === cluster)?.batch;
    assert.deepEqual(sent('c', 2)?.upserts, []);
    assert.deepEqual(sent('c', 2)?.patches, [{ namespace: 'inference', name: 'a', count: 10, at: 10, remove: 0, insert: after.endpoints.slice(10) }]);
    assert.deepEqual(sent('d', 2)?.upserts, [after], 'an agent that did not say it accepts patches gets the whole import');
    assert.equal(sent('d', 2)?.patches, undefined);
    // A changed-back import is no change at all for the patching agent.
    revision = 12;
    delivery.recordImport('c', 'inference/a', imp('a', 12), after);
    delivery.recordImport('c', 'inference/a', after, imp('a', 12));
    await waitFor('the next delta', () => published.length === 5);
    assert.deepEqual([sent('c', 4)?.upserts, sent('c', 4)?.patches], [[], undefined]);
    // Its next heartbeat names no patches (an older agent took its place): whole imports again.
    delivery.accepts('c', undefined);
    revision = 13;
    delivery.recordImport('c', 'inference/a', imp('a', 12), after);
    await waitFor('the next delta', () => published.length === 6);
    assert.deepEqual(sent('c', 5)?.upserts, [imp('a', 12)]);
    term.abort();
    await leading;
  });

  it('a new term asks an agent that can resume to sync, and sends only what differs from what it holds', async () => {
    const clock = new ManualClock(1_000_000);
    const resuming = controller({ clock });
    resuming.accepts('c', ['import-patches', 'import-rebase']);
    resuming.accepts('d', ['import-patches', 'import-rebase']);
    const term = new AbortController();
    const leading = resuming.lead(term.signal);
    await waitFor('each asked to sync', () => published.length === 2);
    assert.deepEqual(published.map((p) => [p.batch.cluster, p.batch.syncWanted, p.batch.upserts.length]).sort(), [
      ['c', true, 0],
      ['d', true, 0],
    ]);
    // c answers: it holds a as the hub has it (the digest of what it decoded) and an old b.
    const held = [imp('a'), { ...imp('b'), ports: [{ port: 81, protocol: 'TCP' as const }] }].map((s) => {
      const decoded = importBatchCodec.decode(importBatchCodec.encode({ ...upToDateBatch('c', 1), upserts: [s] }), 'c');
      assert.ok(decoded.ok);
      const got = decoded.value.upserts[0] as ImportState;
      return { namespace: got.namespace, name: got.name, digest: importDigest(got) };
    });
    desired.set('c', [imp('a'), imp('b')]);
    assert.equal(resuming.requestSync('c', 10, '_INBOX_c.7', ['import-patches', 'import-rebase'], held), true);
    await waitFor('the rebased snapshot', () => published.length === 3);
    const snap = published[2];
    assert.equal(snap?.subject, '_INBOX_c.7');
    assert.deepEqual([snap.batch.kind, snap.batch.upserts.map((u) => u.name), snap.batch.kept?.map((k) => k.name)], ['snapshot', ['b'], ['a']]);
    // d never answers (it was away): after the wait it is pushed the whole snapshot.
    clock.advance(SYNC_WANTED_WAIT_MS);
    await waitFor('the whole snapshot', () => published.length === 4);
    assert.deepEqual(
      [published[3]?.batch.cluster, published[3]?.batch.kind, published[3]?.batch.upserts.length, published[3]?.batch.kept],
      ['d', 'snapshot', 2, undefined],
    );
    term.abort();
    await leading;
  });

  it('a new term resumes an agent whose heartbeat matched this replica’s model with a delta from its revision, and asks the others to sync', async () => {
    const all = ['import-patches', 'import-rebase', 'import-resume'];
    const leader = controller();
    const standby = controller();
    // The first term pushes snapshots (an agent that cannot rebase); the second has rebase to fall back on.
    for (const c of registered) leader.accepts(c, ['import-resume']);
    for (const c of registered) standby.accepts(c, all);
    const term = new AbortController();
    const leading = leader.lead(term.signal);
    await waitFor('a snapshot each', () => published.length === 2);
    const summaryOf = (cluster: string): string | undefined => published.find((p) => p.batch.cluster === cluster)?.batch.summary;
    assert.match(summaryOf('c') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(summaryOf('c'), summaryOf('d'), 'consumers with other imports have other summaries');
    // Both agents' heartbeats reach the standby: c names what it was sent, d something else.
    standby.heard('c', { revision: 10, summary: summaryOf('c') ?? '' });
    standby.heard('d', { revision: 10, summary: 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' });
    // The leader dies; meanwhile the model moves on (both replicas follow it).
    term.abort();
    await leading;
    revision = 11;
    desired.set('c', [imp('a'), imp('b')]);
    standby.recordImport('c', 'inference/b', imp('b'), undefined);
    standby.flushed();
    const taken = new AbortController();
    const takeover = standby.lead(taken.signal);
    await waitFor('c resumed, d asked', () => published.length === 4);
    const after = published.slice(2);
    const c = after.find((p) => p.batch.cluster === 'c')?.batch;
    const d = after.find((p) => p.batch.cluster === 'd')?.batch;
    assert.deepEqual([c?.kind, c?.fromRevision, c?.revision, c?.upserts, c?.syncWanted], ['delta', 10, 11, [imp('b')], undefined]);
    assert.equal(d?.syncWanted, true);
    // The delta's summary is the state it brings c to: what a snapshot of c would say now.
    assert.equal(
      c?.summary,
      new ResumeBook((x) => ({ imports: (desired.get(x) ?? []).map((i) => [`${i.namespace}/${i.name}`, importDigest(i)] as const), statuses: [] })).summaryOf(
        'c',
      ),
    );
    assert.equal(standby.sentRevision('c'), 11);
    taken.abort();
    await takeover;
  });

  it('resumes nothing for a summary the model changed without saying how (reachability), or for an agent that does not accept it', async () => {
    const leader = controller();
    leader.accepts('c', ['import-resume']);
    leader.accepts('d', ['import-resume']);
    const term = new AbortController();
    const leading = leader.lead(term.signal);
    await waitFor('a snapshot each', () => published.length === 2);
    const summaryOf = (cluster: string): string => published.find((p) => p.batch.cluster === cluster)?.batch.summary ?? '';
    term.abort();
    await leading;
    const standby = controller();
    standby.accepts('c', ['import-rebase', 'import-resume']);
    standby.accepts('d', ['import-rebase']);
    standby.heard('c', { revision: 10, summary: summaryOf('c') });
    standby.heard('d', { revision: 10, summary: summaryOf('d') });
    standby.resyncAll();
    const taken = new AbortController();
    const takeover = standby.lead(taken.signal);
    await waitFor('both asked', () => published.length === 4);
    assert.deepEqual(
      published
        .slice(2)
        .map((p) => [p.batch.cluster, p.batch.syncWanted])
        .sort(),
      [
        ['c', true],
        ['d', true],
      ],
    );
    taken.abort();
    await takeover;
  });

  it('sends a delta larger than a message as a chunked delta, every chunk under the budget', async () => {
    const small = new DeliveryController({
      registered: (c) => c === 'c',
      consumers: () => ['c'],
      revision: () => revision,
      desired: () => ({ upserts: Array.from({ length: 20 }, (_, i) => imp(`s${i}`, 20)), kept: [], statuses: [] }),
      state: () => undefined,
      publish: (subject, data) => {
        published.push({ subject, batch: decode(data) });
      },
      count: () => undefined,
      warn: () => undefined,
      maxBytes: 8 * 1024,
    });
    const term = new AbortController();
    const leading = small.lead(term.signal);
    await waitFor('the first snapshot', () => published.length > 0 && published.every((p) => p.batch.kind === 'snapshot'));
    const first = published.length;
    revision = 12;
    for (let i = 0; i < 20; i++) small.recordImport('c', `inference/s${i}`, imp(`s${i}`, 20), undefined);
    await waitFor(
      'the delta, all its chunks',
      () => published.length > first && published.at(-1)?.batch.chunk?.index === (published.at(-1)?.batch.chunk?.count ?? 0) - 1,
    );
    const delta = published.slice(first);
    assert.ok(delta.length > 1);
    assert.deepEqual(
      [...new Set(delta.map((p) => `${p.batch.kind} ${p.batch.fromRevision}->${p.batch.revision} of ${p.batch.chunk?.count ?? 1}`))],
      [`delta 10->12 of ${delta.length}`],
    );
    assert.ok(delta.every((p) => importBatchCodec.encode(p.batch).byteLength <= 8 * 1024));
    assert.deepEqual(delta.flatMap((p) => p.batch.upserts.map((u) => u.name)).sort(), Array.from({ length: 20 }, (_, i) => `s${i}`).sort());
    term.abort();
    await leading;
  });
});
