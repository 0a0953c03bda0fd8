// The agent's DNS server for clusterset.local: UDP and TCP on one HOST:PORT (the address its
// cluster's CoreDNS forwards the zone to), answers from planners/dns-answer.ts over what the agent
// has applied. The only file that imports the DNS wire library, dns-packet (docs/adr/0012;
// .dependency-cruiser.cjs): it decodes queries, encodes answers, and nothing else.
//
// Hostile input never reaches the planner unchecked and never throws out of here: datagrams and
// TCP frames shorter than a header or longer than MAX_QUERY_BYTES are dropped (a TCP connection
// is closed); a packet with QR set is dropped (never answer an answer: no reflection loops); one
// that does not decode (truncated, bad label, forward or looping compression pointers, which
// dns-packet refuses: it follows only pointers to earlier bytes) gets FORMERR with its id; other
// opcodes NOTIMP; more or fewer than one question, several OPT records, a question name that
// cannot be written back FORMERR; an EDNS version above 0 BADVERS (RFC 6891). UDP answers fit
// 512 bytes, or the client's EDNS size up to 1232 (the 2020 DNS flag day's size): the additional
// section goes first, then the answer is sent empty with TC set so that the client retries over
// TCP (RFC 7766). TCP connections are bounded in number, idle time and unread output.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { decode, encode, type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import { answerQuestion, type DnsAnswer, type DnsRecord, type DnsZoneView, type Rcode } from './planners/dns-answer.ts';
import type { AgentLogger } from './telemetry.ts';

/** Queries are small (a name, a type, an OPT with a cookie); anything longer is not a query worth reading. */
export const MAX_QUERY_BYTES = 4096;
/** Without EDNS, RFC 1035's limit. */
export const UDP_PLAIN_BYTES = 512;
/** The most we send over UDP whatever the client offers: no IP fragmentation (DNS flag day 2020). */
export const UDP_EDNS_BYTES = 1232;
const TCP_MAX_BYTES = 65_535;

const RCODE_NUMBER: Record<Rcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};
/** BADVERS is 16: the upper 8 bits go into the OPT record, the lower 4 (zero) into the header. */
const BADVERS_EXTENDED = 1;

const Flag = { Authoritative: 1 << 10, Truncated: 1 << 9, RecursionDesired: 1 << 8, Response: 1 << 15 } as const;

export type Transport = 'udp' | 'tcp';

