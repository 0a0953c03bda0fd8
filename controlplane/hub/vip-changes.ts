// What the VIP prefix's watch says, as the service model's VIP changes: every replica follows the
// assignments the leader writes, so that its model (and so its imports and the summaries a
// takeover resumes agents by, ADR 0022) carries the leader's VIPs before it ever leads. Pure.
import { VIPS_PREFIX } from '../api/keys.ts';
import { parseServiceKey } from '../api/messages.ts';
import { parseAssignment } from '../registry/vip-store.ts';
import type { PrefixChange } from './watched.ts';

export interface VipChange {
  readonly namespace: string;
  readonly name: string;
  /** undefined: the service has no VIP any more. */
  readonly vip: string | undefined;
}

/**
 * A deleted assignment is a VIP gone; an unreadable record or key changes nothing (the leader's
 * VIP controller repairs the record; the model keeps what it had).
 */
export function vipChanges(changes: readonly PrefixChange[]): VipChange[] {
  return changes.flatMap((c): VipChange[] => {
    if (!c.key.startsWith(VIPS_PREFIX)) return [];
    const { namespace, name } = parseServiceKey(c.key.slice(VIPS_PREFIX.length));
    if (namespace === '' || name === '') return [];
    if (c.value === undefined) return [{ namespace, name, vip: undefined }];
    const ip = parseAssignment(c.key, c.value)?.ip;
    return ip === undefined ? [] : [{ namespace, name, vip: ip }];
  });
}
