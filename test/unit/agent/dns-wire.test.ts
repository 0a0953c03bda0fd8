// The DNS server's wire side (cluster-agent/dns-server.ts `respond`), without sockets: hand-made
// hostile byte buffers (truncated, oversized, compression loops and forward pointers, bad labels,
// answers posing as queries, several questions, EDNS versions) get an error reply or are dropped,
// never an exception; answers too big for UDP drop their additional section first, then come
// back empty with TC set; random and mutated packets never make it throw.
import assert from 'node:assert/strict';
import { decode, encode, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import fc from 'fast-check';
import type { ImportState } from '../../../controlplane/api/messages.ts';
import { MAX_QUERY_BYTES, Outcome, UDP_EDNS_BYTES, UDP_PLAIN_BYTES, respond } from '../../../cluster-agent/dns-server.ts';
import { desiredImport } from '../../../cluster-agent/imports.ts';
import { appliedZone, type ServiceObjects } from '../../../cluster-agent/planners/dns-answer.ts';

const headless = (name: string, n: number): ImportState => ({
  namespace: 'apps',
  name,
  type: 'Headless',
  ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  ips: [],
  sessionAffinity: 'None',
  clusters: ['gcp-train'],
  endpoints: Array.from({ length: n }, (_, i) => ({
    cluster: 'gcp-train',
    addresses: [`10.48.${Math.floor(i / 200)}.${(i % 200) + 1}`],
    hostname: `db-${i}`,
    ready: true,
    serving: true,
    terminating: false,
  })),
});
const vip: ImportState = { ...headless('web', 0), type: 'ClusterSetIP', ips: ['10.255.0.9'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] };

const services = new Map<string, ServiceObjects>(
  [vip, headless('db', 3), headless('big', 150)].map((s) => {
    const d = desiredImport(s);
    return [`apps/${s.name}`, { serviceImport: d.serviceImport, endpointSlices: d.endpointSlices }];
  }),
);
const zone = appliedZone(() => ({ complete: true, revision: 7, services }));

function query(name: string, type: string, extra: Partial<Packet> = {}): Buffer {
  return encode({ type: 'query', id: 0x1234, flags: 1 << 8, questions: [{ name, type: type as 'A', class: 'IN' }], ...extra });
}
const edns = (udpPayloadSize: number, ednsVersion = 0): OptAnswer => ({
  type: 'OPT',
  name: '.',
  udpPayloadSize,
  extendedRcode: 0,
  ednsVersion,
  flags: 0,
  flag_do: false,
  options: [],
});

/** Header bytes: id 0xbeef, flags, counts; then `rest`. */
function raw(flags: number, counts: [number, number, number, number], rest: number[]): Buffer {
  const b = Buffer.alloc(12 + rest.length);
  b.writeUInt16BE(0xbeef, 0);
  b.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + 2 * i));
  Buffer.from(rest).copy(b, 12);
  return b;
}
const QTYPE_A_IN = [0, 1, 0, 1];
const label = (s: string): number[] => [s.length, ...Buffer.from(s, 'latin1')];

function decoded(bytes: Buffer | undefined): DecodedPacket {
  assert.ok(bytes !== undefined, 'a reply, not a drop');
  return decode(bytes);
}
const flagsOf = (bytes: Buffer | undefined): number => decoded(bytes).flags ?? 0;
const rcodeOf = (bytes: Buffer | undefined): number => flagsOf(bytes) & 0xf;

