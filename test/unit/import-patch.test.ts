// Endpoint patches (api/import-patch.ts): the hub's diff and the agent's splice are inverse — for
// any held import and any edit of its endpoints, the patch the hub sends turns what the agent holds
// into exactly what the hub meant, through the codec — and a patch that does not fit what is held
// is refused, not applied to the wrong endpoints.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffImport, patchImport } from '../../controlplane/api/import-patch.ts';
import { jsonEqual } from '../../controlplane/api/json-equal.ts';
import {
  MAX_PATCH_ENDPOINTS,
  PROTOCOL_VERSION,
  importBatchCodec,
  importBatchJson,
  type ImportBatch,
  type ImportPatch,
  type ImportState,
} from '../../controlplane/api/messages.ts';

type Endpoint = ImportState['endpoints'][number];

function endpoint(i: number, cluster = 'onprem', ready = true): Endpoint {
  return { addresses: [`10.32.${(i >> 8) & 255}.${i & 255}`], ready, serving: ready, terminating: false, zone: 'fra1-a', cluster };
}

function service(endpoints: Endpoint[], clusters = ['onprem']): ImportState {
  return {
    namespace: 'inference',
    name: 'llm-serving',
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    ips: ['10.250.0.1'],
    sessionAffinity: 'None',
    clusters,
    endpoints,
  };
}

/** A delta carrying only `patches`. */
function patchBatch(cluster: string, patches: ImportPatch[]): ImportBatch {
  return { v: PROTOCOL_VERSION, cluster, kind: 'delta', fromRevision: 1, revision: 2, upserts: [], removals: [], exportStatus: [], patches };
}

const range = (n: number, from = 0): Endpoint[] => Array.from({ length: n }, (_, i) => endpoint(from + i));

/** An edit of an endpoint list: a few insertions, removals and changes at random places. */
const edit = (n: number): fc.Arbitrary<{ base: Endpoint[]; next: Endpoint[] }> =>
  fc.array(fc.record({ op: fc.constantFrom('insert', 'remove', 'flip'), at: fc.nat({ max: 1000 }) }), { minLength: 0, maxLength: 4 }).map((ops) => {
    const base = range(n);
    const next = [...base];
    let fresh = 10_000;
    for (const { op, at } of ops) {
      const i = next.length === 0 ? 0 : at % (next.length + (op === 'insert' ? 1 : 0));
      if (op === 'insert') next.splice(i, 0, endpoint(fresh++));
      else if (op === 'remove' && next.length > 0) next.splice(i, 1);
      else if (next.length > 0) {
        const e = next[i] as Endpoint;
        next[i] = { ...e, ready: !e.ready, serving: !e.ready };
      }
    }
    return { base, next };
  });

describe('endpoint patches: diff and splice', () => {
  it('the patch of any edit turns the held import into the new one, through the codec', () => {
    let patched = 0;
    let upserted = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }).chain(edit), ({ base, next }) => {
        const held = service(base);
        const want = service(next);
        const patch = diffImport(held, want);
        if (patch === undefined) {
          upserted++;
          // Only a change too large to be worth a patch goes whole.
          const changed = next.length - commonEnds(base, next);
          assert.ok(changed * 2 > next.length || changed > MAX_PATCH_ENDPOINTS, `no patch for a change of ${changed} of ${next.length}`);
          return;
        }
        patched++;
        const batch = patchBatch('aws-train', [patch]);
        const decoded = importBatchCodec.decode(importBatchCodec.encode(batch), 'aws-train');
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.message);
        assert.equal(importBatchJson(batch), JSON.stringify(batch));
        const got = patchImport(held, decoded.value.patches?.[0] ?? patch);
        assert.ok(got !== undefined && jsonEqual(got, want), 'the splice gives exactly the new import');
        assert.ok(patch.insert.length <= next.length - commonEnds(base, next), 'the patch carries only what changed');
      }),
      { numRuns: 400, seed: 11 },
    );
    assert.ok(patched > 200 && upserted > 5, `patched ${patched}, whole ${upserted}`);
  });

  it('one changed endpoint of 25 is one endpoint on the wire, not 25', () => {
    const base = range(25);
    const next = [...base];
    next[12] = endpoint(12, 'onprem', false);
    const patch = diffImport(service(base), service(next));
    assert.deepEqual(patch && { count: patch.count, at: patch.at, remove: patch.remove, insert: patch.insert }, {
      count: 25,
      at: 12,
      remove: 1,
      insert: [next[12]],
    });
    assert.ok(JSON.stringify(patch).length * 8 < JSON.stringify(service(next)).length, 'a small fraction of the import');
  });

  it('goes whole when another field changed, or when most endpoints did', () => {
    assert.equal(diffImport(service(range(10)), service(range(10), ['onprem', 'aws'])), undefined);
    assert.equal(diffImport(service(range(10)), service(range(10, 5))), undefined);
    const big = range(2 * MAX_PATCH_ENDPOINTS + 10);
    assert.equal(diffImport(service(big), service([...big, ...range(MAX_PATCH_ENDPOINTS + 1, 50_000)])), undefined);
  });

  it('is computed once per pair: consumers of one view share the patch and its JSON', () => {
    const held = service(range(5));
    const next = service([...range(5), endpoint(99)]);
    const patch = diffImport(held, next);
    assert.ok(patch !== undefined);
    assert.equal(diffImport(held, next), patch);
    const a = patchBatch('aws-train', [patch]);
    const b: ImportBatch = { ...a, cluster: 'gcp-train', fromRevision: 7 };
    const json = JSON.stringify(patch);
    assert.ok(importBatchJson(a).includes(json) && importBatchJson(b).includes(json));
  });

  it('refuses a patch that does not fit what is held: no import, or another endpoint count', () => {
    const held = service(range(5));
    const patch = diffImport(held, service([...range(5), endpoint(99)]));
    assert.ok(patch !== undefined);
    assert.equal(patchImport(undefined, patch), undefined);
    assert.equal(patchImport(service(range(4)), patch), undefined);
    assert.equal(patchImport(held, { ...patch, at: 4, remove: 2 }), undefined);
    assert.equal(patchImport(held, patch)?.endpoints.length, 6);
  });

  it('the schema refuses a splice past the end it names', () => {
    const batch = patchBatch('c', [{ namespace: 'a', name: 'b', count: 3, at: 2, remove: 2, insert: [] }]);
    const decoded = importBatchCodec.decode(new TextEncoder().encode(JSON.stringify(batch)), 'c');
    assert.ok(!decoded.ok, 'refused');
    assert.match(decoded.message, /at \+ remove ≤ count/);
  });
});

/** How many endpoints base and next share at the start and end (what a single splice keeps). */
function commonEnds(a: readonly Endpoint[], b: readonly Endpoint[]): number {
  let s = 0;
  while (s < a.length && s < b.length && jsonEqual(a[s], b[s])) s++;
  let e = 0;
  while (e < a.length - s && e < b.length - s && jsonEqual(a[a.length - 1 - e], b[b.length - 1 - e])) e++;
  return s + e;
}
