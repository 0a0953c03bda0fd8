// Receiving import batches (cluster-agent/planners/receive.ts), synchronous: snapshots, deltas on
// top of exactly the held revision, gaps → buffer and sync, stale ones ignored, chunk assembly
// from replies and pushes, buffered deltas drained once they fit; and applyBatch writing the
// chosen batches into the desired state, saying which keys changed.
import assert from 'node:assert/strict';
import { importDigest } from '../../../controlplane/api/import-digest.ts';
import { MAX_HELD_IMPORTS, type ImportBatch, type ImportState } from '../../../controlplane/api/messages.ts';
import {
  MAX_ASSEMBLIES,
  MAX_BUFFERED_DELTAS,
  applyBatch,
  distrust,
  emptyReceiveState,
  heldImports,
  holdsClaim,
  receiveBatch,
  type DesiredState,
  type ReceiveState,
} from '../../../cluster-agent/planners/receive.ts';
import { CLUSTER, batch, imp } from './fake-hub.ts';

/** Feeds batches in order, applying what receiveBatch chose; returns the end state and each step. */
function feed(batches: readonly (ImportBatch | [ImportBatch, boolean])[], from: ReceiveState = emptyReceiveState) {
  let state = from;
  const desired: DesiredState = { imports: new Map(), hubStatus: new Map() };
  const steps = batches.map((b) => {
    const [one, solicited] = Array.isArray(b) ? b : [b, false];
    const r = receiveBatch(state, one, solicited, CLUSTER);
    state = r.state;
    const dirty = new Set(r.apply.flatMap((x) => applyBatch(desired, x).dirty));
    return { ...r, dirtyKeys: [...dirty] };
  });
  return { state, desired, steps };
}

const keys = (d: DesiredState): string[] => [...d.imports.keys()].sort();

interface Case {
  readonly name: string;
  readonly batches: readonly (ImportBatch | [ImportBatch, boolean])[];
  readonly revision: number;
  readonly snapshotApplied: boolean;
  readonly imports: string[];
  /** Per step: outcome, whether it asks to sync, dirty keys (sorted). */
  readonly steps: [string, boolean, string[]][];
}

