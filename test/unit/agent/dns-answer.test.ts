// clusterset.local answers (cluster-agent/planners/dns-answer.ts), pure and table-driven, over
// ServiceImports and EndpointSlices built by the import side itself (imports.ts desiredImport),
// so the planner reads exactly the objects the agent applies. Expected records are written out
// from the MCS DNS specification (KEP-1645 specification.md), not computed by the code.
import assert from 'node:assert/strict';
import type { ImportState } from '../../../controlplane/api/messages.ts';
import { desiredImport } from '../../../cluster-agent/imports.ts';
import {
  Rcode,
  answerQuestion,
  appliedZone,
  dnsService,
  type AppliedSource,
  type DnsAnswer,
  type DnsRecord,
  type ServiceObjects,
} from '../../../cluster-agent/planners/dns-answer.ts';

const ZONE = 'svc.clusterset.local';
const LLM = `llm-serving.inference.${ZONE}`;
const DB = `db.apps.${ZONE}`;

const endpoint = (cluster: string, addresses: string[], extra: { hostname?: string; ready?: boolean } = {}): ImportState['endpoints'][number] => ({
  cluster,
  addresses,
  ready: extra.ready ?? true,
  serving: extra.ready ?? true,
  terminating: false,
  ...(extra.hostname !== undefined ? { hostname: extra.hostname } : {}),
});

const llm: ImportState = {
  namespace: 'inference',
  name: 'llm-serving',
  type: 'ClusterSetIP',
  ports: [
    { name: 'http', port: 8000, protocol: 'TCP' },
    { port: 9000, protocol: 'TCP' },
    { name: 'metrics', port: 9100, protocol: 'UDP' },
  ],
  ips: ['10.255.0.7'],
  sessionAffinity: 'None',
  clusters: ['onprem-inference'],
  endpoints: [endpoint('onprem-inference', ['10.32.1.10'])],
};

const dual: ImportState = { ...llm, namespace: 'apps', name: 'dual', ips: ['10.255.0.8', 'fd00:255::8'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] };

const db: ImportState = {
  namespace: 'apps',
  name: 'db',
  type: 'Headless',
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  ips: [],
  sessionAffinity: 'None',
  // gcp-train's endpoints listen on another (target) port of the same name.
  clusterPorts: [{ cluster: 'gcp-train', ports: [{ name: 'pg', port: 15432, protocol: 'TCP' }] }],
  clusters: ['onprem-inference', 'gcp-train'],
  endpoints: [
    endpoint('onprem-inference', ['10.32.3.1'], { hostname: 'db-0' }),
    endpoint('onprem-inference', ['10.32.3.2'], { hostname: 'db-1', ready: false }),
    endpoint('gcp-train', ['10.48.3.1']),
    endpoint('gcp-train', ['10.48.3.2', 'fd00:48::2'], { hostname: 'db-2' }),
  ],
};

const drained: ImportState = { ...db, name: 'drained', endpoints: [endpoint('gcp-train', ['10.48.9.1'], { ready: false })] };

function applied(...states: ImportState[]): Map<string, ServiceObjects> {
  return new Map(
    states.map((s) => {
      const d = desiredImport(s);
      return [`${s.namespace}/${s.name}`, { serviceImport: d.serviceImport, endpointSlices: d.endpointSlices }];
    }),
  );
}

const source: AppliedSource = { complete: true, revision: 42, services: applied(llm, dual, db, drained) };
const zone = appliedZone(() => source);

/** `name ttl TYPE data`, the way dig prints records. */
function show(r: DnsRecord): string {
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return `${r.name} ${r.ttl} ${r.type} ${r.address}`;
    case 'SRV':
      return `${r.name} ${r.ttl} SRV ${r.priority} ${r.weight} ${r.port} ${r.target}`;
    case 'TXT':
      return `${r.name} ${r.ttl} TXT "${r.text}"`;
    case 'SOA':
      return `${r.name} ${r.ttl} SOA ${r.mname} ${r.rname} ${r.serial} ${r.refresh} ${r.retry} ${r.expire} ${r.minimum}`;
  }
}

