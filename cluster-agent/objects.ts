// The Kubernetes objects the agent reads and writes, as plain JSON shapes (the subset of fields it
// uses), and the names it stamps on what it owns. No client library here: the pure logic
// (exports.ts, imports.ts) and both Kubernetes ports (kube-cluster.ts, memory-cluster.ts) share
// these shapes, so the logic never sees the client's typed models.
import type { ServiceKey } from '../controlplane/api/messages.ts';

/** The one server-side-apply field manager of every write the agent makes. */
export const FIELD_MANAGER = 'causeway-agent';

/** Present on every object the agent creates; the agent changes or deletes nothing without it. */
export const OWNED_BY_LABEL = 'causeway.dev/owned-by';
export const OWNED_BY_VALUE = 'agent';

/** Well-known labels (EndpointSlice API and MCS, KEP-1645). */
export const Labels = {
  ServiceName: 'kubernetes.io/service-name',
  ManagedBy: 'endpointslice.kubernetes.io/managed-by',
  McsServiceName: 'multicluster.kubernetes.io/service-name',
  McsSourceCluster: 'multicluster.kubernetes.io/source-cluster',
} as const;

/**
 * Our value of `endpointslice.kubernetes.io/managed-by`, and how we recognise our own echoes.
 * Label values may not contain `/`, so it is domain-shaped like the EndpointSlice controller's
 * own `endpointslice-controller.k8s.io` (a real API server would refuse `causeway.dev/agent`).
 */
export const MANAGED_BY_AGENT = 'agent.causeway.dev';

/** On a ServiceExport: `k=v,k2=v2`, only clusters with these labels may import the service. */
export const EXPORT_TO_ANNOTATION = 'causeway.dev/export-to';

export const MCS_GROUP = 'multicluster.x-k8s.io';
export const MCS_VERSION = 'v1alpha1';
export const MCS_API_VERSION = `${MCS_GROUP}/${MCS_VERSION}`;
export const DISCOVERY_API_VERSION = 'discovery.k8s.io/v1';

/** MetalLB's address pools (metallb.io/v1beta1 IPAddressPool): the one the agent owns holds the cluster's LoadBalancer block. */
export const METALLB_GROUP = 'metallb.io';
export const METALLB_VERSION = 'v1beta1';

/** Compiled GlobalPolicy (issue 10 §2) is written as Kubernetes NetworkPolicies, and the kinds of the cluster's policy format. */
export const NETWORKING_API_VERSION = 'networking.k8s.io/v1';

/** A kind compiled GlobalPolicy is written as, with its API coordinates. */
export interface PolicyKind {
  readonly kind: PolicyKindName;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** Cluster-scoped kinds have no namespace. */
  readonly namespaced: boolean;
  /** Applied before kinds of a higher rank and deleted after them (a Calico Tier before the policies in it). */
  readonly rank: number;
  /** Said when the cluster does not serve the kind. */
  readonly notServed?: string;
}

const NPAPI = 'policy.networking.k8s.io';
const CALICO = { group: 'projectcalico.org', version: 'v3', notServed: '(is the Calico API server installed?)' } as const;

/** Every kind the agent writes compiled policy as; it lists and sweeps its own objects of each the cluster serves. */
export const POLICY_KINDS: readonly PolicyKind[] = [
  { kind: 'NetworkPolicy', group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespaced: true, rank: 1 },
  { kind: 'ClusterNetworkPolicy', group: NPAPI, version: 'v1alpha2', plural: 'clusternetworkpolicies', namespaced: false, rank: 1 },
  { kind: 'AdminNetworkPolicy', group: NPAPI, version: 'v1alpha1', plural: 'adminnetworkpolicies', namespaced: false, rank: 1 },
  { kind: 'BaselineAdminNetworkPolicy', group: NPAPI, version: 'v1alpha1', plural: 'baselineadminnetworkpolicies', namespaced: false, rank: 1 },
  // Calico's projectcalico.org/v3 API (served by the Calico API server): a policy names its Tier, which must exist first.
  { kind: 'Tier', ...CALICO, plural: 'tiers', namespaced: false, rank: 0 },
  { kind: 'GlobalNetworkPolicy', ...CALICO, plural: 'globalnetworkpolicies', namespaced: false, rank: 1 },
  {
    kind: 'CiliumClusterwideNetworkPolicy',
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumclusterwidenetworkpolicies',
    namespaced: false,
    rank: 1,
    notServed: '(is Cilium installed?)',
  },
];

/** The kinds each Cluster `spec.policy.format` is written as (the network-policy-api formats keep a NetworkPolicy tier). */
export const FORMAT_KINDS: Readonly<Record<string, readonly PolicyKindName[]>> = {
  NetworkPolicy: ['NetworkPolicy'],
  ClusterNetworkPolicy: ['ClusterNetworkPolicy', 'NetworkPolicy'],
  AdminNetworkPolicy: ['AdminNetworkPolicy', 'BaselineAdminNetworkPolicy', 'NetworkPolicy'],
  CalicoGlobalNetworkPolicy: ['Tier', 'GlobalNetworkPolicy'],
  CiliumClusterwideNetworkPolicy: ['CiliumClusterwideNetworkPolicy'],
};

