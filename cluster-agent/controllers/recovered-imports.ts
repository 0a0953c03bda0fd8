// What a restarted agent's cluster still holds of its predecessor's imports: each owned
// ServiceImport read back with its EndpointSlices (imports.ts recoverImport), until the first
// snapshot. The first sync names their digests, so that the hub sends only what differs (ADR
// 0019); those the snapshot keeps become the desired state, the rest go with it.
import { checkName } from '../../controlplane/api/labels.ts';
import { serviceKeyString, type HeldImport, type ImportBatch, type ImportState } from '../../controlplane/api/messages.ts';
import { recoverImport } from '../imports.ts';
import { isOwned, ownedServiceKey, type KubeObject } from '../objects.ts';
import { heldImports } from '../planners/receive.ts';

export class RecoveredImports {
  private recovered = new Map<string, ImportState>();

  get size(): number {
    return this.recovered.size;
  }

  /** Reads back each owned ServiceImport's import from it and its slices; returns how many were. */
  read(owned: readonly KubeObject[]): number {
    const byKey = new Map<string, { serviceImport?: KubeObject; slices: KubeObject[] }>();
    for (const o of owned) {
      const sk = ownedServiceKey(o);
      if (sk === undefined || !isOwned(o) || checkName(sk.namespace) !== undefined || checkName(sk.name) !== undefined) continue;
      const key = serviceKeyString(sk);
      let group = byKey.get(key);
      if (group === undefined) byKey.set(key, (group = { slices: [] }));
      if (o.kind === 'ServiceImport') group.serviceImport = o;
      else if (o.kind === 'EndpointSlice') group.slices.push(o);
    }
    for (const [key, g] of byKey) {
      const state = g.serviceImport === undefined ? undefined : recoverImport(g.serviceImport, g.slices);
      if (state !== undefined) this.recovered.set(key, state);
    }
    return this.recovered.size;
  }

  /** What is held, by digest, for the first sync request; undefined when nothing is, or too many. */
  held(): HeldImport[] | undefined {
    return this.recovered.size > 0 ? heldImports(this.recovered) : undefined;
  }

  /**
   * A snapshot applies over nothing held: the recovered imports it keeps go into `desired` (their
   * count is returned). Either way the recovered imports are done with.
   */
  seedKept(b: ImportBatch, desired: Map<string, ImportState>): number {
    let seeded = 0;
    if (desired.size === 0) {
      for (const k of b.kept ?? []) {
        const key = serviceKeyString(k);
        const state = this.recovered.get(key);
        if (state === undefined) continue;
        desired.set(key, state);
        seeded += 1;
      }
    }
    this.recovered = new Map();
    return seeded;
  }
}
