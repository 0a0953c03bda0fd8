// WARNING - STABLE API: the messages agents and hubs exchange over NATS (subjects in
// subjects.ts). Agents and hubs of neighbouring versions must understand each other:
// - decoding ignores fields it does not know (every schema here is a plain z.object, which drops
//   unknown keys), so an older hub accepts a newer agent's message and the other way round. One
//   exception on purpose: label selectors (`exportTo`) stay strict, because dropping a selector
//   field a newer peer added could widen who may import a service;
// - add optional fields only; never rename, retype or remove one;
// - bump PROTOCOL_VERSION only with a migration, and keep the golden fixtures of every version
//   under test/fixtures/protocol/ decoding.
//
// Agent → hub:  report (request/reply)  exports of its cluster, full or incremental
//               heartbeat (publish)      liveness, applied revision, agent conditions
//               sync (request/reply)     "send me what changed after revision R" (0: snapshot)
//               settings (request/reply) "send me my cluster's settings" (SettingsRequest)
//               workloads (request/reply) namespaces and pods of its cluster, complete (in parts if large)
//               policy (publish)         "send me my cluster's compiled policy" (PolicyRequest)
// Hub → agent:  report reply             accepted (seq, revision) or refused (reason, message)
//               imports (publish)        deltas of what the cluster must import, per revision
//               settings (publish/reply) the cluster's settings (ClusterSettings), complete each time
//               workloads reply          a report reply (accepted or refused)
//               policy (publish)         the cluster's compiled policy objects (ClusterPolicy), complete each time
//
// Every message goes through its codec (`CODECS` below) both ways. On receipt it is validated like
// API input: malformed, oversized or claiming another cluster is rejected, logged, counted, and
// changes nothing.
import { z } from 'zod';
import { checkCidr, isIpAddress } from './cidr.ts';
import type { Condition } from './conditions.ts';
import { MAX_NESTING_DEPTH, tooDeep } from './input-limits.ts';
import { labelSelectorSchema, nameSchema } from './resources.ts';

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

const ipSchema = z.string().max(64).refine(isIpAddress, 'expected an IPv4 or IPv6 address');
const shortString = z.string().min(1).max(253);
const labelMapSchema = z.record(z.string().max(317), z.string().max(63)).refine((m) => Object.keys(m).length <= 64, 'at most 64 labels');
/** Exported annotations (ServiceExport.spec.exportedAnnotations): keys as labels have them, values up to 4 KiB. */
const annotationMapSchema = z.record(z.string().max(317), z.string().max(4096)).refine((m) => Object.keys(m).length <= 64, 'at most 64 annotations');

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

// ---- agent → hub -----------------------------------------------------------------------------

/** What every agent message starts with: protocol version, cluster, agent session. */
const agentEnvelope = {
  v: z.literal(PROTOCOL_VERSION),
  cluster: nameSchema,
  /** Random per agent process; with a report's seq it lets the hub drop replays and stale retries. */
  session: z.string().min(8).max(64),
};

/** One ServiceExport of the reporting cluster, with the Service's shape and its endpoints. */
export const exportStateSchema = z.object({
  namespace: nameSchema,
  name: nameSchema,
  /** The ServiceExport's creationTimestamp: the oldest export wins a conflict (KEP-1645). */
  exportedAt: z.iso.datetime({ offset: true }),
  type: z.enum(['ClusterSetIP', 'Headless']),
  ports: z.array(servicePortSchema).max(100),
  sessionAffinity: z.enum(['None', 'ClientIP']),
  /** The Service's sessionAffinityConfig (ClientIP affinity only). */
  sessionAffinityConfig: sessionAffinityConfigSchema.optional(),
  internalTrafficPolicy: internalTrafficPolicySchema.optional(),
  trafficDistribution: trafficDistributionSchema.optional(),
  /** ServiceExport.spec.exportedLabels / exportedAnnotations: what the ServiceImports carry. */
  exportedLabels: labelMapSchema.optional(),
  exportedAnnotations: annotationMapSchema.optional(),
  /** Only clusters matching may import it (annotation causeway.dev/export-to on the ServiceExport). */
  exportTo: labelSelectorSchema.optional(),
  endpoints: z.array(endpointSchema).max(5000),
  /**
   * The ports the endpoints listen on (the EndpointSlices' ports: target ports, which differ from
   * the Service's ports as often as not). Consumers' EndpointSlices must carry these.
   */
  endpointPorts: z.array(servicePortSchema).max(100).optional(),
});
export type ExportState = z.output<typeof exportStateSchema>;

