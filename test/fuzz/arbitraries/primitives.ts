// Generators of the small values every Causeway document and message is made of: DNS-1123 names,
// label keys and values, IP addresses and CIDRs (valid, special and overlapping), and hostile
// values (wrong types, huge strings, deep nesting, prototype keys, control characters).
import fc from 'fast-check';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const chars = (alphabet: string): fc.Arbitrary<string> => fc.constantFrom(...alphabet.split(''));

/** A DNS-1123 label (what checkName accepts): at most 63 of a-z, 0-9 and "-", no "-" at either end. */
export const dnsLabel: fc.Arbitrary<string> = fc
  .tuple(chars(LOWER + DIGITS), fc.string({ unit: chars(`${LOWER}${DIGITS}-`), maxLength: 20 }), chars(LOWER + DIGITS), fc.nat({ max: 20 }))
  .map(([a, mid, z, long]) => (long === 0 ? `${a}${'x'.repeat(61)}${z}` : mid === '' && long % 2 === 0 ? a : `${a}${mid}${z}`));

/** A name from a small pool, so that generated writes hit the same objects again (updates, conflicts). */
export const pooledName = (prefix: string): fc.Arbitrary<string> => fc.nat({ max: 5 }).map((i) => `${prefix}-${i}`);

const labelNameChar = chars(`${LOWER}ABCXYZ${DIGITS}-_.`);
const labelName: fc.Arbitrary<string> = fc
  .tuple(chars(LOWER + DIGITS + 'AZ'), fc.string({ unit: labelNameChar, maxLength: 12 }), chars(LOWER + DIGITS))
  .map(([a, mid, z]) => (mid === '' ? a : `${a}${mid}${z}`));

/** A label key, with an optional DNS-subdomain prefix (`example.com/gpu`). */
export const labelKey: fc.Arbitrary<string> = fc
  .tuple(fc.option(fc.array(dnsLabel, { minLength: 1, maxLength: 3 }), { nil: undefined }), labelName)
  .map(([prefix, name]) => (prefix === undefined ? name : `${prefix.join('.')}/${name}`));

/** A label value: empty, or a label name; includes strings YAML would read as other types. */
export const labelValue: fc.Arbitrary<string> = fc.oneof(
  labelName,
  fc.constantFrom('', 'true', 'false', 'yes', 'no', 'null', '1', '0123', '1e3', '1.5', '0x1F', '0o17', 'NaN', 'inf', 'on', 'Off', '12-01-2026'),
);

export const labels: fc.Arbitrary<Record<string, string>> = fc.dictionary(labelKey, labelValue, { maxKeys: 4 });

// ---- addresses -------------------------------------------------------------------------------

const octet = fc.nat({ max: 255 });

/** An IPv4 address that is none of the special ranges (cidr.ts SPECIAL_RANGES). */
export const ordinaryIpv4: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1, max: 223 }), octet, octet, octet)
  .filter(([a, b]) => a !== 127 && !(a === 169 && b === 254))
  .map((o) => o.join('.'));

/** A unique-local IPv6 address (fd00::/8), never special, in full or compressed form. */
export const ordinaryIpv6: fc.Arbitrary<string> = fc
  .tuple(fc.array(fc.nat({ max: 0xffff }), { minLength: 7, maxLength: 7 }), fc.boolean())
  .map(([groups, compress]) => {
    const hex = ['fd00', ...groups.map((g) => g.toString(16))];
    return compress ? `fd00::${hex.slice(5).join(':')}` : hex.join(':');
  });

export const ordinaryIp: fc.Arbitrary<string> = fc.oneof(ordinaryIpv4, ordinaryIpv6);

