// The summaries a takeover resumes agents by (hub/controllers/resume.ts): kept incrementally, they
// equal a summary computed from scratch over the same state; a heartbeat resumes from the
// checkpoint it names, with exactly the changes since; what is not known resumes nothing.
import assert from 'node:assert/strict';
import { modelImport } from './model-import.ts';
import fc from 'fast-check';
import { importDigest } from '../../../controlplane/api/import-digest.ts';
import type { ExportStatus, ImportState } from '../../../controlplane/api/messages.ts';
import { MAX_CHECKPOINTS, ResumeBook, type ConsumerState } from '../../../controlplane/hub/controllers/resume.ts';

function imp(name: string, addresses: number): ImportState {
  return modelImport({ name, namespace: 'ns', addresses, ips: [] });
}

function status(name: string, valid: boolean, at: string): ExportStatus {
  return {
    namespace: 'ns',
    name,
    conditions: [{ type: 'Valid', status: valid ? 'True' : 'False', reason: valid ? 'Valid' : 'Invalid', message: 'm', lastTransitionTime: at }],
  };
}

/** A consumer's state as the model would give it, and the book that follows it. */
function world(): { imports: Map<string, ImportState>; statuses: Map<string, ExportStatus>; state: ConsumerState } {
  const imports = new Map<string, ImportState>();
  const statuses = new Map<string, ExportStatus>();
  const state: ConsumerState = () => ({ imports: [...imports].map(([k, s]) => [k, importDigest(s)] as const), statuses: [...statuses.values()] });
  return { imports, statuses, state };
}

type Op = { kind: 'import'; name: string; size: number | undefined } | { kind: 'status'; name: string; valid: boolean | undefined; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('import' as const),
    name: fc.constantFrom('a', 'b', 'c', 'd'),
    size: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('status' as const),
    name: fc.constantFrom('a', 'b'),
    valid: fc.option(fc.boolean(), { nil: undefined }),
    at: fc.integer({ min: 0, max: 9 }),
  }),
);

function run(w: ReturnType<typeof world>, book: ResumeBook, o: Op): void {
  const key = `ns/${o.name}`;
  if (o.kind === 'import') {
    const prev = w.imports.get(key);
    const next = o.size === undefined ? undefined : imp(o.name, o.size);
    if (next === undefined) w.imports.delete(key);
    else w.imports.set(key, next);
    // The model hands the previous import as a rebuilt object, equal to the one it handed before.
    if (prev !== undefined || next !== undefined) book.importChanged('c', key, next, prev === undefined ? undefined : structuredClone(prev));
  } else {
    const next = o.valid === undefined ? undefined : status(o.name, o.valid, `2026-01-0${o.at + 1}T00:00:00Z`);
    if (next === undefined) w.statuses.delete(key);
    else w.statuses.set(key, next);
    book.statusChanged('c', key, next);
  }
}

