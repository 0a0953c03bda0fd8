// The objects the import side wrote or adopted, indexed by ref and by service key, and the
// fingerprints of the status subresources it wrote. Owned by the import controller; the
// adoption and drift check feed it through ImportController.adopt.
import type { KnownObject } from '../planners/import-plan.ts';

export class KnownObjects {
  private readonly byId = new Map<string, KnownObject>();
  private readonly byKey = new Map<string, Map<string, KnownObject>>();
  /** Status subresources we wrote (ServiceImport and ServiceExport), by ref: fingerprint. */
  readonly statusApplied = new Map<string, string>();

  get(id: string): KnownObject | undefined {
    return this.byId.get(id);
  }

  /** The known objects of one service key, by id. */
  ofKey(key: string): ReadonlyMap<string, KnownObject> {
    return this.byKey.get(key) ?? new Map<string, KnownObject>();
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  entries(): IterableIterator<[string, KnownObject]> {
    return this.byId.entries();
  }

  remember(id: string, kn: KnownObject): void {
    const prev = this.byId.get(id);
    if (prev !== undefined && prev.key !== kn.key) this.unindex(id, prev.key);
    this.byId.set(id, kn);
    let ids = this.byKey.get(kn.key);
    if (ids === undefined) this.byKey.set(kn.key, (ids = new Map<string, KnownObject>()));
    ids.set(id, kn);
  }

  forget(id: string): void {
    const kn = this.byId.get(id);
    if (kn === undefined) return;
    this.byId.delete(id);
    this.unindex(id, kn.key);
    this.statusApplied.delete(id);
  }

  private unindex(id: string, key: string): void {
    const ids = this.byKey.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.byKey.delete(key);
  }
}
