// The pieces every Causeway NATS message is made of (messages.ts is the stable API that
// re-exports them): the protocol version and size bounds, service keys, shared field schemas and
// the agent envelope.
import { z } from 'zod';
import { isIpAddress } from './cidr.ts';
import { nameSchema } from './resources.ts';

export const PROTOCOL_VERSION = 1;

/** Below nats-server's default max_payload (1 MiB), with room for headers. */
export const MAX_MESSAGE_BYTES = 900 * 1024;

/** EndpointSlices carry at most this many endpoints (Kubernetes' own default). */
export const MAX_ENDPOINTS_PER_SLICE = 100;

export interface ServiceKey {
  readonly namespace: string;
  readonly name: string;
}

export function serviceKeyString(k: ServiceKey): string {
  return `${k.namespace}/${k.name}`;
}

/** The inverse of serviceKeyString: "ns/name" → { namespace, name } (names cannot contain "/"). */
export function parseServiceKey(s: string): ServiceKey {
  const slash = s.indexOf('/');
  return slash < 0 ? { namespace: '', name: s } : { namespace: s.slice(0, slash), name: s.slice(slash + 1) };
}

// ---- shared pieces -------------------------------------------------------------------------------

export const ipSchema = z.string().max(64).refine(isIpAddress, 'expected an IPv4 or IPv6 address');
export const shortString = z.string().min(1).max(253);
export const labelMapSchema = z.record(z.string().max(317), z.string().max(63)).refine((m) => Object.keys(m).length <= 64, 'at most 64 labels');
/** Exported annotations (ServiceExport.spec.exportedAnnotations): keys as labels have them, values up to 4 KiB. */
export const annotationMapSchema = z.record(z.string().max(317), z.string().max(4096)).refine((m) => Object.keys(m).length <= 64, 'at most 64 annotations');

export const servicePortSchema = z.object({
  name: z.string().max(63).optional(),
  port: z.int().min(1).max(65_535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']),
  appProtocol: z.string().max(253).optional(),
});
export type ServicePort = z.output<typeof servicePortSchema>;

export const ServiceType = { ClusterSetIP: 'ClusterSetIP', Headless: 'Headless' } as const;
export type ServiceType = (typeof ServiceType)[keyof typeof ServiceType];

/** core/v1 SessionAffinityConfig, as Services and MCS ServiceImports carry it (only with ClientIP affinity). */
export const sessionAffinityConfigSchema = z.object({
  clientIP: z.object({ timeoutSeconds: z.int().min(1).max(86_400).optional() }).optional(),
});
export type SessionAffinityConfig = z.output<typeof sessionAffinityConfigSchema>;

/** core/v1 Service.spec.internalTrafficPolicy. */
export const internalTrafficPolicySchema = z.enum(['Cluster', 'Local']);
export type InternalTrafficPolicy = z.output<typeof internalTrafficPolicySchema>;

/**
 * core/v1 Service.spec.trafficDistribution: a hint whose values Kubernetes keeps adding to
 * (PreferClose, PreferSameZone, PreferSameNode), so any short string is carried as is.
 */
export const trafficDistributionSchema = z.string().min(1).max(63);

/** One endpoint as EndpointSlices describe it (discovery.k8s.io/v1 conditions). */
export const endpointSchema = z.object({
  addresses: z.array(ipSchema).min(1).max(16),
  ready: z.boolean(),
  serving: z.boolean(),
  terminating: z.boolean(),
  hostname: z.string().max(63).optional(),
  nodeName: shortString.optional(),
  zone: shortString.optional(),
  /** Node labels worth routing on, e.g. the GPU class; agents pick which to report. */
  labels: labelMapSchema.optional(),
});
export type Endpoint = z.output<typeof endpointSchema>;

/** What every agent message starts with: protocol version, cluster, agent session. */
export const agentEnvelope = {
  v: z.literal(PROTOCOL_VERSION),
  cluster: nameSchema,
  /** Random per agent process; with a report's seq it lets the hub drop replays and stale retries. */
  session: z.string().min(8).max(64),
};

/**
 * One import a receiver holds, named by its content digest (api/import-digest.ts): what an agent
 * says it holds when it asks to sync, and what a snapshot tells it to keep.
 */
export const heldImportSchema = z.object({
  namespace: nameSchema,
  name: nameSchema,
  digest: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected a digest of 8 to 64 base64url characters'),
});
export type HeldImport = z.output<typeof heldImportSchema>;

/**
 * A hub's digest of a consumer's whole import state (ImportBatch.summary, Heartbeat.holds): what
 * the agent names back so that a new leader can check, without asking, that it holds what the
 * leader's model says it does.
 */
export const summarySchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected a summary of 8 to 64 base64url characters');

/** Bound on the imports a sync request names; an agent holding more asks for a whole snapshot. */
export const MAX_HELD_IMPORTS = 10_000;
