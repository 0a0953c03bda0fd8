// clusterset.local as the agent serves it (issue "Full MCS conformance", §2), end to end: the real
// hub with real etcd and its embedded real nats-server, two simulated clusters — each a Kubernetes
// API double (test double of kube-apiserver) with a real agent — and aws-train's agent started
// with --dns-listen (`dnsListen`). Queries go through real resolver clients: Debian's `dig` and
// Node's dns.promises.Resolver pointed at the agent. Exports are made in onprem-inference (and
// aws-train) the way a user makes them; answers must follow what aws-train's agent applied.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encode } from 'dns-packet';
import { silentLogger } from '../../cluster-agent/agent.ts';
import { runAgent, type RunningAgent } from '../../cluster-agent/main.ts';
import { onCleanup } from '../harness/cleanup.ts';
import {
  AWS,
  ONPREM,
  SERVICE_EXPORTS,
  exportedService,
  serviceImport,
  startClusterSet,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);
const ZONE = 'svc.clusterset.local';
const LLM = `llm-serving.inference.${ZONE}`;
const DB = `db.apps.${ZONE}`;

interface Dig {
  readonly status: string;
  readonly flags: readonly string[];
  /** `name ttl type data`, whitespace collapsed, sorted. */
  readonly answers: readonly string[];
}

/** `dig` against the agent, one try, no recursion asked; TCP with `+tcp`. */
async function dig(port: number, name: string, type: string, ...options: string[]): Promise<Dig> {
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(port),
    name,
    type,
    '+norecurse',
    '+time=2',
    '+tries=1',
    '+noall',
    '+comments',
    '+answer',
    ...options,
  ]);
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? `no status in: ${stdout}`;
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const answers = stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.trim().split(/\s+/).join(' '))
    .sort();
  return { status, flags, answers };
}

/** A fresh Resolver per call: c-ares caches answers per channel, and this asks the server, not a cache. */
function resolver(address: string): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([address]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** A headless Service with named endpoints, its ServiceExport and EndpointSlice. */
function headless(namespace: string, name: string, endpoints: readonly { ip: string; hostname?: string; ready?: boolean }[]): KubeObject[] {
  const objects = exportedService({
    namespace,
    name,
    headless: true,
    ports: [{ name: 'pg', port: 5432 }],
    endpoints: endpoints.map((e) => ({ ip: e.ip, ...(e.ready !== undefined ? { ready: e.ready } : {}) })),
  });
  return objects.map((o) =>
    o.kind === 'EndpointSlice'
      ? {
          ...o,
          endpoints: (o.endpoints as object[]).map((e, i) => ({ ...e, ...(endpoints[i]?.hostname !== undefined ? { hostname: endpoints[i].hostname } : {}) })),
        }
      : o,
  );
}

/** One DNS message as hand-made bytes: header (id, flags, counts) and what follows. */
function packet(id: number, flags: number, counts: readonly number[], rest: readonly number[]): Buffer {
  const b = Buffer.alloc(12 + rest.length);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + 2 * i));
  Buffer.from(rest).copy(b, 12);
  return b;
}
const A_IN = [0, 1, 0, 1];
const HOSTILE = {
  /** The question's name is a compression pointer to itself. */
  loop: packet(0x0101, 0x0100, [1, 0, 0, 0], [0xc0, 12, ...A_IN]),
  /** Two pointers pointing at each other. */
  pingPong: packet(0x0102, 0x0100, [1, 0, 0, 0], [0xc0, 14, 0xc0, 12, ...A_IN]),
  /** Cut in the middle of a label. */
  truncated: packet(0x0103, 0x0100, [1, 0, 0, 0], [10, 0x6c, 0x6c, 0x6d]),
  /** A response sent to the server: must never be answered. */
  response: packet(0x0104, 0x8000, [1, 0, 0, 0], [3, 0x77, 0x77, 0x77, 0, ...A_IN]),
  oversized: Buffer.alloc(5000, 0x41),
  tiny: Buffer.from([0x01]),
};

