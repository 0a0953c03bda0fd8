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
import type { z } from 'zod';
import { MAX_MESSAGE_BYTES } from './messages-base.ts';
import {
  heartbeatSchema,
  policyRequestSchema,
  renewReplySchema,
  renewRequestSchema,
  reportReplySchema,
  reportSchema,
  settingsRequestSchema,
  syncRequestSchema,
  workloadsSchema,
} from './agent-messages.ts';
import { clusterPolicySchema, clusterSettingsSchema, importBatchSchema, type ImportBatch, type ImportPatch, type ImportState } from './hub-messages.ts';

export * from './messages-base.ts';
export * from './agent-messages.ts';
export * from './hub-messages.ts';

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
export const importBatchCodec: Codec<ImportBatch> = { ...codec('import-batch', importBatchSchema), encode: (batch) => utf8.encode(importBatchJson(batch)) };
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

const utf8 = new TextEncoder();

function encodeJson(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

/**
 * The JSON of each import the hub sends, made once: the service model builds an ImportState once
 * per view class and every consumer of that class shares the object (services/changes.ts), so the
 * hub encodes a change once per view and each consumer's batch is a splice of those strings
 * (issue 11 §1: per change, work per view, not per consumer). An ImportState is never changed
 * once built; the bytes are the same as JSON.stringify's (the protocol fixtures hold it to that).
 */
const sharedJson = new WeakMap<object, string>();

function cachedJson(value: object): string {
  let json = sharedJson.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    sharedJson.set(value, json);
  }
  return json;
}

export function importStateJson(state: ImportState): string {
  return cachedJson(state);
}

/** The same for an endpoint patch, which consumers of one view share too (api/import-patch.ts). */
export function importPatchJson(patch: ImportPatch): string {
  return cachedJson(patch);
}

/** Stand in for the shared arrays while the rest of a batch is stringified (no name or number can hold them). */
const UPSERTS = '\u0000upserts\u0000';
const PATCHES = '\u0000patches\u0000';

/** An ImportBatch's JSON, its upserts and patches spliced in from their shared JSON. */
export function importBatchJson(batch: ImportBatch): string {
  const patches = batch.patches ?? [];
  if (batch.upserts.length === 0 && patches.length === 0) return JSON.stringify(batch);
  // Replacing a field keeps its place among the keys: the output is JSON.stringify(batch)'s.
  let json = JSON.stringify({
    ...batch,
    ...(batch.upserts.length > 0 ? { upserts: UPSERTS } : {}),
    ...(patches.length > 0 ? { patches: PATCHES } : {}),
  });
  if (batch.upserts.length > 0) json = splice(json, UPSERTS, batch.upserts.map(importStateJson));
  if (patches.length > 0) json = splice(json, PATCHES, patches.map(importPatchJson));
  return json;
}

function splice(shell: string, placeholder: string, items: readonly string[]): string {
  const quoted = JSON.stringify(placeholder);
  const at = shell.indexOf(quoted);
  return `${shell.slice(0, at)}[${items.join(',')}]${shell.slice(at + quoted.length)}`;
}

export function importBatchSize(batch: ImportBatch): number {
  return Buffer.byteLength(importBatchJson(batch));
}

/** One decoder for every message (stateless for whole buffers; making one per message was a hot-path cost). */
const utf8Decoder = new TextDecoder();

function decodeWith<T>(schema: z.ZodType<T>, data: Uint8Array, expectedCluster?: string): Decoded<T> {
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'oversized', message: `message of ${data.byteLength} bytes exceeds ${MAX_MESSAGE_BYTES}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8Decoder.decode(data));
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
