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
