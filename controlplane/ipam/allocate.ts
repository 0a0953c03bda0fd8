// The hub's address allocator, pure: given a pool's CIDRs and the ranges already taken, find the
// first free aligned block of a given size. The registry calls it inside its serialised write
// transaction, so two hub replicas can never hand out the same block.
import { parseCidr } from 'cidr-tools';
import { stringifyIp } from 'ip-bigint';

export interface Range {
  readonly start: bigint;
  readonly end: bigint;
}

export function rangeOf(cidr: string): Range & { readonly family: 4 | 6 } {
  const p = parseCidr(cidr);
  return { start: p.start, end: p.end, family: p.version };
}

/**
 * The first block of `prefixLength` inside any of `poolCidrs` (of `family`) that overlaps none
 * of `taken`; undefined when the pool is exhausted.
 */
export function allocateBlock(poolCidrs: readonly string[], family: 4 | 6, prefixLength: number, taken: readonly Range[]): string | undefined {
  const bits = family === 4 ? 32 : 128;
  if (prefixLength > bits) return undefined;
  const size = 1n << BigInt(bits - prefixLength);
  const sorted = [...taken].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (const cidr of poolCidrs) {
    const pool = rangeOf(cidr);
    if (pool.family !== family) continue;
    let cur = alignUp(pool.start, size);
    while (cur + size - 1n <= pool.end) {
      const last = cur + size - 1n;
      const conflict = sorted.find((t) => t.start <= last && t.end >= cur);
      if (conflict === undefined) return `${stringifyIp({ number: cur, version: family })}/${prefixLength}`;
      cur = alignUp(conflict.end + 1n, size);
    }
  }
  return undefined;
}

function alignUp(n: bigint, size: bigint): bigint {
  const r = n % size;
  return r === 0n ? n : n + (size - r);
}

/** Default block sizes when a Cluster's spec.ipam does not say. */
export const DEFAULT_PREFIX = {
  pod: { 4: 16, 6: 64 },
  service: { 4: 20, 6: 112 },
} as const;
