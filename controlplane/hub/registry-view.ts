// A live, decoded copy of the declared resources (watch-fed), for controllers that react to
// clusters, networks, pools and external services coming and going.
import { OBJECTS_PREFIX, parseObjectKey, refString } from '../api/keys.ts';
import type { Kind } from '../api/kinds.ts';
import type { ClusterResource, ExternalServiceResource, IPPoolResource, NetworkResource, Resource } from '../api/resources.ts';
import type { WatchedPrefix } from './watched.ts';

export interface ResourceChange {
  readonly ref: string;
  readonly kind: Kind;
  readonly before: Resource | undefined;
  readonly after: Resource | undefined;
}

export class RegistryView {
  private readonly objects = new Map<string, Resource>();
  /** Per kind, so that "every cluster" does not walk every object. */
  private readonly byKind = new Map<Kind, Map<string, Resource>>();
  private readonly listeners: ((changes: readonly ResourceChange[], revision: number) => void)[] = [];

  constructor(watched: WatchedPrefix) {
    watched.onChange((changes, revision) => {
      const out: ResourceChange[] = [];
      for (const c of changes) {
        const ref = parseObjectKey(c.key);
        if (ref === undefined || !c.key.startsWith(OBJECTS_PREFIX)) continue;
        const key = refString(ref);
        const before = this.objects.get(key);
        let after: Resource | undefined;
        if (c.value !== undefined) {
          try {
            const r = JSON.parse(c.value) as Resource;
            after = { ...r, metadata: { ...r.metadata, resourceVersion: String(c.modRevision) } };
          } catch {
            continue;
          }
          this.objects.set(key, after);
          this.kindMap(ref.kind).set(key, after);
        } else {
          this.objects.delete(key);
          this.kindMap(ref.kind).delete(key);
        }
        out.push({ ref: key, kind: ref.kind, before, after });
      }
      if (out.length > 0) for (const l of this.listeners) l(out, revision);
    });
  }

  onChange(listener: (changes: readonly ResourceChange[], revision: number) => void): void {
    this.listeners.push(listener);
  }

  cluster(name: string): ClusterResource | undefined {
    const r = this.objects.get(`Cluster/${name}`);
    return r?.kind === 'Cluster' ? r : undefined;
  }

  clusters(): ClusterResource[] {
    return this.ofKind('Cluster') as ClusterResource[];
  }

  networks(): NetworkResource[] {
    return this.ofKind('Network') as NetworkResource[];
  }

  pools(): IPPoolResource[] {
    return this.ofKind('IPPool') as IPPoolResource[];
  }

  externalServices(): ExternalServiceResource[] {
    return this.ofKind('ExternalService') as ExternalServiceResource[];
  }

  private ofKind(kind: Kind): Resource[] {
    return [...this.kindMap(kind).values()];
  }

  private kindMap(kind: Kind): Map<string, Resource> {
    let m = this.byKind.get(kind);
    if (m === undefined) {
      m = new Map();
      this.byKind.set(kind, m);
    }
    return m;
  }
}
