// Clusterset VIPs: one address per ClusterSetIP global service, from the IPPools of use
// ClusterSetIPs. Two records per assignment, written together in one etcd transaction:
//   vips/<namespace>/<name> → { ip, pool, allocatedAt }   what the service has
//   vip-claims/<ip>         → { service, releasedAt? }    who holds the address (or held it)
// A claim is created only with a create-only compare (mod revision 0), or by comparing the mod
// revision of the released claim it replaces, so two hub replicas allocating at once can never
// hand out the same address: the loser's transaction fails, it rereads and tries the next one.
// A released address stays claimed, with releasedAt, for a quarantine (default 10 minutes) so that
// clients still holding the old VIP in DNS caches do not reach a different service.
import { parseCidr } from 'cidr-tools';
import { parseIp, stringifyIp } from 'ip-bigint';
import { ConflictError, UnavailableError } from '../api/errors.ts';
import { VIPS_PREFIX, VIP_CLAIMS_PREFIX, vipClaimKey, vipKey } from '../api/keys.ts';
import { serviceKeyString, type ServiceKey } from '../api/messages.ts';
import type { IPPoolResource } from '../api/resources.ts';
import type { Compare, Op, Store } from '../registry/store.ts';

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

export interface VipAllocatorOptions {
  /** How long a released address stays out of use; default 10 minutes. */
  readonly quarantineMs?: number;
  /** Transactions to try before giving up when other writers keep winning; default 25. */
  readonly maxAttempts?: number;
}

/** Every address of the ClusterSetIPs pools is claimed or still in its release quarantine. */
export class PoolExhaustedError extends ConflictError {
  override readonly name = 'PoolExhaustedError';
}

