// How a resource is stored: JSON without its resourceVersion, which is the key's etcd revision
// and is put back on read.
import type { Resource } from '../api/resources.ts';

export function stripVersion(r: Resource): Resource {
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  return { ...r, metadata };
}

export function encodeObject(r: Resource): string {
  return JSON.stringify(stripVersion(r));
}

export function decodeObject(value: string, modRevision: number): Resource {
  const r = JSON.parse(value) as Resource;
  return { ...r, metadata: { ...r.metadata, resourceVersion: String(modRevision) } };
}