export const reportSchema = z.object({
  ...agentEnvelope,
  seq: z.int().min(1),
  /** True: `upserts` is the cluster's complete export set; every other export of it is removed. */
  full: z.boolean(),
  /**
   * A full report too large for one message is sent in parts, in order, each `full: true` with
   * its `part`; the hub removes the exports no part named only once the last part has arrived.
   */
  part: z.object({ index: z.int().min(0), count: z.int().min(1).max(10_000) }).optional(),
  upserts: z.array(exportStateSchema).max(10_000),
  removals: z.array(z.object({ namespace: nameSchema, name: nameSchema })).max(10_000),
});
export type Report = z.output<typeof reportSchema>;

/** The hub's answer to a report: accepted at a registry revision, or refused with a reason. */
export const reportReplySchema = z.union([
  z.object({ ok: z.literal(true), seq: z.int().min(0), revision: z.int().min(0) }),
  z.object({ ok: z.literal(false), reason: z.string().max(63), message: z.string().max(4096) }),
]);
export type ReportReply = z.output<typeof reportReplySchema>;

export const agentConditionSchema = z.object({
  type: z.string().min(1).max(63),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(63),
  message: z.string().max(1024),
});

export const heartbeatSchema = z.object({
  ...agentEnvelope,
  agentVersion: z.string().min(1).max(64),
  /** The import revision the agent has applied to its cluster. */
  appliedRevision: z.int().min(0),
  time: z.iso.datetime({ offset: true }),
  conditions: z.array(agentConditionSchema).max(16).optional(),
  /** The compiled-policy snapshot (ClusterPolicy term and seq) the agent has applied in full. */
  policy: z.object({ term: z.int().min(0), seq: z.int().min(0) }).optional(),
});
export type Heartbeat = z.output<typeof heartbeatSchema>;

export const syncRequestSchema = z.object({
  ...agentEnvelope,
  /** The revision the agent has applied; 0 asks for a snapshot. */
  afterRevision: z.int().min(0),
});
export type SyncRequest = z.output<typeof syncRequestSchema>;

/**
 * An agent asks for its credential's JWT to be signed again before it expires. It names the user
 * key it connects with; the hub answers only for the cluster's current key (a rotated one is revoked).
 */
export const renewRequestSchema = z.object({
  ...agentEnvelope,
  publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'expected a NATS user public key (U...)'),
});
export type RenewRequest = z.output<typeof renewRequestSchema>;

/** The renewed user JWT (never a seed: the agent keeps its own), or why not. */
export const renewReplySchema = z.union([
  z.object({ ok: z.literal(true), jwt: z.string().min(1).max(8192), expiresAt: z.iso.datetime({ offset: true }) }),
  z.object({ ok: z.literal(false), reason: z.string().max(63), message: z.string().max(4096) }),
]);
export type RenewReply = z.output<typeof renewReplySchema>;

/** An agent asks for its cluster's settings: at start, after a reconnect, and on its resync. */
export const settingsRequestSchema = z.object({ ...agentEnvelope });
export type SettingsRequest = z.output<typeof settingsRequestSchema>;

/** Bounds of a workloads report (one message; a cluster's complete set may be several). */
export const MAX_WORKLOAD_NAMESPACES = 10_000;
export const MAX_WORKLOAD_PODS = 20_000;

/** One namespace and its labels: what namespaceSelectors of policies match. */
export const workloadNamespaceSchema = z.object({ name: nameSchema, labels: labelMapSchema });
export type WorkloadNamespace = z.output<typeof workloadNamespaceSchema>;

/** One running pod: only what policy selects on (namespace, labels) and compiles to (its IPs). */
export const workloadPodSchema = z.object({
  namespace: nameSchema,
  name: z.string().min(1).max(253),
  labels: labelMapSchema,
  ips: z.array(ipSchema).min(1).max(2),
});
export type WorkloadPod = z.output<typeof workloadPodSchema>;

/**
 * The reporting cluster's namespaces and pods, always complete (the hub replaces what it held);
 * too large for one message, it is sent in parts, in order, each with `part`, and the hub uses
 * the set only once every part of one `seq` has arrived. `serviceSelectors`: the pod selectors
 * of the Services it exports (`namespace/name`), so that `service` peers select real pods.
 */
export const workloadsSchema = z.object({
  ...agentEnvelope,
  seq: z.int().min(1),
  part: z.object({ index: z.int().min(0), count: z.int().min(1).max(1000) }).optional(),
  namespaces: z.array(workloadNamespaceSchema).max(MAX_WORKLOAD_NAMESPACES),
  pods: z.array(workloadPodSchema).max(MAX_WORKLOAD_PODS),
  /** Service.spec.selector of each exported Service: an equality map, as Services have it. */
  serviceSelectors: z
    .array(z.object({ namespace: nameSchema, name: nameSchema, matchLabels: labelMapSchema }))
    .max(10_000)
    .optional(),
});
export type Workloads = z.output<typeof workloadsSchema>;