interface CachedClaim {
  readonly claim: VipClaim;
  readonly modRevision: number;
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

function vipPools(pools: readonly IPPoolResource[]): IPPoolResource[] {
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

function poolContaining(pools: readonly IPPoolResource[], ip: string): IPPoolResource | undefined {
  const n = ipNumber(ip);
  if (n === undefined) return undefined;
  return pools.find((pool) =>
    pool.spec.cidrs.some((c) => {
      const r = usableRange(c);
      return r.version === n.version && r.first <= n.number && n.number <= r.last;
    }),
  );
}

function parseJson(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseAssignment(key: string, value: string): VipAssignment | undefined {
  const v = parseJson(value);
  const [namespace, name] = key.slice(VIPS_PREFIX.length).split('/');
  if (v === undefined || namespace === undefined || name === undefined) return undefined;
  if (typeof v.ip !== 'string' || typeof v.pool !== 'string' || typeof v.allocatedAt !== 'string') return undefined;
  return { namespace, name, ip: v.ip, pool: v.pool, allocatedAt: v.allocatedAt };
}

function parseClaim(ip: string, value: string): VipClaim {
  const v = parseJson(value);
  // An unreadable claim still holds its address: the safe reading of a record we do not understand.
  const service = typeof v?.service === 'string' ? v.service : '';
  return typeof v?.releasedAt === 'string' ? { ip, service, releasedAt: v.releasedAt } : { ip, service };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Allocates and releases clusterset VIPs through the Store port. Calls on one allocator run one at
 * a time; several allocators (hub replicas) may run at once against one etcd.
 */
export class VipAllocator {
  private readonly store: Store;
  private readonly quarantineMs: number;
  private readonly maxAttempts: number;
  /**
   * The claims as last read, refreshed after a failed compare. Being stale is safe: every write
   * compares the claim's mod revision, so a claim we did not know of makes the write fail.
   */
  private claims: Map<string, CachedClaim> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(store: Store, options: VipAllocatorOptions = {}) {
    this.store = store;
    this.quarantineMs = options.quarantineMs ?? DEFAULT_VIP_QUARANTINE_MS;
    this.maxAttempts = options.maxAttempts ?? 25;
  }

  /**
   * The service's VIP, allocated if it has none: the first address of the ClusterSetIPs pools
   * (by pool name, then CIDR order) that is unclaimed or whose quarantine has passed. A service
   * gets its own released address back even inside the quarantine. An assignment outside every
   * current pool (the pool shrank) is moved, and its old address released into quarantine.
   */
  ensure(service: ServiceKey, pools: readonly IPPoolResource[], now: Date): Promise<VipAssignment> {
    return this.serial(() => this.ensureNow(service, vipPools(pools), now));
  }

  /** Frees the service's VIP into quarantine; returns what it was, or undefined if it had none. */
  release(service: ServiceKey, now: Date): Promise<VipAssignment | undefined> {
    return this.serial(() => this.releaseNow(service, now));
  }

  /** Current assignments, by namespace/name. */
  async list(): Promise<VipAssignment[]> {
    const { kvs } = await this.store.range(VIPS_PREFIX);
    return kvs.flatMap((kv) => parseAssignment(kv.key, kv.value) ?? []).sort((a, b) => (serviceKeyString(a) < serviceKeyString(b) ? -1 : 1));
  }

  /** Every claim, held or in quarantine. */
  async listClaims(): Promise<VipClaim[]> {
    const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX);
    return kvs.map((kv) => parseClaim(kv.key.slice(VIP_CLAIMS_PREFIX.length), kv.value));
  }

  /** Deletes released claims whose quarantine has passed; returns how many. Optional tidying. */
  sweep(now: Date): Promise<number> {
    return this.serial(async () => {
      const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX);
      let removed = 0;
      for (const kv of kvs) {
        const claim = parseClaim(kv.key.slice(VIP_CLAIMS_PREFIX.length), kv.value);
        if (!this.quarantinePassed(claim, now)) continue;
        const r = await this.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }]);
        if (r.succeeded) removed++;
      }
      this.claims = undefined;
      return removed;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private quarantinePassed(claim: VipClaim, now: Date): boolean {
    if (claim.releasedAt === undefined) return false;
    const at = Date.parse(claim.releasedAt);
    return !Number.isNaN(at) && at + this.quarantineMs <= now.getTime();
  }

  private async loadClaims(): Promise<Map<string, CachedClaim>> {
    if (this.claims !== undefined) return this.claims;
    const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX);
    const claims = new Map<string, CachedClaim>();
    for (const kv of kvs) {
      const ip = kv.key.slice(VIP_CLAIMS_PREFIX.length);
      claims.set(ip, { claim: parseClaim(ip, kv.value), modRevision: kv.modRevision });
    }
    this.claims = claims;
    return claims;
  }

  private async retryPause(attempt: number): Promise<void> {
    this.claims = undefined;
    // Jitter, so that two replicas that collided do not collide again in lockstep.
    await sleep(Math.floor(Math.random() * Math.min(50, 2 * attempt)));
  }

  private async ensureNow(service: ServiceKey, pools: readonly IPPoolResource[], now: Date): Promise<VipAssignment> {
    const key = serviceKeyString(service);
    const assignmentKey = vipKey(service.namespace, service.name);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = await this.store.get(assignmentKey);
      // Parsed under the key we asked for: the store's key field is not needed (nor, under an etcd
      // namespace, stripped of it).
      const existing = current === undefined ? undefined : parseAssignment(assignmentKey, current.value);
      if (existing !== undefined && (pools.length === 0 || poolContaining(pools, existing.ip) !== undefined)) return existing;
      if (pools.length === 0) {
        throw new PoolExhaustedError(`no IPPool with use ClusterSetIPs exists to give ${key} a clusterset VIP; declare one`);
      }
      const claims = await this.loadClaims();
      const pick = this.pick(key, pools, claims, now);
      const compares: Compare[] = [
        { key: assignmentKey, modRevision: current?.modRevision ?? 0 },
        { key: vipClaimKey(pick.ip), modRevision: claims.get(pick.ip)?.modRevision ?? 0 },
      ];
      const assignment: VipAssignment = { namespace: service.namespace, name: service.name, ip: pick.ip, pool: pick.pool, allocatedAt: now.toISOString() };
      const ops: Op[] = [
        { type: 'put', key: assignmentKey, value: JSON.stringify({ ip: assignment.ip, pool: assignment.pool, allocatedAt: assignment.allocatedAt }) },
        { type: 'put', key: vipClaimKey(pick.ip), value: JSON.stringify({ service: key }) },
      ];
      const moved = existing !== undefined && existing.ip !== pick.ip ? existing.ip : undefined;
      if (moved !== undefined) {
        const old = await this.store.get(vipClaimKey(moved));
        compares.push({ key: vipClaimKey(moved), modRevision: old?.modRevision ?? 0 });
        ops.push({ type: 'put', key: vipClaimKey(moved), value: JSON.stringify({ service: key, releasedAt: now.toISOString() }) });
      }
      const result = await this.store.txn(compares, ops);
      if (result.succeeded) {
        claims.set(pick.ip, { claim: { ip: pick.ip, service: key }, modRevision: result.revision });
        if (moved !== undefined) claims.set(moved, { claim: { ip: moved, service: key, releasedAt: now.toISOString() }, modRevision: result.revision });
        return assignment;
      }
      await this.retryPause(attempt);
    }
    throw new UnavailableError(`could not allocate a clusterset VIP for ${key}: ${this.maxAttempts} transactions lost to concurrent writers; retry`);
  }

