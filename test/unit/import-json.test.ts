// An import's JSON (api/messages.ts importStateJson) is made from each endpoint's JSON, made once
// per endpoint object; it must be JSON.stringify's bytes for any import, whatever its key order,
// explicit undefined fields, odd strings (the digests and summaries the hub compares are taken of
// it) or endpoint objects shared with other imports.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importStateJson, type ImportState } from '../../controlplane/api/messages.ts';

const text = fc.string({ unit: 'binary', maxLength: 12 });
const endpoint = fc.record(
  {
    addresses: fc.array(fc.ipV4(), { minLength: 1, maxLength: 2 }),
    cluster: text,
    hostname: fc.option(text, { nil: undefined }),
    ready: fc.boolean(),
    serving: fc.boolean(),
    terminating: fc.boolean(),
    zone: fc.option(text, { nil: undefined }),
  },
  { requiredKeys: ['addresses', 'cluster', 'ready', 'serving', 'terminating'] },
);

const importState = fc
  .record({
    annotations: fc.option(fc.dictionary(text, text, { maxKeys: 3 }), { nil: undefined }),
    clusters: fc.array(text, { maxLength: 3 }),
    endpoints: fc.array(endpoint, { maxLength: 6 }),
    ips: fc.array(fc.ipV4(), { maxLength: 1 }),
    labels: fc.option(fc.dictionary(text, text, { maxKeys: 3 }), { nil: undefined }),
    name: text,
    namespace: text,
    ports: fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom('TCP', 'UDP', 'SCTP') }), { maxLength: 2 }),
    sessionAffinity: fc.constantFrom('None', 'ClientIP'),
    type: fc.constantFrom('ClusterSetIP', 'Headless'),
  })
  // Keys in any order, as another builder than the model's might make them.
  .chain((s) =>
    fc
      .shuffledSubarray(Object.keys(s), { minLength: Object.keys(s).length })
      .map((keys) => Object.fromEntries(keys.map((k) => [k, s[k as keyof typeof s]])) as unknown as ImportState),
  );

describe('importStateJson (api/messages.ts)', () => {
  it("is JSON.stringify's bytes for any import, its endpoints' JSON made once and shared", () => {
    fc.assert(
      fc.property(importState, importState, (a, b) => {
        // b shares a's endpoint objects, in another order, after a's JSON was made.
        assert.equal(importStateJson(a), JSON.stringify(a));
        const shared = { ...b, endpoints: [...a.endpoints].reverse() };
        assert.equal(importStateJson(shared), JSON.stringify(shared));
      }),
      { numRuns: 300 },
    );
  });
});