/** An agent asks for its cluster's compiled policy: at start, after a reconnect, until a snapshot arrives. */
export const policyRequestSchema = z.object({ ...agentEnvelope });
export type PolicyRequest = z.output<typeof policyRequestSchema>;

// ---- hub → agent -----------------------------------------------------------------------------

const cidrString = z
  .string()
  .max(64)
  .refine((v) => checkCidr(v).ok, 'expected a CIDR such as "10.40.0.0/28"');

/**
 * What the hub says about the receiving cluster itself, complete every time (no deltas): for now
 * its LoadBalancer block, which the agent gives MetalLB as an IPAddressPool. `revision` is the
 * Cluster object's registry revision: an agent keeps the newest it has seen and ignores older ones.
 */
export const clusterSettingsSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cluster: nameSchema,
  revision: z.int().min(0),
  /** Absent: the cluster holds no LoadBalancer block (the agent deletes the pool it wrote). */
  loadBalancer: z.object({ pool: nameSchema, cidrs: z.array(cidrString).min(1).max(2) }).optional(),
});
export type ClusterSettings = z.output<typeof clusterSettingsSchema>;

/** What a consuming cluster must import for one global service. */
export const importStateSchema = z.object({
  namespace: nameSchema,
  name: nameSchema,
  type: z.enum(['ClusterSetIP', 'Headless']),
  ports: z.array(servicePortSchema),
  /** The clusterset VIP for ClusterSetIP services; empty for Headless. */
  ips: z.array(ipSchema),
  sessionAffinity: z.enum(['None', 'ClientIP']),
  sessionAffinityConfig: sessionAffinityConfigSchema.optional(),
  internalTrafficPolicy: internalTrafficPolicySchema.optional(),
  trafficDistribution: trafficDistributionSchema.optional(),
  /** Labels and annotations for the ServiceImport: the exported ones of the winning (oldest) export. */
  labels: labelMapSchema.optional(),
  annotations: annotationMapSchema.optional(),
  /** Per exporting cluster, the ports its endpoints listen on (ExportState.endpointPorts). */
  clusterPorts: z.array(z.object({ cluster: nameSchema, ports: z.array(servicePortSchema) })).optional(),
  /** Clusters whose endpoints are included (available, allowed, reachable), nearest first. */
  clusters: z.array(nameSchema),
  /** An exported endpoint, without its node labels, and with the cluster it comes from. */
  endpoints: z.array(endpointSchema.omit({ labels: true }).extend({ cluster: nameSchema })),
});
export type ImportState = z.output<typeof importStateSchema>;

const conditionSchema = z.object({
  type: z.string().min(1),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().optional(),
});

/** Conditions for one of the receiving cluster's own ServiceExports (Valid, Ready, Conflict). */
export const exportStatusSchema = z.object({
  namespace: nameSchema,
  name: nameSchema,
  conditions: z.array(conditionSchema),
});
export type ExportStatus = z.output<typeof exportStatusSchema> & { conditions: Condition[] };

export const importBatchSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cluster: nameSchema,
  /** snapshot: the complete desired state; delta: changes on top of `fromRevision`. */
  kind: z.enum(['snapshot', 'delta']),
  /** For a delta: the revision it applies on top of. An agent at another revision asks to sync. */
  fromRevision: z.int().min(0),
  /** The revision the cluster is at once this batch (all its chunks) is applied. */
  revision: z.int().min(0),
  upserts: z.array(importStateSchema),
  removals: z.array(z.object({ namespace: nameSchema, name: nameSchema })),
  /** Status of the receiving cluster's exports; complete in a snapshot. */
  exportStatus: z.array(exportStatusSchema),
  exportStatusRemovals: z.array(z.object({ namespace: nameSchema, name: nameSchema })).optional(),
  /** Large snapshots are split; apply only once every chunk of a revision has arrived. */
  chunk: z.object({ index: z.int().min(0), count: z.int().min(1) }).optional(),
});
export type ImportBatch = z.output<typeof importBatchSchema>;

/** Bound on one compiled object's spec as JSON text. */
export const MAX_POLICY_SPEC_BYTES = 256 * 1024;

/**
 * One compiled object as the agent applies it. Its spec travels as JSON text: it is the API
 * server's to validate (its schema is the format's, e.g. networking.k8s.io/v1 NetworkPolicySpec,
 * not Causeway's), and a spec must reach the API server exactly as compiled — dropping a field
 * this agent does not know, as every other schema here does, could widen what a policy admits.
 */
export const policyObjectSchema = z.object({
  apiVersion: z.string().min(1).max(253),
  kind: z.string().min(1).max(63),
  metadata: z.object({
    name: z.string().min(1).max(253),
    namespace: nameSchema.optional(),
    labels: labelMapSchema.optional(),
    annotations: annotationMapSchema.optional(),
  }),
  specJson: z.string().max(MAX_POLICY_SPEC_BYTES).refine(isSpecJson, `expected a JSON object nested at most ${MAX_NESTING_DEPTH} levels`),
});
export type PolicyObject = z.output<typeof policyObjectSchema>;

