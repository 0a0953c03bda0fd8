// resourceVersion preconditions (issue 12 §2): one that can never name a revision is refused as
// input naming the field; a well-formed one that is not current is a conflict; neither writes.
import assert from 'node:assert/strict';
import { ConflictError, InvalidInputError } from '../../controlplane/api/errors.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, network } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };

describe('Registry: resourceVersion preconditions (on the in-memory store fake)', () => {
  let store: MemoryStore;
  let registry: Registry;
  let current: string;
  beforeEach(async () => {
    store = new MemoryStore();
    registry = new Registry(store);
    current = String((await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/20')), admin)).revision);
  });

  const withVersion = (rv: string) =>
    declared({ ...cluster('a', '10.1.0.0/16', '10.2.0.0/20', { labels: { v: '2' } }), metadata: { name: 'a', labels: { v: '2' }, resourceVersion: rv } });
  const table: { name: string; rv: () => string; run: 'apply' | 'delete'; error: typeof InvalidInputError | typeof ConflictError; field?: string }[] = [
    { name: 'apply with "0"', rv: () => '0', run: 'apply', error: InvalidInputError, field: 'metadata.resourceVersion' },
    { name: 'apply with "007"', rv: () => '007', run: 'apply', error: InvalidInputError, field: 'metadata.resourceVersion' },
    { name: 'apply with a revision past 2^53', rv: () => '99999999999999999999', run: 'apply', error: InvalidInputError, field: 'metadata.resourceVersion' },
    { name: 'apply with a stale revision', rv: () => String(Number(current) - 1), run: 'apply', error: ConflictError },
    { name: 'delete with "0"', rv: () => '0', run: 'delete', error: InvalidInputError, field: 'resourceVersion' },
    { name: 'delete with "abc"', rv: () => 'abc', run: 'delete', error: InvalidInputError, field: 'resourceVersion' },
    { name: 'delete with a stale revision', rv: () => String(Number(current) + 5), run: 'delete', error: ConflictError },
  ];
  for (const t of table) {
    it(`${t.name}: ${t.error.name}${t.field !== undefined ? ` naming ${t.field}` : ''}, nothing written`, async () => {
      const before = await store.range('');
      const rv = t.rv();
      const write =
        t.run === 'apply' ? registry.apply(withVersion(rv), admin) : registry.delete({ kind: 'Cluster', name: 'a' }, admin, { resourceVersion: rv });
      const err = await write.catch((e: unknown) => e);
      assert.ok(err instanceof t.error, String(err));
      if (t.field !== undefined) {
        assert.ok(err instanceof InvalidInputError);
        assert.deepEqual(
          err.problems.map((p) => [p.field, p.value]),
          [[t.field, rv]],
        );
      }
      assert.deepEqual(await store.range(''), before);
    });
  }

  it('the current revision passes', async () => {
    const res = await registry.apply(withVersion(current), admin);
    assert.deepEqual(
      res.changes.map((c) => c.action),
      ['updated'],
    );
  });
});
