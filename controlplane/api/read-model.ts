// What the hub derives and serves read-only (never written by users): the global services as
// merged from every cluster's exports. The HTTP edge serves it, the CLI prints it, the service
// controller produces it.
import type { Condition } from './conditions.ts';
import type { ClusterResource } from './resources.ts';

/** Global services as the hub has merged them, for `causeway get services`. */
export interface ServicesView {
  list(): readonly GlobalServiceView[];
}

export interface GlobalServiceView {
  readonly namespace: string;
  readonly name: string;
  readonly type: string;
  readonly ports: readonly { port: number; protocol: string; name?: string | undefined }[];
  readonly ips: readonly string[];
  readonly exporters: readonly { cluster: string; endpoints: number; conflict?: string | undefined }[];
  readonly importers: readonly string[];
  readonly endpoints: number;
  readonly conditions: readonly Condition[];
}

// ---- the route plan and what applying it would change (issue 9: `get routes`, `plan`) ----------

/** One domain's route plan (`causeway get routes`): derived from the registry alone. */
export interface DomainRoutesView {
  readonly apiVersion: string;
  readonly kind: 'DomainRoutes';
  readonly metadata: { readonly name: string };
  readonly provider: string;
  readonly routes: readonly {
    readonly destination: string;
    /** `static`: Causeway programs it; `learned`: the provider learns it (BGP, peering). */
    readonly mode: string;
    readonly link: string;
    readonly via: { readonly kind: string; readonly id: string };
    /** The route table when known; absent: every managed table of the domain. */
    readonly table?: string;
    /** The prefixes it carries, as `cidr (owner)`. */
    readonly covers: readonly string[];
  }[];
  readonly announcements: readonly {
    readonly prefix: string;
    readonly nextHop?: string;
    readonly communities: readonly string[];
    /** `address AS asn` */
    readonly peers: readonly string[];
    readonly toward: readonly string[];
  }[];
  readonly firewall: readonly {
    readonly direction: string;
    readonly protocol: string;
    readonly fromPort: number;
    readonly toPort: number;
    readonly sources: readonly string[];
    readonly destinations: readonly string[];
    readonly peerDomain: string;
    readonly services: readonly string[];
  }[];
  readonly problems: readonly { readonly reason: string; readonly message: string }[];
}

/** What applying one domain's plan would change (`causeway plan`), asked of the provider with DryRun. */
export interface DomainPlanView {
  readonly apiVersion: string;
  readonly kind: 'DomainPlan';
  readonly metadata: { readonly name: string };
  readonly provider: string;
  readonly changes: readonly {
    readonly action: 'create' | 'replace' | 'delete';
    /** `route`, `rules` (security group), `firewall` (GCP), `advertised-ranges` (Cloud Router) or `announcement` (BGP). */
    readonly object: string;
    /** The route table or security group. */
    readonly in: string;
    readonly what: string;
    /** `would-succeed`, or `failed` with the provider's refusal in `error`. */
    readonly outcome: string;
    readonly error?: string;
  }[];
  readonly unchanged: { readonly routes: number; readonly rules: number; readonly announcements?: number };
  /**
   * False when the provider could not be asked (unreachable, credentials refused, an object the
   * Network names is missing): `changes` is then not the whole answer; the conditions say why.
   */
  readonly planned: boolean;
  readonly conditions: readonly Condition[];
}

/** The route plan and the provider plans, for the HTTP edge. */
export interface ProvidersView {
  routes(signal: AbortSignal): Promise<readonly DomainRoutesView[]>;
  plan(signal: AbortSignal): Promise<readonly DomainPlanView[]>;
}

// ---- address pools (issue 9 §2: `get pools`) -----------------------------------------------------

