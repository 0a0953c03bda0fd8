// Packing by size: the one way a list is split into messages under a byte budget (agent reports,
// hub import batches and snapshots). Order is kept; an item larger than the budget on its own
// gets a part of its own (the caller decides whether such a part may be sent).

export interface PackLimits {
  /** Bytes per part, counting each item's size plus one for its separator. */
  readonly maxBytes: number;
  /** Items per part; default unlimited. */
  readonly maxItems?: number;
  /** Bytes every part starts with (envelope, fixed fields). Default 0. */
  readonly baseBytes?: number;
}

/** Splits `items` into consecutive parts; always returns at least one (possibly empty) part. */
export function packBySize<T>(items: readonly T[], sizeOf: (item: T) => number, limits: PackLimits): T[][] {
  const maxItems = limits.maxItems ?? Number.POSITIVE_INFINITY;
  const base = limits.baseBytes ?? 0;
  const parts: T[][] = [[]];
  let bytes = base;
  for (const item of items) {
    const size = sizeOf(item) + 1;
    let last = parts[parts.length - 1] ?? [];
    if (last.length > 0 && (bytes + size > limits.maxBytes || last.length >= maxItems)) {
      last = [];
      parts.push(last);
      bytes = base;
    }
    last.push(item);
    bytes += size;
  }
  return parts;
}
