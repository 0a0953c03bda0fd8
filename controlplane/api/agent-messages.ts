// The exchanges an agent starts (messages.ts is the stable API that re-exports them): reports of
// its exports and their replies, heartbeats, sync, renewal (and its reply), settings and policy
// requests, and its workloads.
import { z } from 'zod';
import { labelSelectorSchema, nameSchema } from './resources.ts';
import {
  MAX_HELD_IMPORTS,
  agentEnvelope,
  annotationMapSchema,
  endpointSchema,
  heldImportSchema,
  summarySchema,
  internalTrafficPolicySchema,
  ipSchema,
  labelMapSchema,
  servicePortSchema,
  sessionAffinityConfigSchema,
  trafficDistributionSchema,
} from './messages-base.ts';
// ---- agent → hub -----------------------------------------------------------------------------

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

/**
 * What an agent can take beyond the base protocol, named in its heartbeats and sync requests; a
 * hub sends a feature only to an agent whose latest word names it. Unknown names are kept (a newer
 * agent's), not refused.
 */
export const AgentFeature = {
  /** ImportBatch.patches: endpoint-level changes to held imports. */
  ImportPatches: 'import-patches',
  /**
   * Resuming from what is held: the agent names its imports' digests when it asks to sync
   * (SyncRequest.held) and takes a snapshot that says which of them to keep (ImportBatch.kept);
   * a new leader asks it to sync (ImportBatch.syncWanted) instead of pushing a whole snapshot.
   */
  ImportRebase: 'import-rebase',
  /**
   * Resuming without a sync: the agent keeps the `summary` of the last batch it applied and names
   * it, with that batch's revision, in its heartbeats (`holds`). Every replica hears them, so a new
   * leader whose own summary of the consumer's state matches sends it a delta from that revision
   * instead of asking it to sync.
   */
  ImportResume: 'import-resume',
} as const;
export type AgentFeature = (typeof AgentFeature)[keyof typeof AgentFeature];

/** What this agent build accepts. */
export const AGENT_FEATURES: readonly string[] = [AgentFeature.ImportPatches, AgentFeature.ImportRebase, AgentFeature.ImportResume];

const acceptsSchema = z.array(z.string().min(1).max(63)).max(32).optional();

export const heartbeatSchema = z.object({
  ...agentEnvelope,
  agentVersion: z.string().min(1).max(64),
  /** The import revision the agent has applied to its cluster. */
  appliedRevision: z.int().min(0),
  time: z.iso.datetime({ offset: true }),
  conditions: z.array(agentConditionSchema).max(16).optional(),
  /** The compiled-policy snapshot (ClusterPolicy term and seq) the agent has applied in full. */
  policy: z.object({ term: z.int().min(0), seq: z.int().min(0) }).optional(),
  /** Protocol features the agent accepts (AgentFeature); absent: none. */
  accepts: acceptsSchema,
  /**
   * The desired state the agent holds (AgentFeature.ImportResume): the revision and the `summary`
   * of the last import batch it applied on an unbroken chain from a snapshot. Absent while it
   * holds nothing it trusts (before its first snapshot, after a patch or a kept import did not fit).
   */
  holds: z.object({ revision: z.int().min(1), summary: summarySchema }).optional(),
});
export type Heartbeat = z.output<typeof heartbeatSchema>;

export const syncRequestSchema = z.object({
  ...agentEnvelope,
  /** The revision the agent has applied; 0 asks for a snapshot. */
  afterRevision: z.int().min(0),
  /** Protocol features the agent accepts (AgentFeature); absent: none. */
  accepts: acceptsSchema,
  /**
   * The imports the agent holds, by digest (with AgentFeature.ImportRebase): the snapshot that
   * answers sends only those that differ, and names the rest in `kept`. Absent: send everything.
   */
  held: z.array(heldImportSchema).max(MAX_HELD_IMPORTS).optional(),
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
