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
