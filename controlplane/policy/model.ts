// The plain data that GlobalPolicy semantics (docs/policy.md) is defined over: policies with
// ordered rules, the world they select from (clusters, namespaces, workloads, global services and
// their exporters), flows, and verdicts. No I/O and no registry types beyond the contract's: the
// hub builds a World from the registry and the exchange, the CLI from proposed manifests, tests by
// hand, and every function in this folder takes it as an argument.
import type { LabelSelector } from '../api/labels.ts';
import type { GlobalPolicyResource } from '../api/resources.ts';

export const TIERS = ['platform', 'tenant', 'baseline'] as const;
export type Tier = (typeof TIERS)[number];

export type Action = 'Allow' | 'Deny' | 'Pass';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** What a GlobalPolicy spec omits `priority` as: last in its tier. */
export const DEFAULT_PRIORITY = 1000;

/**
 * One side of a rule. Every field given must hold (AND); a field left out does not constrain.
 * `cidrs` selects only addresses outside the clusterset and stands alone (the schema enforces it).
 */
export interface Peer {
  readonly clusters?: LabelSelector | undefined;
  readonly namespaces?: readonly string[] | undefined;
  /** Namespaces by their labels (proposed schema field `namespaceSelector`, docs/policy.md). */
  readonly namespaceSelector?: LabelSelector | undefined;
  readonly pods?: LabelSelector | undefined;
  readonly service?: { readonly namespace: string; readonly name: string } | undefined;
  readonly cidrs?: readonly string[] | undefined;
}

export interface PortRange {
  /** Undefined: TCP, as in Kubernetes. */
  readonly protocol?: Protocol | undefined;
  readonly port: number;
  readonly endPort?: number | undefined;
}

export interface Rule {
  readonly action: Action;
  readonly from: readonly Peer[];
  readonly to: readonly Peer[];
  /** Undefined: every port of every protocol. */
  readonly ports?: readonly PortRange[] | undefined;
}

/**
 * Traffic to pods of these namespaces that reaches the end of the policy's tier undecided is
 * denied there (proposed schema field `defaultDeny`, docs/policy.md, "Default deny").
 */
export interface DefaultDeny {
  readonly namespaces: readonly string[];
  /** Undefined: in every cluster. */
  readonly clusters?: LabelSelector | undefined;
}

export interface Policy {
  /** The GlobalPolicy's namespace: a tenant policy's owner. */
  readonly namespace: string;
  readonly name: string;
  readonly tier: Tier;
  readonly priority: number;
  /** Today's schema carries exactly one rule per GlobalPolicy (rule 0). */
  readonly rules: readonly Rule[];
  readonly defaultDeny?: DefaultDeny | undefined;
}

/** `namespace/name`: how verdicts, traces and problems name a policy. */
export function policyKey(p: Pick<Policy, 'namespace' | 'name'>): string {
  return `${p.namespace}/${p.name}`;
}

/** A stored or proposed GlobalPolicy as the semantics sees it. */
export function policyFromResource(r: GlobalPolicyResource): Policy {
  const s = r.spec;
  const rule: Rule = {
    action: s.action,
    from: s.from,
    to: s.to,
    ...(s.ports === undefined ? {} : { ports: s.ports }),
  };
  return { namespace: r.metadata.namespace ?? 'default', name: r.metadata.name, tier: s.tier, priority: s.priority ?? DEFAULT_PRIORITY, rules: [rule] };
}

// ---- the world -------------------------------------------------------------------------------

export interface ClusterInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Its pod CIDRs: how its pods are told apart from external addresses, and `podCIDRs` remote peers. */
  readonly podCIDRs: readonly string[];
  /** Its Network (routing domain), for explain's route and firewall layers. */
  readonly network?: string | undefined;
  /**
   * How other clusters' pods appear in this cluster's compiled policy: each endpoint's own address
   * (default), or the whole pod CIDR of its cluster (proposed Cluster field `policy.remotePeers`).
   */
  readonly remotePeers?: 'addresses' | 'podCIDRs' | undefined;
}

export interface NamespaceInfo {
  readonly cluster: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A pod (or several pods with the same identity), as the agent reports it or the exchange carries it. */
export interface Workload {
  readonly cluster: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly string[];
}

/** A global service: its pods are those its selector picks in its namespace in every exporting cluster. */
export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  /** The Service's pod selector (identical in every exporter, or the exporter's own in `selectors`). */
  readonly selector: LabelSelector;
  readonly selectors?: Readonly<Record<string, LabelSelector>> | undefined;
  /** Clusters that export it. */
  readonly exporters: readonly string[];
  /** Clusters that import it; undefined: every cluster. */
  readonly consumers?: readonly string[] | undefined;
  readonly ports?: readonly PortRange[] | undefined;
}

export interface World {
  readonly clusters: readonly ClusterInfo[];
  readonly namespaces: readonly NamespaceInfo[];
  readonly workloads: readonly Workload[];
  readonly services: readonly ServiceInfo[];
}

// ---- flows and verdicts ----------------------------------------------------------------------

export type Endpoint =
  | {
      readonly kind: 'workload';
      readonly cluster: string;
      readonly namespace: string;
      readonly labels: Readonly<Record<string, string>>;
      readonly ip?: string | undefined;
    }
  /** An address outside the clusterset (VMs, bare metal, the internet). */
  | { readonly kind: 'external'; readonly ip: string };

export interface Flow {
  readonly from: Endpoint;
  /** A workload, an external address, or a global service (meaning each of its pods). */
  readonly to: Endpoint | { readonly kind: 'service'; readonly namespace: string; readonly name: string };
  readonly protocol: Protocol;
  readonly port: number;
}

export type Verdict = 'allowed' | 'denied';

export interface DecidedBy {
  /** `namespace/name` of the GlobalPolicy. */
  readonly policy: string;
  readonly tier: Tier;
  /** The rule's index, or `default-deny` for the policy's default deny. */
  readonly rule: number | 'default-deny';
}

export interface TraceStep {
  readonly tier: Tier;
  readonly policy?: string;
  readonly rule?: number | 'default-deny';
  readonly event: 'matched' | 'passed' | 'tier-end' | 'default-deny' | 'default-allow';
  readonly detail: string;
}

export interface Evaluation {
  readonly verdict: Verdict;
  readonly decidedBy?: DecidedBy;
  readonly trace: readonly TraceStep[];
}

export function workloadEndpoint(w: Workload): Endpoint {
  return { kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip: w.ips[0] };
}

// ---- problems --------------------------------------------------------------------------------

export const ProblemCode = {
  /** Two rules at one priority in one tier that decide a common flow differently. */
  ContradictoryRules: 'ContradictoryRules',
  /** A peer that selects nothing in the world (yet). */
  SelectsNothing: 'SelectsNothing',
  /** A tenant policy selecting outside the author's namespaces. */
  OutsideScope: 'OutsideScope',
  /** A tenant Allow that a platform Deny decides first: it widens nothing. */
  ShadowedByPlatformDeny: 'ShadowedByPlatformDeny',
  /** The cluster's output format cannot carry the effective policy exactly: nothing is compiled for it. */
  Inexpressible: 'Inexpressible',
  UnsupportedFormat: 'UnsupportedFormat',
} as const;
export type ProblemCode = (typeof ProblemCode)[keyof typeof ProblemCode];

export interface Problem {
  readonly severity: 'error' | 'warning';
  readonly code: ProblemCode;
  readonly message: string;
  readonly cluster?: string;
  /** `namespace/name` of the policies involved. */
  readonly policies?: readonly string[];
  readonly rule?: number | 'default-deny';
}
