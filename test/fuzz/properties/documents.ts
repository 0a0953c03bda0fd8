// Pure properties of the API's input side: documents, YAML text and set checks (no sockets).
// - validation never throws: it returns problems, each with a field path (or the document as a
//   whole, '') and a reason; a refusal of a document changed at one place names that place;
// - every accepted document, printed as `causeway get -o yaml` prints it (with the system fields
//   and status the hub adds) and parsed and validated again, gives the same resource.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatProblem, type Problem } from '../../../controlplane/api/errors.ts';
import { KINDS } from '../../../controlplane/api/kinds.ts';
import type { Resource } from '../../../controlplane/api/resources.ts';
import { checkSet } from '../../../controlplane/api/semantic.ts';
import { formatPath, parseYamlDocuments, validateDocument, validateDocuments } from '../../../controlplane/api/validate.ts';
import { printResource, printResources } from '../../../controlplane/cli/print.ts';
import { deepDocument, garbageDocument, mutatedDocument, overlappingClusters, validDocument, type Mutated, type PathStep } from '../arbitraries/documents.ts';
import { overlappingCidrs } from '../arbitraries/primitives.ts';
import { hostileYaml, validYaml } from '../arbitraries/yaml.ts';
import { noThrow, Outcome, property, type FuzzProperty } from '../property.ts';

/** Every problem says what is wrong, and can be printed. */
export function assertProblems(problems: readonly Problem[], what: string): void {
  assert.ok(problems.length > 0, `${what}: refused without a problem`);
  for (const p of problems) {
    assert.equal(typeof p.field, 'string', `${what}: a problem without a field path: ${JSON.stringify(p)}`);
    assert.ok(typeof p.message === 'string' && p.message.trim() !== '', `${what}: a problem without a reason: ${JSON.stringify(p)}`);
    noThrow('formatProblem', () => formatProblem(p));
  }
  // The hub sends problems back as JSON: one it cannot serialise was a 500 (a deep list echoed whole).
  noThrow('JSON.stringify of the problems', () => JSON.stringify(problems));
}

const validate = (object: unknown): ReturnType<typeof validateDocument> =>
  noThrow('validateDocument', () => validateDocument({ source: { file: 'fuzz.yaml', document: 1 }, object }));

/** What the hub adds to a stored object: every system field, and a status with conditions. */
function asStored(r: Resource): Resource {
  return {
    ...r,
    metadata: {
      ...r.metadata,
      resourceVersion: '4242',
      uid: '6f1c1a52-0000-4000-8000-000000000001',
      generation: 3,
      creationTimestamp: '2026-12-01T09:00:00.000Z',
    },
    status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'Fuzzed', message: 'a: b\n- c', lastTransitionTime: '2026-12-01T09:00:00Z' }],
      allocated: { podCIDRs: ['10.0.0.0/16'] },
    },
  };
}

/** `get -o yaml` of one object and of a list, and `-o json`, each back through parse and validate. */
export function assertRoundTrip(r: Resource): void {
  const info = KINDS[r.kind];
  const stored = asStored(r);
  const expected = { ...r, metadata: { ...r.metadata, resourceVersion: '4242' } };
  const printed = [
    noThrow('printResource yaml', () => printResource(info, stored, 'yaml')),
    noThrow('printResources yaml', () => printResources(info, [stored], 'yaml', '4243')),
    noThrow('printResource json', () => printResource(info, stored, 'json')),
  ];
  for (const text of printed) {
    const parsed = noThrow('parseYamlDocuments', () => parseYamlDocuments(text, 'printed.yaml'));
    assert.ok(parsed.ok, `printed output does not parse: ${JSON.stringify(!parsed.ok && parsed.problems)}\n${text}`);
    const again = noThrow('validateDocuments', () => validateDocuments(parsed.value));
    assert.ok(again.ok, `printed output does not validate: ${JSON.stringify(!again.ok && again.problems)}\n${text}`);
    assert.equal(again.value.length, 1);
    assert.deepEqual(again.value[0]?.resource, expected, `round trip changed the resource:\n${text}`);
  }
}

/**
 * Where a refusal of a document changed at `path` may point: the field, anything inside it, or
 * its siblings (a check across an object's fields, such as provider and its block, reports a
 * sibling; a duplicate reports the other element of the list).
 */
function scopeOf(path: readonly PathStep[]): string {
  let parent = path.slice(0, -1);
  if (typeof parent.at(-1) === 'number') parent = parent.slice(0, -1);
  return formatPath(parent);
}

const validAccepted = property({
  name: 'documents: valid ones are accepted and round-trip through get -o yaml',
  tier: 'pure',
  runs: 400,
  weight: 10,
  mustSee: [Outcome.accepted],
  arbitrary: validDocument(),
  check: (doc) => {
    const v = validate(doc);
    assert.ok(v.ok, `a valid document was refused: ${JSON.stringify(!v.ok && v.problems)}\n${JSON.stringify(doc)}`);
    assertRoundTrip(v.value);
    return Outcome.accepted;
  },
});

