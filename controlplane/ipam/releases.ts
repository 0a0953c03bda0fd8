// Released address blocks, pure: a block a cluster gave up (deleted, or moved to another pool) stays
// out of use for a quarantine, like a released clusterset VIP (vips.ts), so that routes, BGP
// announcements and DNS answers still pointing at the old holder never reach a new one. The same
// cluster coming back within the quarantine gets its own block again.
import { DEFAULT_VIP_QUARANTINE_MS } from './vips.ts';

/** The same quarantine as clusterset VIPs: 10 minutes unless the hub is told otherwise. */
export const DEFAULT_BLOCK_QUARANTINE_MS = DEFAULT_VIP_QUARANTINE_MS;

export const BlockUse = { pod: 'pod', service: 'service', loadBalancer: 'loadBalancer' } as const;
export type BlockUse = (typeof BlockUse)[keyof typeof BlockUse];

export interface BlockRelease {
  readonly cidr: string;
  readonly pool: string;
  /** The cluster that held it. */
  readonly cluster: string;
  readonly use: BlockUse;
  readonly releasedAt: string;
}

export function inQuarantine(r: BlockRelease, now: Date, quarantineMs: number): boolean {
  const at = Date.parse(r.releasedAt);
  // An unreadable time keeps the block out of use: the safe reading.
  return Number.isNaN(at) || at + quarantineMs > now.getTime();
}

/** A stored release record, or undefined when it is not one (then ignored, and swept). */
export function parseRelease(value: string): BlockRelease | undefined {
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    const { cidr, pool, cluster, use, releasedAt } = v;
    if (typeof cidr !== 'string' || typeof pool !== 'string' || typeof cluster !== 'string' || typeof releasedAt !== 'string') return undefined;
    if (use !== 'pod' && use !== 'service' && use !== 'loadBalancer') return undefined;
    return { cidr, pool, cluster, use, releasedAt };
  } catch {
    return undefined;
  }
}
