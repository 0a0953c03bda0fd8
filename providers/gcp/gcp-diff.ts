// The GCP adapter's decisions, pure: which routes, firewall rules and Cloud Router advertised ranges
// are Causeway's, what the plan wants in Compute's terms, and the changes that take one to the other.
//
// Ownership. A custom route or firewall rule is Causeway's when its name carries the Network's
// prefix (`causeway-<hash of the Network's name>-`) AND its description starts with
// `managed-by causeway network=<Network>`: a name alone could be anyone's choice, a description
// alone anyone's copy. An advertised range is Causeway's when its description is
// `causeway:<Network>`. Only those are ever changed or deleted; what someone else made and already
// does what the plan wants is left to do it.
//
// Names are deterministic (a hash of what the object is), so that an insert that was answered
// "already exists" names the very object Causeway meant, and two hubs never make two of one thing.
import { createHash } from 'node:crypto';
import { checkCidr } from '../../controlplane/api/cidr.ts';
import type { Announcement, FirewallIntent, GcpDomain, RouteIntent, RouteTarget } from '../model/model.ts';
import type { ObservedRoute, ObservedRouteTable } from '../model/plan-types.ts';
import { compareCidrs } from '../model/prefixes.ts';
import type { AdvertisedRange, FirewallGcp, FirewallSpec, RouteGcp, RouteSpec, RouterBgpGcp, RouterGcp, SubnetworkGcp } from './compute-api.ts';

/** Priority of Causeway's custom routes and firewall rules (Compute's default). */
export const CAUSEWAY_PRIORITY = 1000;
/** Compute's limit on resource names: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`. */
const MAX_NAME = 63;
const HASH_LENGTH = 8;

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, HASH_LENGTH);

/** `causeway-1a2b3c4d-`: what every route and rule name of this Network starts with. */
export function namePrefix(network: string): string {
  return `causeway-${hash(network)}-`;
}

/** What the description of every route and rule of this Network starts with. */
export function ownerMarker(network: string): string {
  return `managed-by causeway network=${network}`;
}

/** The description of every advertised range of this Network. */
export function rangeMarker(network: string): string {
  return `causeway:${network}`;
}

function described(description: string, network: string): boolean {
  const m = ownerMarker(network);
  return description === m || description.startsWith(`${m}:`) || description.startsWith(`${m} `);
}

/** A route or rule is Causeway's when its name and its description both say so. */
export function isOurs(object: { readonly name: string; readonly description: string }, network: string): boolean {
  return object.name.startsWith(namePrefix(network)) && described(object.description, network);
}

/** `causeway-<net>-<readable part>-<hash of key>`, a valid Compute name of at most 63 characters. */
export function resourceName(network: string, readable: string, key: string): string {
  const prefix = namePrefix(network);
  const room = MAX_NAME - prefix.length - 1 - HASH_LENGTH;
  const slug = readable
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
  return `${prefix}${slug === '' ? '' : `${slug}-`}${hash(key)}`;
}

/** `https://www.googleapis.com/compute/v1/projects/p/...` → `projects/p/...` (partial URLs compare). */
export function partialUrl(link: string): string {
  const i = link.indexOf('projects/');
  return i < 0 ? link : link.slice(i);
}

/** The base of a self link: what comes before `projects/`. */
function urlBase(selfLink: string): string {
  const i = selfLink.indexOf('projects/');
  return i < 0 ? 'https://www.googleapis.com/compute/v1/' : selfLink.slice(0, i);
}

function normalised(cidr: string): string {
  const c = checkCidr(cidr);
  return c.ok ? c.cidr : cidr;
}

const sortedCidrs = (xs: readonly string[]): string[] => [...new Set(xs.map(normalised))].sort(compareCidrs);

// ---- what was observed ---------------------------------------------------------------------

/** The network as one route table for the planner: every route, Causeway's or foreign. */
export function networkTableId(domain: GcpDomain): string {
  return `projects/${domain.project}/global/networks/${domain.network}`;
}