const mutated = property({
  name: 'documents: one field changed: refusal names it, acceptance round-trips',
  tier: 'pure',
  runs: 800,
  weight: 20,
  mustSee: [Outcome.accepted, Outcome.refused],
  arbitrary: mutatedDocument(),
  check: (m: Mutated) => {
    const v = validate(m.object);
    if (v.ok) {
      assert.ok(m.how !== 'special-ip' && m.how !== 'bad-cidr', `${m.how} at ${formatPath(m.path)} was accepted`);
      assertRoundTrip(v.value);
      return Outcome.accepted;
    }
    assertProblems(v.problems, `${m.how} at ${formatPath(m.path)}`);
    const scope = scopeOf(m.path);
    assert.ok(
      v.problems.some((p) => p.field.startsWith(scope)),
      `${m.how} at ${formatPath(m.path)}: no problem names a field within "${scope}": ${v.problems.map((p) => p.field).join(', ')}`,
    );
    if (m.how === 'special-ip' || m.how === 'bad-cidr') {
      assert.ok(
        v.problems.some((p) => p.field === formatPath(m.path)),
        `${m.how}: refused, but not at ${formatPath(m.path)}: ${v.problems.map((p) => p.field).join(', ')}`,
      );
    }
    return Outcome.refused;
  },
});

const garbage = property({
  name: 'documents: garbage is refused with a field and a reason',
  tier: 'pure',
  runs: 400,
  weight: 10,
  mustSee: [Outcome.refused],
  arbitrary: fc.oneof({ arbitrary: garbageDocument, weight: 6 }, { arbitrary: deepDocument, weight: 1 }),
  check: (object) => {
    const v = validate(object);
    if (v.ok) {
      assertRoundTrip(v.value);
      return Outcome.accepted;
    }
    assertProblems(v.problems, 'garbage');
    return Outcome.refused;
  },
});

const yamlValid = property({
  name: 'yaml: valid manifests parse, validate and round-trip',
  tier: 'pure',
  runs: 200,
  weight: 8,
  mustSee: [Outcome.accepted],
  arbitrary: validYaml(),
  check: (text) => {
    const parsed = noThrow('parseYamlDocuments', () => parseYamlDocuments(text, 'fuzz.yaml'));
    assert.ok(parsed.ok, `valid YAML refused: ${JSON.stringify(!parsed.ok && parsed.problems)}\n${text}`);
    const v = noThrow('validateDocuments', () => validateDocuments(parsed.value));
    assert.ok(v.ok, `valid manifests refused: ${JSON.stringify(!v.ok && v.problems)}\n${text}`);
    for (const { resource } of v.value) assertRoundTrip(resource);
    return Outcome.accepted;
  },
});

const yamlHostile = property({
  name: 'yaml: hostile text is refused per document with a reason, never thrown',
  tier: 'pure',
  runs: 300,
  weight: 12,
  mustSee: [Outcome.refused],
  arbitrary: hostileYaml(),
  check: (text) => {
    const parsed = noThrow('parseYamlDocuments', () => parseYamlDocuments(text, 'fuzz.yaml'));
    if (!parsed.ok) {
      assertProblems(parsed.problems, 'parse');
      for (const p of parsed.problems)
        assert.ok(p.file === 'fuzz.yaml' && (p.document ?? 0) >= 1, `a parse problem names no file or document: ${JSON.stringify(p)}`);
      return Outcome.refused;
    }
    const v = noThrow('validateDocuments', () => validateDocuments(parsed.value));
    if (!v.ok) {
      assertProblems(v.problems, 'validate');
      return Outcome.refused;
    }
    for (const { resource } of v.value) assertRoundTrip(resource);
    return Outcome.accepted;
  },
});

const setChecks = property({
  name: 'set checks: never throw; overlapping clusters of one clusterset refused',
  tier: 'pure',
  runs: 200,
  weight: 5,
  mustSee: [Outcome.refused],
  arbitrary: fc.tuple(
    fc.array(validDocument(), { maxLength: 6 }),
    overlappingCidrs.chain((pair) => overlappingClusters({}, pair)),
  ),
  check: ([docs, pair]) => {
    const resources = [...docs, ...pair].flatMap((d) => {
      const v = validate(d);
      return v.ok ? [v.value] : [];
    });
    assert.ok(resources.length >= 2, 'the overlapping pair itself was refused');
    const problems = noThrow('checkSet', () => checkSet(resources));
    assertProblems(problems, 'checkSet');
    for (const p of problems) assert.ok(p.field !== '', `a set problem names no field: ${formatProblem(p)}`);
    const [a, b] = pair.map((d) => `Cluster/${(d.metadata as { name: string }).name}`);
    assert.ok(
      problems.some((p) => p.involves.includes(a ?? '') && p.involves.includes(b ?? '')),
      `overlapping ${a} and ${b} not refused: ${problems.map(formatProblem).join('; ')}`,
    );
    return Outcome.refused;
  },
});

export const DOCUMENT_PROPERTIES: readonly FuzzProperty[] = [validAccepted, mutated, garbage, yamlValid, yamlHostile, setChecks];
