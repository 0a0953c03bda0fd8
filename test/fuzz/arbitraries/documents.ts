// Generators of API documents of the five kinds, as a user writes them (plain objects, before
// validation): valid ones, built to the rules of controlplane/api/resources.ts, and hostile ones,
// made from a valid one by one mutation at a known field path (so that a property can check that
// the refusal names that field).
import fc from 'fast-check';
import { API_VERSION, RESERVED_CLUSTER_NAME, type Kind } from '../../../controlplane/api/kinds.ts';
import { anyCidr, badCidr, cidr, dnsLabel, hostileValue, labelKey, labels, labelValue, nested, ordinaryIp, pooledName, specialIp } from './primitives.ts';

type Doc = Record<string, unknown>;
type Provider = 'aws' | 'gcp' | 'onprem';

/** Objects that documents may reference; the HTTP tier passes what the hub was seeded with. */
export interface DocContext {
  readonly networks?: readonly { readonly name: string; readonly provider: Provider }[];
  readonly pools?: readonly string[];
  /** Namespaces for namespaced kinds (a team token's, in the HTTP tier). */
  readonly namespaces?: readonly string[];
  /** Names from a small pool per kind, so that generated writes update what earlier ones created. */
  readonly pooledNames?: boolean;
}

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });

/** Drops the keys whose value is undefined: what a user leaves out, they do not write as null. */
function compact(o: Record<string, unknown>): Doc {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const provider = fc.constantFrom<Provider>('aws', 'gcp', 'onprem');
const port = fc.integer({ min: 1, max: 65_535 });
const protocol = fc.constantFrom('TCP', 'UDP', 'SCTP');
const hex = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: min, maxLength: max });

const selector: fc.Arbitrary<Doc> = fc
  .record({
    matchLabels: optional(labels),
    matchExpressions: optional(
      fc.array(
        fc.oneof(
          fc.record({ key: labelKey, operator: fc.constantFrom('In', 'NotIn'), values: fc.array(labelValue, { minLength: 1, maxLength: 3 }) }),
          fc.record({ key: labelKey, operator: fc.constantFrom('Exists', 'DoesNotExist') }),
        ),
        { maxLength: 2 },
      ),
    ),
  })
  .map(compact);

function metadata(kind: Kind, namespaced: boolean, ctx: DocContext): fc.Arbitrary<Doc> {
  const name = (ctx.pooledNames === true ? pooledName(`fz-${kind.toLowerCase()}`) : dnsLabel).filter((n) => kind !== 'Cluster' || n !== RESERVED_CLUSTER_NAME);
  const namespace = ctx.namespaces !== undefined && ctx.namespaces.length > 0 ? fc.constantFrom(...ctx.namespaces) : dnsLabel;
  return fc
    .record({
      name,
      namespace: namespaced ? namespace : fc.constant(undefined),
      labels: optional(labels),
      annotations: optional(fc.dictionary(labelKey, fc.string({ maxLength: 30 }), { maxKeys: 3 })),
    })
    .map(compact);
}

function networkRef(ctx: DocContext, want?: Provider): fc.Arbitrary<{ name: string; provider: Provider }> {
  const known = (ctx.networks ?? []).filter((n) => want === undefined || n.provider === want);
  if (known.length > 0) return fc.constantFrom(...known);
  return fc.tuple(dnsLabel, want === undefined ? provider : fc.constant(want)).map(([name, p]) => ({ name, provider: p }));
}

/** One IPv4 and/or one IPv6 CIDR (dual-stack), in either order. */
const dualStack: fc.Arbitrary<string[]> = fc.oneof(
  cidr(4).map((c) => [c]),
  cidr(6).map((c) => [c]),
  fc.tuple(cidr(4), cidr(6), fc.boolean()).map(([a, b, flip]) => (flip ? [b, a] : [a, b])),
);

