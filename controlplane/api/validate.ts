// Turns untrusted input (YAML or JSON text, or parsed objects) into validated resources, or into
// problems that name the file, the document, the field, the value received and what was expected.
import { Composer, LineCounter, Parser } from 'yaml';
import type { z } from 'zod';
import type { Problem } from './errors.ts';
import { MAX_NESTING_DEPTH, MAX_YAML_ALIASES, tooDeep } from './input-limits.ts';
import { API_VERSION, isKind, KINDS, ALL_KINDS, RESERVED_CLUSTER_NAME } from './kinds.ts';
import { metadataSchema, SPEC_SCHEMAS, type Resource } from './resources.ts';

/** Where a document came from, carried into every problem about it. */
export interface Source {
  readonly file?: string;
  /** 1-based index within the file or request. */
  readonly document?: number;
  /** Path prefix inside the document, for items of a `List`. */
  readonly path?: string;
}

export interface RawDocument {
  readonly source: Source;
  readonly object: unknown;
}

export type Validated<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: Problem[] };

/** Max documents in one request or directory; etcd's transaction limit is set above this. */
export const MAX_DOCUMENTS = 5000;

/**
 * Splits YAML (or JSON, which is YAML) into documents. Syntax errors are reported with line and
 * column; empty documents (a trailing `---`) are skipped; `kind: List` is expanded into its items.
 * Documents are composed one at a time, so a file of more than MAX_DOCUMENTS is refused before
 * the rest of it is built; aliases and nesting are bounded (input-limits.ts).
 */
export function parseYamlDocuments(text: string, file?: string): Validated<RawDocument[]> {
  const lineCounter = new LineCounter();
  const parser = new Parser(lineCounter.addNewLine);
  // logLevel 'error': the yaml library would print a process warning per complex map key, so a
  // client could write to the hub's stderr; such keys become strings that validation then refuses.
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  const problems: Problem[] = [];
  const out: RawDocument[] = [];
  const where = (index: number): Source => ({ ...(file !== undefined ? { file } : {}), document: index });
  let index = 0;
  for (const doc of composer.compose(parser.parse(text))) {
    index += 1;
    const base = where(index);
    if (index > MAX_DOCUMENTS) {
      problems.push({ ...base, field: '', message: `more than ${MAX_DOCUMENTS} documents; split the input` });
      break;
    }
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      const reason = err.message.startsWith('Maximum call stack')
        ? `nested too deeply (at most ${MAX_NESTING_DEPTH} levels)`
        : (err.message.split('\n')[0] ?? err.code);
      problems.push({ ...base, field: '', message: `malformed YAML at line ${pos.line}, column ${pos.col}: ${reason}` });
    }
    if (doc.errors.length > 0) continue;
    let object: unknown;
    try {
      object = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      // Unresolved aliases and alias bombs ("Excessive alias count") are input errors.
      problems.push({ ...base, field: '', message: `invalid YAML: ${(err as Error).message.split('\n')[0] ?? 'cannot be read'}` });
      continue;
    }
    if (object === null || object === undefined) continue;
    const items = expandList({ source: base, object });
    if (out.length + items.length > MAX_DOCUMENTS) {
      problems.push({ ...base, field: '', message: `more than ${MAX_DOCUMENTS} documents (List items included); split the input` });
      break;
    }
    out.push(...items);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: out };
}

/** A `List` (what `get -o yaml|json` prints) stands for its items. */
export function expandList(doc: RawDocument): RawDocument[] {
  const o = doc.object;
  if (isRecord(o) && o.kind === 'List' && Array.isArray(o.items)) {
    return o.items.map((item: unknown, j) => ({ source: { ...doc.source, path: `items[${j}]` }, object: item }));
  }
  return [doc];
}

/** Validates one document into a resource with defaults applied and system-owned fields dropped. */
export function validateDocument(doc: RawDocument): Validated<Resource> {
  const { source, object } = doc;
  const at = (field: string, message: string, value?: unknown, extra?: { kind?: string; name?: string }): Problem => ({
    ...(source.file !== undefined ? { file: source.file } : {}),
    ...(source.document !== undefined ? { document: source.document } : {}),
    ...extra,
    field: joinPath(source.path, field),
    message,
    ...(value !== undefined ? { value } : {}),
  });
  // Depth first: nothing below (zod, the echo of a value in a problem, the JSON of the reply) may
  // recurse through a hostile value.
  const deep = tooDeep(object);
  if (deep !== undefined) {
    return { ok: false, problems: [at(deep, `nested more than ${MAX_NESTING_DEPTH} levels deep; no Causeway resource needs that`)] };
  }
  if (!isRecord(object)) {
    const got = Array.isArray(object) ? `a list of ${object.length}` : object;
    return { ok: false, problems: [at('', 'expected a mapping with apiVersion, kind, metadata and spec', got)] };
  }
  const kind = object.kind;
  const name = isRecord(object.metadata) && typeof object.metadata.name === 'string' ? object.metadata.name : undefined;
  const who = { ...(typeof kind === 'string' ? { kind } : {}), ...(name !== undefined ? { name } : {}) };
  const problems: Problem[] = [];
  if (object.apiVersion !== API_VERSION) {
    problems.push(at('apiVersion', `expected "${API_VERSION}"`, object.apiVersion ?? null, who));
  }
  if (!isKind(kind)) {
    const hint = typeof kind === 'string' ? suggest(kind, ALL_KINDS) : '';
    problems.push(at('kind', hint.startsWith(':') ? `unknown kind${hint}` : `expected one of ${ALL_KINDS.join(', ')}`, kind ?? null, who));
    return { ok: false, problems };
  }
  const allowed = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) problems.push(at(key, `unknown field${suggest(key, [...allowed])}`, undefined, who));
  }
  const meta = metadataSchema.safeParse(object.metadata ?? null, { reportInput: true });
  if (!meta.success) problems.push(...issuesToProblems(meta.error.issues, metadataSchema, 'metadata', at, who));
  const specSchema: z.ZodType = SPEC_SCHEMAS[kind];
  const spec = specSchema.safeParse(object.spec ?? null, { reportInput: true });
  if (!spec.success) problems.push(...issuesToProblems(spec.error.issues, specSchema, 'spec', at, who));
  if (meta.success) {
    const info = KINDS[kind];
    if (info.namespaced && meta.data.namespace === undefined) {
      problems.push(at('metadata.namespace', `required: ${kind} belongs to a namespace`, undefined, who));
    }
    if (kind === 'Cluster' && meta.data.name === RESERVED_CLUSTER_NAME) {
      problems.push(at('metadata.name', `"${RESERVED_CLUSTER_NAME}" is reserved: it names the endpoints of ExternalServices`, meta.data.name, who));
    }
    if (!info.namespaced && meta.data.namespace !== undefined) {
      problems.push(at('metadata.namespace', `${kind} is not namespaced; remove metadata.namespace`, meta.data.namespace, who));
    }
  }
  if (problems.length > 0 || !meta.success || !spec.success) return { ok: false, problems };
  const { uid: _uid, generation: _g, creationTimestamp: _c, ...metadata } = meta.data;
  return { ok: true, value: { apiVersion: API_VERSION, kind, metadata, spec: spec.data } as Resource };
}

