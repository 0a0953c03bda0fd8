// Kubernetes API double: a small, in-memory TEST DOUBLE of kube-apiserver. It is not a
// Kubernetes API server and never part of the product. No kube-apiserver can run on these
// machines (no package ships one; README, "Tests"), so integration tests and the demo's simulated
// clusters talk to this double through the real `@kubernetes/client-node`, one per cluster.
//
// It serves HTTPS (a self-signed certificate made with the `openssl` CLI at start; plain http
// with `insecure-skip-tls-verify` when `tls: false`) on 127.0.0.1 and follows the real API's
// conventions for core/v1 namespaces, nodes, services and pods (status, with the pod IPs, through the
// status subresource as a kubelet writes it), discovery.k8s.io/v1 endpointslices,
// networking.k8s.io/v1 networkpolicies (validated as the API server does: selectors, ports and
// port ranges, ipBlock CIDRs and their except, policyTypes), and CRDs
// (by default the upstream MCS `serviceexports`/`serviceimports`, multicluster.x-k8s.io/v1alpha1,
// MetalLB's `ipaddresspools`, metallb.io/v1beta1, and the cluster-scoped policy.networking.k8s.io
// `clusternetworkpolicies` (v1alpha2), `adminnetworkpolicies` and `baselineadminnetworkpolicies`
// (v1alpha1) of policy-crds.ts, Calico's projectcalico.org/v3 `tiers` and `globalnetworkpolicies` and
// Cilium's cilium.io/v2 `ciliumclusterwidenetworkpolicies` of cni-crds.ts, with their structural schemas: unknown fields pruned, defaults
// filled in, types and enums checked; `crds: mcsCustomResourceDefinitions` gives a cluster
// without MetalLB or the policy CRDs):
// discovery, list (label/field selectors, limit/continue), watch (ADDED/MODIFIED/DELETED, keep-alive
// newlines, 410 Gone after compaction), get, create, update, JSON merge patch, JSON patch,
// server-side apply with per-manager field ownership, delete, the status subresource, Status errors.
//
// Deliberate simplifications: no OpenAPI validation of built-in types (a few Service defaults and
// checks only), CRD schemas without pattern/format/CEL, no strategic merge patch (415); lists in
// server-side apply are atomic (no list-map merge keys); no finalizers, graceful deletion or
// deletecollection; deleting a namespace removes its contents at once; a `continue` token reads the
// current state rather than a snapshot; client-sent managedFields are ignored.
//
// Run standalone (one per process, as the demo does): test/harness/simulated-cluster-main.ts.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { CustomResourceDefinition, JSONSchemaProps } from './crd-schema.ts';
import { cniCustomResourceDefinitions } from './cni-crds.ts';
import { policyCustomResourceDefinitions } from './policy-crds.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export type { CustomResourceDefinition, JSONSchemaProps } from './crd-schema.ts';

const str$ = (extra: Partial<JSONSchemaProps> = {}): JSONSchemaProps => ({ type: 'string', ...extra });
const stringMap: JSONSchemaProps = { type: 'object', additionalProperties: { type: 'string' } };

/** metav1.Condition as controller-gen writes it into CRDs. */
const conditionSchema: JSONSchemaProps = {
  type: 'object',
  required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'],
  properties: {
    lastTransitionTime: str$(),
    message: str$({ maxLength: 32_768 }),
    observedGeneration: { type: 'integer', minimum: 0 },
    reason: str$({ minLength: 1, maxLength: 1024 }),
    status: str$({ enum: ['True', 'False', 'Unknown'] }),
    type: str$({ maxLength: 316 }),
  },
};

const rootOf = (spec: JSONSchemaProps, status: JSONSchemaProps): JSONSchemaProps => ({
  type: 'object',
  properties: { apiVersion: str$(), kind: str$(), metadata: { type: 'object' }, spec, status },
});

/** sigs.k8s.io/mcs-api v1alpha1 ServiceExport: spec.exportedLabels/exportedAnnotations, status.conditions. */
const serviceExportSchema = rootOf(
  { type: 'object', properties: { exportedLabels: stringMap, exportedAnnotations: stringMap } },
  {
    type: 'object',
    properties: {
      conditions: { type: 'array', items: conditionSchema, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
    },
  },
);

/**
 * sigs.k8s.io/mcs-api v1alpha1 ServiceImport as its conformance suite reads it today: ports, ips
 * (one VIP in v1alpha1), type, sessionAffinity and sessionAffinityConfig, internalTrafficPolicy
 * and trafficDistribution; status.clusters.
 */
const serviceImportSchema = rootOf(
  {
    type: 'object',
    required: ['ports', 'type'],
    properties: {
      ips: { type: 'array', maxItems: 1, items: str$() },
      ports: {
        type: 'array',
        'x-kubernetes-list-type': 'atomic',
        items: {
          type: 'object',
          required: ['port'],
          properties: {
            appProtocol: str$(),
            name: str$(),
            port: { type: 'integer', minimum: 1, maximum: 65_535 },
            protocol: str$({ default: 'TCP' }),
            targetPort: { 'x-kubernetes-int-or-string': true },
          },
        },
      },
      sessionAffinity: str$(),
      sessionAffinityConfig: {
        type: 'object',
        properties: { clientIP: { type: 'object', properties: { timeoutSeconds: { type: 'integer' } } } },
      },
      internalTrafficPolicy: str$(),
      trafficDistribution: str$(),
      type: str$({ enum: ['ClusterSetIP', 'Headless'] }),
    },
  },
  {
    type: 'object',
    properties: {
      clusters: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['cluster'],
        items: { type: 'object', required: ['cluster'], properties: { cluster: str$() } },
      },
    },
  },
);

function mcsCrd(kind: string, shortNames: readonly string[], schema: JSONSchemaProps): CustomResourceDefinition {
  const plural = `${kind.toLowerCase()}s`;
  return {
    metadata: { name: `${plural}.multicluster.x-k8s.io` },
    spec: {
      group: 'multicluster.x-k8s.io',
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames },
      versions: [{ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: schema } }],
    },
  };
}

/** The upstream MCS API CRDs (sigs.k8s.io/mcs-api), with their schemas, reduced to what the double serves. */
export const mcsCustomResourceDefinitions: readonly CustomResourceDefinition[] = [
  mcsCrd('ServiceExport', ['svcex', 'svcexport'], serviceExportSchema),
  mcsCrd('ServiceImport', ['svcim'], serviceImportSchema),
];

/** A metav1.LabelSelector as controller-gen writes it into CRDs (x-kubernetes-map-type atomic: the double merges no maps in lists anyway). */
const labelSelectorSchema: JSONSchemaProps = {
  type: 'object',
  properties: {
    matchExpressions: {
      type: 'array',
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: { key: str$(), operator: str$(), values: { type: 'array', 'x-kubernetes-list-type': 'atomic', items: str$() } },
      },
    },
    matchLabels: stringMap,
  },
};

/**
 * MetalLB v1beta1 IPAddressPool (metallb/metallb config/crd/bases/metallb.io_ipaddresspools.yaml,
 * controller-gen v0.16.3): spec.addresses (CIDRs or start-end ranges) required, autoAssign
 * default true, avoidBuggyIPs default false, serviceAllocation (priority, namespaces and
 * namespace/service label selectors); status an empty object. Descriptions and printer columns
 * left out (the double serves neither).
 */
const ipAddressPoolSchema: JSONSchemaProps = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: str$(),
    kind: str$(),
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['addresses'],
      properties: {
        addresses: { type: 'array', items: str$() },
        autoAssign: { type: 'boolean', default: true },
        avoidBuggyIPs: { type: 'boolean', default: false },
        serviceAllocation: {
          type: 'object',
          properties: {
            namespaceSelectors: { type: 'array', items: labelSelectorSchema },
            namespaces: { type: 'array', items: str$() },
            priority: { type: 'integer' },
            serviceSelectors: { type: 'array', items: labelSelectorSchema },
          },
        },
      },
    },
    status: { type: 'object' },
  },
};

