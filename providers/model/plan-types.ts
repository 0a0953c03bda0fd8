// The route plan's inputs (the exported services, what the adapters observed, the options) and its
// outputs (per domain: routes, announcements, firewall intents, and the problems that kept a route
// out), as plain data. The planner is route-plan.ts; fitting one route table is route-table.ts.
import type { Announcement, Domain, Family, FirewallIntent, PrefixRef, Protocol, RouteIntent, RouteTarget } from './model.ts';

// ---- inputs --------------------------------------------------------------------------------

export type ServiceExporter = { readonly cluster: string } | { readonly network: string; readonly addresses: readonly string[] };

/** A service exported to other clusters, as the hub's merge sees it (plain data). */
export interface ExportedService {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly { readonly protocol?: Protocol; readonly port: number; readonly endPort?: number }[];
  /** Clusters that export it, and ExternalService endpoints (VMs, bare metal) in a Network. */
  readonly exporters: readonly ServiceExporter[];
  /**
   * Clusters allowed to consume it (export-to selectors already resolved by the caller); undefined:
   * every member of an exporting cluster's clusterset (every cluster, for external endpoints).
   */
  readonly consumers?: readonly string[];
  /**
   * What GlobalPolicy lets through cloud firewalls (issue 10 §2), by consuming cluster and
   * `PROTOCOL/port`: the source addresses allowed (empty: none, so no opening). A consumer or port
   * not listed keeps its pod CIDRs. Filled by the hub only while GlobalPolicies exist.
   */
  readonly sources?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

export interface ObservedRoute {
  readonly destination: string;
  readonly target: RouteTarget;
  /** `causeway` only where Causeway's ownership record names this exact route. */
  readonly owner: 'causeway' | 'foreign';
  readonly origin: 'local' | 'static' | 'propagated';
}

export interface ObservedRouteTable {
  readonly id: string;
  readonly routes: readonly ObservedRoute[];
}

/** What an adapter observed in a domain, as the planner needs it. */
export interface DomainObservation {
  /** The route tables Causeway manages in the domain (already chosen by the Network's selector). */
  readonly routeTables?: readonly ObservedRouteTable[];
}

export interface PlanOptions {
  readonly services?: readonly ExportedService[];
  readonly observed?: Readonly<Record<string, DomainObservation>>;
  /** Plan only these domains (a provider controller plans its own); default every domain. */
  readonly only?: readonly string[];
  /**
   * Which pairs of domains get each other's pod CIDR routes. `clusterset` (the default): every pair
   * with members of one clusterset. `allowed-flows`: only the pairs GlobalPolicy lets talk through
   * an exported service — a consumer on one side, an exporter on the other, and some port whose
   * sources policy did not narrow to nothing (issue 10 §2); what the hub plans while policies exist.
   * LoadBalancer and clusterset-VIP prefixes are not narrowed (policy does not govern them).
   */
  readonly podRoutes?: PodRoutes;
}

export type PodRoutes = 'clusterset' | 'allowed-flows';

// ---- outputs -------------------------------------------------------------------------------

export const PlanReason = {
  RouteQuotaExceeded: 'RouteQuotaExceeded',
  RouteConflict: 'RouteConflict',
  LinkUnresolved: 'LinkUnresolved',
  NoRouteTables: 'NoRouteTables',
} as const;
export type PlanReason = (typeof PlanReason)[keyof typeof PlanReason];

export type PlanProblem =
  | {
      readonly reason: 'RouteQuotaExceeded';
      readonly domain: string;
      readonly table: string;
      readonly family: Family;
      readonly quota: number;
      /** Routes Causeway does not own that already use the quota. */
      readonly usedByOthers: number;
      readonly didNotFit: readonly string[];
      readonly message: string;
    }
  | {
      readonly reason: 'RouteConflict';
      readonly domain: string;
      readonly table: string;
      readonly destination: string;
      readonly covers: readonly PrefixRef[];
      readonly foreign: { readonly destination: string; readonly target: RouteTarget };
      readonly message: string;
    }
  | { readonly reason: 'LinkUnresolved'; readonly domain: string; readonly link: string; readonly message: string }
  | { readonly reason: 'NoRouteTables'; readonly domain: string; readonly message: string };

export interface DomainPlan {
  readonly domain: string;
  readonly provider: Domain['provider'];
  readonly routes: readonly RouteIntent[];
  readonly announcements: readonly Announcement[];
  readonly firewall: readonly FirewallIntent[];
  readonly problems: readonly PlanProblem[];
}

/** Two domains with clusters that should reach each other, and no usable link from one to the other. */
export interface Unreachable {
  readonly from: string;
  readonly to: string;
  readonly clusterSets: readonly string[];
  readonly message: string;
}

export interface RoutePlan {
  readonly domains: readonly DomainPlan[];
  readonly unreachable: readonly Unreachable[];
}

export function domainPlan(plan: RoutePlan, domain: string): DomainPlan | undefined {
  return plan.domains.find((d) => d.domain === domain);
}
