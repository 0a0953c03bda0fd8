// A real gobgpd and a real BIRD 2 peer on loopback (TESTING.md, "BGP"): each on free ports in a
// fresh temp dir, stopped by the test (or, failing that, by the root hook). gobgpd gets only its
// global config (AS, router id, BGP port, 127.0.0.1): the neighbor is Causeway's to add, as it is
// in production, so the tests prove the adapter configures it. BIRD stands for the site's fabric
// router: it imports everything, exports nothing, and holds static routes of its own that are not
// Causeway's; tests read its table through `birdc`. Usable in-process by tests and by the demo.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer, freePort, portOpen } from '../../controlplane/embedded/child-server.ts';
import { onCleanup } from './cleanup.ts';
import { tempDir } from './servers.ts';

export const GOBGPD = '/usr/bin/gobgpd';
export const BIRD = '/usr/sbin/bird';
export const BIRDC = '/usr/sbin/birdc';

export interface TestGobgpd {
  /** The gRPC API, `127.0.0.1:PORT`. */
  readonly apiAddress: string;
  readonly apiPort: number;
  /** gobgpd's BGP port (-1 when started without a global config: it listens only once StartBgp says so). */
  readonly bgpPort: number;
  readonly dir: string;
  readonly logFile: string;
  server(): ChildServer;
  /** Stops gobgpd and starts it again on the same ports: its RIB and neighbors are gone (as after a crash). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface GobgpdOptions {
  /** Global config (`[global.config]`); `false`: none, BGP waits for StartBgp. Default AS 64512, router id 192.0.2.10. */
  readonly global?: { readonly asn: number; readonly routerId: string } | false;
}

export async function startGobgpd(options: GobgpdOptions = {}): Promise<TestGobgpd> {
  const dir = tempDir('gobgpd');
  const apiPort = await freePort();
  const global = options.global === false ? undefined : (options.global ?? { asn: 64512, routerId: '192.0.2.10' });
  const bgpPort = global === undefined ? -1 : await freePort();
  const configFile = join(dir, 'gobgpd.toml');
  if (global !== undefined) {
    writeFileSync(
      configFile,
      ['[global.config]', `  as = ${global.asn}`, `  router-id = "${global.routerId}"`, `  port = ${bgpPort}`, '  local-address-list = ["127.0.0.1"]', ''].join(
        '\n',
      ),
    );
  }
  const logFile = join(dir, 'gobgpd.log');
  const launch = async (): Promise<ChildServer> => {
    const child = ChildServer.start({
      name: 'gobgpd',
      command: GOBGPD,
      args: [...(global !== undefined ? ['-f', configFile] : []), '-p', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable'],
      logFile,
      pidFile: join(dir, 'gobgpd.pid'),
    });
    await child.waitReady(async () => (await portOpen(apiPort)) && (bgpPort < 0 || (await portOpen(bgpPort))), logFile);
    return child;
  };
  let current = await launch();
  const unregister = onCleanup(() => current.stop());
  return {
    apiAddress: `127.0.0.1:${apiPort}`,
    apiPort,
    bgpPort,
    dir,
    logFile,
    server: () => current,
    restart: async () => {
      await current.stop();
      current = await launch();
    },
    close: async () => {
      unregister();
      await current.stop();
    },
  };
}

export interface BirdRoute {
  /** `master4` or `master6`. */
  readonly table: string;
  readonly prefix: string;
  /** The BIRD protocol the route came from: `causeway` (the BGP session to gobgpd) or `own4`/`own6` (BIRD's static routes). */
  readonly protocol: string;
  readonly nextHop?: string;
  readonly asPath?: string;
  /** `ASN:value`. */
  readonly communities: readonly string[];
  /** `global:local1:local2`. */
  readonly largeCommunities: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
}

export interface TestBird {
  /** BIRD's control socket, for `birdc -s SOCKET` (and the demo's demo.json). */
  readonly socket: string;
  /** BIRD's BGP port. */
  readonly port: number;
  readonly asn: number;
  readonly dir: string;
  readonly logFile: string;
  /** BIRD's own static routes (not Causeway's). */
  readonly ownRoutes: readonly string[];
  server(): ChildServer;
  /** Every route in BIRD's tables (`birdc show route all`, parsed). */
  routes(): Promise<readonly BirdRoute[]>;
  /** State of the BGP session to gobgpd as BIRD sees it (`Established`, `Active`, `Connect`, ...). */
  sessionState(): Promise<string>;
  stop(): Promise<void>;
  /** Starts it again (same config, ports and socket) after `stop`. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface BirdOptions {
  /** gobgpd's BGP port, which BIRD connects to (besides accepting gobgpd's connections on its own port). */
  readonly neighborPort: number;
  readonly neighborAsn?: number;
  /** BIRD's AS; default 64600. */
  readonly asn?: number;
  /** Static routes BIRD holds of its own; default 192.0.2.0/24 and 2001:db8:ffff::/48. */
  readonly ownRoutes?: readonly string[];
}

export async function startBird(options: BirdOptions): Promise<TestBird> {
  const dir = tempDir('bird');
  const port = await freePort();
  const asn = options.asn ?? 64600;
  const socket = join(dir, 'bird.ctl');
  const configFile = join(dir, 'bird.conf');
  const logFile = join(dir, 'bird.log');
  const ownRoutes = options.ownRoutes ?? ['192.0.2.0/24', '2001:db8:ffff::/48'];
  const own4 = ownRoutes.filter((r) => !r.includes(':'));
  const own6 = ownRoutes.filter((r) => r.includes(':'));
  writeFileSync(
    configFile,
    [
      'router id 192.0.2.1;',
      'protocol device {}',
      `protocol static own4 { ipv4; ${own4.map((r) => `route ${r} unreachable;`).join(' ')} }`,
      `protocol static own6 { ipv6; ${own6.map((r) => `route ${r} unreachable;`).join(' ')} }`,
      'protocol bgp causeway {',
      `  local 127.0.0.1 port ${port} as ${asn};`,
      `  neighbor 127.0.0.1 port ${options.neighborPort < 0 ? 179 : options.neighborPort} as ${options.neighborAsn ?? 64512};`,
      // Without multihop BIRD takes 127.0.0.1 for its own address and drops the session.
      '  strict bind on; multihop; connect delay time 1; connect retry time 2; error wait time 1, 4;',
      '  ipv4 { import all; export none; };',
      '  ipv6 { import all; export none; };',
      '}',
      '',
    ].join('\n'),
  );
  const birdc = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(BIRDC, ['-s', socket, ...args], { timeout: 10_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout) => {
        // birdc exits 1 on "Network not found" and similar answers: the output is the answer.
        // Anything else (a timeout, output beyond maxBuffer) is a failure, never a short answer.
        if (err === null || (err.code === 1 && stdout !== '')) resolve(stdout);
        else reject(new Error(`birdc ${args.join(' ')}: ${err.message}`));
      });
    });
  const launch = async (): Promise<ChildServer> => {
    const child = ChildServer.start({
      name: 'bird',
      command: BIRD,
      args: ['-f', '-c', configFile, '-s', socket, '-P', join(dir, 'bird.pid')],
      logFile,
    });
    await child.waitReady(async () => (await birdc('show', 'status')).includes('Daemon is up and running'), logFile);
    return child;
  };
  let current: ChildServer | undefined = await launch();
  const unregister = onCleanup(async () => current?.stop());
  return {
    socket,
    port,
    asn,
    dir,
    logFile,
    ownRoutes,
    server: () => {
      if (current === undefined) throw new Error('BIRD is stopped');
      return current;
    },
    routes: async () => parseBirdRoutes(await birdc('show', 'route', 'all')),
    sessionState: async () => {
      const out = await birdc('show', 'protocols', 'causeway');
      const line = out.split('\n').find((l) => l.startsWith('causeway '));
      return line?.trim().split(/\s+/)[5] ?? 'unknown';
    },
    stop: async () => {
      await current?.stop();
      current = undefined;
    },
    start: async () => {
      current ??= await launch();
    },
    close: async () => {
      unregister();
      await current?.stop();
      current = undefined;
    },
  };
}