function clusterSpec(ctx: DocContext): fc.Arbitrary<Doc> {
  const pool = ctx.pools !== undefined && ctx.pools.length > 0 ? fc.constantFrom(...ctx.pools) : dnsLabel;
  return fc
    .record({
      net: networkRef(ctx),
      region: fc.constantFrom('us-east-1', 'europe-west4', 'fra1', 'x'),
      clusterSet: optional(dnsLabel),
      cidrs: fc.oneof(
        fc.record({ podCIDRs: dualStack, serviceCIDRs: dualStack }),
        fc.record({
          ipam: fc
            .record({ pool, podPrefixLength: optional(fc.integer({ min: 8, max: 28 })), servicePrefixLength: optional(fc.integer({ min: 8, max: 28 })) })
            .map(compact),
        }),
      ),
      endpointCIDRs: optional(fc.array(anyCidr, { maxLength: 3 })),
      heartbeatTTLSeconds: optional(fc.integer({ min: 5, max: 3600 })),
    })
    .map(({ net, cidrs, ...rest }) => compact({ provider: net.provider, network: net.name, ...rest, ...cidrs }));
}

const awsBlock = fc
  .record({
    vpcId: hex(8, 17).map((h) => `vpc-${h}`),
    accountId: optional(fc.stringMatching(/^[0-9]{12}$/)),
    transitGatewayId: optional(hex(8, 17).map((h) => `tgw-${h}`)),
  })
  .map(compact);
const gcpBlock = fc.record({ project: fc.stringMatching(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/), network: dnsLabel });
const onpremBlock = fc.record({ site: fc.string({ minLength: 1, maxLength: 10 }), asn: fc.integer({ min: 1, max: 4_294_967_295 }) });

const link: fc.Arbitrary<Doc> = fc.oneof(
  fc.record({ to: dnsLabel, type: fc.constantFrom('vpc-peering', 'transit-gateway', 'vpn', 'interconnect') }),
  fc.record({
    to: dnsLabel,
    type: fc.constant('bgp'),
    bgp: fc
      .record({ localASN: fc.integer({ min: 1, max: 4_294_967_295 }), peerASN: fc.integer({ min: 1, max: 65535 }), peerAddress: optional(ordinaryIp) })
      .map(compact),
  }),
);

const networkSpec: fc.Arbitrary<Doc> = fc
  .record({ p: provider, aws: awsBlock, gcp: gcpBlock, onprem: onpremBlock, region: optional(fc.constantFrom('us-east-1', 'europe-west4')) })
  .chain(({ p, aws, gcp, onprem, region }) =>
    fc.record({ prefixes: optional(fc.array(anyCidr, { maxLength: 3 })), links: optional(fc.array(link, { maxLength: 3 })) }).map((extra) =>
      compact({
        provider: p,
        region: p === 'onprem' ? region : (region ?? 'us-east-1'),
        ...(p === 'aws' ? { aws } : p === 'gcp' ? { gcp } : { onprem }),
        ...extra,
      }),
    ),
  );

function ipPoolSpec(ctx: DocContext): fc.Arbitrary<Doc> {
  return fc
    .record({
      use: fc.constantFrom('ClusterCIDRs', 'ClusterSetIPs', 'LoadBalancer'),
      cidrs: fc.array(anyCidr, { minLength: 1, maxLength: 3 }),
      network: optional(networkRef(ctx, 'onprem')),
    })
    .map(({ network, ...rest }) => compact({ ...rest, network: network?.name }));
}

function externalServiceSpec(ctx: DocContext): fc.Arbitrary<Doc> {
  const ports = fc.uniqueArray(fc.record({ port, protocol }), { minLength: 1, maxLength: 4, selector: (p) => `${p.port}/${p.protocol}` });
  const endpoint = fc.record({
    address: ordinaryIp,
    hostname: optional(dnsLabel),
    zone: optional(fc.constantFrom('fra1-a', 'us-east-1b')),
    ready: optional(fc.boolean()),
    labels: optional(labels),
  });
  return fc
    .record({
      net: networkRef(ctx),
      ports: fc.tuple(ports, fc.array(optional(dnsLabel), { maxLength: 4 })).map(([ps, names]) => ps.map((p, i) => compact({ ...p, name: names[i] }))),
      endpoints: fc.uniqueArray(endpoint, { maxLength: 6, selector: (e) => e.address }).map((es) => es.map(compact)),
      exportTo: optional(selector.map((clusterSelector) => ({ clusterSelector }))),
    })
    .map(({ net, ...rest }) => compact({ network: net.name, ...rest }));
}

const peer: fc.Arbitrary<Doc> = fc.oneof(
  fc.record({ cidrs: fc.array(anyCidr, { minLength: 1, maxLength: 2 }) }),
  fc
    .record({
      clusters: optional(selector),
      namespaces: optional(fc.array(dnsLabel, { minLength: 1, maxLength: 2 })),
      pods: optional(selector),
    })
    .map(compact)
    .filter((p) => Object.keys(p).length > 0),
  fc.record({ service: fc.record({ namespace: dnsLabel, name: dnsLabel }), clusters: optional(selector) }).map(compact),
);

