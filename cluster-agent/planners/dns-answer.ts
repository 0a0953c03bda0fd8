// Answers for the zone clusterset.local, pure: a question and the ServiceImports and EndpointSlices
// the agent has applied → the records, the rcode and, for a negative answer, the zone's SOA. It
// follows the MCS DNS specification (KEP-1645 `specification.md`, schema 1.0.0, an extension of the
// Kubernetes DNS specification):
//
//   <svc>.<ns>.svc.clusterset.local                     A/AAAA: the ClusterSetIPs; headless: every ready endpoint
//   <hostname>.<clusterid>.<svc>.<ns>.svc.clusterset.local   A/AAAA: one ready endpoint of a headless service
//   _<port>._<proto>.<svc>.<ns>.svc.clusterset.local    SRV per named port (headless: per ready endpoint and port)
//   <svc>.<ns>.svc.clusterset.local                     SRV too: one per port, named or not (as CoreDNS answers)
//   dns-version.clusterset.local                        TXT "1.0.0"
//
// Names that exist without records of the asked type (the apex, `svc`, a namespace with imports,
// `_tcp.<svc>...`, `<clusterid>.<headless svc>...`) answer NODATA, everything else NXDOMAIN
// (RFC 8020: NXDOMAIN means nothing exists below either). A headless service without ready
// endpoints is NXDOMAIN, as the specification says. Until the first snapshot is applied a
// negative answer is SERVFAIL: a resolver would cache an NXDOMAIN for a name about to exist.
// The wire format lives in dns-server.ts; nothing here knows it.
import { Labels, type EndpointSliceObject, type KubeObject } from '../objects.ts';

export const CLUSTERSET_ZONE = 'clusterset.local';
/** The MCS DNS specification's schema version, served as `dns-version.clusterset.local TXT`. */
export const DNS_SCHEMA_VERSION = '1.0.0';

/**
 * TTLs in seconds. The specification leaves `<ttl>` open; its examples use 4 to 5 s for service
 * records and 28800 for dns-version, and CoreDNS's kubernetes and multicluster plugins default to
 * 5 s. Negative answers are cached for the SOA's minimum (RFC 2308), as short as the records, so
 * a name that appears is seen within seconds.
 */
export const DnsTtl = { Record: 5, Version: 28_800, Negative: 5 } as const;

export const Rcode = {
  NoError: 'NOERROR',
  FormErr: 'FORMERR',
  ServFail: 'SERVFAIL',
  NxDomain: 'NXDOMAIN',
  NotImp: 'NOTIMP',
  Refused: 'REFUSED',
} as const;
export type Rcode = (typeof Rcode)[keyof typeof Rcode];

