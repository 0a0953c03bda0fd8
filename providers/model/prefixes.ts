// Prefix arithmetic the planner needs beyond the contract's CIDR checks (controlplane/api/cidr.ts):
// a total order, host prefixes, exact summarisation of contiguous prefixes, containment. Inputs are
// CIDRs the contract has already validated and normalised.
import { mergeCidr, parseCidr } from 'cidr-tools';
import { checkCidr, cidrContains, ipFamily } from '../../controlplane/api/cidr.ts';
import type { Family } from './model.ts';

export function familyOf(cidr: string): Family {
  return ipFamily(cidr);
}

export function prefixLength(cidr: string): number {
  return Number(cidr.slice(cidr.indexOf('/') + 1));
}

/** IPv4 before IPv6, then by first address, then the wider prefix first. */
export function compareCidrs(a: string, b: string): number {
  if (a === b) return 0;
  const pa = parseCidr(a);
  const pb = parseCidr(b);
  if (pa.version !== pb.version) return pa.version - pb.version;
  if (pa.start !== pb.start) return pa.start < pb.start ? -1 : 1;
  return prefixLength(a) - prefixLength(b);
}

export function sortCidrs(cidrs: Iterable<string>): string[] {
  return [...new Set(cidrs)].sort(compareCidrs);
}

/** `10.0.0.7` → `10.0.0.7/32`, `fd00::7` → `fd00::7/128` (normalised). */
export function hostPrefix(ip: string): string {
  const c = checkCidr(`${ip}/${ipFamily(ip) === 4 ? 32 : 128}`);
  if (!c.ok) throw new Error(`not an address: ${ip}`);
  return c.cidr;
}

/**
 * The fewest prefixes covering exactly the given ones: contiguous and nested prefixes merge into
 * their common supernet only when it adds no address that was not already covered, so a summary
 * never routes anything the inputs did not.
 */
export function summarise(cidrs: Iterable<string>): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const c of cidrs) (familyOf(c) === 4 ? v4 : v6).push(c);
  const merged = [...(v4.length > 0 ? mergeCidr(v4) : []), ...(v6.length > 0 ? mergeCidr(v6) : [])];
  return sortCidrs(merged.map((c) => (c.includes('/') ? c : hostPrefix(c))));
}

/** True when `outer` holds every address of `inner` (same family). */
export function covers(outer: string, inner: string): boolean {
  return cidrContains(outer, inner);
}