export function routeTargetOf(r: RouteGcp): RouteTarget {
  switch (r.nextHop.field) {
    case 'vpn-tunnel':
      return { kind: 'vpn-gateway', id: partialUrl(r.nextHop.target) };
    case 'peering':
      return { kind: 'vpc-peering', id: r.nextHop.target };
    case 'gateway':
    case 'ip':
    case 'instance':
    case 'ilb':
    case 'network':
    case 'interconnect':
    case 'hub':
    case 'other':
      return { kind: 'other', id: r.nextHop.target === '' ? r.nextHop.field : partialUrl(r.nextHop.target) };
  }
}

export function observedTable(domain: GcpDomain, routes: readonly RouteGcp[]): ObservedRouteTable {
  return {
    id: networkTableId(domain),
    routes: routes
      .filter((r) => checkCidr(r.destRange).ok)
      .map((r): ObservedRoute => ({
        destination: normalised(r.destRange),
        target: routeTargetOf(r),
        owner: isOurs(r, domain.name) ? 'causeway' : 'foreign',
        origin: r.routeType === 'SUBNET' || r.nextHop.field === 'network' ? 'local' : r.routeType === 'BGP' ? 'propagated' : 'static',
      })),
  };
}

/** Every range of the network's subnetworks (primary, secondary, IPv6), normalised, sorted: the Network's observed prefixes. */
export function observedPrefixes(subnetworks: readonly SubnetworkGcp[]): string[] {
  const out = new Set<string>();
  for (const s of subnetworks) {
    for (const r of s.ranges) {
      const c = checkCidr(r.cidr);
      if (c.ok) out.add(c.cidr);
    }
  }
  return [...out].sort();
}

// ---- what the plan wants -------------------------------------------------------------------

/** Custom routes for the plan's static routes: each destination to its Cloud VPN tunnel. */
export function desiredRoutes(domain: GcpDomain, routes: readonly RouteIntent[], networkSelfLink: string): RouteSpec[] {
  const out = new Map<string, RouteSpec>();
  for (const r of routes) {
    if (r.mode !== 'static' || r.via.kind !== 'vpn-gateway') continue;
    const tunnel = partialUrl(r.via.id);
    const name = resourceName(domain.name, r.destination, `${r.destination}|${tunnel}`);
    const covers = [...new Set(r.covers.map((c) => `${c.owner.kind} ${c.owner.name} ${c.role}`))].join(', ');
    out.set(name, {
      name,
      network: networkSelfLink,
      destRange: r.destination,
      priority: CAUSEWAY_PRIORITY,
      nextHopVpnTunnel: `${urlBase(networkSelfLink)}${tunnel}`,
      description: `${ownerMarker(domain.name)}: ${r.destination} over ${r.link} (${covers})`.slice(0, 2048),
    });
  }
  return [...out.values()].sort((a, b) => compareCidrs(a.destRange, b.destRange) || a.name.localeCompare(b.name));
}

const portText = (f: FirewallIntent): string => (f.fromPort === f.toPort ? `${f.fromPort}` : `${f.fromPort}-${f.toPort}`);

