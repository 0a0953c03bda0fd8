// The field types every causeway.dev/v1alpha1 kind is made of (resources.ts re-exports them):
// names, CIDRs, addresses, labels and annotations, label selectors, providers and policy formats,
// and the metadata and status of every object.
import { z } from 'zod';
import { checkCidr, isIpAddress } from './cidr.ts';
import type { Condition } from './conditions.ts';
import { checkLabelKey, checkLabelValue, checkName } from './labels.ts';

export const Provider = { aws: 'aws', gcp: 'gcp', onprem: 'onprem' } as const;
export type Provider = (typeof Provider)[keyof typeof Provider];
export const providers = ['aws', 'gcp', 'onprem'] as const;

// ---- field types ---------------------------------------------------------------------------

export const nameSchema = z.string().superRefine((v, ctx) => {
  const m = checkName(v);
  if (m !== undefined) ctx.addIssue({ code: 'custom', message: m, input: v });
});

export const cidrSchema = z.string().transform((v, ctx) => {
  const c = checkCidr(v);
  if (!c.ok) {
    ctx.addIssue({ code: 'custom', message: c.message, input: v });
    return z.NEVER;
  }
  return c.cidr;
});

export const ipSchema = z.string().superRefine((v, ctx) => {
  if (!isIpAddress(v)) ctx.addIssue({ code: 'custom', message: 'expected an IPv4 or IPv6 address such as "10.0.0.7"', input: v });
});

export const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    const km = checkLabelKey(k);
    if (km !== undefined) ctx.addIssue({ code: 'custom', message: km, path: [k], input: k });
    const vm = checkLabelValue(v);
    if (vm !== undefined) ctx.addIssue({ code: 'custom', message: vm, path: [k], input: v });
  }
});

export const annotationsSchema = z.record(z.string(), z.string()).superRefine((a, ctx) => {
  for (const k of Object.keys(a)) {
    const km = checkLabelKey(k);
    if (km !== undefined) ctx.addIssue({ code: 'custom', message: km.replace('label key', 'annotation key'), path: [k], input: k });
  }
  if (JSON.stringify(a).length > 256 * 1024) ctx.addIssue({ code: 'custom', message: 'annotations must total at most 256 KiB' });
});

/** The policy objects a cluster's CNI enforces (Cluster spec.policy.format; docs/policy.md). */
export const POLICY_FORMATS = [
  'NetworkPolicy',
  'ClusterNetworkPolicy',
  'AdminNetworkPolicy',
  'CalicoGlobalNetworkPolicy',
  'CiliumClusterwideNetworkPolicy',
] as const;

export const asnSchema = z.int().min(1).max(4_294_967_295);
export const portSchema = z.int().min(1).max(65_535);
export const protocolSchema = z.enum(['TCP', 'UDP', 'SCTP']);

export const labelSelectorSchema = z.strictObject({
  matchLabels: labelsSchema.optional(),
  matchExpressions: z
    .array(
      z
        .strictObject({
          key: z.string().min(1),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).optional(),
        })
        .superRefine((e, ctx) => {
          const needsValues = e.operator === 'In' || e.operator === 'NotIn';
          if (needsValues && (e.values ?? []).length === 0) {
            ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${e.operator} needs at least one value` });
          }
          if (!needsValues && e.values !== undefined && e.values.length > 0) {
            ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${e.operator} takes no values` });
          }
        }),
    )
    .optional(),
});

// ---- metadata and status -------------------------------------------------------------------

export const metadataSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema.optional(),
  labels: labelsSchema.optional(),
  annotations: annotationsSchema.optional(),
  // Written by the system. Accepted so that `get -o yaml` round-trips through `apply`;
  // resourceVersion, when given, is a precondition (optimistic concurrency).
  resourceVersion: z
    .string()
    .regex(/^[0-9]+$/, 'expected the decimal resourceVersion the hub returned')
    .optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.string().optional(),
});

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
}

export interface Status {
  conditions?: Condition[];
  [field: string]: unknown;
}
