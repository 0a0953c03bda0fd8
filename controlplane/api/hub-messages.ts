// What the hub pushes to an agent (messages.ts is the stable API that re-exports it): the
// cluster's settings, what it must import and the status of its exports, and its compiled policy.
import { z } from 'zod';
import { checkCidr } from './cidr.ts';
import type { Condition } from './conditions.ts';
import { MAX_NESTING_DEPTH, tooDeep } from './input-limits.ts';
import { nameSchema } from './resources.ts';
import {
  PROTOCOL_VERSION,
  annotationMapSchema,
  endpointSchema,
  heldImportSchema,
  internalTrafficPolicySchema,
  ipSchema,
  labelMapSchema,
  servicePortSchema,
  sessionAffinityConfigSchema,
  summarySchema,
  trafficDistributionSchema,
} from './messages-base.ts';
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

/**
 * An exported endpoint as a consumer imports it: with the cluster it comes from, without the
 * exporter's node labels. This hub sends no node name either (services/exporters.ts): no importer
 * uses it (its EndpointSlices leave nodeName out: kube-proxy would take an endpoint as local to a
 * node of its own with that name), and without it an import is exactly what its objects say, so
 * that an agent restarted on a cluster can name what it holds (cluster-agent/imports.ts
 * recoverImport). The field stays accepted: an agent behind an older hub, which sends it, keeps
 * what it got, and its digests still match that hub's.
 */
export const importEndpointSchema = endpointSchema.omit({ labels: true }).extend({ cluster: nameSchema });
export type ImportEndpoint = z.output<typeof importEndpointSchema>;

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
  endpoints: z.array(importEndpointSchema),
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

/** Bound on the endpoints one patch inserts; a larger change goes as the whole import (an upsert). */
export const MAX_PATCH_ENDPOINTS = 256;

/**
 * An endpoint-level change to an import the receiver holds (issue 11: a changed endpoint costs its
 * own bytes, not its service's): of the held import's endpoints, `remove` starting at `at` are
 * replaced by `insert`; every other field stays. `count` is how many endpoints the held import has;
 * a receiver holding another count (or no import of the key) does not apply it and asks to sync.
 * Sent only to agents that accept it (`accepts: ["import-patches"]`): an older agent would drop
 * the field and miss the change.
 */
export const importPatchSchema = z
  .object({
    namespace: nameSchema,
    name: nameSchema,
    count: z.int().min(0),
    at: z.int().min(0),
    remove: z.int().min(0),
    insert: z.array(importEndpointSchema).max(MAX_PATCH_ENDPOINTS),
  })
  .refine((p) => p.at + p.remove <= p.count, 'expected at + remove ≤ count');
export type ImportPatch = z.output<typeof importPatchSchema>;

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
  /** Endpoint-level changes to held imports, applied after the upserts and before the removals (deltas only). */
  patches: z.array(importPatchSchema).optional(),
  /**
   * A snapshot's imports the receiver keeps as it holds them (it named them in its sync request's
   * `held`, and the hub's are the same): part of the complete state without being sent again. One
   * the receiver no longer holds with that digest makes it ask for a sync again.
   */
  kept: z.array(heldImportSchema).optional(),
  /** A new leader asks the receiver to sync (with `held`) rather than pushing a whole snapshot; nothing to apply. */
  syncWanted: z.literal(true).optional(),
  /**
   * The hub's digest of the receiver's whole import state once this batch is applied (sent to
   * agents that accept AgentFeature.ImportResume; the same on every chunk). The agent names it back
   * in its heartbeats (`holds`); it never checks it itself.
   */
  summary: summarySchema.optional(),
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
