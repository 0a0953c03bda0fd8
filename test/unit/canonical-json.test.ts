// canonicalJson names held imports on the wire (import-digest.ts): its output is pinned here, and
// checked against its definition (keys sorted by code unit, undefined fields left out, undefined
// in an array as null) on random JSON values.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importDigest } from '../../controlplane/api/import-digest.ts';
import type { ImportState } from '../../controlplane/api/messages.ts';
import { canonicalJson } from '../../controlplane/api/json.ts';

/** The definition, written the slow and obvious way. */
function reference(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v: unknown) => (v === undefined ? 'null' : reference(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
}

describe('canonicalJson', () => {
  it('sorts keys at every level, leaves undefined fields out and writes undefined array items as null', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, undefined, { z: 1, y: undefined, x: 'é"' }], c: null } }),
      '{"a":{"c":null,"d":[3,null,{"x":"é\\"","z":1}]},"b":1}',
    );
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson('s'), '"s"');
    assert.equal(canonicalJson([]), '[]');
  });

  it('keeps a __proto__ key as a key', () => {
    const parsed: unknown = JSON.parse('{"z":1,"__proto__":{"x":2}}');
    assert.equal(canonicalJson(parsed), '{"__proto__":{"x":2},"z":1}');
    assert.equal(canonicalJson(parsed), reference(parsed));
  });

  it('sorts array-index keys as strings too (objects list them first, in numeric order)', () => {
    const parsed: unknown = JSON.parse('{"b":1,"10":2,"9":3,"":4}');
    assert.equal(canonicalJson(parsed), '{"":4,"10":2,"9":3,"b":1}');
    assert.equal(canonicalJson({ x: [{ 1: 'a', a: 'b' }] }), '{"x":[{"1":"a","a":"b"}]}');
  });

  it('agrees with its definition on random JSON values, undefined fields included', () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), fc.constant(undefined), tie('array'), tie('object')),
      array: fc.array(tie('any'), { maxLength: 5 }),
      object: fc.dictionary(fc.string({ maxLength: 6 }), tie('any'), { maxKeys: 6 }),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        assert.equal(canonicalJson(v), reference(v));
      }),
      { numRuns: 5000 },
    );
  });

  it('gives an import the digest agents and hubs of every version name it by (it is on the wire)', () => {
    const state = {
      namespace: 'apps',
      name: 'web',
      type: 'ClusterSetIP',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      ips: ['10.96.0.10'],
      sessionAffinity: 'None',
      clusters: ['east', 'west'],
      endpoints: [{ cluster: 'east', addresses: ['10.1.0.5'], ready: true }],
    } as unknown as ImportState;
    // Computed by the implementation before this one (string-building, commit 569b116).
    assert.equal(importDigest(state), 'Pf1OqLQVXhaMiBNVbYTVqw');
    assert.equal(importDigest(JSON.parse(JSON.stringify(state)) as ImportState), 'Pf1OqLQVXhaMiBNVbYTVqw');
    assert.equal(canonicalJson(state), reference(state));
  });
});