const policySpec: fc.Arbitrary<Doc> = fc
  .record({
    tier: fc.constantFrom('platform', 'tenant', 'baseline'),
    priority: optional(fc.integer({ min: 0, max: 1000 })),
    action: fc.constantFrom('Allow', 'Deny', 'Pass'),
    from: fc.array(peer, { minLength: 1, maxLength: 3 }),
    to: fc.array(peer, { minLength: 1, maxLength: 3 }),
    ports: optional(
      fc.array(
        fc
          .record({ protocol: optional(protocol), port, span: optional(fc.nat({ max: 100 })) })
          .map(({ span, ...p }) => compact({ ...p, endPort: span === undefined ? undefined : Math.min(65_535, p.port + span) })),
        { maxLength: 3 },
      ),
    ),
  })
  .map(compact);

const NAMESPACED: Readonly<Record<Kind, boolean>> = { Cluster: false, Network: false, IPPool: false, ExternalService: true, GlobalPolicy: true };

/** A valid document of `kind` (field rules only: references may name objects that do not exist). */
export function validDocumentOf(kind: Kind, ctx: DocContext = {}): fc.Arbitrary<Doc> {
  const spec =
    kind === 'Cluster'
      ? clusterSpec(ctx)
      : kind === 'Network'
        ? networkSpec
        : kind === 'IPPool'
          ? ipPoolSpec(ctx)
          : kind === 'ExternalService'
            ? externalServiceSpec(ctx)
            : policySpec;
  return fc
    .record({ metadata: metadata(kind, NAMESPACED[kind], ctx), spec })
    .map(({ metadata: m, spec: s }) => ({ apiVersion: API_VERSION, kind, metadata: m, spec: s }));
}

export const KIND_LIST: readonly Kind[] = ['Cluster', 'Network', 'IPPool', 'ExternalService', 'GlobalPolicy'];

export function validDocument(ctx: DocContext = {}): fc.Arbitrary<Doc> {
  return fc.oneof(...KIND_LIST.map((k) => validDocumentOf(k, ctx)));
}

// ---- hostile documents ---------------------------------------------------------------------

export type PathStep = string | number;

/** A document changed at one place; `path` is where, for checking that a refusal names it. */
export interface Mutated {
  readonly object: unknown;
  readonly path: readonly PathStep[];
  readonly how: 'replace' | 'delete' | 'add-unknown' | 'special-ip' | 'bad-cidr';
}

/** Every path to a value inside `v` (objects and arrays), the root excluded. */
export function pathsOf(v: unknown, prefix: readonly PathStep[] = [], out: PathStep[][] = []): PathStep[][] {
  if (Array.isArray(v)) {
    v.forEach((x: unknown, i) => {
      out.push([...prefix, i]);
      pathsOf(x, [...prefix, i], out);
    });
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      pathsOf(x, [...prefix, k], out);
    }
  }
  return out;
}

