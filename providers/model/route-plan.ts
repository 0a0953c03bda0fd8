// The route plan (issue 9 §3), pure and synchronous: for every pair of clusters that must reach each
// other (members of one clusterset), per domain, the routes (which prefix via which link), the BGP
// announcements, and the firewall openings for the ports of the services exported between them.
//
// - Only direct links carry traffic: two domains with no link between them are reported as
//   unreachable, never routed through a third domain (a site is no transit unless it says so).
// - Static routes (AWS) are summarised exactly (contiguous prefixes merge, no address is added)
//   and fitted to each route table's quota; what does not fit is refused, named with the table.
// - A static route that would take traffic from a route Causeway does not own (same or a wider
//   destination, another target) is not planned: the conflict is reported instead. Default routes
//   (/0) are the exception: every specific route narrows them, by design.
import {
  type Announcement,
  type Domain,
  type Family,
  type FirewallIntent,
  type Link,
  type NetworkModel,
  type Prefix,
  type PrefixRef,
  type Protocol,
  type RouteIntent,
  type RouteTarget,
} from './model.ts';
import { compareCidrs, covers, familyOf, hostPrefix, prefixLength, sortCidrs, summarise } from './prefixes.ts';

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
}

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

// ---- the planner ---------------------------------------------------------------------------

interface Wanted {
  readonly link: Link;
  readonly via: RouteTarget;
  readonly mode: 'static' | 'learned';
  readonly prefixes: Map<string, PrefixRef[]>;
}

