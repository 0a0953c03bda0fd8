// Everything a test starts registers how to stop it here; the root hook stops whatever a test
// forgot, so that a run never leaves a process behind.
type Stopper = () => Promise<void>;
const stoppers = new Set<Stopper>();

export function onCleanup(stop: Stopper): () => void {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

export async function cleanupAll(): Promise<void> {
  const all = [...stoppers].reverse();
  stoppers.clear();
  for (const stop of all) await stop().catch(() => undefined);
}

/**
 * What one harness starts, stopped once in reverse order — by `stop`, or by the root hook if the
 * test never calls it. `stops` is the list to add to (in start order).
 */
export function stopStack(first: readonly Stopper[] = []): { readonly stops: Stopper[]; readonly stop: () => Promise<void> } {
  const stops: Stopper[] = [...first];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unregister();
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  const unregister = onCleanup(stop);
  return { stops, stop };
}