describe('resume summaries (hub/controllers/resume.ts)', () => {
  it('kept change by change, a summary equals one computed from scratch over the same state', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 5 }), { maxLength: 12 }), (flushes) => {
        const w = world();
        const book = new ResumeBook(w.state);
        book.summaryOf('c');
        for (const ops of flushes) {
          for (const o of ops) run(w, book, o);
          book.flushed();
          assert.equal(book.summaryOf('c'), new ResumeBook(w.state).summaryOf('c'));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ignores when a status last changed (each replica stamps it) but not what it says', () => {
    const w = world();
    w.statuses.set('ns/a', status('a', true, '2026-01-01T00:00:00Z'));
    const first = new ResumeBook(w.state).summaryOf('c');
    w.statuses.set('ns/a', status('a', true, '2026-02-01T00:00:00Z'));
    assert.equal(new ResumeBook(w.state).summaryOf('c'), first);
    w.statuses.set('ns/a', status('a', false, '2026-02-01T00:00:00Z'));
    assert.notEqual(new ResumeBook(w.state).summaryOf('c'), first);
  });

  it('a heartbeat naming a checkpoint resumes from it with every change since, in order; one naming none resumes nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 }), fc.nat(), (flushes, pick) => {
        const w = world();
        const book = new ResumeBook(w.state);
        const seen: { summary: string; imports: Map<string, ImportState>; statuses: Map<string, ExportStatus> }[] = [];
        const remember = (): void => {
          seen.push({ summary: book.summaryOf('c') ?? '', imports: new Map(w.imports), statuses: new Map(w.statuses) });
        };
        remember();
        book.heard('c', { revision: 1, summary: seen[0]?.summary ?? '' });
        for (const ops of flushes) {
          for (const o of ops) run(w, book, o);
          book.flushed();
          remember();
        }
        const at = seen[pick % seen.length];
        assert.ok(at !== undefined);
        book.heard('c', { revision: 7, summary: at.summary });
        const from = book.resumable('c');
        assert.equal(from?.revision, 7);
        // The agent's state with the changes since applied is the model's state now.
        const imports = new Map(at.imports);
        const statuses = new Map(at.statuses);
        for (const ch of from.changes) {
          if (ch.kind === 'import') {
            assert.equal(
              ch.prev === undefined ? undefined : importDigest(ch.prev),
              imports.has(ch.key) ? importDigest(imports.get(ch.key) as ImportState) : undefined,
            );
            if (ch.next === undefined) imports.delete(ch.key);
            else imports.set(ch.key, ch.next);
          } else if (ch.next === undefined) statuses.delete(ch.key);
          else statuses.set(ch.key, ch.next);
        }
        assert.deepEqual([...imports].sort(), [...w.imports].sort());
        // Statuses as the summary sees them: without when each last changed (each replica's own clock).
        const stripped = (m: Map<string, ExportStatus>): unknown[] =>
          [...m].sort().map(([k, v]) => [k, v.conditions.map(({ lastTransitionTime: _t, ...c }) => c)]);
        assert.deepEqual(stripped(statuses), stripped(w.statuses));
        book.heard('c', { revision: 8, summary: 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' });
        assert.equal(book.resumable('c'), undefined);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a bounded log: a heartbeat naming a checkpoint that aged out resumes nothing', () => {
    const w = world();
    const book = new ResumeBook(w.state);
    const first = book.summaryOf('c') ?? '';
    book.heard('c', { revision: 1, summary: first });
    for (let i = 0; i <= MAX_CHECKPOINTS; i++) {
      run(w, book, { kind: 'import', name: 'a', size: i + 1 });
      book.flushed();
    }
    assert.equal(book.resumable('c'), undefined, 'the checkpoint it was seen at is gone');
    book.heard('c', { revision: 2, summary: first });
    assert.equal(book.resumable('c'), undefined);
    // The newest state still resumes.
    book.heard('c', { revision: 3, summary: book.summaryOf('c') ?? '' });
    assert.deepEqual(book.resumable('c'), { revision: 3, changes: [] });
  });

  it('resumes nothing while leading, after the summaries were invalidated, or from a heartbeat without a claim', () => {
    const w = world();
    w.imports.set('ns/a', imp('a', 1));
    const book = new ResumeBook(w.state);
    const s = book.summaryOf('c') ?? '';
    book.heard('c', { revision: 4, summary: s });
    assert.deepEqual(book.resumable('c'), { revision: 4, changes: [] });
    book.heard('c', undefined);
    assert.equal(book.resumable('c'), undefined);
    book.heard('c', { revision: 4, summary: s });
    book.invalidateAll();
    assert.equal(book.resumable('c'), undefined);
    assert.equal(book.summaryOf('c'), s, 'computed again from the model');
    book.setLogging(false);
    book.heard('c', { revision: 5, summary: s });
    assert.equal(book.resumable('c'), undefined);
  });

  it('forgets a consumer unregistered while another replica leads, at the flush that changed it, and keeps nothing for one the model does not know', () => {
    const w = world();
    w.imports.set('ns/a', imp('a', 1));
    const registered = new Set(['c']);
    const book = new ResumeBook(
      (x) => (registered.has(x) ? w.state(x) : undefined),
      (x) => registered.has(x),
    );
    book.heard('c', { revision: 4, summary: book.summaryOf('c') ?? '' });
    assert.deepEqual(book.resumable('c'), { revision: 4, changes: [] });
    // The cluster is unregistered: the model takes its imports away in one flush.
    registered.delete('c');
    const prev = w.imports.get('ns/a');
    w.imports.delete('ns/a');
    book.importChanged('c', 'ns/a', undefined, prev);
    book.flushed();
    assert.equal(book.resumable('c'), undefined);
    assert.equal(book.tracked(), 0);
    // Its agent's heartbeats (until its credential goes), and those of a cluster never registered, keep nothing.
    book.heard('c', { revision: 5, summary: 'A'.repeat(43) });
    book.heard('stranger', { revision: 1, summary: 'A'.repeat(43) });
    assert.equal(book.tracked(), 0);
  });
});