/** MetalLB's IPAddressPool CRD (metallb.io/v1beta1), which the agent writes its LoadBalancer block into. */
export const metallbCustomResourceDefinitions: readonly CustomResourceDefinition[] = [
  {
    metadata: { name: 'ipaddresspools.metallb.io' },
    spec: {
      group: 'metallb.io',
      scope: 'Namespaced',
      names: { plural: 'ipaddresspools', singular: 'ipaddresspool', kind: 'IPAddressPool', listKind: 'IPAddressPoolList' },
      versions: [{ name: 'v1beta1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: ipAddressPoolSchema } }],
    },
  },
];

/**
 * What a fresh double serves: the MCS CRDs, MetalLB's, sig-network's policy CRDs (ClusterNetworkPolicy,
 * AdminNetworkPolicy, BaselineAdminNetworkPolicy), Calico's Tier and GlobalNetworkPolicy and Cilium's
 * CiliumClusterwideNetworkPolicy (cni-crds.ts).
 */
export const defaultCustomResourceDefinitions: readonly CustomResourceDefinition[] = [
  ...mcsCustomResourceDefinitions,
  ...metallbCustomResourceDefinitions,
  ...policyCustomResourceDefinitions,
  ...cniCustomResourceDefinitions,
];
export { cniCustomResourceDefinitions, policyCustomResourceDefinitions };

export interface KubeApiDoubleOptions {
  /** Default 0: a free port. */
  readonly port?: number;
  /** Bearer token every request must carry; default random. */
  readonly token?: string;
  /** Default true (HTTPS with a self-signed certificate); false serves http + skip-TLS-verify. */
  readonly tls?: boolean;
  /** CRDs to serve; default the MCS ServiceExport and ServiceImport, MetalLB's IPAddressPool and the policy CRDs. */
  readonly crds?: readonly CustomResourceDefinition[];
  /** Namespaces present at start; default those of a fresh cluster. `metallb-system` is added whenever MetalLB's CRD is served. */
  readonly namespaces?: readonly string[];
  /** Keep-alive newline interval on watch streams (the client gives up after 30 s of silence); 0 disables. */
  readonly keepAliveMs?: number;
  /** How a watch from a compacted resourceVersion fails: HTTP 410 (default) or a 200 stream with an ERROR event. */
  readonly watchGone?: 'http' | 'event';
  /** Watch history kept; older events are compacted away. Default 10,000. */
  readonly maxEvents?: number;
  /** Cluster, user and context name in the kubeconfig. */
  readonly clusterName?: string;
}

export interface FaultOptions {
  /** HTTP status of the injected failure; default 500. */
  readonly code?: number;
  /** Only requests this matches count; default all. */
  readonly match?: (method: string, path: string) => boolean;
}

export interface KubeApiDouble {
  readonly url: string;
  readonly token: string;
  /** The self-signed CA certificate (PEM), undefined when serving plain http. */
  readonly caPem: string | undefined;
  kubeconfigYaml(): string;
  writeKubeconfig(path: string): Promise<void>;
  /** Direct state access for assertions; `resource` is a plural (`services`) or `plural.group`. */
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  /** Creates an object directly, as a create request would (manager `kube-api-double`). */
  seed(object: KubeObject): KubeObject;
  /** Replaces an object's status, as its controller (a Pod's kubelet) would through the status subresource. */
  setStatus(resource: string, namespace: string | undefined, name: string, status: unknown): KubeObject;
  /** The current resourceVersion (a global counter, like etcd's revision). */
  resourceVersion(): string;
  /** Forgets all watch history: a watch from any older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Fails the next `count` matching requests with a Status error. */
  failNext(count: number, options?: FaultOptions): void;
  /** Destroys the sockets of all open watch streams (the client sees an error); returns how many. */
  dropWatches(): number;
  /** Ends all open watch streams cleanly (the client re-watches); returns how many. */
  closeWatches(): number;
  openWatches(): number;
  stop(): Promise<void>;
}

type Obj = Record<string, unknown>;

interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly statusSubresource: boolean;
  readonly shortNames: readonly string[];
  /** Served from a CRD: list items carry apiVersion/kind and updates must name a resourceVersion. */
  readonly custom: boolean;
  /** Real DELETE answers a Status for some built-ins and the deleted object for the rest. */
  readonly deleteReturnsStatus: boolean;
  readonly nameRule: RegExp;
  /** A custom resource's structural schema: pruning, defaults, validation. */
  readonly schema?: JSONSchemaProps | undefined;
}

const dns1123Subdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^(?=.{1,63}$)[a-z]([-a-z0-9]*[a-z0-9])?$/;

const builtinTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    namespaced: false,
    statusSubresource: true,
    shortNames: ['ns'],
    custom: false,
    deleteReturnsStatus: false,
    nameRule: dns1123Label,
  },
  // Cluster-scoped; the agent reads node labels (zone, GPU class) for the endpoints it exports.
  {
    group: '',
    version: 'v1',
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    listKind: 'NodeList',
    namespaced: false,
    statusSubresource: true,
    shortNames: ['no'],
    custom: false,
    deleteReturnsStatus: false,
    nameRule: dns1123Subdomain,
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    listKind: 'ServiceList',
    namespaced: true,
    statusSubresource: true,
    shortNames: ['svc'],
    custom: false,
    deleteReturnsStatus: false,
    nameRule: dns1035Label,
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    listKind: 'PodList',
    namespaced: true,
    statusSubresource: true,
    shortNames: ['po'],
    custom: false,
    deleteReturnsStatus: false,
    nameRule: dns1123Subdomain,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    kind: 'NetworkPolicy',
    listKind: 'NetworkPolicyList',
    namespaced: true,
    statusSubresource: false,
    shortNames: ['netpol'],
    custom: false,
    deleteReturnsStatus: true,
    nameRule: dns1123Subdomain,
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    namespaced: true,
    statusSubresource: false,
    shortNames: [],
    custom: false,
    deleteReturnsStatus: true,
    nameRule: dns1123Subdomain,
  },
];

function typesFromCrd(crd: CustomResourceDefinition): ResourceType[] {
  const { group, names, scope, versions } = crd.spec;
  return versions
    .filter((v) => v.served)
    .map((v) => ({
      group,
      version: v.name,
      plural: names.plural,
      singular: names.singular,
      kind: names.kind,
      listKind: names.listKind ?? `${names.kind}List`,
      namespaced: scope === 'Namespaced',
      statusSubresource: v.subresources?.status !== undefined,
      shortNames: names.shortNames ?? [],
      custom: true,
      deleteReturnsStatus: false,
      nameRule: dns1123Subdomain,
      schema: v.schema?.openAPIV3Schema,
    }));
}

const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);
/** The name the real server uses in messages: `services`, `serviceexports.multicluster.x-k8s.io`. */
const resourceName = (t: ResourceType): string => (t.group ? `${t.plural}.${t.group}` : t.plural);

// ---- errors ----------------------------------------------------------------------------------

class ApiError extends Error {
  readonly body: Obj;
  readonly code: number;
  constructor(code: number, reason: string, message: string, details?: Obj) {
    super(message);
    this.code = code;
    this.body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
  }
}

const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);
const notFound = (t: ResourceType, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${resourceName(t)} "${name}" not found`, { name, group: t.group, kind: t.plural });
const invalid = (t: ResourceType, name: string, field: string, why: string): ApiError =>
  new ApiError(422, 'Invalid', `${t.kind} "${name}" is invalid: ${field}: ${why}`, {
    name,
    group: t.group,
    kind: t.kind,
    causes: [{ reason: 'FieldValueInvalid', message: why, field }],
  });
const conflict = (t: ResourceType, name: string): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resourceName(t)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: t.group, kind: t.plural },
  );

// ---- JSON helpers ------------------------------------------------------------------------------

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const clone = <T>(v: T): T => structuredClone(v);

/** JSON with sorted keys, so that equal objects compare equal whatever their key order. */
function canon(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (isObj(v))
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)
      .join(',')}}`;
  return v === undefined ? 'null' : JSON.stringify(v);
}

