// Hostile shapes of input (issue 12 §2): refused as problems naming the document, never a thrown
// RangeError (a 500 at the API) and never unbounded memory.
import assert from 'node:assert/strict';
import type { Problem } from '../../controlplane/api/errors.ts';
import { MAX_NESTING_DEPTH, tooDeep } from '../../controlplane/api/input-limits.ts';
import { MAX_DOCUMENTS, parseYamlDocuments, validateDocuments } from '../../controlplane/api/validate.ts';

/** The problems of a refusal; fails the test if the input was accepted. */
function problems(v: { ok: true } | { ok: false; problems: Problem[] }): Problem[] {
  if (v.ok) assert.fail('expected the input to be refused');
  return v.problems;
}

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('input limits', () => {
  it('finds the first path nested too deeply, without recursion', () => {
    assert.equal(tooDeep({ a: { b: [1, 2] } }), undefined);
    assert.equal(tooDeep(nested(MAX_NESTING_DEPTH - 1)), undefined);
    assert.equal(tooDeep({ spec: nested(MAX_NESTING_DEPTH) }, MAX_NESTING_DEPTH)?.startsWith('spec[0]'), true);
    assert.equal(typeof tooDeep(nested(200_000)), 'string');
  });

  it('refuses a JSON document with 100,000 nested arrays as a problem naming the document and field', () => {
    const object = JSON.parse(
      `{"apiVersion":"causeway.dev/v1alpha1","kind":"Cluster","metadata":{"name":"x"},"spec":{"podCIDRs":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
    ) as unknown;
    const v = validateDocuments([{ source: { file: 'body', document: 1 }, object }]);
    const p = problems(v)[0];
    assert.ok(p !== undefined);
    assert.equal(p.document, 1);
    assert.equal(p.file, 'body');
    assert.match(p.field, /^spec\.podCIDRs\[0\]/);
    assert.match(p.message, /nested more than 32 levels/);
  });

  it('refuses a document that is itself a list nested 100,000 deep, without echoing it (found by fuzzing: a 500)', () => {
    const p = problems(validateDocuments([{ source: { document: 1 }, object: nested(100_000) }]))[0];
    assert.ok(p !== undefined);
    assert.match(p.message, /nested more than 32 levels/);
    assert.ok(JSON.stringify(p).length < 1000, 'the problem (and so the reply) stays small');
    const flat = problems(validateDocuments([{ source: { document: 1 }, object: Array.from({ length: 100_000 }, () => 1) }]))[0];
    assert.deepEqual([flat?.message, flat?.value], ['expected a mapping with apiVersion, kind, metadata and spec', 'a list of 100000']);
  });

  it('refuses YAML nested 100,000 levels deep as malformed, naming the document', () => {
    const v = parseYamlDocuments(`a: 1\n---\nb: ${'['.repeat(100_000)}`, 'deep.yaml');
    const p = problems(v)[0];
    assert.ok(p !== undefined);
    assert.equal(p.file, 'deep.yaml');
    assert.equal(p.document, 2);
    assert.match(p.message, /nested too deeply/);
  });

  it('refuses an unresolved alias and an alias bomb, naming file and document', () => {
    const unresolved = parseYamlDocuments('a: *x\n', 'alias.yaml');
    assert.deepEqual(
      problems(unresolved).map((p) => [p.file, p.document]),
      [['alias.yaml', 1]],
    );
    assert.match(problems(unresolved)[0]?.message ?? '', /alias/i);
    const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      lol.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const bomb = parseYamlDocuments(`${lol.join('\n')}\n`, 'laughs.yaml');
    assert.match(problems(bomb)[0]?.message ?? '', /alias/i);
  });

  it('stops composing at MAX_DOCUMENTS documents, and counts List items', () => {
    const many = parseYamlDocuments('---\nx: 1\n'.repeat(150_000), 'many.yaml');
    assert.deepEqual(
      problems(many).map((p) => p.document),
      [MAX_DOCUMENTS + 1],
    );
    const list = parseYamlDocuments(JSON.stringify({ kind: 'List', items: Array.from({ length: MAX_DOCUMENTS + 1 }, () => ({})) }), 'list.json');
    assert.match(problems(list)[0]?.message ?? '', /more than 5000 documents/);
  });

  it('a complex map key prints no process warning (a client could write to the hub’s stderr otherwise)', async () => {
    let warnings = 0;
    const count = (): void => {
      warnings += 1;
    };
    process.on('warning', count);
    try {
      parseYamlDocuments('? [a, b]\n: c\n', 'keys.yaml');
      await new Promise<void>((resolve) => {
        setImmediate(resolve);
      });
    } finally {
      process.off('warning', count);
    }
    assert.equal(warnings, 0);
  });

  it('still accepts ordinary documents', () => {
    const v = parseYamlDocuments('apiVersion: causeway.dev/v1alpha1\nkind: Network\nmetadata: {name: n}\nspec: {provider: onprem}\n---\n', 'ok.yaml');
    if (!v.ok) assert.fail(v.problems.map((p) => p.message).join('; '));
    assert.deepEqual(
      v.value.map((d) => [d.source, (d.object as { kind: string }).kind]),
      [[{ file: 'ok.yaml', document: 1 }, 'Network']],
    );
  });
});