export type DnsRecord =
  | { readonly name: string; readonly type: 'A' | 'AAAA'; readonly ttl: number; readonly address: string }
  | {
      readonly name: string;
      readonly type: 'SRV';
      readonly ttl: number;
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  | { readonly name: string; readonly type: 'TXT'; readonly ttl: number; readonly text: string }
  | {
      readonly name: string;
      readonly type: 'SOA';
      readonly ttl: number;
      readonly mname: string;
      readonly rname: string;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    };

export interface DnsQuestion {
  /** As asked, without the trailing dot (`.` for the root); compared case-insensitively. */
  readonly name: string;
  /** `A`, `AAAA`, `SRV`, `TXT`, `SOA`, `ANY`, ... (other types by any name: they have no records here). */
  readonly type: string;
  /** `IN`; anything else is refused. */
  readonly class: string;
}

export interface DnsAnswer {
  readonly rcode: Rcode;
  /** Set for every answer from the zone, negative ones included. */
  readonly authoritative: boolean;
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  /** The A/AAAA records of SRV targets. */
  readonly additionals: readonly DnsRecord[];
}

export interface DnsPort {
  readonly name?: string | undefined;
  readonly port: number;
  readonly protocol: string;
}

/** One addressable endpoint of a headless service: `<hostname>.<cluster>.<svc>...`. */
export interface DnsEndpoint {
  readonly cluster: string;
  /** The endpoint's hostname (lowercase), or its address with `.`/`:` as `-` when it has none. */
  readonly hostname: string;
  readonly addresses: readonly string[];
  /** The ports its cluster's EndpointSlice lists (the exporter's target ports). */
  readonly ports: readonly DnsPort[];
}

/** A service as DNS sees it: only ready endpoints. */
export interface DnsService {
  readonly type: 'ClusterSetIP' | 'Headless';
  readonly ips: readonly string[];
  readonly ports: readonly DnsPort[];
  readonly endpoints: readonly DnsEndpoint[];
}

/** What the answers are computed from. */
export interface DnsZoneView {
  /** False until the first snapshot of imports has been applied. */
  readonly complete: boolean;
  /** The SOA serial: the applied import revision (mod 2^32). */
  readonly serial: number;
  service(namespace: string, name: string): DnsService | undefined;
  /** Whether any service of the namespace is imported (`<ns>.svc.clusterset.local` exists). */
  hasNamespace(namespace: string): boolean;
}

/** The objects of one applied service (the import controller's AppliedImport). */
export interface ServiceObjects {
  readonly serviceImport: KubeObject;
  readonly endpointSlices: readonly KubeObject[];
}

/** The import controller's applied state (AppliedImports), as the zone reads it. */
export interface AppliedSource {
  readonly complete: boolean;
  readonly revision: number;
  readonly services: ReadonlyMap<string, ServiceObjects>;
}

const SOA_MNAME = `ns.dns.${CLUSTERSET_ZONE}`;
/** RFC 1035: 255 bytes on the wire, 253 characters written without the trailing dot. */
const MAX_NAME_LENGTH = 253;
const SOA_RNAME = `hostmaster.${CLUSTERSET_ZONE}`;

/** The question → the answer. Never throws for any question. */
export function answerQuestion(q: DnsQuestion, zone: DnsZoneView): DnsAnswer {
  const name = q.name.toLowerCase().replace(/\.$/, '');
  if (name !== CLUSTERSET_ZONE && !name.endsWith(`.${CLUSTERSET_ZONE}`)) return refused();
  if (q.class !== 'IN') return refused();
  // Zone transfers are not offered; secondaries have nothing to copy from an agent.
  if (q.type === 'AXFR' || q.type === 'IXFR') return refused();
  const relative = name === CLUSTERSET_ZONE ? [] : name.slice(0, -CLUSTERSET_ZONE.length - 1).split('.');
  const node = lookup(relative, zone);
  if (node === undefined) return negative(Rcode.NxDomain, zone);
  const owner = q.name.replace(/\.$/, '');
  const answers = node.records.filter((r) => q.type === 'ANY' || r.type === q.type).map((r) => ({ ...r, name: owner }));
  if (answers.length === 0) return negative(Rcode.NoError, zone);
  // A target's addresses already in the answer (ANY, or SRV at the service's own name) are not repeated.
  const answered = new Set(answers.map((r) => JSON.stringify({ ...r, name: r.name.toLowerCase() })));
  const additionals = answers
    .flatMap((r) => (r.type === 'SRV' ? (node.targets.get(r.target) ?? []) : []))
    .filter((r) => !answered.has(JSON.stringify({ ...r, name: r.name.toLowerCase() })));
  return { rcode: Rcode.NoError, authoritative: true, answers, authorities: [], additionals: dedupe(additionals) };
}

/** The zone over the import controller's applied state; each service is converted once per applied version. */
export function appliedZone(source: () => AppliedSource): DnsZoneView {
  const converted = new WeakMap<ServiceObjects, DnsService>();
  return {
    get complete() {
      return source().complete;
    },
    get serial() {
      return source().revision % 2 ** 32;
    },
    service: (namespace, name) => {
      const objects = source().services.get(`${namespace}/${name}`);
      if (objects === undefined) return undefined;
      let s = converted.get(objects);
      if (s === undefined) converted.set(objects, (s = dnsService(objects)));
      return s;
    },
    hasNamespace: (namespace) => {
      const prefix = `${namespace}/`;
      for (const key of source().services.keys()) if (key.startsWith(prefix)) return true;
      return false;
    },
  };
}

/** A ServiceImport and its EndpointSlices (as the agent writes them, imports.ts) → the service as DNS sees it. */
export function dnsService(o: ServiceObjects): DnsService {
  const spec = (o.serviceImport.spec ?? {}) as { type?: string; ips?: string[]; ports?: DnsPort[] };
  const byHost = new Map<string, { cluster: string; hostname: string; addresses: string[]; ports: readonly DnsPort[] }>();
  for (const object of o.endpointSlices) {
    const slice = object as EndpointSliceObject;
    const cluster = slice.metadata.labels?.[Labels.McsSourceCluster]?.toLowerCase();
    if (cluster === undefined) continue;
    const ports = (slice.ports ?? []).flatMap((p) => (p.port === undefined ? [] : [{ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' }]));
    for (const ep of slice.endpoints ?? []) {
      // discovery.k8s.io/v1: an unset `ready` is to be read as ready.
      if (ep.conditions?.ready === false) continue;
      const named = ep.hostname !== undefined && ep.hostname !== '' ? [{ hostname: ep.hostname.toLowerCase(), addresses: ep.addresses }] : [];
      const groups = named.length > 0 ? named : ep.addresses.map((a) => ({ hostname: a.toLowerCase().replace(/[.:]/g, '-'), addresses: [a] }));
      for (const g of groups) {
        const id = `${cluster}/${g.hostname}`;
        const have = byHost.get(id);
        if (have === undefined) byHost.set(id, { cluster, hostname: g.hostname, addresses: [...g.addresses], ports });
        else for (const a of g.addresses) if (!have.addresses.includes(a)) have.addresses.push(a);
      }
    }
  }
  return {
    type: spec.type === 'Headless' ? 'Headless' : 'ClusterSetIP',
    ips: spec.ips ?? [],
    ports: spec.ports ?? [],
    endpoints: [...byHost.values()],
  };
}

// ---- the name tree ----------------------------------------------------------------------------

interface Node {
  /** Records at the name (owner names are filled in by the caller). */
  readonly records: readonly DnsRecord[];
  /** SRV target → its A/AAAA records, for the additional section. */
  readonly targets: ReadonlyMap<string, readonly DnsRecord[]>;
}

const EMPTY: Node = { records: [], targets: new Map() };

/** The node at `relative` (labels left of the zone, lowercase), or undefined: NXDOMAIN. */
function lookup(relative: readonly string[], zone: DnsZoneView): Node | undefined {
  const n = relative.length;
  if (n === 0) return { records: [soa(zone)], targets: new Map() };
  if (n === 1 && relative[0] === 'dns-version') {
    return { records: [{ name: '', type: 'TXT', ttl: DnsTtl.Version, text: DNS_SCHEMA_VERSION }], targets: new Map() };
  }
  if (relative[n - 1] !== 'svc') return undefined;
  if (n === 1) return EMPTY;
  const namespace = relative[n - 2] ?? '';
  if (n === 2) return zone.hasNamespace(namespace) ? EMPTY : undefined;
  const name = relative[n - 3] ?? '';
  const service = zone.service(namespace, name);
  if (service === undefined) return undefined;
  return serviceNode(relative.slice(0, n - 3), service, `${name}.${namespace}.svc.${CLUSTERSET_ZONE}`);
}

/** Below one service: `below` are the labels left of `<svc>.<ns>.svc.clusterset.local` (`base`). */
function serviceNode(below: readonly string[], s: DnsService, base: string): Node | undefined {
  const headless = s.type === 'Headless';
  if (headless && s.endpoints.length === 0) return undefined;
  const [first, second] = below;
  if (first === undefined) {
    const addresses = headless ? s.endpoints.flatMap((e) => e.addresses) : s.ips;
    // SRV at the service's own name too, one per port, named or not — as CoreDNS answers it and as
    // the upstream MCS conformance suite asks (clusterip_service_dns.go, headless_service_dns.go).
    const srv = s.ports.map((port) => srvNode(s, port, base));
    const targets = new Map<string, readonly DnsRecord[]>();
    for (const n of srv) for (const [k, v] of n.targets) targets.set(k, v);
    return { records: [...addressRecords('', addresses), ...srv.flatMap((n) => n.records)], targets };
  }
  if (below.length === 1) {
    // Empty non-terminals: `_<proto>` above the SRV names, `<clusterid>` above a headless service's hostnames.
    if (first.startsWith('_')) return namedPorts(s).some((p) => `_${p.protocol.toLowerCase()}` === first) ? EMPTY : undefined;
    return headless && s.endpoints.some((e) => e.cluster === first) ? EMPTY : undefined;
  }
  if (below.length !== 2 || second === undefined) return undefined;
  if (first.startsWith('_') && second.startsWith('_')) {
    const port = namedPorts(s).find((p) => `_${p.name.toLowerCase()}` === first && `_${p.protocol.toLowerCase()}` === second);
    return port === undefined ? undefined : srvNode(s, port, base);
  }
  if (!headless) return undefined;
  const endpoint = s.endpoints.find((e) => e.hostname === first && e.cluster === second);
  return endpoint === undefined ? undefined : { records: addressRecords('', endpoint.addresses), targets: new Map() };
}

function srvNode(s: DnsService, port: DnsPort, base: string): Node {
  if (s.type === 'ClusterSetIP') {
    return {
      records: [{ name: '', type: 'SRV', ttl: DnsTtl.Record, priority: 0, weight: 100, port: port.port, target: base }],
      targets: new Map([[base, addressRecords(base, s.ips)]]),
    };
  }
  // Equal shares, as CoreDNS gives them; the endpoint's own (target) port of the same name.
  const weight = Math.max(1, Math.floor(100 / s.endpoints.length));
  const records: DnsRecord[] = [];
  const targets = new Map<string, DnsRecord[]>();
  for (const e of s.endpoints) {
    const target = `${e.hostname}.${e.cluster}.${base}`;
    // A name longer than DNS allows (long hostname, cluster, service and namespace together) cannot be a target.
    if (target.length > MAX_NAME_LENGTH) continue;
    const own = e.ports.find((p) => p.name === port.name && p.protocol === port.protocol) ?? port;
    records.push({ name: '', type: 'SRV', ttl: DnsTtl.Record, priority: 0, weight, port: own.port, target });
    targets.set(target, addressRecords(target, e.addresses));
  }
  return { records, targets };
}

function namedPorts(s: DnsService): (DnsPort & { readonly name: string })[] {
  return s.ports.filter((p): p is DnsPort & { readonly name: string } => p.name !== undefined && p.name !== '');
}

function addressRecords(name: string, addresses: readonly string[]): DnsRecord[] {
  return [...new Set(addresses)].map((address) => ({ name, type: address.includes(':') ? 'AAAA' : 'A', ttl: DnsTtl.Record, address }));
}

function dedupe(records: readonly DnsRecord[]): DnsRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const id = JSON.stringify(r);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function soa(zone: DnsZoneView): DnsRecord {
  return {
    name: CLUSTERSET_ZONE,
    type: 'SOA',
    ttl: DnsTtl.Negative,
    mname: SOA_MNAME,
    rname: SOA_RNAME,
    serial: zone.serial,
    refresh: 7200,
    retry: 1800,
    expire: 86_400,
    minimum: DnsTtl.Negative,
  };
}

/** NXDOMAIN or NODATA, with the SOA for negative caching; SERVFAIL while the imports are incomplete. */
function negative(rcode: typeof Rcode.NxDomain | typeof Rcode.NoError, zone: DnsZoneView): DnsAnswer {
  if (!zone.complete) return { rcode: Rcode.ServFail, authoritative: false, answers: [], authorities: [], additionals: [] };
  return { rcode, authoritative: true, answers: [], authorities: [soa(zone)], additionals: [] };
}

function refused(): DnsAnswer {
  return { rcode: Rcode.Refused, authoritative: false, answers: [], authorities: [], additionals: [] };
}