function meta(o: Obj): Obj {
  if (!isObj(o.metadata)) o.metadata = {};
  return o.metadata as Obj;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const nowSeconds = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function valueAt(o: unknown, path: readonly string[]): unknown {
  let cur = o;
  for (const seg of path) cur = isObj(cur) ? cur[seg] : undefined;
  return cur;
}

/** Removes a field and the maps it leaves empty (never `metadata` itself). */
function deletePath(root: Obj, path: readonly string[]): void {
  const chain: Obj[] = [root];
  for (const seg of path.slice(0, -1)) {
    const next = chain[chain.length - 1]?.[seg];
    if (!isObj(next)) return;
    chain.push(next);
  }
  const last = path[path.length - 1];
  if (last === undefined) return;
  delete chain[chain.length - 1]?.[last];
  for (let i = chain.length - 1; i > 1 || (i === 1 && path[0] !== 'metadata'); i--) {
    const node = chain[i];
    const key = path[i - 1];
    if (!node || key === undefined || Object.keys(node).length > 0) break;
    delete chain[i - 1]?.[key];
  }
}

/** Maps merge key by key, everything else (lists included) is replaced: apply's merge. */
function deepMerge(target: Obj, src: Obj): Obj {
  for (const [k, v] of Object.entries(src)) {
    const cur = target[k];
    if (v === null) Reflect.deleteProperty(target, k);
    else if (isObj(v) && isObj(cur)) deepMerge(cur, v);
    else target[k] = clone(v);
  }
  return target;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch (the CustomObjectsApi default patch type). */
function jsonPatch(doc: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw badRequest('a JSON patch must be an array of operations');
  const root: Obj = { doc: clone(doc) };
  const locate = (pointer: unknown): [Obj | unknown[], string] => {
    if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) throw badRequest(`invalid JSON pointer ${String(pointer)}`);
    const segs = [
      'doc',
      ...pointer
        .split('/')
        .slice(1)
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')),
    ];
    let parent: unknown = root;
    for (const seg of segs.slice(0, -1)) parent = Array.isArray(parent) ? parent[Number(seg)] : isObj(parent) ? parent[seg] : undefined;
    if (!isObj(parent) && !Array.isArray(parent)) throw new ApiError(422, 'Invalid', `JSON patch path ${pointer} does not exist`);
    return [parent, segs[segs.length - 1] ?? 'doc'];
  };
  const read = (pointer: unknown): unknown => {
    const [parent, key] = locate(pointer);
    const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
    if (v === undefined) throw new ApiError(422, 'Invalid', `JSON patch path ${String(pointer)} does not exist`);
    return v;
  };
  const remove = (pointer: unknown): void => {
    read(pointer);
    const [parent, key] = locate(pointer);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else Reflect.deleteProperty(parent, key);
  };
  const add = (pointer: unknown, value: unknown): void => {
    const [parent, key] = locate(pointer);
    if (!Array.isArray(parent)) parent[key] = clone(value);
    else if (key === '-') parent.push(clone(value));
    else parent.splice(Number(key), 0, clone(value));
  };
  for (const op of ops) {
    if (!isObj(op)) throw badRequest('a JSON patch operation must be an object');
    switch (op.op) {
      case 'add':
        add(op.path, op.value);
        break;
      case 'remove':
        remove(op.path);
        break;
      case 'replace':
        remove(op.path);
        add(op.path, op.value);
        break;
      case 'move': {
        const v = read(op.from);
        remove(op.from);
        add(op.path, v);
        break;
      }
      case 'copy':
        add(op.path, read(op.from));
        break;
      case 'test':
        if (canon(read(op.path)) !== canon(op.value)) throw new ApiError(422, 'Invalid', `JSON patch test failed at ${String(op.path)}`);
        break;
      default:
        throw badRequest(`unknown JSON patch operation ${String(op.op)}`);
    }
  }
  if (!isObj(root.doc)) throw badRequest('a JSON patch must leave an object');
  return root.doc;
}

// ---- selectors -------------------------------------------------------------------------------

interface Requirement {
  readonly key: string;
  readonly op: 'exists' | '!exists' | 'in' | 'notin';
  readonly values: readonly string[];
}

function parseLabelSelector(selector: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || c === undefined) {
      parts.push(selector.slice(start, i).trim());
      start = i + 1;
    }
  }
  const key = String.raw`([A-Za-z0-9][-A-Za-z0-9_./]*)`;
  return parts
    .filter((p) => p !== '')
    .map((p): Requirement => {
      let m = new RegExp(`^!\\s*${key}$`).exec(p);
      if (m?.[1]) return { key: m[1], op: '!exists', values: [] };
      m = new RegExp(`^${key}$`).exec(p);
      if (m?.[1]) return { key: m[1], op: 'exists', values: [] };
      m = new RegExp(`^${key}\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`).exec(p);
      if (m?.[1] && m[2] && m[3] !== undefined) return { key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] };
      m = new RegExp(`^${key}\\s+(in|notin)\\s*\\(([^()]*)\\)$`).exec(p);
      if (m?.[1] && m[3] !== undefined) return { key: m[1], op: m[2] === 'in' ? 'in' : 'notin', values: m[3].split(',').map((v) => v.trim()) };
      throw badRequest(`unable to parse requirement: ${p}`);
    });
}

function parseFieldSelector(selector: string): Requirement[] {
  return selector
    .split(',')
    .filter((p) => p.trim() !== '')
    .map((p) => {
      const m = /^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(p);
      if (!m?.[1] || !m[2] || m[3] === undefined) throw badRequest(`invalid field selector: ${p}`);
      if (m[1] !== 'metadata.name' && m[1] !== 'metadata.namespace') throw badRequest(`field label not supported: ${m[1]}`);
      return { key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] };
    });
}

function matchesAll(values: Record<string, unknown>, reqs: readonly Requirement[]): boolean {
  return reqs.every((r) => {
    const v = values[r.key];
    const has = typeof v === 'string';
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'in':
        return has && r.values.includes(v);
      case 'notin':
        return !has || !r.values.includes(v);
    }
  });
}

interface Selection {
  readonly namespace: string | undefined;
  readonly labels: readonly Requirement[];
  readonly fields: readonly Requirement[];
}

function selects(sel: Selection, o: Obj): boolean {
  const m = meta(o);
  if (sel.namespace !== undefined && m.namespace !== sel.namespace) return false;
  const labels = isObj(m.labels) ? m.labels : {};
  return matchesAll(labels, sel.labels) && matchesAll({ 'metadata.name': m.name, 'metadata.namespace': m.namespace ?? '' }, sel.fields);
}

// ---- field ownership (server-side apply) -----------------------------------------------------

interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  subresource: string;
  time: string;
  paths: Set<string>;
}
type Scope = 'main' | 'status';

/** Leaf fields (path JSON → value JSON) a write in `scope` may touch; maps recurse, lists are atomic. */
function leafFields(o: Obj, t: ResourceType, scope: Scope): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (v: unknown, path: string[]): void => {
    if (isObj(v) && Object.keys(v).length > 0) for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
    else out.set(JSON.stringify(path), canon(v));
  };
  for (const [k, v] of Object.entries(o)) {
    if (scope === 'status' ? k === 'status' : !['apiVersion', 'kind', 'metadata'].includes(k) && !(k === 'status' && t.statusSubresource)) walk(v, [k]);
  }
  if (scope === 'main') {
    const m = isObj(o.metadata) ? o.metadata : {};
    for (const f of ['labels', 'annotations']) {
      const map = m[f];
      if (isObj(map)) for (const [k, v] of Object.entries(map)) walk(v, ['metadata', f, k]);
    }
  }
  return out;
}

const toPath = (key: string): string[] => JSON.parse(key) as string[];
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return false;
  return true;
}

function decodeEntries(o: Obj | undefined): ManagedEntry[] {
  const raw = o ? meta(o).managedFields : undefined;
  if (!Array.isArray(raw)) return [];
  return raw.filter(isObj).map((e) => {
    const paths = new Set<string>();
    const walk = (node: unknown, path: string[]): void => {
      const children = isObj(node) ? Object.keys(node).filter((k) => k.startsWith('f:')) : [];
      if (children.length === 0 && path.length > 0) paths.add(JSON.stringify(path));
      for (const k of children) walk((node as Obj)[k], [...path, k.slice(2)]);
    };
    walk(e.fieldsV1, []);
    return {
      manager: str(e.manager) ?? '',
      operation: e.operation === 'Apply' ? 'Apply' : 'Update',
      subresource: str(e.subresource) ?? '',
      time: str(e.time) ?? nowSeconds(),
      paths,
    };
  });
}

function encodeEntries(t: ResourceType, entries: readonly ManagedEntry[]): Obj[] {
  return entries
    .filter((e) => e.paths.size > 0)
    .map((e) => {
      const tree: Obj = {};
      for (const key of e.paths) {
        let node = tree;
        for (const seg of toPath(key)) {
          const child = node[`f:${seg}`];
          node = isObj(child) ? child : (node[`f:${seg}`] = {});
        }
      }
      return {
        manager: e.manager,
        operation: e.operation,
        apiVersion: apiVersionOf(t),
        time: e.time,
        fieldsType: 'FieldsV1',
        fieldsV1: tree,
        ...(e.subresource ? { subresource: e.subresource } : {}),
      };
    });
}

