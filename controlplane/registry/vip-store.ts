// Clusterset VIPs in etcd: the VipRegistry port (ipam/vips.ts) over the Store. Two records per
// assignment, written together in one transaction (layout in ipam/vips.ts). A claim is created
// only with a create-only compare (mod revision 0), or by comparing the mod revision of the
// released claim it replaces, so two hub replicas allocating at once can never hand out the same
// address: the loser's transaction fails, it rereads and plans again. What to write is decided by
// the pure planner (planVip); this module only reads, compares and retries.
import { UnavailableError } from '../api/errors.ts';
import { VIPS_PREFIX, VIP_CLAIMS_PREFIX, vipClaimKey, vipKey } from '../api/keys.ts';
import { parseServiceKey, serviceKeyString, type ServiceKey } from '../api/messages.ts';
import type { IPPoolResource } from '../api/resources.ts';
import { DEFAULT_VIP_QUARANTINE_MS, planVip, quarantinePassed, vipPools, type VipAssignment, type VipClaim, type VipRegistry } from '../ipam/vips.ts';
import { sleep, SerialQueue } from '../kernel/async.ts';
import { delayFor } from '../kernel/backoff.ts';
import type { Compare, Op, Store } from './store.ts';

export interface VipStoreOptions {
  /** How long a released address stays out of use; default 10 minutes. */
  readonly quarantineMs?: number;
  /** Transactions to try before giving up when other writers keep winning; default 25. */
  readonly maxAttempts?: number;
}

/** The claims as last read, with each one's mod revision (what a write compares). */
interface CachedClaims {
  readonly claims: Map<string, VipClaim>;
  readonly revisions: Map<string, number>;
}

/** What a plan that keeps the assignment (no pools to check it against) needs to know of claims. */
const NO_CLAIMS: CachedClaims = { claims: new Map(), revisions: new Map() };

/** Short and jittered, so that two replicas that collided do not collide again in lockstep. */
const COLLISION_BACKOFF = { baseMs: 2, maxMs: 50 };