/** One IPPool's usage (`causeway get pools`): derived from the registry and the VIP claims. */
export interface PoolUsageView {
  readonly apiVersion: string;
  readonly kind: 'PoolUsage';
  readonly metadata: { readonly name: string };
  readonly use: string;
  readonly cidrs: readonly string[];
  readonly network?: string;
  /** Addresses, as decimal strings (an IPv6 pool holds more than a JSON number can say exactly). */
  readonly size: string;
  readonly used: string;
  /** Released by a deleted holder and not yet free again (release quarantine). */
  readonly quarantined: string;
  readonly free: string;
  /** Who holds what: `Cluster/a` with its podCIDRs, serviceCIDRs or loadBalancerCIDRs; `Service/ns/name` with its VIP. */
  readonly holders: readonly { readonly holder: string; readonly field: string; readonly cidr: string }[];
}

/** One cluster's convergence to a revision (`causeway apply --wait`). */
export interface ClusterConvergenceView {
  readonly cluster: string;
  /** `applied`, `sending` (the hub has not sent it yet), `applying` (sent, not reported applied) or `unavailable` (agent silent). */
  readonly state: 'applied' | 'sending' | 'applying' | 'unavailable';
  readonly sent: number | null;
  readonly applied: number | null;
  readonly behindBy: number | null;
  readonly heardSecondsAgo: number | null;
}

/** Has every cluster applied what the registry holds as of `revision`? */
export interface ConvergenceView {
  readonly apiVersion: string;
  readonly kind: 'Convergence';
  readonly revision: number;
  /** The revision the leader's service model reflects; null when no hub leads. */
  readonly modelRevision: number | null;
  readonly converged: boolean;
  readonly clusters: readonly ClusterConvergenceView[];
}

export interface ConvergenceSource {
  /** Only the clusters `visible` keeps (a team sees the clusters its scope reads). */
  convergence(revision: number, signal: AbortSignal, visible?: (cluster: ClusterResource) => boolean): Promise<ConvergenceView>;
}

// ---- GlobalPolicy: compiled objects, explain and plan (issue 10) ----------------------------------

/** One cluster's compiled policy (`GET /clusters/NAME/policy`): what its agent applies. */
export interface ClusterPolicyView {
  readonly apiVersion: string;
  readonly kind: 'ClusterPolicy';
  readonly metadata: { readonly name: string };
  /** The cluster's output format (spec.policy.format). */
  readonly format: string;
  /** False when the latest compile was refused: `objects` are the last good ones. */
  readonly current: boolean;
  readonly objects: readonly Readonly<Record<string, unknown>>[];
  readonly problems: readonly { readonly severity: string; readonly code: string; readonly message: string }[];
  readonly policies: readonly string[];
}

/** A source or destination as `explain` takes it. */
export type FlowEnd =
  | { readonly kind: 'workload'; readonly cluster: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> }
  | { readonly kind: 'service'; readonly namespace: string; readonly name: string };

export interface FlowQuery {
  readonly from: Extract<FlowEnd, { kind: 'workload' }>;
  readonly to: FlowEnd;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
}

/** `causeway explain -o json` and `GET /explain`: the verdict, one chain entry per layer, and what decides. */
export interface ExplanationView {
  readonly apiVersion: string;
  readonly kind: 'Explanation';
  readonly from: string;
  readonly to: string;
  readonly port: string;
  readonly verdict: 'allowed' | 'denied';
  readonly chain: readonly { readonly layer: string; readonly result: string; readonly detail: string }[];
  readonly decidedBy?: { readonly policy: string; readonly tier: string; readonly rule: number | 'default-deny' };
  /** The first layer that denies. */
  readonly deniedAt?: string;
}

/** One cluster's part of `causeway plan -f` (a List item). */
export interface PolicyPlanItem {
  readonly apiVersion: string;
  readonly kind: 'ClusterPolicyPlan';
  readonly metadata: { readonly name: string };
  readonly flows: readonly {
    readonly from: string;
    readonly to: string;
    readonly protocol: string;
    readonly port: number;
    readonly endPort: number;
    readonly before: string;
    readonly after: string;
    readonly decidedBy?: string;
  }[];
  readonly objects: readonly { readonly change: string; readonly kind: string; readonly namespace?: string; readonly name: string }[];
  readonly problems: readonly { readonly severity: string; readonly code: string; readonly message: string }[];
}