/** An Update takes the fields it changed from every other manager (updates never conflict). */
function trackUpdate(entries: ManagedEntry[], t: ResourceType, old: Obj | undefined, next: Obj, manager: string, scope: Scope): ManagedEntry[] {
  const before = old ? leafFields(old, t, scope) : new Map<string, string>();
  const after = leafFields(next, t, scope);
  const changed = [...after]
    .filter(([k, v]) => before.get(k) !== v)
    .map(([k]) => k)
    .concat([...before.keys()].filter((k) => !after.has(k)));
  if (changed.length === 0) return entries;
  const changedPaths = changed.map(toPath);
  for (const e of entries) for (const p of e.paths) if (changedPaths.some((c) => overlaps(c, toPath(p)))) e.paths.delete(p);
  const subresource = scope === 'status' ? 'status' : '';
  let mine = entries.find((e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource);
  if (!mine) entries.push((mine = { manager, operation: 'Update', subresource, time: '', paths: new Set() }));
  for (const c of changed) if (after.has(c)) mine.paths.add(c);
  mine.time = nowSeconds();
  return entries;
}

// ---- the state -------------------------------------------------------------------------------

interface WatchEvent {
  readonly rv: number;
  readonly typeId: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Obj;
  readonly previous: Obj | undefined;
}
interface Watcher extends Selection {
  readonly typeId: string;
  readonly res: ServerResponse;
  readonly timers: NodeJS.Timeout[];
}

interface State {
  readonly types: readonly ResourceType[];
  readonly objects: Map<string, Obj>;
  readonly watchers: Set<Watcher>;
  log: WatchEvent[];
  rv: number;
  compactedRv: number;
  nextServiceIp: number;
  faults: { remaining: number; code: number; match: (method: string, path: string) => boolean };
  readonly maxEvents: number;
}

const objectKey = (t: ResourceType, namespace: string | undefined, name: string): string => `${resourceName(t)}/${namespace ?? ''}/${name}`;

function objectsOf(s: State, t: ResourceType, sel: Selection): Obj[] {
  const prefix = `${resourceName(t)}/`;
  return [...s.objects]
    .filter(([k, o]) => k.startsWith(prefix) && selects(sel, o))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, o]) => o);
}

function send(w: Watcher, type: string, object: Obj): void {
  w.res.write(`${JSON.stringify({ type, object })}\n`);
}

/** Like the real watch cache, a label-filtered watch sees an object entering or leaving its selection as ADDED or DELETED. */
function deliver(w: Watcher, ev: WatchEvent): void {
  if (w.typeId !== ev.typeId) return;
  const now = selects(w, ev.object);
  const before = ev.type === 'MODIFIED' && ev.previous ? selects(w, ev.previous) : now;
  if (now && before) send(w, ev.type, ev.object);
  else if (now) send(w, 'ADDED', ev.object);
  else if (before) send(w, 'DELETED', ev.object);
}

function commit(s: State, t: ResourceType, key: string, type: WatchEvent['type'], next: Obj | undefined, previous: Obj | undefined): Obj {
  s.rv += 1;
  const object = next ?? clone(previous ?? {});
  meta(object).resourceVersion = String(s.rv);
  if (next) s.objects.set(key, next);
  else s.objects.delete(key);
  const ev: WatchEvent = { rv: s.rv, typeId: resourceName(t), type, object, previous };
  s.log.push(ev);
  if (s.log.length > s.maxEvents) {
    s.compactedRv = s.log[s.log.length - s.maxEvents - 1]?.rv ?? s.compactedRv;
    s.log = s.log.slice(-s.maxEvents);
  }
  for (const w of s.watchers) deliver(w, ev);
  return object;
}

const systemMeta = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'selfLink',
];

function withoutVolatile(o: Obj): string {
  const c = clone(o);
  const m = meta(c);
  delete m.resourceVersion;
  if (Array.isArray(m.managedFields)) m.managedFields = m.managedFields.map((e: unknown) => (isObj(e) ? { ...e, time: undefined } : e));
  return canon(c);
}

// ---- structural schemas (custom resources) ---------------------------------------------------

/** Drops what the schema does not know, and nulls, as the API server prunes custom resources. */
function prune(v: unknown, schema: JSONSchemaProps | undefined): unknown {
  if (schema === undefined || schema['x-kubernetes-preserve-unknown-fields'] === true) return v;
  if (Array.isArray(v)) return v.map((x) => prune(x, schema.items));
  if (!isObj(v)) return v;
  for (const [k, child] of Object.entries(v)) {
    const sub = schema.properties?.[k] ?? schema.additionalProperties;
    if (child === null || sub === undefined) Reflect.deleteProperty(v, k);
    else v[k] = prune(child, sub);
  }
  return v;
}

/** Fills in `default`s of absent fields inside objects that are present. */
function fillDefaults(v: unknown, schema: JSONSchemaProps | undefined): void {
  if (schema === undefined) return;
  if (Array.isArray(v)) {
    for (const x of v) fillDefaults(x, schema.items);
    return;
  }
  if (!isObj(v)) return;
  for (const [k, sub] of Object.entries(schema.properties ?? {})) {
    if (v[k] === undefined && sub.default !== undefined) v[k] = clone(sub.default);
    fillDefaults(v[k], sub);
  }
  if (schema.additionalProperties !== undefined) for (const child of Object.values(v)) fillDefaults(child, schema.additionalProperties);
}

const shown = (v: unknown): string => (v === undefined ? 'null' : JSON.stringify(v));

/** The first violation of the schema, as the API server words it: [field path, why]; undefined when valid. */
function violation(v: unknown, schema: JSONSchemaProps, path: string): [string, string] | undefined {
  const typeOk = (): boolean => {
    if (schema['x-kubernetes-int-or-string'] === true) return typeof v === 'string' || Number.isInteger(v);
    const checks: Record<NonNullable<JSONSchemaProps['type']>, (x: unknown) => boolean> = {
      object: isObj,
      array: Array.isArray,
      string: (x) => typeof x === 'string',
      integer: Number.isInteger,
      number: (x) => typeof x === 'number',
      boolean: (x) => typeof x === 'boolean',
    };
    return schema.type === undefined || checks[schema.type](v);
  };
  if (!typeOk()) {
    const actual = Array.isArray(v) ? 'array' : isObj(v) ? 'object' : Number.isInteger(v) ? 'integer' : typeof v;
    return [path, `Invalid value: "${actual}": ${path} in body must be of type ${schema.type ?? 'integer or string'}: "${actual}"`];
  }
  if (schema.enum !== undefined && !schema.enum.some((e) => canon(e) === canon(v))) {
    return [path, `Unsupported value: ${shown(v)}: supported values: ${schema.enum.map(shown).join(', ')}`];
  }
  if (typeof v === 'string') {
    if (schema.maxLength !== undefined && v.length > schema.maxLength) return [path, `Too long: may not be more than ${schema.maxLength} bytes`];
    if (schema.minLength !== undefined && v.length < schema.minLength)
      return [path, `Invalid value: ${shown(v)}: ${path} in body should be at least ${schema.minLength} chars long`];
  }
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum)
      return [path, `Invalid value: ${v}: ${path} in body should be greater than or equal to ${schema.minimum}`];
    if (schema.maximum !== undefined && v > schema.maximum)
      return [path, `Invalid value: ${v}: ${path} in body should be less than or equal to ${schema.maximum}`];
  }
  if (Array.isArray(v)) {
    if (schema.maxItems !== undefined && v.length > schema.maxItems) return [path, `Too many: ${v.length}: must have at most ${schema.maxItems} items`];
    for (const [i, x] of v.entries()) {
      const bad = schema.items === undefined ? undefined : violation(x, schema.items, `${path}[${i}]`);
      if (bad !== undefined) return bad;
    }
  }
  if (isObj(v)) {
    for (const k of schema.required ?? []) if (v[k] === undefined) return [`${path}.${k}`.replace(/^\./, ''), 'Required value'];
    for (const [k, child] of Object.entries(v)) {
      const sub = schema.properties?.[k] ?? schema.additionalProperties;
      const bad = sub === undefined ? undefined : violation(child, sub, path === '' ? k : `${path}.${k}`);
      if (bad !== undefined) return bad;
    }
  }
  return undefined;
}

/** Prunes, defaults and validates a custom resource by its schema; metadata is the server's own. */
function structural(t: ResourceType, o: Obj): void {
  const schema = t.schema;
  if (schema === undefined) return;
  const metadata = o.metadata;
  delete o.metadata;
  prune(o, schema);
  fillDefaults(o, schema);
  o.metadata = metadata;
  const bad = violation({ ...o, metadata: undefined }, { ...schema, properties: { ...schema.properties, metadata: {} } }, '');
  if (bad !== undefined) throw invalid(t, str(meta(o).name) ?? '', bad[0], bad[1]);
}

