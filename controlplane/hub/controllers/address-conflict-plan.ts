// What the AddressConflict condition of each object must be, pure: from the overlaps the set checks
// find (semantic.ts addressConflicts) and the object's current conditions. An overlap can exist in
// the registry only when a provider adapter observed a range after the objects were written (a
// status write cannot be refused), so the condition says so on both objects until it goes.
import { AddressConditionType, AddressReason, ConditionStatus, type Condition } from '../../api/conditions.ts';
import { refOf, refString } from '../../api/keys.ts';
import type { Resource } from '../../api/resources.ts';
import { addressConflicts } from '../../api/semantic.ts';

/** At most this many overlaps are spelt out in one message; the rest are counted. */
const MAX_LISTED = 3;

/** Per object (refString), the messages of every overlap it is part of. */
export function conflictsByObject(resources: readonly Resource[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of addressConflicts(resources)) {
    for (const ref of new Set(p.involves)) {
      const list = out.get(ref) ?? [];
      list.push(p.message.replace(/; only the ranges of .*$/, ''));
      out.set(ref, list);
    }
  }
  return out;
}

/**
 * The condition to set, or undefined to leave the object's conditions as they are: True while it
 * overlaps; False once an overlap it had has gone; nothing on an object that never had one.
 */
export function addressCondition(current: readonly Condition[], overlaps: readonly string[], now: Date): Condition | undefined {
  const had = current.find((c) => c.type === AddressConditionType.AddressConflict);
  if (overlaps.length === 0) {
    if (had === undefined || had.status === ConditionStatus.False) return undefined;
    return {
      type: AddressConditionType.AddressConflict,
      status: ConditionStatus.False,
      reason: AddressReason.NoOverlap,
      message: 'no address overlap with any other object',
      lastTransitionTime: now.toISOString(),
    };
  }
  const listed = [...overlaps].sort().slice(0, MAX_LISTED).join('; ');
  const more = overlaps.length > MAX_LISTED ? `; and ${overlaps.length - MAX_LISTED} more` : '';
  return {
    type: AddressConditionType.AddressConflict,
    status: ConditionStatus.True,
    reason: AddressReason.Overlap,
    message: `${listed}${more}; move the cluster or pool out of the other Network's ranges (docs/ipam.md)`,
    lastTransitionTime: now.toISOString(),
  };
}

/** The objects whose condition may have to change: those overlapping now, before, or carrying the condition. */
export function affectedObjects(
  resources: readonly Resource[],
  now: ReadonlyMap<string, readonly string[]>,
  before: ReadonlyMap<string, readonly string[]>,
): string[] {
  const keys = new Set([...now.keys(), ...before.keys()]);
  for (const r of resources) {
    if ((r.status?.conditions ?? []).some((c) => c.type === AddressConditionType.AddressConflict && c.status === ConditionStatus.True))
      keys.add(refString(refOf(r)));
  }
  return [...keys].sort();
}