export function policyKind(kind: string): PolicyKind | undefined {
  return POLICY_KINDS.find((k) => k.kind === kind);
}

export const apiVersionOf = (k: PolicyKind): string => `${k.group}/${k.version}`;

export interface ObjectMeta {
  name: string;
  namespace?: string | undefined;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
  generation?: number | undefined;
  creationTimestamp?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
}

/** Any object as JSON: what the ports pass around and the adapters send on the wire. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface K8sCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ServiceExportObject extends KubeObject {
  /** MCS ServiceExportSpec: what the ServiceImports of the service carry (KEP-1645, labels and annotations). */
  spec?: { exportedLabels?: Record<string, string> | undefined; exportedAnnotations?: Record<string, string> | undefined } | undefined;
  status?: { conditions?: K8sCondition[] | undefined } | undefined;
}

export interface ServicePortObject {
  name?: string | undefined;
  port: number;
  protocol?: string | undefined;
  appProtocol?: string | undefined;
  targetPort?: number | string | undefined;
}

export interface ServiceObject extends KubeObject {
  spec?:
    | {
        type?: string | undefined;
        clusterIP?: string | undefined;
        clusterIPs?: string[] | undefined;
        ports?: ServicePortObject[] | undefined;
        sessionAffinity?: string | undefined;
        sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number | undefined } | undefined } | undefined;
        internalTrafficPolicy?: string | undefined;
        trafficDistribution?: string | undefined;
        /** The pods the Service selects (the workloads report carries it for exported Services). */
        selector?: Record<string, string> | undefined;
      }
    | undefined;
}

export interface EndpointObject {
  addresses: string[];
  conditions?: { ready?: boolean | null | undefined; serving?: boolean | null | undefined; terminating?: boolean | null | undefined } | undefined;
  hostname?: string | undefined;
  nodeName?: string | undefined;
  zone?: string | undefined;
  hints?: { forZones?: { name: string }[] | undefined } | undefined;
}

export interface EndpointSliceObject extends KubeObject {
  addressType: string;
  endpoints?: EndpointObject[] | undefined;
  ports?: { name?: string | undefined; port?: number | undefined; protocol?: string | undefined; appProtocol?: string | undefined }[] | undefined;
}

export interface NodeObject extends KubeObject {
  metadata: ObjectMeta & { labels?: Record<string, string> | undefined };
}

/** A Namespace as policy needs it: its labels (namespaceSelectors match them). */
export interface NamespaceObject extends KubeObject {
  metadata: ObjectMeta & { labels?: Record<string, string> | undefined };
}

/** A Pod as policy needs it: labels, whether it is on the host network, its phase and addresses. */
export interface PodObject extends KubeObject {
  spec?: { hostNetwork?: boolean | undefined } | undefined;
  status?: { phase?: string | undefined; podIP?: string | undefined; podIPs?: { ip?: string | undefined }[] | undefined } | undefined;
}

/** The kinds the agent writes (ObjectRef.namespace is '' for the cluster-scoped ones). */
export const WrittenKind = {
  ServiceImport: 'ServiceImport',
  EndpointSlice: 'EndpointSlice',
  ServiceExport: 'ServiceExport',
  IPAddressPool: 'IPAddressPool',
  NetworkPolicy: 'NetworkPolicy',
  ClusterNetworkPolicy: 'ClusterNetworkPolicy',
  AdminNetworkPolicy: 'AdminNetworkPolicy',
  BaselineAdminNetworkPolicy: 'BaselineAdminNetworkPolicy',
  Tier: 'Tier',
  GlobalNetworkPolicy: 'GlobalNetworkPolicy',
  CiliumClusterwideNetworkPolicy: 'CiliumClusterwideNetworkPolicy',
} as const;
export type WrittenKind = (typeof WrittenKind)[keyof typeof WrittenKind];
export type PolicyKindName = Exclude<WrittenKind, 'ServiceImport' | 'EndpointSlice' | 'ServiceExport' | 'IPAddressPool'>;

export interface ObjectRef {
  readonly kind: WrittenKind;
  readonly namespace: string;
  readonly name: string;
}

const WRITTEN: ReadonlySet<string> = new Set(Object.values(WrittenKind));

export function refOf(o: KubeObject): ObjectRef {
  const kind = o.kind;
  if (!WRITTEN.has(kind)) throw new Error(`the agent does not write ${kind} objects`);
  return { kind: kind as WrittenKind, namespace: o.metadata.namespace ?? '', name: o.metadata.name };
}

export function refString(r: ObjectRef): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

export function isOwned(o: KubeObject | undefined): boolean {
  return o?.metadata.labels?.[OWNED_BY_LABEL] === OWNED_BY_VALUE;
}

/** The global service an owned object belongs to (namespace + MCS service-name label). */
export function ownedServiceKey(o: KubeObject): ServiceKey | undefined {
  const name = o.metadata.labels?.[Labels.McsServiceName] ?? (o.kind === 'ServiceImport' ? o.metadata.name : undefined);
  const namespace = o.metadata.namespace;
  return name === undefined || namespace === undefined ? undefined : { namespace, name };
}