const cases: Case[] = [
  {
    name: 'a snapshot replaces everything and marks old and new keys',
    batches: [batch('snapshot', 0, 5, [imp('a', 1), imp('b', 1)]), batch('snapshot', 0, 6, [imp('b', 2), imp('c', 1)])],
    revision: 6,
    snapshotApplied: true,
    imports: ['apps/b', 'apps/c'],
    steps: [
      ['applied', false, ['apps/a', 'apps/b']],
      ['applied', false, ['apps/a', 'apps/b', 'apps/c']],
    ],
  },
  {
    name: 'a delta before any snapshot is buffered and asks to sync; the snapshot then drains it',
    batches: [batch('delta', 5, 6, [imp('late', 1)]), batch('snapshot', 0, 5, [imp('a', 1)])],
    revision: 6,
    snapshotApplied: true,
    imports: ['apps/a', 'apps/late'],
    steps: [
      ['buffered', true, []],
      ['applied', false, ['apps/a', 'apps/late']],
    ],
  },
  {
    name: 'a delta on top of the revision applies upserts and removals',
    batches: [batch('snapshot', 0, 5, [imp('a', 1), imp('b', 1)]), batch('delta', 5, 6, [imp('c', 1)], { removals: [{ namespace: 'apps', name: 'a' }] })],
    revision: 6,
    snapshotApplied: true,
    imports: ['apps/b', 'apps/c'],
    steps: [
      ['applied', false, ['apps/a', 'apps/b']],
      ['applied', false, ['apps/a', 'apps/c']],
    ],
  },
  {
    name: 'a delta from the future is a gap: buffered, sync; the missing one fills it and both apply',
    batches: [batch('snapshot', 0, 5, [imp('a', 1)]), batch('delta', 6, 7, [imp('c', 1)]), batch('delta', 5, 6, [imp('b', 1)])],
    revision: 7,
    snapshotApplied: true,
    imports: ['apps/a', 'apps/b', 'apps/c'],
    steps: [
      ['applied', false, ['apps/a']],
      ['buffered', true, []],
      ['applied', false, ['apps/b', 'apps/c']],
    ],
  },
  {
    name: 'an old delta and an old unsolicited snapshot are ignored',
    batches: [batch('snapshot', 0, 5, [imp('a', 1)]), batch('delta', 3, 4, [imp('x', 1)]), batch('snapshot', 0, 4, [imp('y', 1)])],
    revision: 5,
    snapshotApplied: true,
    imports: ['apps/a'],
    steps: [
      ['applied', false, ['apps/a']],
      ['ignored', false, []],
      ['ignored', false, []],
    ],
  },
  {
    name: 'an older snapshot that answers our sync is taken (the hub restarted its revisions)',
    batches: [batch('snapshot', 0, 5, [imp('a', 1)]), [batch('snapshot', 0, 2, [imp('b', 1)]), true]],
    revision: 2,
    snapshotApplied: true,
    imports: ['apps/b'],
    steps: [
      ['applied', false, ['apps/a']],
      ['applied', false, ['apps/a', 'apps/b']],
    ],
  },
  {
    name: 'a batch for another cluster is ignored',
    batches: [{ ...batch('snapshot', 0, 5, [imp('a', 1)]), cluster: 'other' }],
    revision: 0,
    snapshotApplied: false,
    imports: [],
    steps: [['ignored', false, []]],
  },
  {
    name: 'chunks assemble from a reply and a push, in index order, only once all are in',
    batches: [
      [batch('snapshot', 0, 3, [imp('b', 1)], { chunk: { index: 1, count: 2 } }), false],
      [batch('snapshot', 0, 3, [imp('a', 1)], { chunk: { index: 0, count: 2 } }), true],
    ],
    revision: 3,
    snapshotApplied: true,
    imports: ['apps/a', 'apps/b'],
    steps: [
      ['partial', false, []],
      ['applied', false, ['apps/a', 'apps/b']],
    ],
  },
  {
    name: 'export status of own ServiceExports marks its key, and its removal too',
    batches: [
      batch('snapshot', 0, 1, [], { exportStatus: [{ namespace: 'apps', name: 'mine', conditions: [] }] }),
      batch('delta', 1, 2, [], { exportStatusRemovals: [{ namespace: 'apps', name: 'mine' }] }),
    ],
    revision: 2,
    snapshotApplied: true,
    imports: [],
    steps: [
      ['applied', false, ['apps/mine']],
      ['applied', false, ['apps/mine']],
    ],
  },
];