/** What became of a query: counted per server, and in tests. */
export const Outcome = {
  Answered: 'answered',
  Truncated: 'truncated',
  FormErr: 'formerr',
  NotImp: 'notimp',
  BadVers: 'badvers',
  Dropped: 'dropped',
  ServFail: 'servfail',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface DnsResponse {
  readonly outcome: Outcome;
  /** Undefined when the query is dropped. */
  readonly bytes: Buffer | undefined;
}

/** One query's bytes → the response's bytes (or a drop). Never throws. */
export function respond(query: Buffer, zone: DnsZoneView, transport: Transport): DnsResponse {
  if (query.length < 12 || query.length > MAX_QUERY_BYTES) return { outcome: Outcome.Dropped, bytes: undefined };
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  if ((flags & Flag.Response) !== 0) return { outcome: Outcome.Dropped, bytes: undefined };
  const opcode = (flags >> 11) & 0xf;
  const rd = flags & Flag.RecursionDesired;
  const bare = (rcode: number, outcome: Outcome): DnsResponse => ({ outcome, bytes: header(id, (opcode << 11) | rd | rcode) });
  let packet: DecodedPacket;
  try {
    packet = decode(query);
  } catch {
    return bare(RCODE_NUMBER.FORMERR, Outcome.FormErr);
  }
  try {
    const questions = packet.questions ?? [];
    const question = questions.length === 1 ? questions[0] : undefined;
    if (question !== undefined && !writable(question.name)) return bare(RCODE_NUMBER.FORMERR, Outcome.FormErr);
    const base = { id, opcode, rd, question };
    if (opcode !== 0) return reply(base, { rcode: RCODE_NUMBER.NOTIMP, flags: 0 }, Outcome.NotImp, transport, undefined);
    if (question === undefined) return bare(RCODE_NUMBER.FORMERR, Outcome.FormErr);
    const opts = (packet.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
    const opt = opts[0];
    if (opts.length > 1 || (opt !== undefined && opt.name !== '.'))
      return reply(base, { rcode: RCODE_NUMBER.FORMERR, flags: 0 }, Outcome.FormErr, transport, undefined);
    if (opt !== undefined && opt.ednsVersion > 0) {
      return reply(base, { rcode: 0, flags: 0, extendedRcode: BADVERS_EXTENDED }, Outcome.BadVers, transport, opt);
    }
    const answer = answerQuestion({ name: question.name, type: question.type, class: question.class ?? 'IN' }, zone);
    return reply(base, { rcode: RCODE_NUMBER[answer.rcode], flags: answer.authoritative ? Flag.Authoritative : 0, answer }, Outcome.Answered, transport, opt);
  } catch {
    // A bug of ours, never the client's: say so rather than stay silent.
    return bare(RCODE_NUMBER.SERVFAIL, Outcome.ServFail);
  }
}

interface Base {
  readonly id: number;
  readonly opcode: number;
  readonly rd: number;
  readonly question: Question | undefined;
}

interface Verdict {
  readonly rcode: number;
  readonly flags: number;
  readonly extendedRcode?: number;
  readonly answer?: DnsAnswer;
}

function reply(base: Base, v: Verdict, outcome: Outcome, transport: Transport, opt: OptAnswer | undefined): DnsResponse {
  const limit =
    transport === 'tcp' ? TCP_MAX_BYTES : opt === undefined ? UDP_PLAIN_BYTES : Math.min(Math.max(opt.udpPayloadSize, UDP_PLAIN_BYTES), UDP_EDNS_BYTES);
  const ourOpt: OptAnswer | undefined =
    opt === undefined
      ? undefined
      : { type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_BYTES, extendedRcode: v.extendedRcode ?? 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  const packet = (sections: Pick<Packet, 'answers' | 'authorities' | 'additionals'>, truncated: boolean): Packet => ({
    type: 'response',
    id: base.id,
    flags: (base.opcode << 11) | v.flags | base.rd | (truncated ? Flag.Truncated : 0) | (v.rcode & 0xf),
    questions: base.question === undefined ? [] : [base.question],
    answers: sections.answers ?? [],
    authorities: sections.authorities ?? [],
    additionals: [...(sections.additionals ?? []), ...(ourOpt === undefined ? [] : [ourOpt])],
  });
  const a = v.answer;
  const full = { answers: a?.answers.map(wire) ?? [], authorities: a?.authorities.map(wire) ?? [], additionals: a?.additionals.map(wire) ?? [] };
  let bytes = encode(packet(full, false));
  if (bytes.length <= limit) return { outcome, bytes };
  // RFC 2181 §9: dropping additional data needs no TC bit.
  bytes = encode(packet({ answers: full.answers, authorities: full.authorities }, false));
  if (bytes.length <= limit) return { outcome, bytes };
  return { outcome: Outcome.Truncated, bytes: encode(packet({}, true)) };
}

function wire(r: DnsRecord): Answer {
  const common = { name: r.name, ttl: r.ttl, class: 'IN' as const };
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return { ...common, type: r.type, data: r.address };
    case 'SRV':
      return { ...common, type: 'SRV', data: { priority: r.priority, weight: r.weight, port: r.port, target: r.target } };
    case 'TXT':
      return { ...common, type: 'TXT', data: r.text };
    case 'SOA':
      return {
        ...common,
        type: 'SOA',
        data: { mname: r.mname, rname: r.rname, serial: r.serial, refresh: r.refresh, retry: r.retry, expire: r.expire, minimum: r.minimum },
      };
  }
}

/** A header-only response (no question): what a packet we cannot read, or cannot answer, gets. */
function header(id: number, flags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(Flag.Response | flags, 2);
  return b;
}

/** The decoded name can be encoded back to the same bytes: printable ASCII labels of 1..63 bytes. */
function writable(name: string): boolean {
  if (name === '.') return true;
  return name.length <= 253 && name.split('.').every((l) => l.length > 0 && l.length <= 63 && /^[\x21-\x7e]+$/.test(l));
}

// ---- the sockets ---------------------------------------------------------------------------

export interface DnsServerOptions {
  readonly host: string;
  /** 0 picks a port free for both UDP and TCP. */
  readonly port: number;
  readonly zone: DnsZoneView;
  readonly log: AgentLogger;
  /** Default 256: further TCP connections are refused by the kernel's backlog, then closed. */
  readonly maxTcpConnections?: number;
  /** Default 10 s: a TCP connection idle this long is closed. */
  readonly tcpIdleMs?: number;
}

export interface DnsServer {
  /** HOST:PORT (`[v6]:PORT`) of both sockets. */
  readonly address: string;
  readonly port: number;
  /** Queries by outcome and transport since the start. */
  stats(): Readonly<Record<`${Transport}.${Outcome}`, number>>;
  close(): Promise<void>;
}

/** Output a TCP client has not read beyond this closes its connection. */
const MAX_TCP_PENDING_BYTES = 256 * 1024;
const PORT_ATTEMPTS = 20;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const counts = new Map<string, number>();
  const count = (t: Transport, o: Outcome): void => {
    counts.set(`${t}.${o}`, (counts.get(`${t}.${o}`) ?? 0) + 1);
  };
  const handle = (query: Buffer, t: Transport): Buffer | undefined => {
    const r = respond(query, options.zone, t);
    count(t, r.outcome);
    return r.bytes;
  };
  const { udp, tcp, port } = await bindBoth(options, handle);
  const sockets = new Set<Socket>();
  tcp.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  udp.on('error', (err) => {
    options.log.warn({ err }, 'DNS UDP socket error');
  });
  tcp.on('error', (err) => {
    options.log.warn({ err }, 'DNS TCP server error');
  });
  const host = options.host;
  return {
    address: isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    port,
    stats: () => Object.fromEntries(counts) as Record<`${Transport}.${Outcome}`, number>,
    close: async () => {
      await new Promise<void>((resolve) => {
        udp.close(() => {
          resolve();
        });
      });
      const closed = new Promise<void>((resolve) => {
        tcp.close(() => {
          resolve();
        });
      });
      for (const s of sockets) s.destroy();
      await closed;
    },
  };

  function serveTcp(s: Socket): void {
    s.setNoDelay(true);
    s.setTimeout(options.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('error', () => undefined);
    let buffered: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // RFC 7766: length-prefixed messages, several per connection, answered in order here.
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (length > MAX_QUERY_BYTES) {
          count('tcp', Outcome.Dropped);
          s.destroy();
          return;
        }
        if (buffered.length < 2 + length) return;
        const query = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        const out = handle(Buffer.from(query), 'tcp');
        if (out === undefined) {
          s.destroy();
          return;
        }
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(out.length, 0);
        s.write(Buffer.concat([prefix, out]));
        if (s.writableLength > MAX_TCP_PENDING_BYTES) {
          s.destroy();
          return;
        }
      }
    });
  }

  async function bindBoth(
    o: DnsServerOptions,
    answer: (q: Buffer, t: Transport) => Buffer | undefined,
  ): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
    // Port 0: the kernel picks a UDP port; TCP must then get the same one, which another program
    // may hold, so try again with a fresh pick.
    for (let attempt = 1; ; attempt++) {
      const udp = createSocket({ type: isIPv6(o.host) ? 'udp6' : 'udp4' });
      udp.on('message', (msg, rinfo) => {
        const out = answer(msg, 'udp');
        if (out !== undefined) udp.send(out, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(o.port, o.host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp = createServer({ pauseOnConnect: false }, serveTcp);
      tcp.maxConnections = o.maxTcpConnections ?? 256;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, o.host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
        return { udp, tcp, port };
      } catch (err) {
        udp.close();
        if (o.port !== 0 || attempt >= PORT_ATTEMPTS || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }
}