/** Stamps server-owned metadata and stores `next`; a write that changes nothing keeps the old version, as the real server does. */
function persist(s: State, t: ResourceType, old: Obj | undefined, next: Obj, entries: ManagedEntry[], dryRun: boolean): Obj {
  const m = meta(next);
  for (const f of systemMeta) Reflect.deleteProperty(m, f);
  next.apiVersion = apiVersionOf(t);
  next.kind = t.kind;
  structural(t, next);
  const om = old ? meta(old) : undefined;
  const spec = (o: Obj): string => canon({ ...o, apiVersion: undefined, kind: undefined, metadata: undefined, status: undefined });
  m.uid = om?.uid ?? randomUUID();
  m.creationTimestamp = om?.creationTimestamp ?? nowSeconds();
  m.generation = !old || !om ? 1 : spec(old) === spec(next) ? om.generation : Number(om.generation) + 1;
  const managed = encodeEntries(t, entries);
  if (managed.length > 0) m.managedFields = managed;
  if (old && withoutVolatile(old) === withoutVolatile(next)) return old;
  if (dryRun) {
    if (om) m.resourceVersion = om.resourceVersion;
    return next;
  }
  return commit(s, t, objectKey(t, str(m.namespace), str(m.name) ?? ''), old ? 'MODIFIED' : 'ADDED', next, old);
}

function findType(s: State, group: string, version: string, plural: string): ResourceType | undefined {
  return s.types.find((t) => t.group === group && t.version === version && t.plural === plural);
}

function typeByName(s: State, resource: string): ResourceType {
  const t = s.types.find((x) => x.plural === resource || resourceName(x) === resource);
  if (!t) throw new Error(`the Kubernetes API double serves no resource ${resource}`);
  return t;
}

/** Server-side defaults and immutability checks of the built-in types the agent reads. */
function defaults(s: State, t: ResourceType, next: Obj, old: Obj | undefined): void {
  const name = str(meta(next).name) ?? '';
  if (t.plural === 'namespaces') {
    const m = meta(next);
    m.labels = { ...(isObj(m.labels) ? m.labels : {}), 'kubernetes.io/metadata.name': name };
    next.spec ??= { finalizers: ['kubernetes'] };
    next.status ??= { phase: 'Active' };
  } else if (t.plural === 'services') {
    const spec: Obj = isObj(next.spec) ? next.spec : (next.spec = {});
    const was = old && isObj(old.spec) ? old.spec : {};
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ??= 'Cluster';
    if (spec.sessionAffinity === 'ClientIP') {
      const config = isObj(spec.sessionAffinityConfig) ? spec.sessionAffinityConfig : (spec.sessionAffinityConfig = {});
      const clientIP = isObj(config.clientIP) ? config.clientIP : (config.clientIP = {});
      clientIP.timeoutSeconds ??= 10_800;
      const timeout = clientIP.timeoutSeconds;
      if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 86_400) {
        throw invalid(
          t,
          name,
          'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
          `Invalid value: ${shown(timeout)}: must be greater than 0 and less than 86400`,
        );
      }
    } else if (spec.sessionAffinityConfig !== undefined && spec.sessionAffinityConfig !== null) {
      throw invalid(
        t,
        name,
        'spec.sessionAffinityConfig',
        `Invalid value: ${shown(spec.sessionAffinityConfig)}: must not be set when sessionAffinity is ${String(spec.sessionAffinity)}`,
      );
    }
    spec.clusterIP ??= was.clusterIP;
    if (old && spec.clusterIP !== was.clusterIP) throw invalid(t, name, 'spec.clusterIP', 'field is immutable');
    if (spec.clusterIP === undefined && spec.type !== 'ExternalName') {
      s.nextServiceIp += 1;
      spec.clusterIP = `10.96.${Math.floor(s.nextServiceIp / 256) % 256}.${s.nextServiceIp % 256}`;
    }
    if (spec.clusterIP !== undefined) spec.clusterIPs ??= [spec.clusterIP];
    if (Array.isArray(spec.ports)) {
      for (const p of spec.ports.filter(isObj)) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
    }
    next.status ??= { loadBalancer: {} };
  } else if (t.plural === 'endpointslices' && typeof next.addressType !== 'string') {
    throw invalid(t, name, 'addressType', 'Required value');
  } else if (t.plural === 'networkpolicies') {
    const bad = networkPolicyViolation(next.spec);
    if (bad !== undefined) throw invalid(t, name, bad[0], bad[1]);
  }
}

/** An IPv4 or IPv6 CIDR as the API server's ParseCIDRSloppy takes it; the prefix length, or undefined. */
function cidrBits(v: unknown): { readonly v6: boolean; readonly bits: number; readonly addr: bigint } | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  if (!m) return undefined;
  const [, ip = '', len = ''] = m;
  const bits = Number(len);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const parts = ip.split('.').map(Number);
    if (parts.some((p) => p > 255) || bits > 32) return undefined;
    return { v6: false, bits, addr: parts.reduce((a, p) => (a << 8n) + BigInt(p), 0n) };
  }
  if (ip.includes(':') && bits <= 128) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head === '' ? [] : head.split(':');
    const tl = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl] : h;
    if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
    return { v6: true, bits, addr: groups.reduce((a, g) => (a << 16n) + BigInt(parseInt(g, 16)), 0n) };
  }
  return undefined;
}

function selectorViolation(sel: unknown, path: string): [string, string] | undefined {
  if (sel === undefined) return undefined;
  if (!isObj(sel)) return [path, 'Invalid value: must be a label selector'];
  for (const k of Object.keys(sel)) if (k !== 'matchLabels' && k !== 'matchExpressions') return [`${path}.${k}`, 'field not declared in schema'];
  if (sel.matchLabels !== undefined && !isObj(sel.matchLabels)) return [`${path}.matchLabels`, 'Invalid value: must be a map of strings'];
  for (const [k, v] of Object.entries(isObj(sel.matchLabels) ? sel.matchLabels : {})) {
    if (typeof v !== 'string' || v.length > 63) return [`${path}.matchLabels`, `Invalid value: "${String(v)}": a label value must be 63 characters or less`];
    if (k === '' || k.length > 317) return [`${path}.matchLabels`, `Invalid value: "${k}": name part must be non-empty`];
  }
  const exprs = sel.matchExpressions;
  if (exprs !== undefined && !Array.isArray(exprs)) return [`${path}.matchExpressions`, 'Invalid value: must be a list'];
  for (const [i, e] of (Array.isArray(exprs) ? exprs : []).entries()) {
    const p = `${path}.matchExpressions[${i}]`;
    if (!isObj(e) || typeof e.key !== 'string' || e.key === '') return [`${p}.key`, 'Required value'];
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(String(e.operator))) return [`${p}.operator`, `Unsupported value: "${String(e.operator)}"`];
    const values = Array.isArray(e.values) ? e.values : [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0)
      return [`${p}.values`, "Required value: must be specified when `operator` is 'In' or 'NotIn'"];
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0)
      return [`${p}.values`, "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"];
  }
  return undefined;
}