async function udpExchange(port: number, message: Buffer, waitMs: number): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        resolve(undefined);
      }, waitMs);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      socket.once('error', reject);
      socket.send(message, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** A TCP connection that reads length-prefixed DNS messages. */
async function tcpClient(port: number): Promise<{ socket: Socket; send(m: Buffer): void; next(): Promise<Buffer>; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  onCleanup(() => {
    socket.destroy();
    return Promise.resolve();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  const waiting: ((b: Buffer) => void)[] = [];
  const ready: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const m = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      buffered = buffered.subarray(2 + m.length);
      const w = waiting.shift();
      if (w !== undefined) w(m);
      else ready.push(m);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      resolve();
    }),
  );
  return {
    socket,
    send: (m) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(m.length, 0);
      socket.write(Buffer.concat([prefix, m]));
    },
    next: () => {
      const r = ready.shift();
      return r !== undefined ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    closed,
  };
}

const rcodeOf = (m: Buffer): number => m.readUInt16BE(2) & 0xf;
const A_QUERY = (id: number): Buffer => encode({ type: 'query', id, questions: [{ type: 'A', name: LLM }] });

describe('clusterset.local DNS served by the agent (real hub, etcd, nats-server and agents; Kubernetes API doubles; dig and dns.Resolver)', function () {
  this.timeout(90_000);
  let set: ClusterSet;
  let aws: SimulatedCluster;
  let onprem: SimulatedCluster;
  let agent: RunningAgent;
  let port: number;
  let address: string;
  let vip: string;

  before(async () => {
    set = await startClusterSet({ clusters: [AWS, ONPREM] });
    aws = set.cluster(AWS);
    onprem = set.cluster(ONPREM);
    // aws-train's agent again, now with its DNS server on a free port.
    await aws.stopAgent();
    const kubeconfig = join(tempDir('agent-dns'), 'aws.kubeconfig');
    await aws.double.writeKubeconfig(kubeconfig);
    agent = await runAgent({
      cluster: AWS,
      natsUrl: set.natsUrl(),
      credsFile: aws.credsFile,
      kubeconfig,
      heartbeatIntervalMs: 1000,
      resyncJitterMs: 100,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      requestTimeoutMs: 2000,
      dnsListen: '127.0.0.1:0',
      logger: silentLogger,
    });
    onCleanup(() => agent.stop());
    address = agent.dnsAddress ?? '';
    const m = /^127\.0\.0\.1:(\d+)$/.exec(address);
    assert.ok(m !== null, `dnsAddress is HOST:PORT: ${address}`);
    port = Number(m[1]);

    for (const o of exportedService({ namespace: 'inference', name: 'llm-serving', endpoints: [{ ip: '10.32.1.10' }, { ip: '10.32.1.11' }] }))
      onprem.double.seed(o);
    vip = await waitFor(
      'the ServiceImport in aws-train with its ClusterSetIP',
      () => {
        const ips = ((serviceImport(aws, 'inference', 'llm-serving')?.spec ?? {}) as { ips?: string[] }).ips ?? [];
        return ips[0];
      },
      20_000,
    );
  });
  after(async () => {
    await agent.stop();
    await set.stop();
  });

  it('a ClusterSetIP name answers its VIP (dig over UDP and TCP, dns.Resolver), authoritative, TTL 5; AAAA is NODATA', async () => {
    const a = await waitFor('the name to resolve', async () => {
      const d = await dig(port, LLM, 'A');
      return d.status === 'NOERROR' && d.answers.length > 0 ? d : undefined;
    });
    assert.deepEqual(a.answers, [`${LLM}. 5 IN A ${vip}`]);
    assert.ok(a.flags.includes('aa'), `authoritative: ${a.flags.join(' ')}`);
    assert.ok(!a.flags.includes('ra'), 'no recursion offered');
    assert.deepEqual((await dig(port, LLM, 'A', '+tcp')).answers, [`${LLM}. 5 IN A ${vip}`]);
    assert.deepEqual(await resolver(address).resolve4(LLM, { ttl: true }), [{ address: vip, ttl: 5 }]);

    const aaaa = await dig(port, LLM, 'AAAA');
    assert.deepEqual([aaaa.status, aaaa.answers], ['NOERROR', []]);
    assert.equal(await errorCode(resolver(address).resolve6(LLM)), 'ENODATA');
  });

  it('SRV for the named port: priority 0, weight 100, the port, the service name', async () => {
    const srv = await dig(port, `_http._tcp.${LLM}`, 'SRV');
    assert.deepEqual(srv.answers, [`_http._tcp.${LLM}. 5 IN SRV 0 100 8000 ${LLM}.`]);
    const viaNode = await resolver(address).resolveSrv(`_http._tcp.${LLM}`);
    assert.deepEqual(
      viaNode.map(({ name, port: p, priority, weight }) => ({ name, port: p, priority, weight })),
      [{ name: LLM, port: 8000, priority: 0, weight: 100 }],
    );
    assert.equal((await dig(port, `_http._udp.${LLM}`, 'SRV')).status, 'NXDOMAIN');
  });

  it('[clusterip_service_dns] A DNS SRV query of the <service>.<ns>.svc.clusterset.local domain for a ClusterIP service should return valid SRV records', async () => {
    const srv = await dig(port, LLM, 'SRV');
    assert.equal(srv.status, 'NOERROR');
    assert.deepEqual(srv.answers, [`${LLM}. 5 IN SRV 0 100 8000 ${LLM}.`]);
    const viaNode = await resolver(address).resolveSrv(LLM);
    assert.deepEqual(
      viaNode.map(({ name, port: p }) => `${name}:${p}`),
      [`${LLM}:8000`],
    );
  });

  it('a headless service exported by two clusters: every ready endpoint, <hostname>.<clusterid> names, SRV per endpoint with the additional A records', async () => {
    for (const o of headless('apps', 'db', [
      { ip: '10.32.4.1', hostname: 'db-0' },
      { ip: '10.32.4.2', hostname: 'db-1' },
      { ip: '10.32.4.3', hostname: 'db-2', ready: false },
    ]))
      onprem.double.seed(o);
    for (const o of headless('apps', 'db', [{ ip: '10.16.4.1', hostname: 'db-0' }, { ip: '10.16.4.2' }])) aws.double.seed(o);

    const all = await waitFor(
      "both clusters' endpoints in the answer",
      async () => {
        const d = await dig(port, DB, 'A');
        if (d.answers.length === 4) return d;
        throw new Error(`${d.status} ${d.answers.join(', ')}`);
      },
      20_000,
    );
    assert.deepEqual(
      all.answers,
      ['10.16.4.1', '10.16.4.2', '10.32.4.1', '10.32.4.2'].map((ip) => `${DB}. 5 IN A ${ip}`),
      'the not-ready db-2 is left out',
    );
    assert.deepEqual((await resolver(address).resolve4(DB)).sort(), ['10.16.4.1', '10.16.4.2', '10.32.4.1', '10.32.4.2']);

    assert.deepEqual((await dig(port, `db-0.${ONPREM}.${DB}`, 'A')).answers, [`db-0.${ONPREM}.${DB}. 5 IN A 10.32.4.1`]);
    assert.deepEqual((await dig(port, `db-0.${AWS}.${DB}`, 'A')).answers, [`db-0.${AWS}.${DB}. 5 IN A 10.16.4.1`]);
    assert.deepEqual(await resolver(address).resolve4(`db-1.${ONPREM}.${DB}`), ['10.32.4.2']);
    assert.deepEqual(await resolver(address).resolve4(`10-16-4-2.${AWS}.${DB}`), ['10.16.4.2'], 'an endpoint without hostname is named by its address');
    assert.equal((await dig(port, `db-2.${ONPREM}.${DB}`, 'A')).status, 'NXDOMAIN', 'not ready');
    assert.equal((await dig(port, `db-1.${AWS}.${DB}`, 'A')).status, 'NXDOMAIN', 'the hostname is per cluster');
    assert.deepEqual((await dig(port, `${ONPREM}.${DB}`, 'A')).status, 'NOERROR', 'a cluster id alone is an empty non-terminal: NODATA');

    const srv = await dig(port, `_pg._tcp.${DB}`, 'SRV', '+additional');
    const targets = [`10-16-4-2.${AWS}`, `db-0.${AWS}`, `db-0.${ONPREM}`, `db-1.${ONPREM}`];
    assert.deepEqual(
      srv.answers.filter((l) => l.includes(' SRV ')),
      targets.map((t) => `_pg._tcp.${DB}. 5 IN SRV 0 25 5432 ${t}.${DB}.`),
    );
    assert.deepEqual(
      srv.answers.filter((l) => l.includes(' IN A ')),
      [
        `10-16-4-2.${AWS}.${DB}. 5 IN A 10.16.4.2`,
        `db-0.${AWS}.${DB}. 5 IN A 10.16.4.1`,
        `db-0.${ONPREM}.${DB}. 5 IN A 10.32.4.1`,
        `db-1.${ONPREM}.${DB}. 5 IN A 10.32.4.2`,
      ],
      "the targets' addresses in the additional section",
    );
    const viaNode = await resolver(address).resolveSrv(`_pg._tcp.${DB}`);
    assert.deepEqual(
      viaNode.map((s) => `${s.name}:${s.port}`).sort(),
      targets.map((t) => `${t}.${DB}:5432`),
    );
    // [headless_service_dns] A DNS SRV query of the <service>.<ns>.svc.clusterset.local domain for a
    // headless service should return valid SRV records: one per ready endpoint, at the service's own name.
    const atName = await dig(port, DB, 'SRV');
    assert.deepEqual(
      atName.answers.filter((l) => l.includes(' SRV ')),
      targets.map((t) => `${DB}. 5 IN SRV 0 25 5432 ${t}.${DB}.`),
    );
  });

  it('a name the cluster does not import is NXDOMAIN with the SOA (negative TTL 5), to dig and to dns.Resolver', async () => {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), `nothing.inference.${ZONE}`, 'A', '+norecurse', '+time=2', '+tries=1']);
    assert.match(stdout, /status: NXDOMAIN/);
    assert.match(stdout, /clusterset\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.clusterset\.local\. hostmaster\.clusterset\.local\. \d+ 7200 1800 86400 5/);
    assert.equal(await errorCode(resolver(address).resolve4(`nothing.inference.${ZONE}`)), 'ENOTFOUND');
    assert.equal((await dig(port, 'example.com', 'A')).status, 'REFUSED', 'another zone');
    assert.deepEqual((await dig(port, 'dns-version.clusterset.local', 'TXT')).answers, ['dns-version.clusterset.local. 28800 IN TXT "1.0.0"']);
  });

  it('a name appears once its ServiceExport is created and goes (NXDOMAIN) once it is deleted', async () => {
    const [service, serviceExport, slice] = exportedService({ namespace: 'apps', name: 'echo', endpoints: [{ ip: '10.32.6.1' }] });
    assert.ok(service !== undefined && serviceExport !== undefined && slice !== undefined);
    onprem.double.seed(service);
    onprem.double.seed(slice);
    const echo = `echo.apps.${ZONE}`;
    assert.equal((await dig(port, echo, 'A')).status, 'NXDOMAIN', 'a Service without a ServiceExport is not in the clusterset');

    onprem.double.seed(serviceExport);
    const appeared = await waitFor(
      'echo to resolve in aws-train',
      async () => {
        const ips = await resolver(address)
          .resolve4(echo)
          .catch(() => undefined);
        return ips !== undefined && ips.length === 1 ? ips : undefined;
      },
      20_000,
    );
    const echoVip = ((serviceImport(aws, 'apps', 'echo')?.spec ?? {}) as { ips?: string[] }).ips?.[0];
    assert.deepEqual(appeared, [echoVip], 'the VIP of the ServiceImport applied in aws-train');

    await onprem.kube.delete(serviceExport);
    assert.equal(onprem.double.get(SERVICE_EXPORTS, 'apps', 'echo'), undefined);
    await waitFor('echo to be NXDOMAIN in aws-train', async () => (await errorCode(resolver(address).resolve4(echo))) === 'ENOTFOUND', 20_000);
    assert.equal((await dig(port, echo, 'A')).status, 'NXDOMAIN');
    assert.equal(serviceImport(aws, 'apps', 'echo'), undefined, 'the ServiceImport went with it');
  });

  it('an answer too big for UDP sets TC and dig and dns.Resolver retry over TCP and get every record', async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ ip: `10.32.7.${i + 1}`, hostname: `w-${i}` }));
    for (const o of headless('apps', 'wide', many)) onprem.double.seed(o);
    const wide = `wide.apps.${ZONE}`;
    const all = await waitFor(
      'all 60 endpoints over TCP',
      async () => {
        const d = await dig(port, wide, 'A');
        return d.answers.length === 60 ? d : undefined;
      },
      20_000,
    );
    assert.deepEqual(all.answers, many.map((e) => `${wide}. 5 IN A ${e.ip}`).sort());
    const udpOnly = await dig(port, wide, 'A', '+ignore', '+noedns');
    assert.ok(udpOnly.flags.includes('tc'), `TC over UDP: ${udpOnly.flags.join(' ')}`);
    assert.deepEqual(udpOnly.answers, []);
    assert.equal((await resolver(address).resolve4(wide)).length, 60);
  });

  it('hostile packets over UDP and TCP get FORMERR or nothing, and the server answers as before afterwards', async () => {
    for (const [what, bytes] of [
      ['loop', HOSTILE.loop],
      ['pingPong', HOSTILE.pingPong],
      ['truncated', HOSTILE.truncated],
    ] as const) {
      const reply = await udpExchange(port, bytes, 2000);
      assert.ok(reply !== undefined, `${what}: a reply`);
      assert.equal(reply.readUInt16BE(0), bytes.readUInt16BE(0), `${what}: the same id`);
      assert.equal(rcodeOf(reply), 1, `${what}: FORMERR`);
    }
    for (const what of ['response', 'oversized', 'tiny'] as const) {
      assert.equal(await udpExchange(port, HOSTILE[what], 300), undefined, `${what}: dropped`);
    }
    const ok = await udpExchange(port, A_QUERY(0x0200), 2000);
    assert.ok(ok !== undefined && rcodeOf(ok) === 0 && ok.readUInt16BE(6) === 1, 'a good query after them is answered');

    // TCP: errors on a connection that stays usable; a frame over the size closes it; new connections work.
    const c = await tcpClient(port);
    c.send(HOSTILE.loop);
    assert.equal(rcodeOf(await c.next()), 1);
    c.send(HOSTILE.truncated);
    assert.equal(rcodeOf(await c.next()), 1);
    c.send(A_QUERY(0x0201));
    const answered = await c.next();
    assert.deepEqual([answered.readUInt16BE(0), rcodeOf(answered), answered.readUInt16BE(6)], [0x0201, 0, 1]);
    // A length prefix announcing 60,000 bytes, and then only some of them.
    c.socket.write(Buffer.concat([Buffer.from([0xea, 0x60]), Buffer.alloc(1000, 0x41)]));
    await c.closed;
    const garbage = await tcpClient(port);
    garbage.socket.write(Buffer.from([0x00, 0x03, 0x01, 0x02, 0x03]));
    await garbage.closed;

    assert.deepEqual((await dig(port, LLM, 'A', '+tcp')).answers, [`${LLM}. 5 IN A ${vip}`]);
    assert.deepEqual((await dig(port, LLM, 'A')).answers, [`${LLM}. 5 IN A ${vip}`]);
    assert.deepEqual(await resolver(address).resolve4(LLM), [vip]);
  });
});