/** A copy of `v` with the value at `path` replaced (or removed when `value` is DELETE). */
export function setAt(v: unknown, path: readonly PathStep[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (Array.isArray(v)) {
    const copy: unknown[] = [...(v as unknown[])];
    if (rest.length === 0 && value === DELETE) copy.splice(Number(head), 1);
    else copy[Number(head)] = setAt(copy[Number(head)], rest, value);
    return copy;
  }
  const copy = { ...(v as Record<string, unknown>) };
  if (rest.length === 0 && value === DELETE) Reflect.deleteProperty(copy, String(head));
  else Object.defineProperty(copy, String(head), { value: setAt(copy[String(head)], rest, value), enumerable: true, writable: true, configurable: true });
  return copy;
}

export const DELETE = Symbol('delete');

/** Keys a careless user or an attacker adds: typos of real fields, prototype keys, the empty key. */
const unknownKey = fc.oneof(
  fc.constantFrom('podCIDR', 'specs', 'metdata', 'namespce', '__proto__', 'constructor', '', ' ', 'status2', 'x-extra', 'Kind'),
  fc.string({ maxLength: 12 }),
);

/** One mutation of a valid document: replace, delete or add a field; put a special IP or a bad CIDR where one belongs. */
export function mutatedDocument(ctx: DocContext = {}): fc.Arbitrary<Mutated> {
  return validDocument(ctx).chain((doc) => {
    const paths = pathsOf(doc);
    const objectPaths: PathStep[][] = [[], ...paths.filter((p) => isPlainObject(get(doc, p)))];
    // Endpoint addresses only: a BGP peer on loopback is how the tests run gobgpd and BIRD.
    const addresses = paths.filter((p) => p.at(-1) === 'address');
    const cidrs = paths.filter((p) => typeof p.at(-1) === 'number' && /cidrs|CIDRs|prefixes/.test(String(p.at(-2))));
    const choices: fc.Arbitrary<Mutated>[] = [
      fc.tuple(fc.constantFrom(...paths), hostileValue).map(([path, value]) => ({ object: setAt(doc, path, value), path, how: 'replace' as const })),
      fc.constantFrom(...paths).map((path) => ({ object: setAt(doc, path, DELETE), path, how: 'delete' as const })),
      fc
        .tuple(fc.constantFrom(...objectPaths), unknownKey, hostileValue)
        .filter(([path, key]) => !isRecordField(path) && !Object.hasOwn(get(doc, path) as object, key))
        .map(([path, key, value]) => ({ object: setAt(doc, [...path, key], value), path: [...path, key], how: 'add-unknown' as const })),
    ];
    if (addresses.length > 0) {
      choices.push(
        fc.tuple(fc.constantFrom(...addresses), specialIp).map(([path, ip]) => ({ object: setAt(doc, path, ip), path, how: 'special-ip' as const })),
      );
    }
    if (cidrs.length > 0) {
      choices.push(fc.tuple(fc.constantFrom(...cidrs), badCidr).map(([path, c]) => ({ object: setAt(doc, path, c), path, how: 'bad-cidr' as const })));
    }
    return fc.oneof(...choices);
  });
}

/** Fields whose keys are data (labels, annotations, matchLabels): a new key there is a new label, not an unknown field. */
function isRecordField(path: readonly PathStep[]): boolean {
  const last = path.at(-1);
  return last === 'labels' || last === 'annotations' || last === 'matchLabels';
}

export function get(v: unknown, path: readonly PathStep[]): unknown {
  let cur: unknown = v;
  for (const step of path) cur = (cur as Record<PathStep, unknown> | undefined)?.[step];
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whole documents that are not documents: scalars, lists, wrong kinds, deep nesting, huge. */
export const garbageDocument: fc.Arbitrary<unknown> = fc.oneof(
  hostileValue,
  fc.record({
    apiVersion: fc.oneof(fc.constant(API_VERSION), fc.string()),
    kind: fc.oneof(fc.constantFrom(...KIND_LIST, 'List', 'Clustr', ''), fc.string()),
    metadata: hostileValue,
    spec: hostileValue,
  }),
  fc.dictionary(fc.string({ maxLength: 8 }), hostileValue, { maxKeys: 5 }),
);

/** Documents nested 16 to 131,072 levels deep, as a whole or under spec (too deep to send with JSON.stringify). */
export const deepDocument: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 4, max: 17 }), fc.boolean(), fc.boolean())
  .map(([k, asObject, whole]) =>
    whole ? nested(2 ** k, asObject) : { apiVersion: API_VERSION, kind: 'Cluster', metadata: { name: 'deep' }, spec: nested(2 ** k, asObject) },
  );

/** Two clusters of one clusterset whose pod CIDRs overlap: each valid alone, refused together. */
export function overlappingClusters(ctx: DocContext, pair: [string, string]): fc.Arbitrary<Doc[]> {
  return fc.tuple(validDocumentOf('Cluster', ctx), validDocumentOf('Cluster', ctx), dnsLabel).map(([a, b, set]) => {
    const withCidr = (d: Doc, c: string, suffix: string): Doc => {
      const spec: Doc = { ...(d.spec as Doc), clusterSet: set, podCIDRs: [c] };
      delete spec.ipam;
      spec.serviceCIDRs ??= [c.includes(':') ? 'fd99::/112' : '192.0.2.0/24'];
      return { ...d, metadata: { ...(d.metadata as Doc), name: `${String((d.metadata as Doc).name).slice(0, 50)}-${suffix}` }, spec };
    };
    return [withCidr(a, pair[0], 'a'), withCidr(b, pair[1], 'b')];
  });
}