/** Addresses no endpoint may have, in the spellings an attacker would try. */
export const specialIp: fc.Arbitrary<string> = fc.constantFrom(
  '127.0.0.1',
  '127.255.255.254',
  '0.0.0.0',
  '169.254.169.254',
  '224.0.0.1',
  '239.255.255.250',
  '255.255.255.255',
  '240.0.0.1',
  '::',
  '::1',
  '0:0:0:0:0:0:0:1',
  'fe80::1',
  'FE80::abcd',
  'ff02::1',
  '::ffff:10.0.0.1',
  '::ffff:127.0.0.1',
);

/** Strings that look like addresses and are not. */
export const notAnIp: fc.Arbitrary<string> = fc.constantFrom(
  '10.0.0.256',
  '10.0.0',
  '10.0.0.1/32',
  '1.2.3.4.5',
  'fd00:::1',
  '::g',
  ' 10.0.0.1',
  '010.0.0.1',
  'localhost',
  '',
);

function ipv4ToString(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
}

function ipv6ToString(n: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

/** A CIDR with no host bits set (valid), of the given family; prefix lengths kept realistic. */
export function cidr(family: 4 | 6): fc.Arbitrary<string> {
  const bits = family === 4 ? 32 : 128;
  return fc.tuple(fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }), fc.integer({ min: family === 4 ? 8 : 16, max: bits })).map(([n, prefix]) => {
    const host = BigInt(bits - prefix);
    const base = family === 4 ? n & ~((1n << host) - 1n) & 0xffffffffn : n & ~((1n << host) - 1n);
    return `${family === 4 ? ipv4ToString(base) : ipv6ToString(base)}/${prefix}`;
  });
}

export const anyCidr: fc.Arbitrary<string> = fc.oneof(cidr(4), cidr(6));

/** Strings a user might take for a CIDR: host bits set, no mask, out-of-range octets and masks. */
export const badCidr: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('10.0.0.1/8', '10.0.0.0', '10.256.0.0/16', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/08', '/16', '10.0.0.0/', 'fd00::1/64'),
  ordinaryIp,
  fc.string({ maxLength: 20 }),
);

/** Two CIDRs of one family that overlap: the second inside the first. */
export const overlappingCidrs: fc.Arbitrary<[string, string]> = fc.constantFrom<[string, string]>(
  ['10.0.0.0/8', '10.1.0.0/16'],
  ['10.1.0.0/16', '10.1.0.0/16'],
  ['172.16.0.0/12', '172.20.0.0/14'],
  ['fd00::/8', 'fd00:1::/32'],
  ['0.0.0.0/0', '192.168.0.0/24'],
);

// ---- hostile values --------------------------------------------------------------------------

/**
 * `depth` nested arrays or objects around a leaf, built without recursion. fast-check prints a
 * counterexample recursively, which overflows on such a value: it prints this one as a summary.
 */
export function nested(depth: number, asObject: boolean): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  Object.defineProperty(v, fc.toStringMethod, { value: () => `<${depth} nested ${asObject ? 'objects' : 'arrays'}>`, enumerable: false });
  return v;
}

/** What nobody should send in a field: every JSON type, huge and odd strings, deep nesting. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, '', ' ', [], {}, [null], { '': '' }), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc.constantFrom('\u001b[31mred\u001b[0m', '\u0000', 'a\nb: c', '*alias', '&anchor', '!!binary', '{{', '${HOME}', '../../etc', '%00'),
    weight: 2,
  },
  { arbitrary: fc.integer({ min: 10, max: 18 }).map((k) => 'x'.repeat(2 ** k)), weight: 1 },
  // At most 2,048 levels: JSON.stringify, with which the HTTP tier sends documents, overflows
  // near 5,000. Deeper values come from deepDocument (pure tier) and as text (http.ts).
  { arbitrary: fc.tuple(fc.integer({ min: 4, max: 11 }), fc.boolean()).map(([k, o]) => nested(2 ** k, o)), weight: 1 },
  { arbitrary: fc.constantFrom(JSON.parse('{"__proto__": {"polluted": true}}') as unknown, { constructor: { prototype: {} } }, { toString: 1 }), weight: 1 },
  { arbitrary: specialIp, weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
);
