// Deterministic object names: a readable stem and a hash of what the object is for, so the same
// input always yields the same name (unchanged output is byte-identical and not rewritten) and two
// objects never collide on a truncated stem. FNV-1a 64 in plain code: the pure core takes no crypto.

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fnv1a64(text: string): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * FNV_PRIME) & MASK;
  }
  return h;
}

/** `stem-<hash>`, a DNS-1123 label of at most 63 characters. */
export function objectName(stem: string, identity: string): string {
  const hash = fnv1a64(identity).toString(36).padStart(13, '0');
  const clean = stem
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const room = 63 - hash.length - 1;
  const cut = clean.slice(0, room).replace(/-$/, '');
  return cut === '' ? `p-${hash}` : `${cut}-${hash}`;
}

/** Stable JSON: object keys sorted, so equal values serialise to equal strings. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
