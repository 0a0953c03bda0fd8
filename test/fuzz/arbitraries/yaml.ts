// Generators of YAML text: valid manifests (one or many documents, `kind: List`), and hostile text
// (anchors and aliases, alias bombs, unresolved aliases, tags, duplicate keys, deep flow nesting,
// thousands of documents, truncation and random corruption of valid text).
import fc from 'fast-check';
import { stringify } from 'yaml';
import { validDocument, type DocContext } from './documents.ts';

const manifest = (ctx: DocContext): fc.Arbitrary<string> =>
  fc.array(validDocument(ctx), { minLength: 1, maxLength: 4 }).map((docs) => docs.map((d) => stringify(d)).join('---\n'));

/** Valid manifests: documents separated by `---`, or one `List` of them, with comments and blank documents. */
export function validYaml(ctx: DocContext = {}): fc.Arbitrary<string> {
  return fc.oneof(
    manifest(ctx),
    fc
      .array(validDocument(ctx), { minLength: 1, maxLength: 3 })
      .map((items) => stringify({ apiVersion: 'causeway.dev/v1alpha1', kind: 'List', metadata: {}, items })),
    manifest(ctx).map((t) => `# a comment\n---\n${t}---\n`),
  );
}

/** Billion laughs: each level an alias list of the one before. */
function aliasBomb(levels: number, width: number): string {
  const lines = ['a0: &a0 [lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: width }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** Around MAX_DOCUMENTS (5,000) and far from it. */
const documentCount = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 13 }).map((k) => 2 ** k), weight: 6 },
  { arbitrary: fc.constantFrom(4999, 5000, 5001), weight: 1 },
);

const hostileSnippets: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 10 })).map(([l, w]) => aliasBomb(l, w)),
  fc.constantFrom(
    'a: *x\n',
    'kind: Cluster\nmetadata: &m {name: a}\nspec: *m\n',
    'apiVersion: causeway.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nmetadata: {name: b}\n',
    'x: !!binary aGVsbG8=\n',
    'x: !!js/function "function () {}"\n',
    '!!python/object:os.system [ls]\n',
    '%YAML 1.1\n---\nx: yes\n',
    '%TAG ! tag:example.com,2000:\n---\n!foo x\n',
    '<<: *base\n',
    'a: &a\n  b: *a\n',
    '? [a, b]\n: c\n',
    '{a: 1, a: 2}\n',
    'key: "unterminated\n',
    '- a\nb: c\n',
    '\t- tab\n',
    '---\n...\n---\n',
    '\ufeffapiVersion: causeway.dev/v1alpha1\n',
    'kind: List\nitems: 5\n',
    'kind: List\nitems: [1, null, "x", [ ]]\n',
  ),
  // Sizes spread over orders of magnitude (2 to 131,072 levels; 2 to 8,192 documents): the large
  // ones are rare, so that the mean case stays cheap.
  fc.tuple(fc.integer({ min: 1, max: 17 }), fc.constantFrom('[', '{a: ', '- ')).map(([k, open]) => open.repeat(2 ** k)),
  fc.integer({ min: 10, max: 120 }).map((n) => `${'[ '.repeat(n)}x${' ]'.repeat(n)}\n`),
  documentCount.map((n) => 'x: 1\n---\n'.repeat(n)),
  documentCount.map((n) => `kind: List\nitems:\n${'- {a: 1}\n'.repeat(n)}`),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...':-[]{}&*!|>#%@`\'",? \n\t'.split('')), maxLength: 80 }),
);

/** Valid text cut short at a random place, or with random characters written over it. */
function corrupted(ctx: DocContext): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(validYaml(ctx), fc.double({ min: 0, max: 1, noNaN: true })).map(([t, f]) => t.slice(0, Math.floor(t.length * f))),
    fc
      .tuple(
        validYaml(ctx),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...':-[]{}&*!|>#%@"\' \n\t'.split(''))), { minLength: 1, maxLength: 5 }),
      )
      .map(([t, edits]) => edits.reduce((s, [f, c]) => `${s.slice(0, Math.floor(s.length * f))}${c}${s.slice(Math.floor(s.length * f) + 1)}`, t)),
  );
}

export function hostileYaml(ctx: DocContext = {}): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: hostileSnippets, weight: 3 }, { arbitrary: corrupted(ctx), weight: 2 });
}