/** Firewall rules for the plan's openings: ingress where the exporter lives, egress where the consumer does. */
export function desiredFirewalls(domain: GcpDomain, firewall: readonly FirewallIntent[], networkSelfLink: string): FirewallSpec[] {
  const out = new Map<string, FirewallSpec>();
  for (const f of firewall) {
    const protocol = f.protocol.toLowerCase();
    const ports = portText(f);
    const key = [f.direction, f.peerDomain, f.family, protocol, ports, f.services.join(',')].join('|');
    const name = resourceName(domain.name, `${f.direction === 'ingress' ? 'in' : 'eg'}-${protocol}-${ports}`, key);
    const peer = f.direction === 'ingress' ? `from ${f.peerDomain}` : `to ${f.peerDomain}`;
    out.set(name, {
      name,
      network: networkSelfLink,
      direction: f.direction === 'ingress' ? 'INGRESS' : 'EGRESS',
      priority: CAUSEWAY_PRIORITY,
      sourceRanges: sortedCidrs(f.sources),
      destinationRanges: sortedCidrs(f.destinations),
      allowed: [{ protocol, ports: [ports] }],
      description: `${ownerMarker(domain.name)}: ${f.direction} ${protocol}/${ports} ${peer} for ${f.services.join(', ')}`.slice(0, 2048),
    });
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The Cloud Router ranges for the plan's announcements (GCP's prefixes toward its BGP peers). */
export function desiredRanges(domain: GcpDomain, announcements: readonly Announcement[]): string[] {
  return sortedCidrs(announcements.filter((a) => a.domain === domain.name).map((a) => a.prefix));
}

// ---- comparing -----------------------------------------------------------------------------

/** Whether an observed route is the route the spec describes. */
export function sameRoute(r: RouteGcp, spec: RouteSpec): boolean {
  return (
    normalised(r.destRange) === normalised(spec.destRange) &&
    r.nextHop.field === 'vpn-tunnel' &&
    partialUrl(r.nextHop.target) === partialUrl(spec.nextHopVpnTunnel) &&
    r.priority === spec.priority &&
    partialUrl(r.network) === partialUrl(spec.network) &&
    r.tags.length === 0
  );
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  const x = sortedCidrs(a);
  const y = sortedCidrs(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

const permissionKey = (p: { protocol: string; ports: readonly string[] }): string => `${p.protocol.toLowerCase()}:${[...p.ports].sort().join(',')}`;

/** Whether an observed rule is the rule the spec describes, and nothing narrows or widens it. */
export function sameFirewall(f: FirewallGcp, spec: FirewallSpec): boolean {
  return (
    f.direction === spec.direction &&
    f.priority === spec.priority &&
    partialUrl(f.network) === partialUrl(spec.network) &&
    sameSet(f.sourceRanges, spec.sourceRanges) &&
    sameSet(f.destinationRanges, spec.destinationRanges) &&
    f.allowed.map(permissionKey).sort().join(' ') === spec.allowed.map(permissionKey).sort().join(' ') &&
    f.denied.length === 0 &&
    !f.disabled &&
    f.description === spec.description &&
    f.sourceTags.length === 0 &&
    f.targetTags.length === 0 &&
    f.sourceServiceAccounts.length === 0 &&
    f.targetServiceAccounts.length === 0
  );
}

// ---- changes -------------------------------------------------------------------------------

export type RouteChange =
  | { readonly op: 'create'; readonly spec: RouteSpec }
  /** Causeway's route under this name is not what the name stands for: delete it, then create it. */
  | { readonly op: 'recreate'; readonly spec: RouteSpec }
  | { readonly op: 'delete'; readonly route: RouteGcp };

export type FirewallChange =
  | { readonly op: 'create'; readonly spec: FirewallSpec }
  | { readonly op: 'replace'; readonly spec: FirewallSpec }
  | { readonly op: 'delete'; readonly rule: FirewallGcp };

export interface RouterChange {
  /** The router's advertisement after the change (foreign ranges and groups kept). */
  readonly bgp: RouterBgpGcp;
  readonly add: readonly string[];
  readonly remove: readonly string[];
  /** The router advertised in DEFAULT mode (all subnets) and is switched to CUSTOM keeping them. */
  readonly switchesMode: boolean;
}

export interface GcpChanges {
  readonly routes: readonly RouteChange[];
  readonly firewalls: readonly FirewallChange[];
  readonly router: RouterChange | undefined;
  /** Desired names already taken by an object that is not Causeway's: left alone, reported. */
  readonly blocked: readonly { readonly kind: 'route' | 'firewall'; readonly name: string }[];
  readonly unchanged: { readonly routes: number; readonly rules: number; readonly announcements: number };
}

export interface DiffInput {
  /** The Network's name (the domain). */
  readonly network: string;
  readonly routes: readonly RouteGcp[];
  readonly firewalls: readonly FirewallGcp[];
  /** The Cloud Router the Network names, when it names one and it has BGP. */
  readonly router: RouterGcp | undefined;
  readonly desiredRoutes: readonly RouteSpec[];
  readonly desiredFirewalls: readonly FirewallSpec[];
  readonly desiredRanges: readonly string[];
}

export function diffGcp(input: DiffInput): GcpChanges {
  const { network } = input;
  const blocked: { kind: 'route' | 'firewall'; name: string }[] = [];

  // Routes: by name, since a name stands for one destination and one tunnel.
  const routes: RouteChange[] = [];
  let unchangedRoutes = 0;
  const routeByName = new Map(input.routes.map((r) => [r.name, r]));
  const wantedRoutes = new Set(input.desiredRoutes.map((s) => s.name));
  for (const spec of input.desiredRoutes) {
    const present = routeByName.get(spec.name);
    if (present === undefined) {
      // A foreign route doing exactly this already carries the traffic (the planner left it out
      // when it saw it; this catches one under another name with the same destination and tunnel).
      if (input.routes.some((r) => !isOurs(r, network) && sameRoute(r, spec))) unchangedRoutes += 1;
      else routes.push({ op: 'create', spec });
    } else if (!isOurs(present, network)) blocked.push({ kind: 'route', name: spec.name });
    else if (sameRoute(present, spec)) unchangedRoutes += 1;
    else routes.push({ op: 'recreate', spec });
  }
  for (const r of input.routes) if (isOurs(r, network) && !wantedRoutes.has(r.name)) routes.push({ op: 'delete', route: r });

  // Firewall rules: a rule wholly Causeway's is replaced whole when anything in it differs.
  const firewalls: FirewallChange[] = [];
  let unchangedRules = 0;
  const ruleByName = new Map(input.firewalls.map((f) => [f.name, f]));
  const wantedRules = new Set(input.desiredFirewalls.map((s) => s.name));
  for (const spec of input.desiredFirewalls) {
    const present = ruleByName.get(spec.name);
    if (present === undefined) firewalls.push({ op: 'create', spec });
    else if (!isOurs(present, network)) blocked.push({ kind: 'firewall', name: spec.name });
    else if (sameFirewall(present, spec)) unchangedRules += 1;
    else firewalls.push({ op: 'replace', spec });
  }
  for (const f of input.firewalls) if (isOurs(f, network) && !wantedRules.has(f.name)) firewalls.push({ op: 'delete', rule: f });

  // Advertised ranges: only those described as this Network's are added or removed.
  let router: RouterChange | undefined;
  let unchangedRanges = 0;
  const bgp = input.router?.bgp;
  if (bgp !== undefined) {
    const marker = rangeMarker(network);
    const present = new Map(bgp.advertisedIpRanges.map((r) => [normalised(r.range), r]));
    const wanted = new Set(input.desiredRanges.map(normalised));
    const add = [...wanted].filter((c) => !present.has(c)).sort(compareCidrs);
    unchangedRanges = wanted.size - add.length;
    const remove = bgp.advertisedIpRanges
      .filter((r) => r.description === marker && !wanted.has(normalised(r.range)))
      .map((r) => normalised(r.range))
      .sort(compareCidrs);
    if (add.length > 0 || remove.length > 0) {
      const switchesMode = bgp.advertiseMode === 'DEFAULT' && add.length > 0;
      const kept: AdvertisedRange[] = bgp.advertisedIpRanges.filter((r) => !remove.includes(normalised(r.range)));
      router = {
        bgp: {
          asn: bgp.asn,
          advertiseMode: switchesMode ? 'CUSTOM' : bgp.advertiseMode,
          // DEFAULT mode advertises every subnet: CUSTOM keeps doing so through the group.
          advertisedGroups: switchesMode ? [...new Set([...bgp.advertisedGroups, 'ALL_SUBNETS'])] : [...bgp.advertisedGroups],
          advertisedIpRanges: [...kept, ...add.map((range) => ({ range, description: marker }))],
        },
        add,
        remove,
        switchesMode,
      };
    }
  }

  // Make before break: what is new goes first, what it replaces after.
  const routeOrder = { create: 0, recreate: 1, delete: 2 } as const;
  const ruleOrder = { create: 0, replace: 1, delete: 2 } as const;
  const routeName = (c: RouteChange): string => (c.op === 'delete' ? c.route.name : c.spec.name);
  const ruleName = (c: FirewallChange): string => (c.op === 'delete' ? c.rule.name : c.spec.name);
  routes.sort((a, b) => routeOrder[a.op] - routeOrder[b.op] || routeName(a).localeCompare(routeName(b)));
  firewalls.sort((a, b) => ruleOrder[a.op] - ruleOrder[b.op] || ruleName(a).localeCompare(ruleName(b)));
  return { routes, firewalls, router, blocked, unchanged: { routes: unchangedRoutes, rules: unchangedRules, announcements: unchangedRanges } };
}