/** Validates many documents; every problem of every document is reported at once. */
export function validateDocuments(docs: readonly RawDocument[]): Validated<{ resource: Resource; source: Source }[]> {
  const problems: Problem[] = [];
  const out: { resource: Resource; source: Source }[] = [];
  if (docs.length > MAX_DOCUMENTS) {
    return { ok: false, problems: [{ field: '', message: `at most ${MAX_DOCUMENTS} documents per apply (got ${docs.length})` }] };
  }
  for (const doc of docs) {
    const v = validateDocument(doc);
    if (v.ok) out.push({ resource: v.value, source: doc.source });
    else problems.push(...v.problems);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: out };
}

// ---- zod issues into problems --------------------------------------------------------------

type At = (field: string, message: string, value?: unknown, extra?: { kind?: string; name?: string }) => Problem;

function issuesToProblems(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, root: string, at: At, who: { kind?: string; name?: string }): Problem[] {
  // zod runs a field's checks even after its type was wrong ("too big" for a string where a list
  // was expected): the type is all there is to say about such a field.
  const wrongType = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => i.path.map(String).join('.')));
  const relevant = issues.filter((i) => i.code === 'invalid_type' || !wrongType.has(i.path.map(String).join('.')));
  return relevant.flatMap((issue): Problem[] => {
    const path = [root, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      return issue.keys.map((k) => at(formatPath([...path, k]), `unknown field${suggest(k, known)}`, undefined, who));
    }
    // A check on a whole object reports the object as its input; only values are worth echoing.
    const input = 'input' in issue ? issue.input : undefined;
    const shown = input !== null && typeof input === 'object' && !Array.isArray(input) ? undefined : input;
    return [at(formatPath(path), describeIssue(issue), shown, who)];
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined || issue.input === null ? `required: expected ${issue.expected}` : `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `expected at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`
        : issue.origin === 'string'
          ? issue.message.startsWith('Too small')
            ? 'must not be empty'
            : issue.message
          : `expected a number >= ${issue.minimum}`;
    case 'too_big':
      // A limit with its own message (one that names where the limit is documented) says it itself.
      if (!issue.message.startsWith('Too big')) return issue.message;
      return issue.origin === 'array'
        ? `expected at most ${issue.maximum} items`
        : issue.origin === 'string'
          ? `must be at most ${issue.maximum} characters`
          : `expected a number <= ${issue.maximum}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_format':
    case 'invalid_key':
    case 'invalid_union':
    case 'not_multiple_of':
    case 'unrecognized_keys':
      return issue.message;
  }
}

/** The field names a strict object at `path` inside `schema` accepts, for "did you mean". */
function knownKeys(schema: unknown, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  for (const step of [...path, undefined]) {
    s = unwrap(s);
    if (step === undefined) break;
    if (typeof step === 'number') s = isRecord(s) && 'element' in s ? s.element : undefined;
    else s = isRecord(s) && isRecord(s.shape) ? s.shape[String(step)] : undefined;
  }
  return isRecord(s) && isRecord(s.shape) ? Object.keys(s.shape) : [];
}

function unwrap(s: unknown): unknown {
  for (let i = 0; i < 10 && isRecord(s); i++) {
    const def = isRecord(s.def) ? s.def : undefined;
    if (def?.type === 'optional' || def?.type === 'default' || def?.type === 'nullable') s = def.innerType;
    else if (def?.type === 'pipe') s = def.in;
    else break;
  }
  return s;
}

function suggest(word: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))) return `: did you mean "${best}"?`;
  return known.length > 0 ? `; expected one of ${known.join(', ')}` : '';
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

function joinPath(prefix: string | undefined, field: string): string {
  if (prefix === undefined) return field;
  return field === '' ? prefix : `${prefix}.${field}`;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
