// Clusterset VIPs, the decisions: one address per ClusterSetIP global service, from the IPPools of
// use ClusterSetIPs. Pure: what to do is computed here from what is observed (the service's
// assignment, every claim, the pools, the time); the etcd records and the compare-and-swap that
// carry it out live behind the `VipRegistry` port (registry/vip-store.ts).
//
// Records, as the port stores them:
//   vips/<namespace>/<name> → { ip, pool, allocatedAt }   what the service has
//   vip-claims/<ip>         → { service, releasedAt? }    who holds the address (or held it)
// A released address stays claimed, with releasedAt, for a quarantine (default 10 minutes) so that
// clients still holding the old VIP in DNS caches do not reach a different service.
import { parseCidr } from 'cidr-tools';
import { parseIp, stringifyIp } from 'ip-bigint';
import { ConflictError } from '../api/errors.ts';
import { serviceKeyString, type ServiceKey } from '../api/messages.ts';
import type { IPPoolResource } from '../api/resources.ts';

export const DEFAULT_VIP_QUARANTINE_MS = 10 * 60 * 1000;

export interface VipAssignment {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly pool: string;
  readonly allocatedAt: string;
}

export interface VipClaim {
  readonly ip: string;
  /** `namespace/name` of the service that holds or last held the address. */
  readonly service: string;
  /** Set once released; the address is free again `quarantineMs` later. */
  readonly releasedAt?: string;
}

/** Every address of the ClusterSetIPs pools is claimed or still in its release quarantine. */
export class PoolExhaustedError extends ConflictError {
  override readonly name = 'PoolExhaustedError';
}

/** The port the VIP controller allocates through; every call is atomic against other replicas. */
export interface VipRegistry {
  /** The service's VIP, allocated (or moved into the current pools) when it needs one. */
  ensure(service: ServiceKey, pools: readonly IPPoolResource[], now: Date, signal?: AbortSignal): Promise<VipAssignment>;
  /** Frees the service's VIP into quarantine; what it was, or undefined if it had none. */
  release(service: ServiceKey, now: Date, signal?: AbortSignal): Promise<VipAssignment | undefined>;
  /** Current assignments, by namespace/name. */
  list(signal?: AbortSignal): Promise<VipAssignment[]>;
}

/** The addresses of a CIDR worth handing out, as [first, last]. */
export function usableRange(cidr: string): { readonly first: bigint; readonly last: bigint; readonly version: 4 | 6 } {
  const p = parseCidr(cidr);
  const prefix = Number(p.prefix);
  // IPv4: skip the network and broadcast addresses where the block has more than two. IPv6: skip
  // the subnet-router anycast address (RFC 4291), which is the block's first address.
  if (p.version === 4 && prefix <= 30) return { first: p.start + 1n, last: p.end - 1n, version: 4 };
  if (p.version === 6 && prefix <= 126) return { first: p.start + 1n, last: p.end, version: 6 };
  return { first: p.start, last: p.end, version: p.version };
}