/** `POST /plan`: per cluster what the proposed documents change, and the classification (exit code). */
export interface PolicyPlanView {
  readonly apiVersion: string;
  readonly kind: 'List';
  readonly metadata: { readonly resourceVersion: string };
  /** `unchanged` (exit 0), `no-flow-changes` (4) or `flow-changes` (5). */
  readonly classification: 'unchanged' | 'no-flow-changes' | 'flow-changes';
  readonly exitCode: 0 | 4 | 5;
  /** The registry changes the documents make (as `diff` lists them), `kind/namespace/name action`. */
  readonly changes: readonly string[];
  readonly items: readonly PolicyPlanItem[];
}

const LABEL_PAIR = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly field: 'from' | 'to' | 'port'; readonly message: string };

function parseLabels(s: string): Record<string, string> | undefined {
  if (s === '') return {};
  const out: Record<string, string> = {};
  for (const pair of s.split(',')) {
    const m = LABEL_PAIR.exec(pair);
    if (m?.[1] === undefined || m[2] === undefined) return undefined;
    out[m[1]] = m[2];
  }
  return out;
}

function parseWorkload(s: string): Extract<FlowEnd, { kind: 'workload' }> | undefined {
  const parts = s.split('/');
  if (parts.length !== 3 && parts.length !== 2) return undefined;
  const [cluster = '', namespace = '', labelText = ''] = parts;
  const labels = parseLabels(labelText);
  if (!DNS_LABEL.test(cluster) || !DNS_LABEL.test(namespace) || labels === undefined) return undefined;
  return { kind: 'workload', cluster, namespace, labels };
}

/**
 * The flow `explain` is asked about, from its textual form (the CLI's flags and the API's query):
 * `--from CLUSTER/NAMESPACE/LABELS`, `--to NAMESPACE/SERVICE` or `CLUSTER/NAMESPACE/LABELS`,
 * `--port N[/PROTO]`. LABELS is `k=v,k2=v2` (may be empty: `aws-train/default/`).
 */
export function parseFlowQuery(q: {
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly port?: string | undefined;
}): Parsed<FlowQuery> {
  const from = q.from === undefined ? undefined : parseWorkload(q.from);
  if (from === undefined)
    return {
      ok: false,
      field: 'from',
      message: `expected CLUSTER/NAMESPACE/LABELS such as aws-train/ml-training/app=trainer (got ${JSON.stringify(q.from ?? '')})`,
    };
  let to: FlowEnd | undefined;
  const t = q.to ?? '';
  if (t.split('/').length === 2) {
    const [namespace = '', name = ''] = t.split('/');
    to = DNS_LABEL.test(namespace) && DNS_LABEL.test(name) ? { kind: 'service', namespace, name } : undefined;
  } else to = parseWorkload(t);
  if (to === undefined)
    return {
      ok: false,
      field: 'to',
      message: `expected a global service NAMESPACE/NAME such as inference/llm-serving, or CLUSTER/NAMESPACE/LABELS such as onprem-inference/inference/app=llm-serving (got ${JSON.stringify(t)})`,
    };
  const m = /^([0-9]{1,5})(?:\/(TCP|UDP|SCTP|tcp|udp|sctp))?$/.exec(q.port ?? '');
  const port = Number(m?.[1]);
  if (m === null || port < 1 || port > 65_535)
    return {
      ok: false,
      field: 'port',
      message: `expected a port 1-65535 with an optional protocol, N[/TCP|UDP|SCTP], such as 8000/TCP (got ${JSON.stringify(q.port ?? '')})`,
    };
  return { ok: true, value: { from, to, port, protocol: (m[2]?.toUpperCase() ?? 'TCP') as FlowQuery['protocol'] } };
}
