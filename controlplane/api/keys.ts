// WARNING - STABLE API: the etcd key layout. Hubs of different versions share one etcd, and
// upgrades read what older hubs wrote: changing a key here breaks both. Add keys; never move them.
import { KINDS, ALL_KINDS, type Kind } from './kinds.ts';

/** Everything Causeway writes lives under this prefix (a test may nest it in an etcd namespace). */
export const ROOT = '/causeway/v1/';

/** Declared resources: `objects/<plural>/<name>` or `objects/<plural>/<namespace>/<name>`. */
export const OBJECTS_PREFIX = `${ROOT}objects/`;

/**
 * The write head: every registry write is one transaction that compares this key's mod revision
 * and bumps its sequence, so writes are serialised and checks across the whole set stay true.
 */
export const HEAD_KEY = `${ROOT}head`;

/** The audit history, one key per write, keyed by the head's sequence number (zero-padded). */
export const HISTORY_PREFIX = `${ROOT}history/`;

export interface ObjectRef {
  readonly kind: Kind;
  readonly namespace?: string | undefined;
  readonly name: string;
}

export function kindPrefix(kind: Kind): string {
  return `${OBJECTS_PREFIX}${KINDS[kind].plural}/`;
}

export function objectKey(ref: ObjectRef): string {
  return `${kindPrefix(ref.kind)}${ref.namespace !== undefined ? `${ref.namespace}/` : ''}${ref.name}`;
}

export function parseObjectKey(key: string): ObjectRef | undefined {
  if (!key.startsWith(OBJECTS_PREFIX)) return undefined;
  const [plural, ...rest] = key.slice(OBJECTS_PREFIX.length).split('/');
  const kind = ALL_KINDS.find((k) => KINDS[k].plural === plural);
  if (kind === undefined) return undefined;
  if (KINDS[kind].namespaced && rest.length === 2) return { kind, namespace: rest[0], name: rest[1] ?? '' };
  if (!KINDS[kind].namespaced && rest.length === 1) return { kind, name: rest[0] ?? '' };
  return undefined;
}

export function historyKey(seq: number): string {
  return `${HISTORY_PREFIX}${String(seq).padStart(16, '0')}`;
}

/** `Cluster/aws-train`, `ExternalService/inference/llm-db`: how objects are named in messages. */
export function refString(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace !== undefined ? `${ref.namespace}/` : ''}${ref.name}`;
}

export function refOf(resource: { kind: Kind; metadata: { name: string; namespace?: string | undefined } }): ObjectRef {
  return { kind: resource.kind, namespace: resource.metadata.namespace, name: resource.metadata.name };
}

// ---- written by the hub on behalf of agents (not declared, not in the audit history) ----------

/** What each cluster exports: `exports/<cluster>/<namespace>/<name>` → ExportState (messages.ts). */
export const EXPORTS_PREFIX = `${ROOT}exports/`;

export function exportKey(cluster: string, namespace: string, name: string): string {
  return `${EXPORTS_PREFIX}${cluster}/${namespace}/${name}`;
}

export function clusterExportsPrefix(cluster: string): string {
  return `${EXPORTS_PREFIX}${cluster}/`;
}

/** Clusterset VIP assignments: `vips/<namespace>/<name>` → { ip, pool, allocatedAt }. */
export const VIPS_PREFIX = `${ROOT}vips/`;

export function vipKey(namespace: string, name: string): string {
  return `${VIPS_PREFIX}${namespace}/${name}`;
}

/** One claim per VIP address: `vip-claims/<ip>` → { service, releasedAt? } (quarantine). */
export const VIP_CLAIMS_PREFIX = `${ROOT}vip-claims/`;

export function vipClaimKey(ip: string): string {
  return `${VIP_CLAIMS_PREFIX}${ip}`;
}

/** The NATS operator, accounts and revocations (controlplane/identity IdentityState). */
export const IDENTITY_KEY = `${ROOT}identity/nats`;

/** Each cluster's current agent credential: `credentials/<cluster>` → { publicKey, seed, jwt, issuedAt }. */
export const CREDENTIALS_PREFIX = `${ROOT}credentials/`;

export function credentialsKey(cluster: string): string {
  return `${CREDENTIALS_PREFIX}${cluster}`;
}

/** Leader elections among hub replicas (etcd election keys live under this). */
export function leaderElectionKey(name: string): string {
  return `${ROOT}leader/${name}`;
}

/**
 * Routes Causeway created in a provider's route tables (routes cannot be tagged, so ownership is a
 * record kept here): `route-ownership/<domain>/<table>/<destination, URI-encoded>` → RouteRecord
 * (providers/model/ownership.ts). Written by the leader's provider controller only; no lease.
 */
export const ROUTE_OWNERSHIP_PREFIX = `${ROOT}route-ownership/`;

export function routeOwnershipPrefix(domain: string): string {
  return `${ROUTE_OWNERSHIP_PREFIX}${domain}/`;
}

export function routeOwnershipKey(domain: string, table: string, destination: string): string {
  return `${routeOwnershipPrefix(domain)}${encodeURIComponent(table)}/${encodeURIComponent(destination)}`;
}

/**
 * Blocks released by deleted clusters (cluster CIDRs and LoadBalancer blocks), kept out of use for
 * a quarantine: `ipam-releases/<cidr, URI-encoded>` → BlockRelease (ipam/releases.ts). Written
 * only inside the registry's serialised write transaction (the head), like the objects.
 */
export const BLOCK_RELEASES_PREFIX = `${ROOT}ipam-releases/`;

export function blockReleaseKey(cidr: string): string {
  return `${BLOCK_RELEASES_PREFIX}${encodeURIComponent(cidr)}`;
}

/**
 * Report ingestion's state per cluster (controlplane/hub/ingest-plan.ts, docs/adr/0016): the mark
 * (`ingest/<cluster>/mark`, the last report stored per agent session) and one record per part of a
 * full report in progress (`ingest/<cluster>/parts/<index>`). Written by every replica, compare-
 * and-swap on the mark; removed with the cluster.
 */
export const INGEST_PREFIX = `${ROOT}ingest/`;

/** Everything ingestion keeps for one cluster (deleted with it). */
export function clusterIngestPrefix(cluster: string): string {
  return `${INGEST_PREFIX}${cluster}/`;
}

export function ingestMarkKey(cluster: string): string {
  return `${clusterIngestPrefix(cluster)}mark`;
}

export function ingestPartsPrefix(cluster: string): string {
  return `${clusterIngestPrefix(cluster)}parts/`;
}

export function ingestPartKey(cluster: string, index: number): string {
  return `${ingestPartsPrefix(cluster)}${index}`;
}