/** networking.k8s.io/v1 NetworkPolicySpec validation (pkg/apis/networking/validation), the parts policies use. */
function networkPolicyViolation(spec: unknown): [string, string] | undefined {
  if (!isObj(spec)) return ['spec', 'Required value'];
  if (spec.podSelector === undefined) return ['spec.podSelector', 'Required value'];
  const ps = selectorViolation(spec.podSelector, 'spec.podSelector');
  if (ps) return ps;
  const types = spec.policyTypes;
  if (types !== undefined && (!Array.isArray(types) || types.some((x) => x !== 'Ingress' && x !== 'Egress')))
    return ['spec.policyTypes', `Unsupported value: ${JSON.stringify(types)}: supported values: "Ingress", "Egress"`];
  for (const dir of ['ingress', 'egress'] as const) {
    const rules = spec[dir];
    if (rules === undefined || rules === null) continue;
    if (!Array.isArray(rules)) return [`spec.${dir}`, 'Invalid value: must be a list'];
    for (const [i, r] of rules.entries()) {
      const base = `spec.${dir}[${i}]`;
      if (!isObj(r)) return [base, 'Invalid value: must be an object'];
      for (const [j, port] of (Array.isArray(r.ports) ? r.ports : []).entries()) {
        const pp = `${base}.ports[${j}]`;
        if (!isObj(port)) return [pp, 'Invalid value: must be an object'];
        if (port.protocol !== undefined && (typeof port.protocol !== 'string' || !['TCP', 'UDP', 'SCTP'].includes(port.protocol)))
          return [`${pp}.protocol`, `Unsupported value: ${shown(port.protocol)}: supported values: "SCTP", "TCP", "UDP"`];
        const p = port.port;
        if (typeof p === 'number' && (!Number.isInteger(p) || p < 1 || p > 65_535))
          return [`${pp}.port`, `Invalid value: ${p}: must be between 1 and 65535, inclusive`];
        if (p !== undefined && typeof p !== 'number' && (typeof p !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p) || p.length > 15))
          return [`${pp}.port`, `Invalid value: ${shown(p)}: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`];
        const end = port.endPort;
        if (end !== undefined) {
          if (typeof p !== 'number') return [`${pp}.endPort`, 'Required value: may not be specified when `port` is not a number'];
          if (typeof end !== 'number' || !Number.isInteger(end) || end < p || end > 65_535)
            return [`${pp}.endPort`, `Invalid value: ${shown(end)}: must be greater than or equal to \`port\``];
        }
      }
      const peers = dir === 'ingress' ? r.from : r.to;
      for (const [j, peer] of (Array.isArray(peers) ? peers : []).entries()) {
        const pp = `${base}.${dir === 'ingress' ? 'from' : 'to'}[${j}]`;
        if (!isObj(peer)) return [pp, 'Invalid value: must be an object'];
        const set = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k] !== undefined);
        if (set.length === 0) return [pp, 'Required value: must specify a peer'];
        if (peer.ipBlock !== undefined && set.length > 1) return [pp, 'Forbidden: may not specify more than 1 peer type when ipBlock is specified'];
        const bad = selectorViolation(peer.podSelector, `${pp}.podSelector`) ?? selectorViolation(peer.namespaceSelector, `${pp}.namespaceSelector`);
        if (bad) return bad;
        if (peer.ipBlock !== undefined) {
          const b = isObj(peer.ipBlock) ? peer.ipBlock : {};
          const cidr = cidrBits(b.cidr);
          if (cidr === undefined)
            return [`${pp}.ipBlock.cidr`, `Invalid value: "${String(b.cidr)}": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`];
          for (const [k, ex] of (Array.isArray(b.except) ? b.except : []).entries()) {
            const e = cidrBits(ex);
            if (e === undefined) return [`${pp}.ipBlock.except[${k}]`, `Invalid value: "${String(ex)}": must be a valid CIDR value`];
            const width = cidr.v6 ? 128 : 32;
            const inside = e.v6 === cidr.v6 && e.bits > cidr.bits && e.addr >> BigInt(width - cidr.bits) === cidr.addr >> BigInt(width - cidr.bits);
            if (!inside) return [`${pp}.ipBlock.except[${k}]`, `Invalid value: "${String(ex)}": must be a strict subset of \`cidr\``];
          }
        }
      }
    }
  }
  return undefined;
}

function checkNewObject(s: State, t: ResourceType, namespace: string | undefined, name: string): void {
  if (!t.nameRule.test(name)) throw invalid(t, name, 'metadata.name', `Invalid value: "${name}": must match ${t.nameRule.source}`);
  const nsType = s.types.find((x) => x.plural === 'namespaces' && x.group === '');
  if (t.namespaced && nsType && !s.objects.has(objectKey(nsType, undefined, namespace ?? ''))) throw notFound(nsType, namespace ?? '');
  if (s.objects.has(objectKey(t, namespace, name))) {
    throw new ApiError(409, 'AlreadyExists', `${resourceName(t)} "${name}" already exists`, { name, group: t.group, kind: t.plural });
  }
}

/** Type, name and namespace in the body must agree with the URL. */
function checkIdentity(t: ResourceType, body: unknown, namespace: string | undefined, name: string | undefined, required: boolean): Obj {
  if (!isObj(body)) throw badRequest('the request body must be an object');
  if (body.apiVersion !== undefined || required) {
    if (body.apiVersion !== apiVersionOf(t) || body.kind !== t.kind) {
      throw badRequest(
        `the API version/kind in the body (${String(body.apiVersion)}/${String(body.kind)}) does not match the resource ${apiVersionOf(t)}/${t.kind}`,
      );
    }
  }
  const m = meta(body);
  if (name !== undefined && m.name !== undefined && m.name !== name)
    throw badRequest(`the name of the object (${JSON.stringify(m.name)}) does not match the name on the URL (${name})`);
  if (t.namespaced && m.namespace !== undefined && m.namespace !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  return body;
}

/** Main-resource writes keep the old status; status writes change only the status. */
function scoped(t: ResourceType, old: Obj, incoming: Obj, scope: Scope): Obj {
  const next = clone(scope === 'status' ? old : incoming);
  const from = scope === 'status' ? incoming : old;
  if (scope === 'status' || t.statusSubresource) {
    if (from.status === undefined) delete next.status;
    else next.status = clone(from.status);
  }
  return next;
}

// ---- operations ------------------------------------------------------------------------------

interface Call {
  readonly t: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly scope: Scope;
  readonly query: URLSearchParams;
  readonly manager: string;
  readonly dryRun: boolean;
}

function existing(s: State, c: Call): Obj {
  const o = s.objects.get(objectKey(c.t, c.namespace, c.name ?? ''));
  if (!o) throw notFound(c.t, c.name ?? '');
  return o;
}

function create(s: State, c: Call, body: unknown): Obj {
  const next = clone(checkIdentity(c.t, body, c.namespace, undefined, false));
  const m = meta(next);
  const generateName = str(m.generateName);
  const name = str(m.name) ?? (generateName ? generateName + randomBytes(4).toString('hex').slice(0, 5) : undefined);
  if (!name) throw invalid(c.t, '', 'metadata.name', 'Required value: name or generateName is required');
  m.name = name;
  if (c.t.namespaced) m.namespace = c.namespace;
  else delete m.namespace;
  checkNewObject(s, c.t, c.namespace, name);
  if (c.t.statusSubresource) delete next.status;
  defaults(s, c.t, next, undefined);
  return persist(s, c.t, undefined, next, trackUpdate([], c.t, undefined, next, c.manager, 'main'), c.dryRun);
}

function update(s: State, c: Call, body: unknown): Obj {
  const old = existing(s, c);
  const incoming = checkIdentity(c.t, body, c.namespace, c.name, false);
  const rv = meta(incoming).resourceVersion;
  if (rv !== undefined && rv !== '' && rv !== meta(old).resourceVersion) throw conflict(c.t, c.name ?? '');
  if ((rv === undefined || rv === '') && c.t.custom)
    throw invalid(c.t, c.name ?? '', 'metadata.resourceVersion', 'Invalid value: 0x0: must be specified for an update');
  return write(s, c, old, scoped(c.t, old, incoming, c.scope));
}

function write(s: State, c: Call, old: Obj, next: Obj): Obj {
  const m = meta(next);
  m.name = c.name;
  if (c.t.namespaced) m.namespace = c.namespace;
  if (c.scope === 'main') defaults(s, c.t, next, old);
  return persist(s, c.t, old, next, trackUpdate(decodeEntries(old), c.t, old, next, c.manager, c.scope), c.dryRun);
}

function patch(s: State, c: Call, contentType: string, body: unknown, force: boolean): [number, Obj] {
  if (contentType === 'application/apply-patch+yaml') return apply(s, c, body, force);
  if (force) throw badRequest('force may not be specified for non-apply patch requests');
  const old = existing(s, c);
  let patched: Obj;
  if (contentType === 'application/merge-patch+json') {
    if (!isObj(body)) throw badRequest('a merge patch must be a JSON object');
    const rv = isObj(body.metadata) ? body.metadata.resourceVersion : undefined;
    if (rv !== undefined && rv !== null && rv !== meta(old).resourceVersion) throw conflict(c.t, c.name ?? '');
    patched = mergePatch(old, body) as Obj;
  } else if (contentType === 'application/json-patch+json') {
    patched = jsonPatch(old, body);
  } else {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the Kubernetes API double does not implement ${contentType || 'this'} patches; accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
    );
  }
  checkIdentity(c.t, patched, c.namespace, c.name, true);
  return [200, write(s, c, old, scoped(c.t, old, patched, c.scope))];
}

