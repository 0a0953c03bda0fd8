// Generators of agent ↔ hub messages (controlplane/api/messages.ts), valid to their schemas, and
// the ways a wire message goes wrong: a field mutated, bytes cut short, oversized, an unknown field
// from a newer peer, another cluster's name.
import fc from 'fast-check';
import type {
  ClusterPolicyMessage,
  ClusterSettings,
  Codec,
  Heartbeat,
  ImportBatch,
  PolicyRequest,
  RenewRequest,
  Report,
  SettingsRequest,
  SyncRequest,
  Workloads,
} from '../../../controlplane/api/messages.ts';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../../controlplane/api/messages.ts';
import { dnsLabel, hostileValue, labelKey, labelValue, ordinaryIp } from './primitives.ts';

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

/** Drops keys whose value is undefined: the codecs' schemas have optional, not nullable, fields. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * A message as it is after JSON: fast-check builds some objects without a prototype, and a decoded
 * message has plain objects, which a strict deep equality tells apart.
 */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const session = fc.string({ unit: fc.constantFrom(...'0123456789abcdef-'.split('')), minLength: 8, maxLength: 64 });
const isoTime = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const revision = fc.nat({ max: 2 ** 40 });
const shortName = fc.string({ minLength: 1, maxLength: 20 });

const servicePort = fc
  .record({
    name: optional(fc.string({ maxLength: 15 })),
    port: fc.integer({ min: 1, max: 65_535 }),
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
    appProtocol: optional(shortName),
  })
  .map(compact);

const endpoint = fc
  .record({
    addresses: fc.array(ordinaryIp, { minLength: 1, maxLength: 3 }),
    ready: fc.boolean(),
    serving: fc.boolean(),
    terminating: fc.boolean(),
    hostname: optional(fc.string({ maxLength: 20 })),
    nodeName: optional(shortName),
    zone: optional(shortName),
    labels: optional(fc.dictionary(labelKey, labelValue, { maxKeys: 3 })),
  })
  .map(compact);

const serviceRef = fc.record({ namespace: dnsLabel, name: dnsLabel });

const selector = fc.record({ matchLabels: optional(fc.dictionary(labelKey, labelValue, { maxKeys: 2 })) }).map(compact);

const exportState = fc
  .record({
    namespace: dnsLabel,
    name: dnsLabel,
    exportedAt: isoTime,
    type: fc.constantFrom('ClusterSetIP' as const, 'Headless' as const),
    ports: fc.array(servicePort, { maxLength: 3 }),
    sessionAffinity: fc.constantFrom('None' as const, 'ClientIP' as const),
    exportTo: optional(selector),
    endpoints: fc.array(endpoint, { maxLength: 4 }),
    endpointPorts: optional(fc.array(servicePort, { maxLength: 2 })),
  })
  .map(compact);

export const validReport = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<Report> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      session,
      seq: fc.integer({ min: 1, max: 2 ** 40 }),
      full: fc.boolean(),
      part: optional(fc.integer({ min: 1, max: 10_000 }).chain((count) => fc.record({ index: fc.nat({ max: count - 1 }), count: fc.constant(count) }))),
      upserts: fc.array(exportState, { maxLength: 3 }),
      removals: fc.array(serviceRef, { maxLength: 3 }),
    })
    .map((m) => plain(compact(m)));

const agentCondition = fc.record({
  type: fc.string({ minLength: 1, maxLength: 30 }),
  status: fc.constantFrom('True' as const, 'False' as const, 'Unknown' as const),
  reason: fc.string({ minLength: 1, maxLength: 30 }),
  message: fc.string({ maxLength: 100 }),
});

export const validHeartbeat = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<Heartbeat> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      session,
      agentVersion: fc.string({ minLength: 1, maxLength: 64 }),
      appliedRevision: revision,
      time: isoTime,
      conditions: optional(fc.array(agentCondition, { maxLength: 4 })),
      policy: optional(fc.record({ term: revision, seq: revision })),
      accepts: optional(fc.array(fc.oneof(fc.constant('import-patches'), fc.string({ minLength: 1, maxLength: 63 })), { maxLength: 3 })),
    })
    .map((m) => plain(compact(m)));

const heldImport = fc.record({
  namespace: dnsLabel,
  name: dnsLabel,
  digest: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), minLength: 8, maxLength: 22 }),
});

export const validSyncRequest = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<SyncRequest> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      session,
      afterRevision: revision,
      accepts: optional(fc.subarray(['import-patches', 'import-rebase'])),
      held: optional(fc.array(heldImport, { maxLength: 3 })),
    })
    .map((m) => plain(compact(m)));

/** A NATS user public key: "U" and 55 base32 characters. */
const userPublicKey = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('')), minLength: 55, maxLength: 55 }).map((k) => `U${k}`);