/** The pools VIPs come from, in the order they are used (by name). */
export function vipPools(pools: readonly IPPoolResource[]): IPPoolResource[] {
  return pools.filter((p) => p.spec.use === 'ClusterSetIPs').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

function ipNumber(ip: string): { number: bigint; version: 4 | 6 } | undefined {
  try {
    const p = parseIp(ip);
    return { number: p.number, version: p.version };
  } catch {
    return undefined;
  }
}

export function poolContaining(pools: readonly IPPoolResource[], ip: string): IPPoolResource | undefined {
  const n = ipNumber(ip);
  if (n === undefined) return undefined;
  return pools.find((pool) =>
    pool.spec.cidrs.some((c) => {
      const r = usableRange(c);
      return r.version === n.version && r.first <= n.number && n.number <= r.last;
    }),
  );
}

export function quarantinePassed(claim: VipClaim, now: Date, quarantineMs: number): boolean {
  if (claim.releasedAt === undefined) return false;
  const at = Date.parse(claim.releasedAt);
  return !Number.isNaN(at) && at + quarantineMs <= now.getTime();
}

/** What the VIP controller must do for one service, from what the model knows (no I/O yet). */
export type VipAction = 'ensure' | 'release' | 'none';

/**
 * `wanted`: the service exists and is ClusterSetIP. `known`: the VIP the model holds for it. A
 * known VIP inside the current pools needs no round trip; anything else asks the registry.
 */
export function vipAction(wanted: boolean, known: string | undefined, pools: readonly IPPoolResource[]): VipAction {
  if (!wanted) return known === undefined ? 'none' : 'release';
  const usable = vipPools(pools);
  if (usable.length === 0) return 'none';
  return known !== undefined && poolContaining(usable, known) !== undefined ? 'none' : 'ensure';
}

export interface VipObserved {
  readonly service: ServiceKey;
  /** ClusterSetIPs pools, in use order (vipPools). */
  readonly pools: readonly IPPoolResource[];
  readonly current: VipAssignment | undefined;
  /** Every claim, by address. */
  readonly claims: ReadonlyMap<string, VipClaim>;
  readonly now: Date;
  readonly quarantineMs: number;
}

export type VipPlan =
  | { readonly kind: 'keep'; readonly assignment: VipAssignment }
  /** Claim `assignment.ip` for the service; `moved`: its previous address, to release. */
  | { readonly kind: 'assign'; readonly assignment: VipAssignment; readonly moved: string | undefined }
  | { readonly kind: 'exhausted'; readonly error: PoolExhaustedError };

/**
 * The service's VIP given what is observed: its assignment when it is inside a current pool;
 * otherwise its own released address (even inside the quarantine), else the first address (by
 * pool name, then CIDR order) that is unclaimed or whose quarantine has passed. An assignment
 * outside every current pool (the pool shrank) is moved, its old address released.
 */
export function planVip(o: VipObserved): VipPlan {
  const { current, pools } = o;
  if (current !== undefined && (pools.length === 0 || poolContaining(pools, current.ip) !== undefined)) return { kind: 'keep', assignment: current };
  const key = serviceKeyString(o.service);
  if (pools.length === 0) {
    return { kind: 'exhausted', error: new PoolExhaustedError(`no IPPool with use ClusterSetIPs exists to give ${key} a clusterset VIP; declare one`) };
  }
  const pick = pickAddress(o);
  if (pick instanceof PoolExhaustedError) return { kind: 'exhausted', error: pick };
  const assignment: VipAssignment = { ...o.service, ip: pick.ip, pool: pick.pool, allocatedAt: o.now.toISOString() };
  return { kind: 'assign', assignment, moved: current !== undefined && current.ip !== pick.ip ? current.ip : undefined };
}

function pickAddress(o: VipObserved): { ip: string; pool: string } | PoolExhaustedError {
  const key = serviceKeyString(o.service);
  // The service's own address, released and re-ensured within the quarantine, comes back.
  for (const claim of o.claims.values()) {
    if (claim.service !== key || claim.releasedAt === undefined) continue;
    const pool = poolContaining(o.pools, claim.ip);
    if (pool !== undefined) return { ip: claim.ip, pool: pool.metadata.name };
  }
  let held = 0;
  let quarantined = 0;
  let nextFree = Infinity;
  for (const pool of o.pools) {
    for (const cidr of pool.spec.cidrs) {
      const { first, last, version } = usableRange(cidr);
      for (let n = first; n <= last; n++) {
        const ip = stringifyIp({ number: n, version });
        const c = o.claims.get(ip);
        if (c === undefined || quarantinePassed(c, o.now, o.quarantineMs)) return { ip, pool: pool.metadata.name };
        if (c.releasedAt === undefined) held++;
        else {
          quarantined++;
          nextFree = Math.min(nextFree, Date.parse(c.releasedAt) + o.quarantineMs);
        }
      }
    }
  }
  const names = o.pools.map((p) => `"${p.metadata.name}" (${p.spec.cidrs.join(', ')})`).join(', ');
  const wait = quarantined > 0 && Number.isFinite(nextFree) ? `; the first quarantined address is free again at ${new Date(nextFree).toISOString()}` : '';
  return new PoolExhaustedError(
    `no free clusterset VIP for ${key}: IPPool ${names} exhausted (${held} address(es) held, ${quarantined} in release quarantine${wait}); add CIDRs to a ClusterSetIPs pool`,
  );
}

/** Assignments as the service merge takes them: "namespace/name" → VIP. */
export function vipMap(assignments: readonly VipAssignment[]): Map<string, string> {
  return new Map(assignments.map((a) => [serviceKeyString(a), a.ip]));
}