/** Server-side apply: conflicts with other managers' differing fields unless forced; drops fields this manager no longer applies. */
function apply(s: State, c: Call, body: unknown, force: boolean): [number, Obj] {
  if (!c.query.get('fieldManager')) throw badRequest('PATCH, application/apply-patch+yaml: fieldManager is required for apply requests');
  const config = checkIdentity(c.t, body, c.namespace, c.name, true);
  const name = c.name ?? '';
  const old = s.objects.get(objectKey(c.t, c.namespace, name));
  if (!old && c.scope === 'status') throw notFound(c.t, name);
  const base: Obj = old
    ? clone(old)
    : { apiVersion: apiVersionOf(c.t), kind: c.t.kind, metadata: { name, ...(c.t.namespaced ? { namespace: c.namespace } : {}) } };
  const entries = decodeEntries(old);
  const applied = leafFields(config, c.t, c.scope);
  const appliedPaths = [...applied.keys()].map(toPath);
  const conflicts: { entry: ManagedEntry; key: string }[] = [];
  for (const entry of entries) {
    if (entry.manager === c.manager) continue;
    for (const key of entry.paths) {
      const owned = toPath(key);
      const hit = appliedPaths.find((p) => overlaps(p, owned));
      if (!hit) continue;
      const shorter = hit.length <= owned.length ? hit : owned;
      if (canon(valueAt(base, shorter)) !== canon(valueAt(config, shorter))) conflicts.push({ entry, key });
    }
  }
  if (conflicts.length > 0 && !force) {
    const causes = conflicts.map(({ entry, key }) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with "${entry.manager}"`,
      field: `.${toPath(key).join('.')}`,
    }));
    throw new ApiError(409, 'Conflict', `Apply failed with ${causes.length} conflict(s): ${causes.map((x) => `${x.message}: ${x.field}`).join('; ')}`, {
      name,
      group: c.t.group,
      kind: c.t.plural,
      causes,
    });
  }
  for (const { entry, key } of conflicts) entry.paths.delete(key);
  const subresource = c.scope === 'status' ? 'status' : '';
  let mine = entries.find((e) => e.manager === c.manager && e.operation === 'Apply' && e.subresource === subresource);
  for (const key of mine?.paths ?? []) {
    const path = toPath(key);
    const sharedOrKept = applied.has(key) || entries.some((e) => e !== mine && [...e.paths].some((p) => overlaps(toPath(p), path)));
    if (!sharedOrKept) deletePath(base, path);
  }
  const cm = isObj(config.metadata) ? config.metadata : {};
  const patchPart: Obj =
    c.scope === 'status'
      ? { status: config.status ?? null }
      : {
          ...config,
          apiVersion: undefined,
          kind: undefined,
          metadata: { labels: cm.labels, annotations: cm.annotations },
          ...(c.t.statusSubresource ? { status: undefined } : {}),
        };
  const next = deepMerge(base, JSON.parse(JSON.stringify(patchPart)) as Obj);
  if (!mine) entries.push((mine = { manager: c.manager, operation: 'Apply', subresource, time: '', paths: new Set() }));
  mine.paths = new Set(applied.keys());
  mine.time = nowSeconds();
  if (!old) {
    checkNewObject(s, c.t, c.namespace, name);
    if (c.t.statusSubresource) delete next.status;
    defaults(s, c.t, next, undefined);
    return [201, persist(s, c.t, undefined, next, entries, c.dryRun)];
  }
  if (c.scope === 'main') defaults(s, c.t, next, old);
  return [200, persist(s, c.t, old, next, entries, c.dryRun)];
}

function remove(s: State, c: Call, body: unknown): Obj {
  const old = existing(s, c);
  const pre = isObj(body) && isObj(body.preconditions) ? body.preconditions : {};
  const om = meta(old);
  if (pre.uid !== undefined && pre.uid !== om.uid)
    throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${JSON.stringify(pre.uid)}, UID in object meta: ${JSON.stringify(om.uid)}`);
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== om.resourceVersion) throw conflict(c.t, c.name ?? '');
  let gone = old;
  if (!c.dryRun) {
    if (c.t.plural === 'namespaces' && c.t.group === '') {
      for (const [key, o] of [...s.objects]) {
        const t = s.types.find((x) => key.startsWith(`${resourceName(x)}/${c.name ?? ''}/`) && x.namespaced);
        if (t) commit(s, t, key, 'DELETED', undefined, o);
      }
    }
    gone = commit(s, c.t, objectKey(c.t, c.namespace, c.name ?? ''), 'DELETED', undefined, old);
  }
  if (!c.t.deleteReturnsStatus) return gone;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: c.name, group: c.t.group, kind: c.t.plural, uid: om.uid } };
}

function list(s: State, c: Call, sel: Selection): Obj {
  let items = objectsOf(s, c.t, sel);
  const token = c.query.get('continue');
  const limit = Number(c.query.get('limit') ?? 0);
  const metadata: Obj = { resourceVersion: String(s.rv) };
  if (token) {
    let after: unknown;
    try {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as Obj;
      if (typeof parsed.rv !== 'number' || parsed.rv < s.compactedRv) throw new Error('expired');
      after = parsed.after;
    } catch {
      throw new ApiError(
        410,
        'Expired',
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
      );
    }
    items = items.filter((o) => objectKey(c.t, str(meta(o).namespace), str(meta(o).name) ?? '') > String(after));
  }
  if (limit > 0 && items.length > limit) {
    const last = items[limit - 1];
    metadata.continue = Buffer.from(
      JSON.stringify({ rv: s.rv, after: last ? objectKey(c.t, str(meta(last).namespace), str(meta(last).name) ?? '') : '' }),
    ).toString('base64url');
    metadata.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
  }
  // Lists of built-in types leave kind/apiVersion off their items; custom resources keep them.
  const shown = items.map((o) => (c.t.custom ? o : { ...o, apiVersion: undefined, kind: undefined }));
  return { kind: c.t.listKind, apiVersion: apiVersionOf(c.t), metadata, items: shown };
}

function watch(s: State, c: Call, sel: Selection, res: ServerResponse, keepAliveMs: number, goneAs: 'http' | 'event'): void {
  const rvParam = c.query.get('resourceVersion') ?? '';
  const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
  if (from !== undefined && !Number.isSafeInteger(from)) throw badRequest(`invalid resource version: ${rvParam}`);
  const gone = from !== undefined && from < s.compactedRv ? new ApiError(410, 'Expired', `too old resource version: ${from} (${s.compactedRv})`) : undefined;
  if (gone && goneAs === 'http') throw gone;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const w: Watcher = { ...sel, typeId: resourceName(c.t), res, timers: [] };
  if (gone) {
    res.end(`${JSON.stringify({ type: 'ERROR', object: gone.body })}\n`);
    return;
  }
  // Without a resourceVersion the real server starts with the current state as ADDED events.
  if (from === undefined) for (const o of objectsOf(s, c.t, sel)) send(w, 'ADDED', o);
  else for (const ev of s.log) if (ev.rv > from) deliver(w, ev);
  s.watchers.add(w);
  if (keepAliveMs > 0) w.timers.push(setInterval(() => res.write('\n'), keepAliveMs));
  const timeout = Number(c.query.get('timeoutSeconds') ?? 0);
  if (timeout > 0) w.timers.push(setTimeout(() => res.end(), timeout * 1000));
  res.on('close', () => {
    s.watchers.delete(w);
    for (const t of w.timers) clearTimeout(t);
  });
}

// ---- discovery -------------------------------------------------------------------------------