const ask = (name: string, type: string, klass = 'IN', z = zone): DnsAnswer => answerQuestion({ name, type, class: klass }, z);
const answers = (a: DnsAnswer): string[] => a.answers.map(show).sort();
const SOA = `clusterset.local 5 SOA ns.dns.clusterset.local hostmaster.clusterset.local 42 7200 1800 86400 5`;

describe('agent planner: clusterset.local answers (pure, MCS DNS specification)', () => {
  const positive: { what: string; name: string; type: string; want: string[]; additionals?: string[] }[] = [
    { what: 'ClusterSetIP service A → its ClusterSetIP', name: LLM, type: 'A', want: [`${LLM} 5 A 10.255.0.7`] },
    {
      what: 'the name as asked, any case, trailing dot',
      name: `LLM-Serving.Inference.SVC.clusterset.local.`,
      type: 'A',
      want: [`LLM-Serving.Inference.SVC.clusterset.local 5 A 10.255.0.7`],
    },
    { what: 'dual-stack ClusterSetIP: A', name: `dual.apps.${ZONE}`, type: 'A', want: [`dual.apps.${ZONE} 5 A 10.255.0.8`] },
    { what: 'dual-stack ClusterSetIP: AAAA', name: `dual.apps.${ZONE}`, type: 'AAAA', want: [`dual.apps.${ZONE} 5 AAAA fd00:255::8`] },
    {
      what: 'ANY gives every record of the name',
      name: `dual.apps.${ZONE}`,
      type: 'ANY',
      want: [`dual.apps.${ZONE} 5 A 10.255.0.8`, `dual.apps.${ZONE} 5 AAAA fd00:255::8`, `dual.apps.${ZONE} 5 SRV 0 100 80 dual.apps.${ZONE}`],
    },
    {
      what: 'SRV at the service name itself: one per port, named or not (as CoreDNS, and the upstream MCS DNS conformance cases)',
      name: LLM,
      type: 'SRV',
      want: [`${LLM} 5 SRV 0 100 8000 ${LLM}`, `${LLM} 5 SRV 0 100 9000 ${LLM}`, `${LLM} 5 SRV 0 100 9100 ${LLM}`],
      additionals: [`${LLM} 5 A 10.255.0.7`],
    },
    {
      what: 'SRV of a named TCP port → the service name, its A in the additional section',
      name: `_http._tcp.${LLM}`,
      type: 'SRV',
      want: [`_http._tcp.${LLM} 5 SRV 0 100 8000 ${LLM}`],
      additionals: [`${LLM} 5 A 10.255.0.7`],
    },
    {
      what: 'SRV of a named UDP port',
      name: `_metrics._udp.${LLM}`,
      type: 'SRV',
      want: [`_metrics._udp.${LLM} 5 SRV 0 100 9100 ${LLM}`],
      additionals: [`${LLM} 5 A 10.255.0.7`],
    },
    {
      what: 'headless A → every ready endpoint (the not-ready db-1 left out)',
      name: DB,
      type: 'A',
      want: [`${DB} 5 A 10.32.3.1`, `${DB} 5 A 10.48.3.1`, `${DB} 5 A 10.48.3.2`],
    },
    { what: 'headless AAAA', name: DB, type: 'AAAA', want: [`${DB} 5 AAAA fd00:48::2`] },
    { what: '<hostname>.<clusterid>.<svc>: one endpoint', name: `db-0.onprem-inference.${DB}`, type: 'A', want: [`db-0.onprem-inference.${DB} 5 A 10.32.3.1`] },
    {
      what: 'an endpoint without hostname is named after its address',
      name: `10-48-3-1.gcp-train.${DB}`,
      type: 'A',
      want: [`10-48-3-1.gcp-train.${DB} 5 A 10.48.3.1`],
    },
    { what: 'a dual-stack endpoint: AAAA', name: `db-2.gcp-train.${DB}`, type: 'AAAA', want: [`db-2.gcp-train.${DB} 5 AAAA fd00:48::2`] },
    {
      what: "headless SRV: one per ready endpoint, its own cluster's port, the hostnames in the additional section",
      name: `_pg._tcp.${DB}`,
      type: 'SRV',
      want: [
        `_pg._tcp.${DB} 5 SRV 0 33 15432 10-48-3-1.gcp-train.${DB}`,
        `_pg._tcp.${DB} 5 SRV 0 33 15432 db-2.gcp-train.${DB}`,
        `_pg._tcp.${DB} 5 SRV 0 33 5432 db-0.onprem-inference.${DB}`,
      ],
      additionals: [
        `10-48-3-1.gcp-train.${DB} 5 A 10.48.3.1`,
        `db-0.onprem-inference.${DB} 5 A 10.32.3.1`,
        `db-2.gcp-train.${DB} 5 A 10.48.3.2`,
        `db-2.gcp-train.${DB} 5 AAAA fd00:48::2`,
      ],
    },
    { what: 'dns-version TXT', name: 'dns-version.clusterset.local', type: 'TXT', want: ['dns-version.clusterset.local 28800 TXT "1.0.0"'] },
    { what: 'the apex SOA, serial = applied revision', name: 'clusterset.local', type: 'SOA', want: [SOA] },
  ];
  for (const r of positive) {
    it(`NOERROR: ${r.what}`, () => {
      const a = ask(r.name, r.type);
      assert.equal(a.rcode, Rcode.NoError);
      assert.equal(a.authoritative, true);
      assert.deepEqual(answers(a), [...r.want].sort());
      assert.deepEqual(a.additionals.map(show).sort(), [...(r.additionals ?? [])].sort());
      assert.deepEqual(a.authorities, []);
    });
  }

  const nodata: { what: string; name: string; type: string }[] = [
    { what: 'AAAA of an IPv4-only ClusterSetIP', name: LLM, type: 'AAAA' },
    { what: 'a type the name has none of', name: LLM, type: 'MX' },
    { what: 'A at an SRV name', name: `_http._tcp.${LLM}`, type: 'A' },
    { what: '_tcp.<svc>: an empty non-terminal', name: `_tcp.${LLM}`, type: 'A' },
    { what: '<clusterid>.<headless svc>: an empty non-terminal', name: `onprem-inference.${DB}`, type: 'A' },
    { what: 'AAAA of an IPv4-only endpoint', name: `db-0.onprem-inference.${DB}`, type: 'AAAA' },
    { what: 'a namespace with imports', name: `apps.${ZONE}`, type: 'A' },
    { what: 'svc.clusterset.local', name: ZONE, type: 'A' },
    { what: 'the apex has no NS here', name: 'clusterset.local', type: 'NS' },
    { what: 'dns-version asked A', name: 'dns-version.clusterset.local', type: 'A' },
  ];
  for (const r of nodata) {
    it(`NODATA: ${r.what}`, () => {
      const a = ask(r.name, r.type);
      assert.equal(a.rcode, Rcode.NoError);
      assert.equal(a.authoritative, true);
      assert.deepEqual(a.answers, []);
      assert.deepEqual(a.authorities.map(show), [SOA], 'the SOA, for negative caching for 5 s');
    });
  }

  const nxdomain: { what: string; name: string; type: string }[] = [
    { what: 'a service the cluster does not import', name: `unexported.inference.${ZONE}`, type: 'A' },
    { what: 'a namespace without imports', name: `nothing.${ZONE}`, type: 'A' },
    { what: 'a service in a namespace without imports', name: `db.nothing.${ZONE}`, type: 'A' },
    { what: 'a headless service without ready endpoints', name: `drained.apps.${ZONE}`, type: 'A' },
    { what: 'an unnamed port has no SRV name', name: `_9000._tcp.${LLM}`, type: 'SRV' },
    { what: 'a named port with another protocol', name: `_http._udp.${LLM}`, type: 'SRV' },
    { what: 'a protocol no named port has', name: `_sctp.${LLM}`, type: 'A' },
    { what: 'ClusterSetIP services have no per-cluster name (spec 2.3.4)', name: `onprem-inference.${LLM}`, type: 'A' },
    { what: 'ClusterSetIP services have no per-endpoint names', name: `x.onprem-inference.${LLM}`, type: 'A' },
    { what: 'a not-ready endpoint', name: `db-1.onprem-inference.${DB}`, type: 'A' },
    { what: 'a hostname under the wrong cluster', name: `db-0.gcp-train.${DB}`, type: 'A' },
    { what: 'a cluster without endpoints of the service', name: `aws-train.${DB}`, type: 'A' },
    { what: 'too deep', name: `a.db-0.onprem-inference.${DB}`, type: 'A' },
    { what: 'outside svc', name: 'pod.clusterset.local', type: 'A' },
    { what: 'anything else in the zone', name: 'www.clusterset.local', type: 'A' },
  ];
  for (const r of nxdomain) {
    it(`NXDOMAIN: ${r.what}`, () => {
      const a = ask(r.name, r.type);
      assert.equal(a.rcode, Rcode.NxDomain);
      assert.equal(a.authoritative, true);
      assert.deepEqual(a.answers, []);
      assert.deepEqual(a.authorities.map(show), [SOA]);
    });
  }

  const refused: { what: string; name: string; type: string; klass?: string }[] = [
    { what: 'another zone', name: 'example.com', type: 'A' },
    { what: 'a reverse zone', name: '7.0.255.10.in-addr.arpa', type: 'PTR' },
    { what: 'a zone that only ends like ours', name: 'xclusterset.local', type: 'A' },
    { what: 'our name under another zone', name: `${LLM}.example.com`, type: 'A' },
    { what: 'the CHAOS class', name: LLM, type: 'TXT', klass: 'CH' },
    { what: 'a zone transfer', name: 'clusterset.local', type: 'AXFR' },
  ];
  for (const r of refused) {
    it(`REFUSED: ${r.what}`, () => {
      const a = ask(r.name, r.type, r.klass);
      assert.equal(a.rcode, Rcode.Refused);
      assert.equal(a.authoritative, false);
      assert.deepEqual([a.answers, a.authorities, a.additionals], [[], [], []]);
    });
  }

  it('before the first snapshot is applied, a negative answer is SERVFAIL (never a cached NXDOMAIN); what is applied already answers', () => {
    const early = appliedZone(() => ({ complete: false, revision: 0, services: applied(llm) }));
    assert.equal(ask(`db.apps.${ZONE}`, 'A', 'IN', early).rcode, Rcode.ServFail);
    assert.equal(ask(LLM, 'AAAA', 'IN', early).rcode, Rcode.ServFail);
    assert.deepEqual(answers(ask(LLM, 'A', 'IN', early)), [`${LLM} 5 A 10.255.0.7`]);
  });

  it('reads the applied state live: a service answers once applied, NXDOMAIN once removed, new endpoints once re-applied', () => {
    const services = new Map<string, ServiceObjects>();
    const live = appliedZone(() => ({ complete: true, revision: 1, services }));
    assert.equal(ask(DB, 'A', 'IN', live).rcode, Rcode.NxDomain);
    for (const [k, v] of applied(db)) services.set(k, v);
    assert.equal(ask(DB, 'A', 'IN', live).answers.length, 3);
    for (const [k, v] of applied({ ...db, endpoints: [endpoint('gcp-train', ['10.48.3.9'])] })) services.set(k, v);
    assert.deepEqual(answers(ask(DB, 'A', 'IN', live)), [`${DB} 5 A 10.48.3.9`]);
    services.delete('apps/db');
    assert.equal(ask(DB, 'A', 'IN', live).rcode, Rcode.NxDomain);
    assert.equal(ask(`apps.${ZONE}`, 'A', 'IN', live).rcode, Rcode.NxDomain, 'the namespace went with its last service');
  });

  it('an endpoint split over the IPv4 and IPv6 slices is one name with both addresses; EndpointSlices without a source cluster are ignored', () => {
    const objects = applied(db).get('apps/db');
    assert.ok(objects !== undefined);
    assert.equal(objects.endpointSlices.length, 3, 'onprem IPv4, gcp IPv4, gcp IPv6');
    const s = dnsService({
      ...objects,
      endpointSlices: [
        ...objects.endpointSlices,
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'stray' },
          addressType: 'IPv4',
          endpoints: [{ addresses: ['10.1.1.1'] }],
        },
      ],
    });
    assert.deepEqual(s.endpoints.map((e) => `${e.hostname}.${e.cluster} ${e.addresses.join(',')} ${e.ports.map((p) => p.port).join(',')}`).sort(), [
      '10-48-3-1.gcp-train 10.48.3.1 15432',
      'db-0.onprem-inference 10.32.3.1 5432',
      'db-2.gcp-train 10.48.3.2,fd00:48::2 15432',
    ]);
  });
});
