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
import type { Announcement, Domain, FirewallIntent, Link, NetworkModel, Prefix, PrefixRef, RouteIntent } from './model.ts';
import { compareCidrs, familyOf, hostPrefix, summarise } from './prefixes.ts';
import type { DomainObservation, DomainPlan, ExportedService, PlanOptions, PlanProblem, RoutePlan, ServiceExporter } from './plan-types.ts';
import { planTable, type Wanted } from './route-table.ts';

// The plan's data, for the adapters and the hub (one import for the planner and its types).
export * from './plan-types.ts';

// ---- the planner ---------------------------------------------------------------------------

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

  const consumersOf = consumerIndex(model);
  const services = [...(options.services ?? [])].sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  // While policy narrows the plan, pod routes join only the domains it lets talk (PlanOptions.podRoutes).
  const flowPairs = options.podRoutes === 'allowed-flows' ? allowedFlowPairs(services, consumersOf, clusterByName) : undefined;

  for (const [set, perDomain] of [...podsBySetAndDomain].sort(([a], [b]) => cmp(a, b))) {
    const members = [...perDomain.keys()].sort();
    for (const src of members) {
      for (const dst of members) {
        if (src === dst || !domains.has(src) || !domains.has(dst)) continue;
        if (!planned(src) && !planned(dst)) continue;
        const link = usableLink(src, dst, set);
        if (link === undefined) continue;
        const pods = flowPairs === undefined || flowPairs.has(pairKey(src, dst)) ? (perDomain.get(dst) ?? []) : [];
        const offered = [...pods, ...(lbPools.get(dst) ?? [])];
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
          const destinations = targets.filter((x) => familyOf(x) === family);
          if (destinations.length === 0) continue;
          for (const port of s.ports) {
            // Policy's narrowing holds for single ports; a range keeps the cluster's pod CIDRs.
            const narrowed = port.endPort === undefined ? s.sources?.[consumer]?.[`${port.protocol ?? 'TCP'}/${port.port}`] : undefined;
            const sources = narrowed === undefined ? c.podCIDRs.filter((x) => familyOf(x) === family) : narrowedSources(narrowed, family);
            if (sources.length === 0) continue;
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

/** One key per unordered pair of domains: a flow either way needs routes both ways (the replies). */
function pairKey(a: string, b: string): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`;
}

/**
 * The pairs of domains with a flow policy allows: a consumer in one, an exporter of the service in
 * the other, and some port policy did not narrow to no source at all (a port it left alone — a
 * range, or one every pod of the consumer may use — counts as allowed).
 */
function allowedFlowPairs(
  services: readonly ExportedService[],
  consumersOf: (s: ExportedService, e: ServiceExporter) => readonly string[],
  clusterByName: ReadonlyMap<string, { readonly name: string; readonly domain: string }>,
): Set<string> {
  const pairs = new Set<string>();
  for (const s of services) {
    for (const e of s.exporters) {
      if (!('cluster' in e)) continue;
      const exporterDomain = clusterByName.get(e.cluster)?.domain;
      if (exporterDomain === undefined) continue;
      for (const consumer of consumersOf(s, e)) {
        const c = clusterByName.get(consumer);
        if (c === undefined || c.name === e.cluster || c.domain === exporterDomain || pairs.has(pairKey(c.domain, exporterDomain))) continue;
        const narrowed = s.sources?.[consumer];
        const allowed =
          narrowed === undefined ||
          s.ports.some((p) => {
            const v = p.endPort === undefined ? narrowed[`${p.protocol ?? 'TCP'}/${p.port}`] : undefined;
            return v === undefined || v.length > 0;
          });
        if (allowed) pairs.add(pairKey(c.domain, exporterDomain));
      }
    }
  }
  return pairs;
}

/** The addresses policy allows, of one family, as host prefixes. */
function narrowedSources(addresses: readonly string[], family: 4 | 6): string[] {
  return addresses.filter((a) => familyOf(a) === family).map((a) => (a.includes('/') ? a : hostPrefix(a)));
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