const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function resourceList(types: readonly ResourceType[], groupVersion: string): Obj {
  const resources = types.flatMap((t) => [
    {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs,
      ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
    },
    ...(t.statusSubresource
      ? [{ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }]
      : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function apiGroup(types: readonly ResourceType[], name: string): Obj {
  const versions = [...new Set(types.filter((t) => t.group === name).map((t) => t.version))].map((version) => ({
    groupVersion: `${name}/${version}`,
    version,
  }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

function discovery(s: State, segs: readonly string[], host: string): Obj | undefined {
  const [root, a, b] = segs;
  if (root === 'api' && segs.length === 1)
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] };
  if (root === 'api' && segs.length === 2 && a === 'v1')
    return resourceList(
      s.types.filter((t) => t.group === ''),
      'v1',
    );
  if (root === 'apis' && segs.length === 1) {
    const groups = [...new Set(s.types.map((t) => t.group).filter((g) => g !== ''))];
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(s.types, g)) };
  }
  if (root === 'apis' && segs.length === 2 && a && s.types.some((t) => t.group === a)) return apiGroup(s.types, a);
  if (root === 'apis' && segs.length === 3 && a && b) {
    const types = s.types.filter((t) => t.group === a && t.version === b);
    return types.length > 0 ? resourceList(types, `${a}/${b}`) : undefined;
  }
  if (root === 'version' && segs.length === 1) return { major: '1', minor: '33', gitVersion: 'v1.33.0-kube-api-double', platform: 'linux/amd64' };
  return undefined;
}

/** `/api/v1/...` or `/apis/G/V/...` → resource type, namespace, name and subresource. */
function route(
  s: State,
  segs: readonly string[],
): { t: ResourceType; namespace: string | undefined; name: string | undefined; sub: string | undefined } | undefined {
  const core = segs[0] === 'api';
  const group = core ? '' : (segs[1] ?? '');
  const version = (core ? segs[1] : segs[2]) ?? '';
  const rest = segs.slice(core ? 2 : 3);
  const nsType = rest[0] === 'namespaces' && rest.length >= 3 ? findType(s, group, version, rest[2] ?? '') : undefined;
  if (nsType?.namespaced && rest.length <= 5) return { t: nsType, namespace: rest[1], name: rest[3], sub: rest[4] };
  const t = findType(s, group, version, rest[0] ?? '');
  if (!t || rest.length > 3 || (t.namespaced && rest.length > 1)) return undefined;
  return { t, namespace: undefined, name: rest[1], sub: rest[2] };
}

// ---- HTTP --------------------------------------------------------------------------------------

function reply(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 3 * 1024 * 1024) throw new ApiError(413, 'RequestEntityTooLarge', 'the request body is larger than the 3 MiB the real API server accepts');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface ServeConfig {
  readonly token: string;
  readonly keepAliveMs: number;
  readonly goneAs: 'http' | 'event';
  host: string;
}

async function serve(s: State, cfg: ServeConfig, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://double');
  // The client keeps a trailing `/` on the server URL, so requests may start with `//`.
  const path = url.pathname.replace(/\/{2,}/g, '/');
  const method = req.method ?? 'GET';
  if (req.headers.authorization !== `Bearer ${cfg.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  if (s.faults.remaining > 0 && s.faults.match(method, path)) {
    s.faults.remaining -= 1;
    throw new ApiError(s.faults.code, s.faults.code === 500 ? 'InternalError' : 'ServiceUnavailable', 'fault injected by the Kubernetes API double');
  }
  const segs = path.split('/').filter((x) => x !== '');
  const disc = method === 'GET' ? discovery(s, segs, cfg.host) : undefined;
  if (disc) {
    reply(res, 200, disc);
    return;
  }
  const r = segs[0] === 'api' || segs[0] === 'apis' ? route(s, segs) : undefined;
  if (!r || (r.sub !== undefined && !(r.sub === 'status' && r.t.statusSubresource))) {
    throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${method} ${path})`);
  }
  const q = url.searchParams;
  const text = method === 'GET' ? '' : await readBody(req);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  let body: unknown;
  try {
    body = text.trim() === '' ? undefined : contentType === 'application/apply-patch+yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
  const c: Call = {
    t: r.t,
    namespace: r.namespace,
    name: r.name,
    scope: r.sub === 'status' ? 'status' : 'main',
    query: q,
    manager: q.get('fieldManager') ?? (req.headers['user-agent']?.split('/')[0] || 'unknown'),
    dryRun: q.get('dryRun') === 'All',
  };
  const force = q.get('force') === 'true';
  let result: [number, unknown] | undefined;
  if (r.name === undefined) {
    const sel: Selection = {
      namespace: r.namespace,
      labels: parseLabelSelector(q.get('labelSelector') ?? ''),
      fields: parseFieldSelector(q.get('fieldSelector') ?? ''),
    };
    if (method === 'GET' && (q.get('watch') === 'true' || q.get('watch') === '1')) {
      watch(s, c, sel, res, cfg.keepAliveMs, cfg.goneAs);
      return;
    }
    if (method === 'GET') result = [200, list(s, c, sel)];
    else if (method === 'POST' && (!r.t.namespaced || r.namespace !== undefined)) result = [201, create(s, c, body)];
  } else if (method === 'GET') result = [200, existing(s, c)];
  else if (method === 'PUT') result = [200, update(s, c, body)];
  else if (method === 'PATCH') result = patch(s, c, contentType, body, force);
  else if (method === 'DELETE' && c.scope === 'main') result = [200, remove(s, c, body)];
  if (!result) throw new ApiError(405, 'MethodNotAllowed', `the Kubernetes API double does not allow ${method} on ${path}`);
  reply(res, ...result);
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

/** One self-signed certificate per process, for 127.0.0.1 (node:crypto cannot make X.509 certificates). */
function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  certificate ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-api-double-'));
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=kube-api-double',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
    } catch (err) {
      certificate = undefined;
      throw new Error('the Kubernetes API double needs the openssl CLI for its certificate (or start it with tls: false)', { cause: err });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return certificate;
}

export async function startKubeApiDouble(options: KubeApiDoubleOptions = {}): Promise<KubeApiDouble> {
  const types = [...builtinTypes, ...(options.crds ?? defaultCustomResourceDefinitions).flatMap(typesFromCrd)];
  const s: State = {
    types,
    objects: new Map(),
    watchers: new Set(),
    log: [],
    rv: 0,
    compactedRv: 0,
    nextServiceIp: 9,
    faults: { remaining: 0, code: 500, match: () => true },
    maxEvents: options.maxEvents ?? 10_000,
  };
  const seedAs = (object: Obj): Obj => {
    const t = s.types.find((x) => apiVersionOf(x) === object.apiVersion && x.kind === object.kind);
    if (!t) throw new Error(`the Kubernetes API double serves no ${String(object.apiVersion)} ${String(object.kind)}`);
    const namespace = t.namespaced ? (str(meta(object).namespace) ?? 'default') : undefined;
    const c: Call = { t, namespace, name: undefined, scope: 'main', query: new URLSearchParams(), manager: 'kube-api-double', dryRun: false };
    return create(s, c, object);
  };
  const namespaces = new Set(options.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  // MetalLB's manifests install its CRDs and its namespace together.
  if (types.some((t) => t.group === 'metallb.io')) namespaces.add('metallb-system');
  for (const name of namespaces) {
    seedAs({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const token = options.token ?? randomBytes(24).toString('base64url');
  const tls = options.tls ?? true;
  const cert = tls ? await selfSignedCertificate() : undefined;
  const cfg: ServeConfig = { token, keepAliveMs: options.keepAliveMs ?? 15_000, goneAs: options.watchGone ?? 'http', host: '' };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    serve(s, cfg, req, res).catch((err: unknown) => {
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(500, 'InternalError', `the Kubernetes API double failed: ${err instanceof Error ? err.message : String(err)}`);
      reply(res, e.code, e.body);
    });
  };
  const server: Server = cert ? createHttpsServer({ key: cert.key, cert: cert.cert }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  cfg.host = `127.0.0.1:${port}`;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const name = options.clusterName ?? 'kube-api-double';
  const endWatches = (how: (w: Watcher) => void): number => {
    const all = [...s.watchers];
    s.watchers.clear();
    for (const w of all) {
      for (const t of w.timers) clearTimeout(t);
      how(w);
    }
    return all.length;
  };
  const kubeconfigYaml = (): string =>
    stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain http is refused by the client unless TLS verification is skipped.
      clusters: [
        {
          name,
          cluster: cert
            ? { server: url, 'certificate-authority-data': Buffer.from(cert.cert).toString('base64') }
            : { server: url, 'insecure-skip-tls-verify': true },
        },
      ],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
      'current-context': name,
    });
  let stopped: Promise<void> | undefined;
  return {
    url,
    token,
    caPem: cert?.cert,
    kubeconfigYaml,
    writeKubeconfig: (path) => writeFile(path, kubeconfigYaml(), { mode: 0o600 }),
    get: (resource, namespace, objName) => {
      const t = typeByName(s, resource);
      const o = s.objects.get(objectKey(t, t.namespaced ? namespace : undefined, objName));
      return o ? (clone(o) as KubeObject) : undefined;
    },
    list: (resource, namespace) => clone(objectsOf(s, typeByName(s, resource), { namespace, labels: [], fields: [] })) as KubeObject[],
    seed: (object) => {
      try {
        return clone(seedAs(clone(object) as unknown as Obj)) as KubeObject;
      } catch (err) {
        throw err instanceof ApiError ? new Error(`seeding the Kubernetes API double failed: ${err.message}`, { cause: err }) : err;
      }
    },
    setStatus: (resource, namespace, objName, status) => {
      const t = typeByName(s, resource);
      const ns = t.namespaced ? namespace : undefined;
      const c: Call = { t, namespace: ns, name: objName, scope: 'status', query: new URLSearchParams(), manager: 'kubelet', dryRun: false };
      const old = existing(s, c);
      return clone(write(s, c, old, scoped(t, old, { ...clone(old), status: clone(status) }, 'status'))) as KubeObject;
    },
    resourceVersion: () => String(s.rv),
    compact: () => {
      s.compactedRv = s.rv;
      s.log = [];
    },
    failNext: (count, fault) => {
      s.faults = { remaining: count, code: fault?.code ?? 500, match: fault?.match ?? (() => true) };
    },
    dropWatches: () => endWatches((w) => w.res.socket?.destroy()),
    closeWatches: () => endWatches((w) => w.res.end()),
    openWatches: () => s.watchers.size,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        endWatches((w) => w.res.end());
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