  private pick(key: string, pools: readonly IPPoolResource[], claims: ReadonlyMap<string, CachedClaim>, now: Date): { ip: string; pool: string } {
    // The service's own address, released and re-ensured within the quarantine, comes back.
    for (const { claim } of claims.values()) {
      if (claim.service !== key || claim.releasedAt === undefined) continue;
      const pool = poolContaining(pools, claim.ip);
      if (pool !== undefined) return { ip: claim.ip, pool: pool.metadata.name };
    }
    let held = 0;
    let quarantined = 0;
    let nextFree = Infinity;
    for (const pool of pools) {
      for (const cidr of pool.spec.cidrs) {
        const { first, last, version } = usableRange(cidr);
        for (let n = first; n <= last; n++) {
          const ip = stringifyIp({ number: n, version });
          const c = claims.get(ip)?.claim;
          if (c === undefined || this.quarantinePassed(c, now)) return { ip, pool: pool.metadata.name };
          if (c.releasedAt === undefined) held++;
          else {
            quarantined++;
            nextFree = Math.min(nextFree, Date.parse(c.releasedAt) + this.quarantineMs);
          }
        }
      }
    }
    const names = pools.map((p) => `"${p.metadata.name}" (${p.spec.cidrs.join(', ')})`).join(', ');
    const wait = quarantined > 0 && Number.isFinite(nextFree) ? `; the first quarantined address is free again at ${new Date(nextFree).toISOString()}` : '';
    throw new PoolExhaustedError(
      `no free clusterset VIP for ${key}: IPPool ${names} exhausted (${held} address(es) held, ${quarantined} in release quarantine${wait}); add CIDRs to a ClusterSetIPs pool`,
    );
  }

  private async releaseNow(service: ServiceKey, now: Date): Promise<VipAssignment | undefined> {
    const key = serviceKeyString(service);
    const assignmentKey = vipKey(service.namespace, service.name);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = await this.store.get(assignmentKey);
      if (current === undefined) return undefined;
      const existing = parseAssignment(assignmentKey, current.value);
      const compares: Compare[] = [{ key: assignmentKey, modRevision: current.modRevision }];
      const ops: Op[] = [{ type: 'delete', key: assignmentKey }];
      if (existing !== undefined) {
        const claim = await this.store.get(vipClaimKey(existing.ip));
        compares.push({ key: vipClaimKey(existing.ip), modRevision: claim?.modRevision ?? 0 });
        ops.push({ type: 'put', key: vipClaimKey(existing.ip), value: JSON.stringify({ service: key, releasedAt: now.toISOString() }) });
      }
      const result = await this.store.txn(compares, ops);
      if (result.succeeded) {
        if (existing !== undefined)
          this.claims?.set(existing.ip, { claim: { ip: existing.ip, service: key, releasedAt: now.toISOString() }, modRevision: result.revision });
        return existing;
      }
      await this.retryPause(attempt);
    }
    throw new UnavailableError(`could not release the clusterset VIP of ${key}: ${this.maxAttempts} transactions lost to concurrent writers; retry`);
  }
}

/** Assignments as the service merge takes them: "namespace/name" → VIP. */
export function vipMap(assignments: readonly VipAssignment[]): Map<string, string> {
  return new Map(assignments.map((a) => [serviceKeyString(a), a.ip]));
}
