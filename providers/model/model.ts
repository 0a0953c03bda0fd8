// The provider-neutral network model (issue 9 §1): routing domains (an AWS VPC, a GCP VPC network,
// an on-prem site), the links between them, the prefixes each cluster, pool or domain owns, and the
// intents the route planner derives (routes, firewall openings, BGP announcements). Plain,
// immutable, JSON-friendly data: the hub plans on it and every adapter translates its provider's
// inventory into it and intents out of it, so no SDK type ever reaches a planner.
import type { Provider } from '../../controlplane/api/resources.ts';

export type Family = 4 | 6;

/** A set of provider objects named by id or chosen by one tag (AWS route tables, security groups). */
export interface ObjectSelector {
  readonly ids?: readonly string[] | undefined;
  readonly tag?: { readonly key: string; readonly value: string } | undefined;
}

/** AWS's default quota of non-propagated routes per route table. */
export const DEFAULT_AWS_ROUTES_PER_TABLE = 50;

interface DomainBase {
  /** The Network's name: a domain is one Network. */
  readonly name: string;
  readonly provider: Provider;
  /** Address space the Network declares (`spec.prefixes`): on-prem ranges, the VPC's CIDRs. */
  readonly prefixes: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

export interface AwsDomain extends DomainBase {
  readonly provider: 'aws';
  readonly region: string;
  readonly vpcId: string;
  readonly accountId?: string;
  readonly transitGatewayId?: string;
  readonly transitGatewayAttachmentId?: string;
  readonly vpnGatewayId?: string;
  /** Route tables Causeway adds routes to; undefined: every route table of the VPC. */
  readonly routeTables?: ObjectSelector;
  /** Security groups Causeway adds rules to; undefined: none. */
  readonly securityGroups?: ObjectSelector;
  readonly maxRoutesPerTable: number;
}

export interface GcpDomain extends DomainBase {
  readonly provider: 'gcp';
  readonly region: string;
  readonly project: string;
  readonly network: string;
  readonly cloudRouter?: { readonly region: string; readonly name: string };
}

export interface BgpPeer {
  readonly address: string;
  readonly asn: number;
  readonly port?: number | undefined;
}

export interface OnpremDomain extends DomainBase {
  readonly provider: 'onprem';
  readonly site: string;
  readonly asn: number;
  /** The site's fabric routers, which Causeway's announcements go to. */
  readonly peers: readonly BgpPeer[];
  readonly nextHop?: string;
  readonly communities: readonly string[];
}

export type Domain = AwsDomain | GcpDomain | OnpremDomain;

// ---- links -----------------------------------------------------------------------------------

export const LinkKind = {
  /** An AWS VPC attached to a transit gateway (also a site-to-site VPN or Direct Connect on that TGW). */
  AwsTransitGateway: 'aws-transit-gateway',
  AwsVpcPeering: 'aws-vpc-peering',
  /** A site-to-site VPN (or Direct Connect) on a virtual private gateway, without a TGW. */
  AwsVpn: 'aws-vpn',
  GcpVpcPeering: 'gcp-vpc-peering',
  /** Cloud VPN or Interconnect, whose BGP sessions live on a Cloud Router. */
  GcpCloudRouter: 'gcp-cloud-router',
  /**
   * A Cloud VPN tunnel routed statically (custom routes with `nextHopVpnTunnel`), in a Network that
   * names no Cloud Router: nothing is advertised from GCP over it.
   */
  GcpVpnTunnel: 'gcp-vpn-tunnel',
  /** An on-prem site's BGP session towards another domain. */
  BgpSession: 'bgp-session',
} as const;
export type LinkKind = (typeof LinkKind)[keyof typeof LinkKind];

/** Where a domain's route sends traffic: the provider object it names. */
export const TargetKind = {
  TransitGateway: 'transit-gateway',
  /**
   * The VPN a static route points at: an AWS virtual private gateway (`vgw-...`) or a GCP Cloud VPN
   * tunnel (`projects/P/regions/R/vpnTunnels/T`, a custom route's `nextHopVpnTunnel`); the id tells
   * them apart.
   */
  VpnGateway: 'vpn-gateway',
  VpcPeering: 'vpc-peering',
  CloudRouter: 'cloud-router',
  BgpPeer: 'bgp-peer',
  /** Targets Causeway never programs (local, internet and NAT gateways, instances, ...). */
  Other: 'other',
} as const;
export type TargetKind = (typeof TargetKind)[keyof typeof TargetKind];

export interface RouteTarget {
  readonly kind: TargetKind;
  readonly id: string;
}

/**
 * How a domain reaches its neighbour over a link: a static route the adapter programs, routes the
 * provider learns dynamically (BGP, peering exchange), or nothing yet because the Network does not
 * name the object the route would point at.
 */
export type LinkRouting =
  | { readonly mode: 'static'; readonly via: RouteTarget }
  | { readonly mode: 'learned'; readonly via: RouteTarget }
  | { readonly mode: 'unresolved'; readonly reason: string };

/** A link as one domain sees it (`from` declared it in its Network's `spec.links`). */
export interface Link {
  /** `from->to`, unique per ordered pair of domains. */
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly kind: LinkKind;
  /** What the Network's link said (`vpc-peering`, `transit-gateway`, `vpn`, `interconnect`, `bgp`). */
  readonly declared: string;
  readonly routing: LinkRouting;
  /** For BGP sessions (on-prem) and Cloud Router links, when the Network gives them. */
  readonly localAsn?: number;
  readonly peerAsn?: number;
  readonly peerAddress?: string;
}

// ---- prefixes and clusters -------------------------------------------------------------------

export const PrefixRole = {
  Pods: 'pods',
  Services: 'services',
  LoadBalancer: 'load-balancer',
  ClusterSetIPs: 'clusterset-ips',
  ClusterCIDRs: 'cluster-cidrs',
  /** A Network's declared address space. */
  Declared: 'declared',
  /** Addresses of an ExternalService's endpoints (VMs, bare metal), as host prefixes. */
  ExternalEndpoints: 'external-endpoints',
} as const;
export type PrefixRole = (typeof PrefixRole)[keyof typeof PrefixRole];

export interface PrefixOwner {
  readonly kind: 'cluster' | 'pool' | 'domain';
  readonly name: string;
}

export interface Prefix {
  readonly cidr: string;
  readonly family: Family;
  readonly owner: PrefixOwner;
  readonly role: PrefixRole;
  /** The domain the addresses live in; undefined for pools no Network announces (clusterset VIPs). */
  readonly domain: string | undefined;
}

export interface ClusterNode {
  readonly name: string;
  readonly domain: string;
  readonly clusterSet: string;
  readonly provider: Provider;
  readonly labels: Readonly<Record<string, string>>;
  readonly podCIDRs: readonly string[];
  readonly serviceCIDRs: readonly string[];
}

/** A problem found while building the model: the object and field it came from. */
export interface ModelProblem {
  readonly kind: 'Network' | 'Cluster' | 'IPPool';
  readonly name: string;
  readonly field: string;
  readonly message: string;
}

/** The whole model: every domain, link, cluster and prefix, sorted by name for stable output. */
export interface NetworkModel {
  readonly domains: readonly Domain[];
  readonly links: readonly Link[];
  readonly clusters: readonly ClusterNode[];
  readonly prefixes: readonly Prefix[];
  readonly problems: readonly ModelProblem[];
}

// ---- what the planner derives --------------------------------------------------------------

export interface PrefixRef {
  readonly cidr: string;
  readonly owner: PrefixOwner;
  readonly role: PrefixRole;
}

/** A destination prefix via a link, in a domain (and, for AWS, in one route table). */
export interface RouteIntent {
  readonly domain: string;
  /** The route table, when the domain's tables were observed; undefined means every managed table. */
  readonly table?: string;
  readonly destination: string;
  readonly family: Family;
  readonly link: string;
  /** `static`: the adapter programs it; `learned`: the provider learns it (BGP, peering). */
  readonly mode: 'static' | 'learned';
  readonly via: RouteTarget;
  /** The prefixes this route carries (several when contiguous prefixes were summarised). */
  readonly covers: readonly PrefixRef[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** Traffic to let through in a domain: from prefixes to prefixes, protocol and port range. */
export interface FirewallIntent {
  readonly domain: string;
  /** `ingress` where the exporter lives, `egress` where the consumer lives. */
  readonly direction: 'ingress' | 'egress';
  readonly family: Family;
  readonly protocol: Protocol;
  readonly fromPort: number;
  readonly toPort: number;
  readonly sources: readonly string[];
  readonly destinations: readonly string[];
  /** The other side's domain (the same one for clusters in one domain). */
  readonly peerDomain: string;
  /** `namespace/name` of every exported service this opening is for. */
  readonly services: readonly string[];
}

/** A prefix a domain announces over BGP (on-prem to its site peers; GCP from its Cloud Router). */
export interface Announcement {
  readonly domain: string;
  readonly prefix: string;
  readonly family: Family;
  readonly nextHop?: string;
  readonly communities: readonly string[];
  /** Who hears it: the site's peers (on-prem) or the Cloud Router's sessions over these links. */
  readonly peers: readonly BgpPeer[];
  readonly links: readonly string[];
  /** The domains that need it. */
  readonly toward: readonly string[];
  readonly owner: PrefixOwner;
  readonly role: PrefixRole;
}