function parseJson(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A stored assignment (its key under VIPS_PREFIX and its value); undefined when unreadable. */
export function parseAssignment(key: string, value: string): VipAssignment | undefined {
  const v = parseJson(value);
  const { namespace, name } = parseServiceKey(key.slice(VIPS_PREFIX.length));
  if (v === undefined || namespace === '' || name === '') return undefined;
  if (typeof v.ip !== 'string' || typeof v.pool !== 'string' || typeof v.allocatedAt !== 'string') return undefined;
  return { namespace, name, ip: v.ip, pool: v.pool, allocatedAt: v.allocatedAt };
}

function parseClaim(ip: string, value: string): VipClaim {
  const v = parseJson(value);
  // An unreadable claim still holds its address: the safe reading of a record we do not understand.
  const service = typeof v?.service === 'string' ? v.service : '';
  return typeof v?.releasedAt === 'string' ? { ip, service, releasedAt: v.releasedAt } : { ip, service };
}

/**
 * Allocates and releases clusterset VIPs through the Store port. Calls on one instance run one at
 * a time; several instances (hub replicas) may run at once against one etcd.
 */
export class VipStore implements VipRegistry {
  private readonly store: Store;
  private readonly quarantineMs: number;
  private readonly maxAttempts: number;
  /**
   * The claims as last read, refreshed after a failed compare. Being stale is safe: every write
   * compares the claim's mod revision, so a claim we did not know of makes the write fail.
   */
  private claims: CachedClaims | undefined;
  private readonly serial = new SerialQueue();

  constructor(store: Store, options: VipStoreOptions = {}) {
    this.store = store;
    this.quarantineMs = options.quarantineMs ?? DEFAULT_VIP_QUARANTINE_MS;
    this.maxAttempts = options.maxAttempts ?? 25;
  }

  ensure(service: ServiceKey, pools: readonly IPPoolResource[], now: Date, signal?: AbortSignal): Promise<VipAssignment> {
    return this.serial.run(() => this.ensureNow(service, vipPools(pools), now, signal ?? new AbortController().signal));
  }

  release(service: ServiceKey, now: Date, signal?: AbortSignal): Promise<VipAssignment | undefined> {
    return this.serial.run(() => this.releaseNow(service, now, signal ?? new AbortController().signal));
  }

  async list(signal?: AbortSignal): Promise<VipAssignment[]> {
    const { kvs } = await this.store.range(VIPS_PREFIX, signal);
    return kvs.flatMap((kv) => parseAssignment(kv.key, kv.value) ?? []).sort((a, b) => (serviceKeyString(a) < serviceKeyString(b) ? -1 : 1));
  }

  /** Every claim, held or in quarantine. */
  async listClaims(signal?: AbortSignal): Promise<VipClaim[]> {
    const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX, signal);
    return kvs.map((kv) => parseClaim(kv.key.slice(VIP_CLAIMS_PREFIX.length), kv.value));
  }

  /** Deletes released claims whose quarantine has passed; returns how many. Optional tidying. */
  sweep(now: Date, signal?: AbortSignal): Promise<number> {
    return this.serial.run(async () => {
      const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX, signal);
      let removed = 0;
      for (const kv of kvs) {
        const claim = parseClaim(kv.key.slice(VIP_CLAIMS_PREFIX.length), kv.value);
        if (!quarantinePassed(claim, now, this.quarantineMs)) continue;
        const r = await this.store.txn([{ key: kv.key, modRevision: kv.modRevision }], [{ type: 'delete', key: kv.key }], signal);
        if (r.succeeded) removed++;
      }
      this.claims = undefined;
      return removed;
    });
  }

  private async loadClaims(signal: AbortSignal): Promise<CachedClaims> {
    if (this.claims !== undefined) return this.claims;
    const { kvs } = await this.store.range(VIP_CLAIMS_PREFIX, signal);
    const cached: CachedClaims = { claims: new Map(), revisions: new Map() };
    for (const kv of kvs) {
      const ip = kv.key.slice(VIP_CLAIMS_PREFIX.length);
      cached.claims.set(ip, parseClaim(ip, kv.value));
      cached.revisions.set(ip, kv.modRevision);
    }
    this.claims = cached;
    return cached;
  }

  private remember(claim: VipClaim, modRevision: number): void {
    this.claims?.claims.set(claim.ip, claim);
    this.claims?.revisions.set(claim.ip, modRevision);
  }

  private async retryPause(attempt: number, signal: AbortSignal): Promise<void> {
    this.claims = undefined;
    await sleep(delayFor(COLLISION_BACKOFF, attempt), signal);
    if (signal.aborted) throw new UnavailableError('aborted');
  }

  private async ensureNow(service: ServiceKey, pools: readonly IPPoolResource[], now: Date, signal: AbortSignal): Promise<VipAssignment> {
    const key = serviceKeyString(service);
    const assignmentKey = vipKey(service.namespace, service.name);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const current = await this.store.get(assignmentKey, signal);
      // Parsed under the key we asked for: the store's key field is not needed (nor, under an etcd
      // namespace, stripped of it).
      const existing = current === undefined ? undefined : parseAssignment(assignmentKey, current.value);
      const cached = existing !== undefined && pools.length === 0 ? NO_CLAIMS : await this.loadClaims(signal);
      const plan = planVip({ service, pools, current: existing, claims: cached.claims, now, quarantineMs: this.quarantineMs });
      if (plan.kind === 'keep') return plan.assignment;
      if (plan.kind === 'exhausted') throw plan.error;
      const { assignment, moved } = plan;
      const compares: Compare[] = [
        { key: assignmentKey, modRevision: current?.modRevision ?? 0 },
        { key: vipClaimKey(assignment.ip), modRevision: cached.revisions.get(assignment.ip) ?? 0 },
      ];
      const ops: Op[] = [
        { type: 'put', key: assignmentKey, value: JSON.stringify({ ip: assignment.ip, pool: assignment.pool, allocatedAt: assignment.allocatedAt }) },
        { type: 'put', key: vipClaimKey(assignment.ip), value: JSON.stringify({ service: key }) },
      ];
      if (moved !== undefined) {
        const old = await this.store.get(vipClaimKey(moved), signal);
        compares.push({ key: vipClaimKey(moved), modRevision: old?.modRevision ?? 0 });
        ops.push({ type: 'put', key: vipClaimKey(moved), value: JSON.stringify({ service: key, releasedAt: now.toISOString() }) });
      }
      const result = await this.store.txn(compares, ops, signal);
      if (result.succeeded) {
        this.remember({ ip: assignment.ip, service: key }, result.revision);
        if (moved !== undefined) this.remember({ ip: moved, service: key, releasedAt: now.toISOString() }, result.revision);
        return assignment;
      }
      await this.retryPause(attempt, signal);
    }
    throw new UnavailableError(`could not allocate a clusterset VIP for ${key}: ${this.maxAttempts} transactions lost to concurrent writers; retry`);
  }

  private async releaseNow(service: ServiceKey, now: Date, signal: AbortSignal): Promise<VipAssignment | undefined> {
    const key = serviceKeyString(service);
    const assignmentKey = vipKey(service.namespace, service.name);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const current = await this.store.get(assignmentKey, signal);
      if (current === undefined) return undefined;
      const existing = parseAssignment(assignmentKey, current.value);
      const compares: Compare[] = [{ key: assignmentKey, modRevision: current.modRevision }];
      const ops: Op[] = [{ type: 'delete', key: assignmentKey }];
      if (existing !== undefined) {
        const claim = await this.store.get(vipClaimKey(existing.ip), signal);
        compares.push({ key: vipClaimKey(existing.ip), modRevision: claim?.modRevision ?? 0 });
        ops.push({ type: 'put', key: vipClaimKey(existing.ip), value: JSON.stringify({ service: key, releasedAt: now.toISOString() }) });
      }
      const result = await this.store.txn(compares, ops, signal);
      if (result.succeeded) {
        if (existing !== undefined) this.remember({ ip: existing.ip, service: key, releasedAt: now.toISOString() }, result.revision);
        return existing;
      }
      await this.retryPause(attempt, signal);
    }
    throw new UnavailableError(`could not release the clusterset VIP of ${key}: ${this.maxAttempts} transactions lost to concurrent writers; retry`);
  }
}
