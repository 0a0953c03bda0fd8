// WARNING - STABLE API (part of the wire protocol, messages.ts): endpoint-level changes to an
// import (ImportBatch.patches). The hub sends a consumer that accepts them (AgentFeature
// ImportPatches) the endpoints that changed instead of the whole import: one splice — of the
// held import's endpoints, `remove` starting at `at` are replaced by `insert` — found by trimming
// the endpoints both versions share at the start and the end. An endpoint change costs its own
// bytes to encode, send and decode, not its service's (issue 11). Both directions live here so
// that a property test holds `patchImport(base, diffImport(base, next)) ≡ next`.
import { MAX_PATCH_ENDPOINTS, type ImportPatch, type ImportState } from './hub-messages.ts';
import { jsonEqual } from './json-equal.ts';

type Endpoint = ImportState['endpoints'][number];

/**
 * The patch that turns `base` into `next`, or undefined when there is none worth sending: the
 * import's other fields changed, the splice would carry more than half of `next`'s endpoints (the
 * upsert costs about the same and is simpler to receive), or more than MAX_PATCH_ENDPOINTS.
 * Memoised per (base, next) pair: the service model shares one ImportState among every consumer
 * of a view, so consumers of a view share the diff too.
 */
export function diffImport(base: ImportState, next: ImportState): ImportPatch | undefined {
  let byNext = diffs.get(base);
  if (byNext === undefined) diffs.set(base, (byNext = new WeakMap()));
  const seen = byNext.get(next);
  if (seen !== undefined) return seen === NONE ? undefined : seen;
  const patch = computeDiff(base, next);
  byNext.set(next, patch ?? NONE);
  return patch;
}

const NONE = Symbol('no patch');
const diffs = new WeakMap<ImportState, WeakMap<ImportState, ImportPatch | typeof NONE>>();

function computeDiff(base: ImportState, next: ImportState): ImportPatch | undefined {
  if (!sameShell(base, next)) return undefined;
  const a = base.endpoints;
  const b = next.endpoints;
  let start = 0;
  while (start < a.length && start < b.length && endpointEqual(a[start], b[start])) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && endpointEqual(a[a.length - 1 - end], b[b.length - 1 - end])) end++;
  const insert = b.slice(start, b.length - end);
  if (insert.length > MAX_PATCH_ENDPOINTS || insert.length * 2 > b.length) return undefined;
  return { namespace: next.namespace, name: next.name, count: a.length, at: start, remove: a.length - end - start, insert };
}

/** The held import with the patch's endpoints spliced in; undefined when the patch does not fit it. */
export function patchImport(held: ImportState | undefined, p: ImportPatch): ImportState | undefined {
  if (held === undefined || held.endpoints.length !== p.count || p.at + p.remove > p.count) return undefined;
  const endpoints = held.endpoints.slice(0, p.at);
  for (const e of p.insert) endpoints.push(e);
  for (let i = p.at + p.remove; i < held.endpoints.length; i++) endpoints.push(held.endpoints[i] as Endpoint);
  return { ...held, endpoints };
}

function endpointEqual(x: Endpoint | undefined, y: Endpoint | undefined): boolean {
  return x === y || jsonEqual(x, y);
}

/** Every field but the endpoints is the same. */
function sameShell(a: ImportState, b: ImportState): boolean {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ImportState>) {
    if (k !== 'endpoints' && !jsonEqual(a[k], b[k])) return false;
  }
  return true;
}