describe('agent planner: receiveBatch (pure)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { state, desired, steps } = feed(c.batches);
      assert.equal(state.revision, c.revision);
      assert.equal(state.snapshotApplied, c.snapshotApplied);
      assert.deepEqual(keys(desired), c.imports);
      assert.deepEqual(
        steps.map((s) => [s.outcome, s.needSync, [...s.dirtyKeys].sort()]),
        c.steps,
      );
    });
  }

  it('does not change the state it was given', () => {
    const { state } = feed([batch('snapshot', 0, 5, []), batch('delta', 7, 8, [])]);
    const before = JSON.stringify([state.revision, state.pendingDeltas.length, state.snapshotApplied]);
    receiveBatch(state, batch('delta', 5, 7, [imp('b', 1)]), false, CLUSTER);
    receiveBatch(state, batch('delta', 9, 10, []), false, CLUSTER);
    assert.equal(JSON.stringify([state.revision, state.pendingDeltas.length, state.snapshotApplied]), before);
  });

  it('chooses the received batch and the buffered deltas it unblocks, in revision order', () => {
    const { state } = feed([batch('snapshot', 0, 5, []), batch('delta', 7, 8, []), batch('delta', 6, 7, [])]);
    const r = receiveBatch(state, batch('delta', 5, 6, []), false, CLUSTER);
    assert.deepEqual(
      r.apply.map((b) => [b.fromRevision, b.revision]),
      [
        [5, 6],
        [6, 7],
        [7, 8],
      ],
    );
    assert.equal(r.state.revision, 8);
    assert.deepEqual(r.state.pendingDeltas, []);
  });

  it('applyBatch: a delta replaces whole services and removes; a snapshot replaces everything', () => {
    const desired: DesiredState = { imports: new Map(), hubStatus: new Map() };
    assert.deepEqual(applyBatch(desired, batch('snapshot', 0, 1, [imp('a', 1), imp('b', 1)])).dirty.sort(), ['apps/a', 'apps/b']);
    assert.deepEqual(applyBatch(desired, batch('delta', 1, 2, [imp('a', 3)], { removals: [{ namespace: 'apps', name: 'b' }] })).dirty.sort(), [
      'apps/a',
      'apps/b',
    ]);
    assert.equal(desired.imports.get('apps/a')?.endpoints.length, 3);
    assert.deepEqual(keys(desired), ['apps/a']);
    assert.deepEqual(applyBatch(desired, batch('snapshot', 0, 3, [imp('c', 1)])).dirty.sort(), ['apps/a', 'apps/c']);
    assert.deepEqual(keys(desired), ['apps/c']);
  });

  it('applyBatch: an endpoint patch splices the held import; one that does not fit changes nothing and is named', () => {
    const desired: DesiredState = { imports: new Map(), hubStatus: new Map() };
    applyBatch(desired, batch('snapshot', 0, 1, [imp('a', 3), imp('b', 2)]));
    const added = { ...imp('x', 1).endpoints[0], addresses: ['10.9.9.9'] } as ImportState['endpoints'][number];
    const applied = applyBatch(
      desired,
      batch('delta', 1, 2, [], {
        patches: [
          { namespace: 'apps', name: 'a', count: 3, at: 1, remove: 1, insert: [added] },
          // What the hub thought b held is not what is held: left alone.
          { namespace: 'apps', name: 'b', count: 5, at: 0, remove: 1, insert: [] },
          { namespace: 'apps', name: 'missing', count: 0, at: 0, remove: 0, insert: [added] },
        ],
      }),
    );
    assert.deepEqual(applied, { dirty: ['apps/a'], unfit: ['apps/b', 'apps/missing'] });
    assert.deepEqual(
      desired.imports.get('apps/a')?.endpoints.map((e) => e.addresses[0]),
      ['10.9.0.1', '10.9.9.9', '10.9.0.3'],
    );
    assert.deepEqual(desired.imports.get('apps/b'), imp('b', 2));
    assert.equal(desired.imports.has('apps/missing'), false);
  });

  it('a new leader’s "sync wanted" applies nothing and asks to sync; its snapshot keeps what it names as held', () => {
    const { state, desired } = feed([batch('snapshot', 0, 5, [imp('a', 2), imp('b', 1), imp('c', 1)])]);
    const r = receiveBatch(state, { ...batch('delta', 9, 9, []), syncWanted: true }, false, CLUSTER);
    assert.deepEqual([r.outcome, r.needSync, r.apply, r.state], ['ignored', true, [], state]);
    const a = desired.imports.get('apps/a');
    assert.ok(a !== undefined);
    const snapshot = batch('snapshot', 0, 9, [imp('d', 1)], {
      kept: [
        { namespace: 'apps', name: 'a', digest: importDigest(a) },
        // Held with another digest than the hub's idea of it: kept as held, and named.
        { namespace: 'apps', name: 'b', digest: importDigest(imp('b', 7)) },
        { namespace: 'apps', name: 'never', digest: importDigest(imp('never', 1)) },
      ],
    });
    const applied = applyBatch(desired, snapshot);
    assert.deepEqual(applied.unfit, ['apps/b', 'apps/never']);
    assert.deepEqual(applied.dirty.sort(), ['apps/c', 'apps/d'], 'kept imports are not touched, the rest replaced');
    assert.equal(desired.imports.get('apps/a'), a);
    assert.deepEqual(keys(desired), ['apps/a', 'apps/b', 'apps/d']);
  });

  it('names what it holds by digest for a sync request, or nothing when that would not fit a message', () => {
    const held = new Map([
      ['apps/a', imp('a', 2)],
      ['apps/b', imp('b', 1)],
    ]);
    assert.deepEqual(heldImports(held), [
      { namespace: 'apps', name: 'a', digest: importDigest(imp('a', 2)) },
      { namespace: 'apps', name: 'b', digest: importDigest(imp('b', 1)) },
    ]);
    const many = new Map(Array.from({ length: MAX_HELD_IMPORTS + 1 }, (_, i) => [`apps/s${i}`, imp(`s${i}`, 0)]));
    assert.equal(heldImports(many), undefined);
  });

  it('a distrusted state asks for a sync on the next delta and takes the snapshot that answers it', () => {
    const { state } = feed([batch('snapshot', 0, 5, [imp('a', 1)])]);
    const { steps, desired } = feed([batch('delta', 6, 7, [imp('b', 1)]), [batch('snapshot', 0, 7, [imp('c', 1)]), true]], distrust(state));
    assert.deepEqual(
      steps.map((s) => [s.outcome, s.needSync]),
      [
        ['buffered', true],
        ['applied', false],
      ],
    );
    assert.deepEqual(keys(desired), ['apps/c']);
  });

  it(`keeps at most ${MAX_BUFFERED_DELTAS} buffered deltas and ${MAX_ASSEMBLIES} assemblies`, () => {
    const gaps = Array.from({ length: MAX_BUFFERED_DELTAS + 10 }, (_, i) => batch('delta', 100 + i, 101 + i, []));
    const chunks = Array.from({ length: MAX_ASSEMBLIES + 3 }, (_, i) => batch('snapshot', 0, 10 + i, [], { chunk: { index: 0, count: 2 } }));
    const { state } = feed([batch('snapshot', 0, 1, []), ...gaps, ...chunks]);
    assert.equal(state.pendingDeltas.length, MAX_BUFFERED_DELTAS);
    assert.equal(state.pendingDeltas[0]?.fromRevision, 110, 'the oldest are dropped');
    assert.equal(state.assemblies.size, MAX_ASSEMBLIES);
  });

  it('holds the summary of the last batch applied for its heartbeat, and claims nothing before a snapshot, without a summary or once distrusted', () => {
    const S1 = 'S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S1S';
    const S2 = 'S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S2S';
    const early = feed([{ ...batch('delta', 0, 5, [imp('a', 1)]), summary: S1 }]);
    assert.equal(holdsClaim(early.state), undefined, 'a delta before any snapshot is not held');
    const { state } = feed([
      { ...batch('snapshot', 0, 5, [imp('a', 1)]), summary: S1 },
      { ...batch('delta', 5, 6, [imp('b', 1)]), summary: S2 },
    ]);
    assert.deepEqual(holdsClaim(state), { revision: 6, summary: S2 });
    // A delta from the future is buffered: the claim stays that of the state held.
    const ahead = receiveBatch(state, { ...batch('delta', 8, 9, [imp('c', 1)]), summary: S1 }, false, CLUSTER);
    assert.deepEqual(holdsClaim(ahead.state), { revision: 6, summary: S2 });
    // A hub that sends no summary (an older one) leaves nothing to claim.
    const older = receiveBatch(state, batch('delta', 6, 7, [imp('c', 1)]), false, CLUSTER);
    assert.equal(holdsClaim(older.state), undefined);
    assert.equal(holdsClaim(distrust(state)), undefined);
  });
});