function isSpecJson(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) && tooDeep(v) === undefined;
  } catch {
    return false;
  }
}

/** The spec of a policy object as an object (isSpecJson holds for every decoded one). */
export function policySpec(o: PolicyObject): Record<string, unknown> {
  return JSON.parse(o.specJson) as Record<string, unknown>;
}

/**
 * The receiving cluster's compiled policy (issue 10 §2), a complete snapshot every time: the
 * agent applies `objects` and deletes the objects it owns that are not among them. Ordered by
 * (`term`, `seq`): `term` is the publishing leader's term (its election key's revision, higher for
 * every later leader), `seq` counts the snapshots of that term. An agent keeps the newest it has
 * seen and ignores older ones. Too large for one message, it is sent in parts (`part`); the
 * agent applies it only once every part of one (term, seq) has arrived.
 */
export const clusterPolicySchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cluster: nameSchema,
  term: z.int().min(0),
  seq: z.int().min(1),
  /** The output format (Cluster spec.policy.format) the objects are in. */
  format: z.string().min(1).max(63),
  part: z.object({ index: z.int().min(0), count: z.int().min(1).max(1000) }).optional(),
  objects: z.array(policyObjectSchema).max(10_000),
});
export type ClusterPolicyMessage = z.output<typeof clusterPolicySchema>;

// ---- codecs --------------------------------------------------------------------------------

export type DecodeFailure = 'oversized' | 'malformed' | 'invalid' | 'wrong-cluster';
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: DecodeFailure; readonly message: string };

/** One message kind's wire form: the only way it is written and read. */
export interface Codec<T> {
  readonly kind: string;
  readonly schema: z.ZodType<T>;
  /** JSON bytes of a value typed by the schema (what decode accepts back, field for field). */
  encode(value: T): Uint8Array;
  /**
   * Decodes and validates. `expectedCluster` is the cluster the subject (and so the NATS server's
   * permissions) says it came from; a body claiming another cluster is refused. Unknown fields
   * are dropped, not refused.
   */
  decode(data: Uint8Array, expectedCluster?: string): Decoded<T>;
}

function codec<T>(kind: string, schema: z.ZodType<T>): Codec<T> {
  return {
    kind,
    schema,
    encode: (value) => encodeJson(value),
    decode: (data, expectedCluster) => decodeWith(schema, data, expectedCluster),
  };
}

export const reportCodec = codec('report', reportSchema);
export const reportReplyCodec = codec('report-reply', reportReplySchema);
export const heartbeatCodec = codec('heartbeat', heartbeatSchema);
export const syncRequestCodec = codec('sync-request', syncRequestSchema);
export const importBatchCodec = codec('import-batch', importBatchSchema);
export const renewRequestCodec = codec('renew-request', renewRequestSchema);
export const renewReplyCodec = codec('renew-reply', renewReplySchema);
export const settingsRequestCodec = codec('settings-request', settingsRequestSchema);
export const clusterSettingsCodec = codec('cluster-settings', clusterSettingsSchema);
export const workloadsCodec = codec('workloads', workloadsSchema);
export const policyRequestCodec = codec('policy-request', policyRequestSchema);
export const clusterPolicyCodec = codec('cluster-policy', clusterPolicySchema);

/** Every message kind, by name: the golden fixtures under test/fixtures/protocol/ are named after these. */
export const CODECS = {
  report: reportCodec,
  'report-reply': reportReplyCodec,
  heartbeat: heartbeatCodec,
  'sync-request': syncRequestCodec,
  'import-batch': importBatchCodec,
  'renew-request': renewRequestCodec,
  'renew-reply': renewReplyCodec,
  'settings-request': settingsRequestCodec,
  'cluster-settings': clusterSettingsCodec,
  workloads: workloadsCodec,
  'policy-request': policyRequestCodec,
  'cluster-policy': clusterPolicyCodec,
} as const;

/** Encoded size of a value, for packing messages under MAX_MESSAGE_BYTES. */
export function encodedSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function decodeWith<T>(schema: z.ZodType<T>, data: Uint8Array, expectedCluster?: string): Decoded<T> {
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'oversized', message: `message of ${data.byteLength} bytes exceeds ${MAX_MESSAGE_BYTES}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    return { ok: false, reason: 'malformed', message: `not JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return { ok: false, reason: 'invalid', message: first };
  }
  const claimed = (parsed.data as { cluster?: unknown }).cluster;
  if (expectedCluster !== undefined && claimed !== expectedCluster) {
    return { ok: false, reason: 'wrong-cluster', message: `message claims cluster "${String(claimed)}" but came from "${expectedCluster}"` };
  }
  return { ok: true, value: parsed.data };
}
