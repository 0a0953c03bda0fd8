// CIDR parsing, normalisation and overlap for IPv4 and IPv6. Syntax is checked strictly first
// (node's own address parser): the math library alone would read 10.256.0.0/24 as 11.0.0.0/24.
import { isIP, isIPv4 } from 'node:net';
import { containsCidr, normalizeCidr, overlapCidr, parseCidr } from 'cidr-tools';

export type CidrCheck = { readonly ok: true; readonly cidr: string; readonly family: 4 | 6 } | { readonly ok: false; readonly message: string };

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/** Parses `10.0.0.0/16` or `fd00::/64` and returns it normalised, or says what to write instead. */
export function checkCidr(input: string): CidrCheck {
  const slash = input.indexOf('/');
  if (slash < 0) {
    const family = isIP(input);
    if (family === 0) return { ok: false, message: 'expected a CIDR such as "10.0.0.0/16" or "fd00::/64"' };
    const bits = family === 4 ? 32 : 128;
    return { ok: false, message: `CIDR mask is missing: did you mean "${input}/${bits}"?` };
  }
  const address = input.slice(0, slash);
  const prefix = input.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) {
    return { ok: false, message: `"${address}" is not an IPv4 or IPv6 address; expected a CIDR such as "10.0.0.0/16"` };
  }
  const max = family === 4 ? 32 : 128;
  if (!PREFIX.test(prefix) || Number(prefix) > max) {
    return { ok: false, message: `prefix length must be a whole number from 0 to ${max} for IPv${family}` };
  }
  const normalised = normalizeCidr(`${address}/${prefix}`);
  const base = normalizeCidr(address);
  if (parseCidr(normalised).start !== parseCidr(base).start) {
    return { ok: false, message: `host bits are set: did you mean "${normalised}"?` };
  }
  return { ok: true, cidr: normalised, family: family === 4 ? 4 : 6 };
}

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

export function ipFamily(value: string): 4 | 6 {
  return isIPv4(value.split('/')[0] ?? '') ? 4 : 6;
}

/** True when two (already valid) CIDRs share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
  return ipFamily(a) === ipFamily(b) && overlapCidr(a, b);
}

/** True when `outer` contains every address of `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  return ipFamily(outer) === ipFamily(inner) && containsCidr(outer, inner);
}

/** Ranges no endpoint may use across clusters, whatever its cluster declares (RFC 6890 and friends). */
const SPECIAL_RANGES: readonly { readonly cidr: string; readonly what: string }[] = [
  { cidr: '0.0.0.0/8', what: 'unspecified ("this network")' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local (169.254.169.254 is the cloud metadata service)' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved (255.255.255.255 is broadcast)' },
  { cidr: '::/128', what: 'unspecified' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: '::ffff:0:0/96', what: 'IPv4-mapped (write the IPv4 address itself)' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

/** A dotted IPv4 address as a number (the caller knows it is valid). */
function ipv4Number(ip: string): number {
  // By character, not split('.') and Number(): every reported endpoint goes through here.
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

/** A valid IPv4 CIDR as its first address and its size, for arithmetic. */
function ipv4Range(cidr: string): { readonly start: number; readonly size: number } {
  const [address = '', length = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(length));
  return { start: Math.floor(ipv4Number(address) / size) * size, size };
}

/** The IPv4 special ranges as numbers: every reported endpoint is checked against them (hot path). */
const SPECIAL_V4 = SPECIAL_RANGES.filter((r) => !r.cidr.includes(':')).map((r) => ({ ...ipv4Range(r.cidr), what: r.what }));
const SPECIAL_V6 = SPECIAL_RANGES.filter((r) => r.cidr.includes(':'));

/**
 * A test of valid addresses against valid CIDRs, the CIDRs parsed once: IPv4 by arithmetic,
 * IPv6 through cidr-tools. `ranges.some((r) => cidrContains(r, ip))` parsed every range and the
 * address again for each address: ~9 % of a hub's CPU at 1,000 changes/s went to checking
 * reported endpoints that way (bench profile, 1,000 clusters). Exports and pods are checked with it.
 */
export function cidrMatcher(ranges: readonly string[]): (ip: string) => boolean {
  const v4: { readonly start: number; readonly size: number }[] = [];
  const v6: string[] = [];
  for (const r of ranges) {
    if (ipFamily(r) === 6) v6.push(r);
    else v4.push(ipv4Range(r));
  }
  return (ip) => {
    if (!ip.includes(':')) {
      const n = ipv4Number(ip);
      return v4.some((r) => n >= r.start && n < r.start + r.size);
    }
    if (v6.length === 0) return false;
    const host = `${ip}/128`;
    return v6.some((r) => containsCidr(r, host));
  };
}

/** Why `ip` (a valid address) may not be an endpoint, or undefined when it may. */
export function specialAddress(ip: string): string | undefined {
  // Valid, so an address without a colon is IPv4 (isIPv4's pattern was a hot-path cost).
  if (!ip.includes(':')) {
    const n = ipv4Number(ip);
    return SPECIAL_V4.find((r) => n >= r.start && n < r.start + r.size)?.what;
  }
  const host = `${ip}/128`;
  return SPECIAL_V6.find((r) => cidrContains(r.cidr, host))?.what;
}