describe('agent DNS server: the wire side (respond, no sockets; hostile packets made by hand)', () => {
  it('answers a well-formed query: same id, QR and AA set, RD echoed, RA clear, the question echoed', () => {
    const r = respond(query('web.apps.svc.clusterset.local', 'A'), zone, 'udp');
    assert.equal(r.outcome, Outcome.Answered);
    const p = decoded(r.bytes);
    assert.equal(p.id, 0x1234);
    assert.deepEqual([p.flag_qr, p.flag_aa, p.flag_rd, p.flag_ra, p.flag_tc], [true, true, true, false, false]);
    assert.deepEqual(p.questions, [{ name: 'web.apps.svc.clusterset.local', type: 'A', class: 'IN' }]);
    assert.deepEqual(
      p.answers?.map((a) => [a.name, a.type, 'data' in a ? a.data : undefined]),
      [['web.apps.svc.clusterset.local', 'A', '10.255.0.9']],
    );
  });

  const dropped: { what: string; bytes: Buffer }[] = [
    { what: 'an empty datagram', bytes: Buffer.alloc(0) },
    { what: 'shorter than a header', bytes: Buffer.from([0xbe, 0xef, 0x01]) },
    { what: `longer than ${MAX_QUERY_BYTES} bytes`, bytes: Buffer.concat([query('web.apps.svc.clusterset.local', 'A'), Buffer.alloc(MAX_QUERY_BYTES)]) },
    { what: 'a response posing as a query (QR set): no reflection', bytes: raw(0x8000, [1, 0, 0, 0], [...label('web'), 0, ...QTYPE_A_IN]) },
  ];
  for (const d of dropped) {
    it(`drops ${d.what}`, () => {
      assert.deepEqual(respond(d.bytes, zone, 'udp'), { outcome: Outcome.Dropped, bytes: undefined });
    });
  }

  const formerr: { what: string; bytes: Buffer }[] = [
    { what: 'a question count with no question', bytes: raw(0x0100, [1, 0, 0, 0], []) },
    { what: 'a question cut inside its name', bytes: raw(0x0100, [1, 0, 0, 0], [7, ...Buffer.from('clus')]) },
    { what: 'a question cut before its type', bytes: raw(0x0100, [1, 0, 0, 0], [...label('web'), 0, 0]) },
    { what: 'a compression pointer to itself (a loop)', bytes: raw(0x0100, [1, 0, 0, 0], [0xc0, 12, ...QTYPE_A_IN]) },
    { what: 'two pointers pointing at each other', bytes: raw(0x0100, [1, 0, 0, 0], [0xc0, 14, 0xc0, 12, ...QTYPE_A_IN]) },
    { what: 'a forward pointer', bytes: raw(0x0100, [1, 0, 0, 0], [...label('a'), 0xc0, 40, ...QTYPE_A_IN, ...Array<number>(40).fill(0)]) },
    { what: 'a reserved label type (0x40)', bytes: raw(0x0100, [1, 0, 0, 0], [0x41, ...Buffer.from('x'), 0, ...QTYPE_A_IN]) },
    { what: 'a name over 255 bytes', bytes: raw(0x0100, [1, 0, 0, 0], [...Array.from({ length: 5 }, () => label('a'.repeat(63))).flat(), 0, ...QTYPE_A_IN]) },
    { what: 'a label of bytes that are not printable ASCII', bytes: raw(0x0100, [1, 0, 0, 0], [3, 0xff, 0xfe, 0x00, 0, ...QTYPE_A_IN]) },
    { what: 'a label with a space', bytes: raw(0x0100, [1, 0, 0, 0], [...label('a b'), 0, ...QTYPE_A_IN]) },
    { what: 'an answer count of 65535 with no answers', bytes: raw(0x0100, [1, 65_535, 0, 0], [...label('web'), 0, ...QTYPE_A_IN]) },
    { what: 'no question', bytes: raw(0x0100, [0, 0, 0, 0], []) },
    { what: 'two questions', bytes: raw(0x0100, [2, 0, 0, 0], [...label('a'), 0, ...QTYPE_A_IN, ...label('b'), 0, ...QTYPE_A_IN]) },
  ];
  for (const f of formerr) {
    it(`FORMERR with the query's id for ${f.what}`, () => {
      const r = respond(f.bytes, zone, 'udp');
      assert.equal(r.outcome, Outcome.FormErr);
      const p = decoded(r.bytes);
      assert.equal(p.id, 0xbeef);
      assert.equal(p.flag_qr, true);
      assert.equal(rcodeOf(r.bytes), 1);
    });
  }

  it('FORMERR for two OPT records, and for an OPT not owned by the root', () => {
    const two = query('web.apps.svc.clusterset.local', 'A', { additionals: [edns(1232), edns(1232)] });
    assert.equal(respond(two, zone, 'udp').outcome, Outcome.FormErr);
    const named = Buffer.from(query('web.apps.svc.clusterset.local', 'A', { additionals: [edns(1232)] }));
    // The OPT's owner is the byte after the question; make it a one-label name instead of the root.
    const optAt = named.length - 11;
    assert.equal(named[optAt], 0);
    const renamed = Buffer.concat([named.subarray(0, optAt), Buffer.from([1, 0x78]), named.subarray(optAt)]);
    assert.equal(respond(renamed, zone, 'udp').outcome, Outcome.FormErr);
  });

  it('NOTIMP for another opcode (UPDATE), echoing the opcode', () => {
    const r = respond(raw((5 << 11) | 0x0100, [1, 0, 0, 0], [...label('clusterset'), ...label('local'), 0, 0, 6, 0, 1]), zone, 'udp');
    assert.equal(r.outcome, Outcome.NotImp);
    assert.equal(rcodeOf(r.bytes), 4);
    assert.equal((flagsOf(r.bytes) >> 11) & 0xf, 5);
  });

  it('BADVERS (16) for EDNS version 1: extended rcode 1 in our OPT, 0 in the header', () => {
    const r = respond(query('web.apps.svc.clusterset.local', 'A', { additionals: [edns(1232, 1)] }), zone, 'udp');
    assert.equal(r.outcome, Outcome.BadVers);
    const p = decoded(r.bytes);
    assert.equal(rcodeOf(r.bytes), 0);
    const opt = p.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
    assert.equal(opt?.extendedRcode, 1);
    assert.deepEqual(p.answers, []);
  });

  it('answers EDNS with an OPT record offering 1232 bytes', () => {
    const p = decoded(respond(query('web.apps.svc.clusterset.local', 'A', { additionals: [edns(4096)] }), zone, 'udp').bytes);
    assert.equal(p.additionals?.find((a): a is OptAnswer => a.type === 'OPT')?.udpPayloadSize, UDP_EDNS_BYTES);
  });

  it('UDP: an answer over the size drops the additional section first (no TC); TCP keeps it', () => {
    const q = query('_pg._tcp.db.apps.svc.clusterset.local', 'SRV');
    const tcp = decoded(respond(q, zone, 'tcp').bytes);
    assert.deepEqual([tcp.answers?.length, tcp.additionals?.length, tcp.flag_tc], [3, 3, false]);
    const full = respond(q, zone, 'tcp').bytes?.length ?? 0;
    assert.ok(full > UDP_PLAIN_BYTES, `the full answer (${full} bytes) is over 512`);
    const r = respond(q, zone, 'udp');
    assert.ok((r.bytes?.length ?? Infinity) <= UDP_PLAIN_BYTES);
    const udp = decoded(r.bytes);
    assert.deepEqual([udp.answers?.length, udp.additionals?.length, udp.flag_tc], [3, 0, false]);
  });

  it('UDP: an answer that does not fit even without additionals comes back empty with TC set; over EDNS at most 1232 bytes; TCP has it all', () => {
    const plain = respond(query('big.apps.svc.clusterset.local', 'A'), zone, 'udp');
    assert.equal(plain.outcome, Outcome.Truncated);
    const p = decoded(plain.bytes);
    assert.deepEqual([p.flag_tc, p.answers?.length, p.questions?.[0]?.name], [true, 0, 'big.apps.svc.clusterset.local']);
    const big = respond(query('big.apps.svc.clusterset.local', 'A', { additionals: [edns(65_000)] }), zone, 'udp');
    assert.ok((big.bytes?.length ?? Infinity) <= UDP_EDNS_BYTES);
    assert.equal(decoded(big.bytes).flag_tc, true);
    const tcp = decoded(respond(query('big.apps.svc.clusterset.local', 'A'), zone, 'tcp').bytes);
    assert.deepEqual([tcp.flag_tc, tcp.answers?.length], [false, 150]);
  });

  it('an EDNS size below 512 is read as 512', () => {
    const r = respond(query('_pg._tcp.db.apps.svc.clusterset.local', 'SRV', { additionals: [edns(100)] }), zone, 'udp');
    assert.ok((r.bytes?.length ?? Infinity) <= UDP_PLAIN_BYTES);
    assert.equal(decoded(r.bytes).answers?.length, 3);
  });

  it('random bytes and mutated queries never throw; every reply is a response with the query id', () => {
    const valid = [
      query('_pg._tcp.db.apps.svc.clusterset.local', 'SRV', { additionals: [edns(1232)] }),
      query('web.apps.svc.clusterset.local', 'A'),
      query('db-1.gcp-train.db.apps.svc.clusterset.local', 'AAAA'),
    ];
    const check = (bytes: Buffer): void => {
      for (const t of ['udp', 'tcp'] as const) {
        const r = respond(bytes, zone, t);
        if (r.bytes === undefined) continue;
        assert.equal(r.bytes.readUInt16BE(0), bytes.readUInt16BE(0));
        assert.equal((r.bytes[2] ?? 0) & 0x80, 0x80, 'QR set');
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (b) => {
        check(Buffer.from(b));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (q, flips, cut) => {
          const b = Buffer.from(q);
          for (const [at, v] of flips) b[at % b.length] = v;
          b[2] = (b[2] ?? 0) & 0x7f;
          check(b.subarray(0, Math.max(12, b.length - (cut % 8))));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