export const validRenewRequest = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<RenewRequest> =>
  fc.record({ v: fc.constant(PROTOCOL_VERSION as 1), cluster, session, publicKey: userPublicKey }).map(plain);

export const validSettingsRequest = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<SettingsRequest> =>
  fc.record({ v: fc.constant(PROTOCOL_VERSION as 1), cluster, session }).map(plain);

/** An IPv4 block with its host bits zero (what the hub allocates), e.g. 10.40.0.16/28. */
const ipv4Block = fc.tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.integer({ min: 8, max: 32 })).map(([n, len]) => {
  const net = len === 32 ? n : Number((BigInt(n) >> BigInt(32 - len)) << BigInt(32 - len));
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${len}`;
});
/** An IPv6 block within its first 32 bits (the rest zero), e.g. fd00:40::/32 or fd00::/16. */
const ipv6Block = fc
  .tuple(fc.integer({ min: 0xfc00, max: 0xfdff }), fc.nat({ max: 0xffff }), fc.constantFrom(16, 32))
  .map(([a, b, len]) => (len === 16 ? `${a.toString(16)}::/16` : `${a.toString(16)}:${b.toString(16)}::/32`));

export const validClusterSettings = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<ClusterSettings> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      revision,
      loadBalancer: optional(
        fc.record({
          pool: dnsLabel,
          cidrs: fc.oneof(
            fc.tuple(ipv4Block).map((t) => [...t]),
            fc.tuple(ipv6Block).map((t) => [...t]),
            fc.tuple(ipv4Block, ipv6Block).map((t) => [...t]),
          ),
        }),
      ),
    })
    .map((m) => plain(compact(m)));

const importEndpoint = fc.tuple(endpoint, dnsLabel).map(([{ labels: _labels, ...e }, cluster]) => ({ ...e, cluster }));

/** An endpoint patch: `at + remove ≤ count`, as the schema requires. */
const importPatch = fc
  .record({
    namespace: dnsLabel,
    name: dnsLabel,
    count: fc.nat({ max: 50 }),
    a: fc.nat({ max: 50 }),
    b: fc.nat({ max: 50 }),
    insert: fc.array(importEndpoint, { maxLength: 3 }),
  })
  .map(({ namespace, name, count, a, b, insert }) => {
    const at = Math.min(a, count);
    return { namespace, name, count, at, remove: Math.min(b, count - at), insert };
  });

const importState = fc
  .record({
    namespace: dnsLabel,
    name: dnsLabel,
    type: fc.constantFrom('ClusterSetIP' as const, 'Headless' as const),
    ports: fc.array(servicePort, { maxLength: 3 }),
    ips: fc.array(ordinaryIp, { maxLength: 2 }),
    sessionAffinity: fc.constantFrom('None' as const, 'ClientIP' as const),
    clusterPorts: optional(fc.array(fc.record({ cluster: dnsLabel, ports: fc.array(servicePort, { maxLength: 2 }) }), { maxLength: 2 })),
    clusters: fc.array(dnsLabel, { maxLength: 3 }),
    endpoints: fc.array(importEndpoint, { maxLength: 3 }),
  })
  .map(compact);

const condition = fc
  .record({
    type: fc.string({ minLength: 1, maxLength: 20 }),
    status: fc.constantFrom('True' as const, 'False' as const, 'Unknown' as const),
    reason: fc.string({ minLength: 1, maxLength: 20 }),
    message: fc.string({ maxLength: 50 }),
    lastTransitionTime: isoTime,
    observedGeneration: optional(fc.nat()),
  })
  .map(compact);

export const validImportBatch = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<ImportBatch> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      kind: fc.constantFrom('snapshot' as const, 'delta' as const),
      fromRevision: revision,
      revision,
      upserts: fc.array(importState, { maxLength: 3 }),
      removals: fc.array(serviceRef, { maxLength: 3 }),
      exportStatus: fc.array(fc.record({ namespace: dnsLabel, name: dnsLabel, conditions: fc.array(condition, { maxLength: 2 }) }), { maxLength: 2 }),
      exportStatusRemovals: optional(fc.array(serviceRef, { maxLength: 2 })),
      patches: optional(fc.array(importPatch, { maxLength: 3 })),
      kept: optional(fc.array(heldImport, { maxLength: 3 })),
      syncWanted: optional(fc.constant(true as const)),
      chunk: optional(fc.integer({ min: 1, max: 100 }).chain((count) => fc.record({ index: fc.nat({ max: count - 1 }), count: fc.constant(count) }))),
    })
    .map((m) => plain(compact(m)));

const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
const part = optional(fc.integer({ min: 1, max: 50 }).chain((count) => fc.record({ index: fc.nat({ max: count - 1 }), count: fc.constant(count) })));

export const validWorkloads = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<Workloads> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      session,
      seq: fc.integer({ min: 1, max: 2 ** 40 }),
      part,
      namespaces: fc.array(fc.record({ name: dnsLabel, labels }), { maxLength: 3 }),
      pods: fc.array(fc.record({ namespace: dnsLabel, name: dnsLabel, labels, ips: fc.array(ordinaryIp, { minLength: 1, maxLength: 2 }) }), { maxLength: 4 }),
      serviceSelectors: optional(fc.array(fc.record({ namespace: dnsLabel, name: dnsLabel, matchLabels: labels }), { maxLength: 2 })),
    })
    .map((m) => plain(compact(m)));

export const validPolicyRequest = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<PolicyRequest> =>
  fc.record({ v: fc.constant(PROTOCOL_VERSION as 1), cluster, session }).map(plain);

const policyObject = fc
  .record({
    apiVersion: fc.constant('networking.k8s.io/v1'),
    kind: fc.constant('NetworkPolicy'),
    metadata: fc.record({ name: dnsLabel, namespace: optional(dnsLabel), labels: optional(labels) }).map(compact),
    specJson: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }).map((spec) => JSON.stringify(spec)),
  })
  .map(compact);

export const validClusterPolicy = (cluster: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<ClusterPolicyMessage> =>
  fc
    .record({
      v: fc.constant(PROTOCOL_VERSION as 1),
      cluster,
      term: revision,
      seq: fc.integer({ min: 1, max: 2 ** 40 }),
      format: fc.constantFrom('NetworkPolicy', 'CiliumClusterwideNetworkPolicy'),
      part,
      objects: fc.array(policyObject, { maxLength: 3 }),
    })
    .map((m) => plain(compact(m)));

/** One codec with the generator of its valid messages. */
export interface CodecCase<T> {
  readonly codec: Codec<T>;
  readonly valid: (cluster?: fc.Arbitrary<string>) => fc.Arbitrary<T>;
}

// ---- damage done to a wire message ------------------------------------------------------------

type Json = Record<string, unknown> | unknown[];

/** Maps whose keys are data (labels, a Service's selector), and strict selectors: not descended into. */
const DATA_MAPS = new Set(['labels', 'matchLabels', 'exportTo']);

/** Paths into a message, not descending into maps whose keys are data or into strict selectors. */
export function messagePaths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return out;
  for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
    out.push([...prefix, k]);
    if (!DATA_MAPS.has(String(k))) messagePaths(x, [...prefix, k], out);
  }
  return out;
}

function setIn(v: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  const copy: Json = Array.isArray(v) ? [...(v as unknown[])] : { ...(v as Record<string, unknown>) };
  Object.defineProperty(copy, head, {
    value: setIn((v as Record<string | number, unknown>)[head], rest, value),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

/** The message with one value somewhere inside replaced by a hostile one. */
export function mutatedMessage(message: unknown): fc.Arbitrary<unknown> {
  return fc.tuple(fc.constantFrom(...messagePaths(message)), hostileValue).map(([path, value]) => setIn(message, path, value));
}

/** The message with unknown fields added to its objects (what a newer peer sends); maps and selectors left alone. */
export function withUnknownFields(message: unknown): fc.Arbitrary<unknown> {
  const objects = [[], ...messagePaths(message)].filter((p) => {
    if (DATA_MAPS.has(String(p.at(-1)))) return false;
    let cur: unknown = message;
    for (const s of p) cur = (cur as Record<string | number, unknown>)[s];
    return cur !== null && typeof cur === 'object' && !Array.isArray(cur);
  });
  return fc
    .array(
      fc.tuple(
        fc.constantFrom(...objects),
        fc.string({ minLength: 1, maxLength: 8 }).map((k) => `future_${k}`),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((adds) => adds.reduce<unknown>((m, [path, key, value]) => setIn(m, [...path, key], value), message));
}

/** Encoded bytes cut short anywhere before the end. */
export function truncated(bytes: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.nat({ max: Math.max(0, bytes.byteLength - 1) }).map((n) => bytes.slice(0, n));
}

/** A valid message padded past MAX_MESSAGE_BYTES (with whitespace or an unknown field). */
export function oversized(message: unknown): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.boolean()).map(([extra, spaces]) => {
    const json = JSON.stringify(message);
    const pad = MAX_MESSAGE_BYTES + extra - json.length;
    const text = spaces ? `${' '.repeat(Math.max(1, pad))}${json}` : `${json.slice(0, -1)},"future_pad":"${'x'.repeat(Math.max(1, pad))}"}`;
    return new TextEncoder().encode(text);
  });
}

/** Bytes that are not a message at all. */
export const garbageBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
  fc.integer({ min: 10, max: 50_000 }).map((n) => new TextEncoder().encode('['.repeat(n))),
  fc.constantFrom('', 'null', '{}', '[]', '"x"', '{"v":2}', '{"v":1,"cluster":"a"}', '\ufeff{}').map((s) => new TextEncoder().encode(s)),
);
