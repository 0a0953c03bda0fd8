// Limits on the shape of untrusted input, checked before anything recursive (zod, YAML's toJS,
// our own walkers) touches it: a document nested 100,000 levels deep or a file of 150,000 tiny
// documents is refused with a clear problem instead of overflowing the stack or the heap.

/** No Causeway resource comes close: a GlobalPolicy rule is about 8 levels deep. */
export const MAX_NESTING_DEPTH = 32;

/** YAML aliases expanded per document (billion-laughs protection; the yaml library counts them). */
export const MAX_YAML_ALIASES = 100;

/**
 * The first place where `value` nests deeper than `maxDepth` objects/arrays, as a field path, or
 * undefined. Iterative, so that the check itself cannot overflow the stack.
 */
export function tooDeep(value: unknown, maxDepth = MAX_NESTING_DEPTH): string | undefined {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  for (;;) {
    const top = stack.pop();
    if (top === undefined) return undefined;
    const { v, depth, path } = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return path === '' ? '(root)' : path;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i] as unknown, depth: depth + 1, path: `${path}[${i}]` });
    } else {
      for (const [k, child] of Object.entries(v)) stack.push({ v: child, depth: depth + 1, path: path === '' ? k : `${path}.${k}` });
    }
  }
}