/** Parses `birdc show route all` (BIRD 2): a route line per path, tab-indented attribute lines under it. */
export function parseBirdRoutes(text: string): BirdRoute[] {
  const out: BirdRoute[] = [];
  let table = '';
  let prefix = '';
  let current: { table: string; prefix: string; protocol: string; attributes: Record<string, string> } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const a = current.attributes;
    out.push({
      table: current.table,
      prefix: current.prefix,
      protocol: current.protocol,
      ...(a['BGP.next_hop'] !== undefined ? { nextHop: a['BGP.next_hop'].split(' ')[0] ?? '' } : {}),
      ...(a['BGP.as_path'] !== undefined ? { asPath: a['BGP.as_path'] } : {}),
      communities: [...(a['BGP.community'] ?? '').matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`),
      largeCommunities: [...(a['BGP.large_community'] ?? '').matchAll(/\((\d+), (\d+), (\d+)\)/g)].map((m) => `${m[1]}:${m[2]}:${m[3]}`),
      attributes: a,
    });
    current = undefined;
  };
  for (const line of text.split('\n')) {
    const t = /^Table (\S+):/.exec(line);
    if (t !== null) {
      flush();
      table = t[1] ?? '';
      continue;
    }
    if (line.startsWith('\t')) {
      const kv = /^\t([^:]+):\s?(.*)$/.exec(line);
      if (current !== undefined && kv !== null) current.attributes[kv[1] ?? ''] = kv[2] ?? '';
      continue;
    }
    // `PREFIX  unreachable [proto TIME ...]`, or, for a second path of the same prefix, the same without PREFIX.
    const r = /^(\S+)?\s+\S.*?\[(\S+)/.exec(line);
    if (r === null || table === '') continue;
    flush();
    if (r[1] !== undefined) prefix = r[1];
    current = { table, prefix, protocol: r[2] ?? '', attributes: {} };
  }
  flush();
  return out;
}