interface DomainWork {
  readonly domain: Domain;
  /** link id → routes wanted over it. */
  readonly wanted: Map<string, Wanted>;
  /** prefix → announcement being built. */
  readonly announce: Map<string, { prefix: Prefix; toward: Set<string>; links: Set<string> }>;
  readonly firewall: Map<string, { intent: Omit<FirewallIntent, 'sources' | 'destinations'>; sources: Set<string>; destinations: Set<string> }>;
  readonly problems: PlanProblem[];
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sameTarget = (a: RouteTarget, b: RouteTarget): boolean => a.kind === b.kind && a.id === b.id;
const refOf = (p: Prefix): PrefixRef => ({ cidr: p.cidr, owner: p.owner, role: p.role });

export function planRoutes(model: NetworkModel, options: PlanOptions = {}): RoutePlan {
  const only = options.only === undefined ? undefined : new Set(options.only);
  const planned = (d: string): boolean => only === undefined || only.has(d);
  const domains = new Map(model.domains.map((d) => [d.name, d]));
  const links = new Map(model.links.map((l) => [l.id, l]));
  const linkBetween = (from: string, to: string): Link | undefined => links.get(`${from}->${to}`);
  const work = new Map<string, DomainWork>();
  for (const d of model.domains) {
    if (planned(d.name)) work.set(d.name, { domain: d, wanted: new Map(), announce: new Map(), firewall: new Map(), problems: [] });
  }
  const unreachable = new Map<string, { from: string; to: string; sets: Set<string>; message: string }>();
  const reportedLinks = new Set<string>();

  /** The usable link from → to, or undefined after noting why there is none. */
  const usableLink = (from: string, to: string, set: string): Link | undefined => {
    const link = linkBetween(from, to);
    if (link !== undefined && link.routing.mode !== 'unresolved') return link;
    let message: string;
    if (link === undefined) {
      const back = linkBetween(to, from);
      message =
        back === undefined
          ? `no link between Network "${from}" and Network "${to}"`
          : `Network "${from}" declares no link to "${to}" (only "${to}" links to "${from}"): declare ${from}'s side to route from it`;
    } else {
      message = link.routing.mode === 'unresolved' ? link.routing.reason : '';
      const w = work.get(from);
      if (w !== undefined && !reportedLinks.has(link.id)) {
        reportedLinks.add(link.id);
        w.problems.push({ reason: 'LinkUnresolved', domain: from, link: link.id, message });
      }
    }
    const key = `${from}->${to}`;
    const u = unreachable.get(key) ?? { from, to, sets: new Set<string>(), message };
    u.sets.add(set);
    unreachable.set(key, u);
    return undefined;
  };

  const want = (from: string, link: Link, prefix: PrefixRef): void => {
    const w = work.get(from);
    if (w === undefined || link.routing.mode === 'unresolved') return;
    const entry = w.wanted.get(link.id) ?? { link, via: link.routing.via, mode: link.routing.mode, prefixes: new Map<string, PrefixRef[]>() };
    w.wanted.set(link.id, entry);
    const refs = entry.prefixes.get(prefix.cidr) ?? [];
    if (!refs.some((r) => r.owner.kind === prefix.owner.kind && r.owner.name === prefix.owner.name && r.role === prefix.role)) refs.push(prefix);
    entry.prefixes.set(prefix.cidr, refs);
  };

  const announce = (domain: string, prefix: Prefix, toward: string, link: Link | undefined): void => {
    const w = work.get(domain);
    if (w === undefined) return;
    const a = w.announce.get(prefix.cidr) ?? { prefix, toward: new Set<string>(), links: new Set<string>() };
    a.toward.add(toward);
    if (link !== undefined) a.links.add(link.id);
    w.announce.set(prefix.cidr, a);
  };

  // What a domain offers the others for one clusterset: its member clusters' pod CIDRs, and the
  // LoadBalancer pools it announces. ClusterSetIPs pools are announced by on-prem sites only.
  const podsBySetAndDomain = new Map<string, Map<string, Prefix[]>>();
  const clusterByName = new Map(model.clusters.map((c) => [c.name, c]));
  for (const p of model.prefixes) {
    if (p.role !== 'pods' || p.owner.kind !== 'cluster') continue;
    const c = clusterByName.get(p.owner.name);
    if (c === undefined) continue;
    const perDomain = podsBySetAndDomain.get(c.clusterSet) ?? new Map<string, Prefix[]>();
    podsBySetAndDomain.set(c.clusterSet, perDomain);
    const list = perDomain.get(c.domain) ?? [];
    list.push(p);
    perDomain.set(c.domain, list);
  }
  const lbPools = new Map<string, Prefix[]>();
  for (const p of model.prefixes) {
    if (p.role !== 'load-balancer' || p.domain === undefined) continue;
    const list = lbPools.get(p.domain) ?? [];
    list.push(p);
    lbPools.set(p.domain, list);
  }
  const vipPools = model.prefixes.filter((p) => p.role === 'clusterset-ips');

  for (const [set, perDomain] of [...podsBySetAndDomain].sort(([a], [b]) => cmp(a, b))) {
    const members = [...perDomain.keys()].sort();
    for (const src of members) {
      for (const dst of members) {
        if (src === dst || !domains.has(src) || !domains.has(dst)) continue;
        if (!planned(src) && !planned(dst)) continue;
        const link = usableLink(src, dst, set);
        if (link === undefined) continue;
        const offered = [...(perDomain.get(dst) ?? []), ...(lbPools.get(dst) ?? [])];
        for (const p of offered) want(src, link, refOf(p));
        // The destination makes its prefixes known to the source where routes are learned.
        const d = domains.get(dst);
        if (d?.provider === 'onprem') {
          for (const p of [...offered, ...vipPools]) announce(dst, p, src, linkBetween(dst, src));
        } else if (d?.provider === 'gcp') {
          const back = linkBetween(dst, src);
          if (back?.kind === 'gcp-cloud-router' && back.routing.mode !== 'unresolved') for (const p of offered) announce(dst, p, src, back);
        }
      }
    }
  }

  // ExternalService endpoints: a route to each endpoint address from every consumer's domain.
  const consumersOf = consumerIndex(model);
  const services = [...(options.services ?? [])].sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  for (const s of services) {
    for (const e of s.exporters) {
      if (!('network' in e) || !domains.has(e.network)) continue;
      for (const consumer of consumersOf(s, e)) {
        const c = clusterByName.get(consumer);
        if (c === undefined || c.domain === e.network || !planned(c.domain)) continue;
        const link = usableLink(c.domain, e.network, c.clusterSet);
        if (link === undefined) continue;
        for (const a of e.addresses) want(c.domain, link, { cidr: hostPrefix(a), owner: { kind: 'domain', name: e.network }, role: 'external-endpoints' });
      }
    }
  }

  // Firewall openings for the exported ports, where the two sides can reach each other.
  for (const s of services) {
    const service = `${s.namespace}/${s.name}`;
    for (const e of s.exporters) {
      const exporterDomain = 'cluster' in e ? clusterByName.get(e.cluster)?.domain : e.network;
      if (exporterDomain === undefined || !domains.has(exporterDomain)) continue;
      const targets = 'cluster' in e ? (clusterByName.get(e.cluster)?.podCIDRs ?? []) : e.addresses.map(hostPrefix);
      for (const consumer of consumersOf(s, e)) {
        const c = clusterByName.get(consumer);
        if (c === undefined || ('cluster' in e && c.name === e.cluster)) continue;
        if (!planned(c.domain) && !planned(exporterDomain)) continue;
        if (c.domain !== exporterDomain) {
          const link = linkBetween(c.domain, exporterDomain);
          if (link === undefined || link.routing.mode === 'unresolved') continue;
        }
        for (const family of [4, 6] as const) {
          const sources = c.podCIDRs.filter((x) => familyOf(x) === family);
          const destinations = targets.filter((x) => familyOf(x) === family);
          if (sources.length === 0 || destinations.length === 0) continue;
          for (const port of s.ports) {
            const base = { family, protocol: port.protocol ?? 'TCP', fromPort: port.port, toPort: port.endPort ?? port.port, services: [service] } as const;
            open(work.get(exporterDomain), { ...base, domain: exporterDomain, direction: 'ingress', peerDomain: c.domain }, sources, destinations);
            open(work.get(c.domain), { ...base, domain: c.domain, direction: 'egress', peerDomain: exporterDomain }, sources, destinations);
          }
        }
      }
    }
  }

  const plans = [...work.values()].sort((a, b) => cmp(a.domain.name, b.domain.name)).map((w) => finish(w, options.observed?.[w.domain.name]));
  return {
    domains: plans,
    unreachable: [...unreachable.values()]
      .sort((a, b) => cmp(`${a.from}->${a.to}`, `${b.from}->${b.to}`))
      .map((u) => ({ from: u.from, to: u.to, clusterSets: [...u.sets].sort(), message: u.message })),
  };
}

/** Who may consume an export: the service's own list, else the exporter's clusterset (everyone, for external endpoints). */
function consumerIndex(model: NetworkModel): (s: ExportedService, e: ServiceExporter) => readonly string[] {
  const bySet = new Map<string, string[]>();
  const setOf = new Map<string, string>();
  for (const c of model.clusters) {
    const members = bySet.get(c.clusterSet) ?? [];
    members.push(c.name);
    bySet.set(c.clusterSet, members);
    setOf.set(c.name, c.clusterSet);
  }
  const everyone = model.clusters.map((c) => c.name);
  return (s, e) => {
    if (s.consumers !== undefined) return [...s.consumers].sort();
    if (!('cluster' in e)) return everyone;
    const set = setOf.get(e.cluster);
    return set === undefined ? [] : (bySet.get(set) ?? []);
  };
}

function open(
  w: DomainWork | undefined,
  intent: Omit<FirewallIntent, 'sources' | 'destinations'>,
  sources: readonly string[],
  destinations: readonly string[],
): void {
  if (w === undefined) return;
  // One opening per service, so that unioning sources never lets one service's consumers reach
  // another service's endpoints.
  const key = [intent.direction, intent.peerDomain, intent.family, intent.protocol, intent.fromPort, intent.toPort, intent.services.join(',')].join('|');
  const f = w.firewall.get(key) ?? { intent, sources: new Set<string>(), destinations: new Set<string>() };
  for (const s of sources) f.sources.add(s);
  for (const d of destinations) f.destinations.add(d);
  w.firewall.set(key, f);
}

function finish(w: DomainWork, observed: DomainObservation | undefined): DomainPlan {
  const d = w.domain;
  const problems = [...w.problems];
  const routes: RouteIntent[] = [];
  const wanted = [...w.wanted.values()].sort((a, b) => cmp(a.link.id, b.link.id));
  for (const entry of wanted) {
    if (entry.mode === 'learned') {
      for (const [cidr, refs] of entry.prefixes) {
        routes.push({ domain: d.name, destination: cidr, family: familyOf(cidr), link: entry.link.id, mode: 'learned', via: entry.via, covers: refs });
      }
    }
  }
  const statics = wanted.filter((e) => e.mode === 'static');
  if (statics.length > 0) {
    const tables = observed?.routeTables;
    if (tables?.length === 0) {
      problems.push({ reason: 'NoRouteTables', domain: d.name, message: `Network "${d.name}": no route table to program (none matches spec.aws.routeTables)` });
    }
    const quota = d.provider === 'aws' ? d.maxRoutesPerTable : Number.POSITIVE_INFINITY;
    for (const table of tables ?? [undefined]) routes.push(...planTable(d, table, statics, quota, problems));
  }
  routes.sort((a, b) => cmp(a.table ?? '', b.table ?? '') || compareCidrs(a.destination, b.destination) || cmp(a.link, b.link));

  const announcements: Announcement[] = [...w.announce.values()]
    .map(({ prefix, toward, links }) => ({
      domain: d.name,
      prefix: prefix.cidr,
      family: prefix.family,
      ...(d.provider === 'onprem' && d.nextHop !== undefined ? { nextHop: d.nextHop } : {}),
      communities: d.provider === 'onprem' ? d.communities : [],
      peers: d.provider === 'onprem' ? d.peers : [],
      links: [...links].sort(),
      toward: [...toward].sort(),
      owner: prefix.owner,
      role: prefix.role,
    }))
    .sort((a, b) => compareCidrs(a.prefix, b.prefix));

  const firewall: FirewallIntent[] = [...w.firewall.values()]
    .map(({ intent, sources, destinations }) => ({ ...intent, sources: summarise(sources), destinations: summarise(destinations) }))
    .sort(
      (a, b) =>
        cmp(a.direction, b.direction) ||
        cmp(a.peerDomain, b.peerDomain) ||
        a.family - b.family ||
        cmp(a.protocol, b.protocol) ||
        a.fromPort - b.fromPort ||
        cmp(a.services.join(','), b.services.join(',')),
    );
  return { domain: d.name, provider: d.provider, routes, announcements, firewall, problems };
}

/** The static routes of one route table (or of every managed table, when none was observed). */
function planTable(d: Domain, table: ObservedRouteTable | undefined, statics: readonly Wanted[], quota: number, problems: PlanProblem[]): RouteIntent[] {
  const tableName = table?.id ?? 'every managed route table';
  const foreign = (table?.routes ?? []).filter((r) => r.owner === 'foreign');
  const ours = new Set((table?.routes ?? []).filter((r) => r.owner === 'causeway').map((r) => r.destination));
  const candidates: { destination: string; entry: Wanted; covers: PrefixRef[] }[] = [];
  for (const entry of statics) {
    const kept = new Map<string, PrefixRef[]>();
    for (const [cidr, refs] of entry.prefixes) {
      // A foreign route already doing exactly this is left to do it.
      if (foreign.some((f) => f.destination === cidr && sameTarget(f.target, entry.via))) continue;
      const shadowed = foreign.find((f) => prefixLength(f.destination) > 0 && !sameTarget(f.target, entry.via) && covers(f.destination, cidr));
      if (shadowed !== undefined) {
        problems.push({
          reason: 'RouteConflict',
          domain: d.name,
          table: tableName,
          destination: cidr,
          covers: refs,
          foreign: { destination: shadowed.destination, target: shadowed.target },
          message: `route table ${tableName}: a route to ${cidr} via ${entry.via.id} would take traffic from ${shadowed.destination} via ${shadowed.target.id}, which Causeway does not own; not planned`,
        });
        continue;
      }
      kept.set(cidr, refs);
    }
    for (const summary of summarise(kept.keys())) {
      const refs = [...kept].filter(([cidr]) => covers(summary, cidr)).flatMap(([, r]) => r);
      candidates.push({ destination: summary, entry, covers: refs });
    }
  }
  const out: RouteIntent[] = [];
  for (const family of [4, 6] as const) {
    const usedByOthers = foreign.filter((f) => f.origin === 'static' && familyOf(f.destination) === family).length;
    const room = Math.max(0, quota - usedByOthers);
    // Routes already in place keep their slots, so a new prefix never evicts an existing one.
    const mine = candidates
      .filter((c) => familyOf(c.destination) === family)
      .sort((a, b) => Number(ours.has(b.destination)) - Number(ours.has(a.destination)) || compareCidrs(a.destination, b.destination));
    const fit = mine.slice(0, room);
    const rest = mine.slice(room);
    if (rest.length > 0) {
      const didNotFit = sortCidrs(rest.map((r) => r.destination));
      problems.push({
        reason: 'RouteQuotaExceeded',
        domain: d.name,
        table: tableName,
        family,
        quota,
        usedByOthers,
        didNotFit,
        message: `route table ${tableName} holds at most ${quota} IPv${family} routes (${usedByOthers} are not Causeway's); ${didNotFit.length} did not fit after summarising: ${didNotFit.join(', ')}${quotaHint(d)}`,
      });
    }
    for (const c of fit) {
      out.push({
        domain: d.name,
        ...(table !== undefined ? { table: table.id } : {}),
        destination: c.destination,
        family,
        link: c.entry.link.id,
        mode: 'static',
        via: c.entry.via,
        covers: c.covers,
      });
    }
  }
  return out;
}

function quotaHint(d: Domain): string {
  return d.provider === 'aws' ? `; raise the account's quota and spec.aws.maxRoutesPerTable (now ${d.maxRoutesPerTable})` : '';
}
