// The narrow Compute Engine port the GCP adapter works through: plain records in, plain records out,
// the contract's named errors for every failure. `compute-connection.ts` implements it on the
// @google-cloud/compute clients of `compute-sdk.ts` (the one file that imports the client library,
// ADR 0014); nothing else in the adapter sees a client type, a protobuf object or a GoogleError.
//
// Mutations answer the Compute operation they started; `waitOperation` follows it until it is DONE
// and throws the operation's own error, translated, when it failed. Every call — each page of a
// list, each `wait` — passes the domain's CallGate (its budget and backoff).
import type { CallGate } from '../model/provider-errors.ts';

// The budget's errors and port are provider-neutral; they live beside the AWS adapter, which had
// them first, and are re-exported so that the GCP adapter names them from one place.
export { QuotaExceededError, ThrottledError, type CallGate } from '../model/provider-errors.ts';
export { CallBudget, CallBudgetExhaustedError, DomainBudgets, type CallBudgetOptions, type CallBudgetStats } from '../model/call-budget.ts';

export interface NetworkGcp {
  readonly name: string;
  /** `https://www.googleapis.com/compute/v1/projects/P/global/networks/N`: what routes and rules name. */
  readonly selfLink: string;
  /** The self links of the network's subnetworks (they say which regions to list). */
  readonly subnetworks: readonly string[];
}

export interface SubnetworkRangeGcp {
  readonly cidr: string;
  /** `primary`, `ipv6`, or the secondary range's name (GKE pods and services). */
  readonly range: string;
}

export interface SubnetworkGcp {
  readonly name: string;
  readonly region: string;
  readonly network: string;
  readonly ranges: readonly SubnetworkRangeGcp[];
}

/** What a route sends traffic to, as Compute names it (`nextHopVpnTunnel`, `nextHopGateway`, ...). */
export type NextHopField = 'vpn-tunnel' | 'gateway' | 'ip' | 'instance' | 'ilb' | 'network' | 'peering' | 'interconnect' | 'hub' | 'other';

export interface RouteGcp {
  readonly name: string;
  readonly network: string;
  readonly destRange: string;
  readonly priority: number;
  readonly nextHop: { readonly field: NextHopField; readonly target: string };
  readonly description: string;
  /** `STATIC`, `SUBNET`, `BGP`, `TRANSIT`; empty when Compute does not say. */
  readonly routeType: string;
  /** Instance tags the route applies to (none: every instance). */
  readonly tags: readonly string[];
}

/** A custom route Causeway inserts: always a static route to a Cloud VPN tunnel. */
export interface RouteSpec {
  readonly name: string;
  readonly network: string;
  readonly destRange: string;
  readonly priority: number;
  /** The tunnel's URL (full or partial). */
  readonly nextHopVpnTunnel: string;
  readonly description: string;
}

export interface FirewallPermission {
  /** `tcp`, `udp`, `sctp`, `icmp`, `all`, or an IP protocol number. */
  readonly protocol: string;
  /** `8000` or `8000-8010`; none: every port. */
  readonly ports: readonly string[];
}

export interface FirewallGcp {
  readonly name: string;
  readonly network: string;
  readonly direction: 'INGRESS' | 'EGRESS';
  readonly priority: number;
  readonly sourceRanges: readonly string[];
  readonly destinationRanges: readonly string[];
  readonly allowed: readonly FirewallPermission[];
  readonly denied: readonly FirewallPermission[];
  readonly description: string;
  readonly disabled: boolean;
  /** Anything that narrows the rule to some instances (tags, service accounts). Causeway's rules have none. */
  readonly sourceTags: readonly string[];
  readonly targetTags: readonly string[];
  readonly sourceServiceAccounts: readonly string[];
  readonly targetServiceAccounts: readonly string[];
}

/** A firewall rule Causeway inserts or replaces: allow only, every instance of the network. */
export interface FirewallSpec {
  readonly name: string;
  readonly network: string;
  readonly direction: 'INGRESS' | 'EGRESS';
  readonly priority: number;
  readonly sourceRanges: readonly string[];
  readonly destinationRanges: readonly string[];
  readonly allowed: readonly FirewallPermission[];
  readonly description: string;
}

export interface AdvertisedRange {
  readonly range: string;
  readonly description: string;
}

/** A Cloud Router's BGP settings, as far as advertising goes. */
export interface RouterBgpGcp {
  readonly asn: number;
  readonly advertiseMode: 'DEFAULT' | 'CUSTOM';
  /** `ALL_SUBNETS` (custom mode only). */
  readonly advertisedGroups: readonly string[];
  readonly advertisedIpRanges: readonly AdvertisedRange[];
}

export interface RouterGcp {
  readonly name: string;
  readonly region: string;
  readonly network: string;
  readonly bgp: RouterBgpGcp | undefined;
  /** BGP peers with their own advertisement settings (those override the router's). */
  readonly customPeers: readonly string[];
}

export interface VpnTunnelGcp {
  readonly name: string;
  readonly region: string;
  readonly status: string;
}

/** A started Compute operation: global (routes, firewalls) or regional (routers). */
export interface OperationRef {
  readonly name: string;
  readonly region?: string;
  /** The status it was answered with (`PENDING`, `RUNNING`, `DONE`). */
  readonly status: string;
  /** What it does, for messages: `inserting route causeway-...`. */
  readonly what: string;
}

export interface ComputeApi {
  /** The network (NotFoundError when the project has none by that name). */
  getNetwork(project: string, network: string, signal: AbortSignal): Promise<NetworkGcp>;
  /** The network's subnetworks in one region, every page. */
  listSubnetworks(project: string, region: string, networkSelfLink: string, signal: AbortSignal): Promise<SubnetworkGcp[]>;
  /** Every route of the network (custom and system-generated), every page. */
  listRoutes(project: string, networkSelfLink: string, signal: AbortSignal): Promise<RouteGcp[]>;
  getRoute(project: string, name: string, signal: AbortSignal): Promise<RouteGcp>;
  insertRoute(project: string, route: RouteSpec, signal: AbortSignal): Promise<OperationRef>;
  deleteRoute(project: string, name: string, signal: AbortSignal): Promise<OperationRef>;
  /** Every firewall rule of the network, every page. */
  listFirewalls(project: string, networkSelfLink: string, signal: AbortSignal): Promise<FirewallGcp[]>;
  getFirewall(project: string, name: string, signal: AbortSignal): Promise<FirewallGcp>;
  insertFirewall(project: string, rule: FirewallSpec, signal: AbortSignal): Promise<OperationRef>;
  /** Replaces the whole rule (PUT): every field not in `rule` is cleared, tags included. */
  replaceFirewall(project: string, rule: FirewallSpec, signal: AbortSignal): Promise<OperationRef>;
  deleteFirewall(project: string, name: string, signal: AbortSignal): Promise<OperationRef>;
  getRouter(project: string, region: string, name: string, signal: AbortSignal): Promise<RouterGcp>;
  /** Sets the router's advertisement (mode, groups, ranges); every other router field is kept. */
  setRouterAdvertisements(project: string, region: string, name: string, bgp: RouterBgpGcp, signal: AbortSignal): Promise<OperationRef>;
  getVpnTunnel(project: string, region: string, name: string, signal: AbortSignal): Promise<VpnTunnelGcp>;
  /** Follows the operation until it is DONE; throws its error (translated) when it failed. */
  waitOperation(project: string, operation: OperationRef, signal: AbortSignal): Promise<void>;
}

/** The gate the port's calls pass when none is given. */
export const OPEN_GATE: CallGate = { run: (call) => call() };
