// The GobgpApi port on gobgpd's gRPC API (GoBGP 3.10): the only module that imports @grpc/* (ADR
// 0015). It loads the vendored protos (gobgp-proto/), writes `Any` fields in proto-loader's JSON form
// (`'@type': 'type.googleapis.com/apipb.X'`), puts a deadline on every call, maps messages to the
// port's plain records and translates every gRPC status into the contract's named errors, so no
// proto message or ServiceError reaches the adapter or the hub.
import { fileURLToPath } from 'node:url';
import { Client, credentials, Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type PackageDefinition } from '@grpc/proto-loader';
import { checkCidr } from '../../controlplane/api/cidr.ts';
import { AlreadyExistsError, InvalidInputError, NotFoundError, UnavailableError } from '../../controlplane/api/errors.ts';
import type { CausewayError } from '../../controlplane/api/errors.ts';
import type { Family } from '../model/model.ts';
import {
  SessionState,
  type BgpGlobal,
  type BgpOrigin,
  type BgpPath,
  type BgpPeerInfo,
  type BgpPeerSpec,
  type GobgpApi,
  type GobgpCallOptions,
  type ObservedBgpPath,
  type StartBgpSpec,
} from './gobgp-api.ts';

const PROTO_DIR = fileURLToPath(new URL('./gobgp-proto/', import.meta.url));
const SERVICE = 'apipb.GobgpApi';
const TYPE = 'type.googleapis.com/apipb.';

/** Paths per AddPathStream message: measured here, batches of a few hundred keep a 10,000-path stream near 0.5 s. */
const STREAM_BATCH = 250;
/** Below this many paths one AddPath per path is as fast as opening a stream. */
const STREAM_THRESHOLD = 8;

let loaded: PackageDefinition | undefined;
function definition(): PackageDefinition {
  // Immutable and the same for every client: parsed once per process (~50 ms).
  loaded ??= loadSync(['gobgp.proto', 'attribute.proto', 'capability.proto'], {
    includeDirs: [PROTO_DIR],
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
    json: true,
  });
  return loaded;
}

type Method = MethodDefinition<object, object>;
function method(name: string): Method {
  const service = definition()[SERVICE] as Record<string, Method> | undefined;
  const m = service?.[name];
  if (m === undefined) throw new Error(`GoBGP proto has no ${SERVICE}/${name}`);
  return m;
}

const FAMILY = {
  4: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
  6: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
} as const;

const ORIGINS: readonly BgpOrigin[] = ['igp', 'egp', 'incomplete'];

export interface GrpcGobgpApiOptions {
  /** gobgpd's API, `host:port` (insecure: gobgpd's API is meant for loopback or a private link). */
  readonly address: string;
  /** Deadline of each call; default 5 s. */
  readonly deadlineMs?: number;
}

export class GrpcGobgpApi implements GobgpApi {
  readonly address: string;
  private readonly client: Client;
  private readonly deadlineMs: number;

  constructor(options: GrpcGobgpApiOptions) {
    this.address = options.address;
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.client = new Client(options.address, credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  async getBgp(options: GobgpCallOptions): Promise<BgpGlobal> {
    const r = rec(await this.unary('GetBgp', {}, options));
    const g = rec(r.global);
    return { asn: num(g.asn), routerId: str(g.routerId), listenPort: num(g.listenPort) };
  }

  async startBgp(spec: StartBgpSpec, options: GobgpCallOptions): Promise<void> {
    await this.unary(
      'StartBgp',
      { global: { asn: spec.asn, routerId: spec.routerId, listenPort: spec.listenPort, listenAddresses: [...(spec.listenAddresses ?? [])] } },
      options,
    );
  }

  async listPeers(options: GobgpCallOptions): Promise<readonly BgpPeerInfo[]> {
    const answers = await this.serverStream('ListPeer', { address: '', enableAdvertised: true }, options);
    return answers.map((a) => peerInfo(rec(rec(a).peer)));
  }

  async addPeer(peer: BgpPeerSpec, options: GobgpCallOptions): Promise<void> {
    await this.unary(
      'AddPeer',
      {
        peer: {
          conf: { neighborAddress: peer.address, peerAsn: peer.asn, description: peer.description },
          ebgpMultihop: { enabled: true, multihopTtl: peer.multihopTtl ?? 255 },
          transport: { remotePort: peer.port ?? 179 },
          timers: { config: { connectRetry: peer.connectRetrySeconds ?? 5 } },
          afiSafis: [4, 6].map((f) => ({ config: { family: FAMILY[f as Family], enabled: true } })),
        },
      },
      options,
    );
  }

  async deletePeer(address: string, options: GobgpCallOptions): Promise<void> {
    await this.unary('DeletePeer', { address }, options);
  }

  async listPaths(options: GobgpCallOptions): Promise<readonly ObservedBgpPath[]> {
    const out: ObservedBgpPath[] = [];
    for (const family of [4, 6] as const) {
      let answers: unknown[];
      try {
        answers = await this.serverStream('ListPath', { tableType: 'GLOBAL', family: FAMILY[family] }, options);
      } catch (err) {
        // An unstarted gobgpd has no RIB: nothing is announced.
        if (err instanceof NotStartedError) return [];
        throw err;
      }
      for (const a of answers) {
        const d = rec(rec(a).destination);
        for (const p of list(d.paths)) {
          const path = observedPath(str(d.prefix), family, rec(p));
          if (path !== undefined) out.push(path);
        }
      }
    }
    return out;
  }

  async addPaths(paths: readonly BgpPath[], options: GobgpCallOptions): Promise<number> {
    if (paths.length <= STREAM_THRESHOLD) {
      for (const p of paths) await this.unary('AddPath', { tableType: 'GLOBAL', path: pathMessage(p, false) }, options);
      return paths.length;
    }
    const batches: object[] = [];
    for (let i = 0; i < paths.length; i += STREAM_BATCH) {
      batches.push({ tableType: 'GLOBAL', paths: paths.slice(i, i + STREAM_BATCH).map((p) => pathMessage(p, false)) });
    }
    await this.clientStream('AddPathStream', batches, options);
    return 1;
  }

  async deletePaths(paths: readonly BgpPath[], options: GobgpCallOptions): Promise<number> {
    // DeletePath of one path needs isWithdraw; a DeletePath with only a family would remove every
    // path gobgpd originated in it, Causeway's or not. There is no DeletePath stream.
    for (const p of paths) await this.unary('DeletePath', { tableType: 'GLOBAL', family: FAMILY[p.family], path: pathMessage(p, true) }, options);
    return paths.length;
  }

  // ---- calls -------------------------------------------------------------------------------

  private callOptions(): CallOptions {
    return { deadline: Date.now() + this.deadlineMs };
  }

  private unary(name: string, request: object, options: GobgpCallOptions): Promise<unknown> {
    const m = method(name);
    return new Promise((resolve, reject) => {
      if (options.signal.aborted) {
        reject(this.aborted(name));
        return;
      }
      const call: ClientUnaryCall = this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        new Metadata(),
        this.callOptions(),
        (err: ServiceError | null, value?: object) => {
          options.signal.removeEventListener('abort', cancel);
          if (err !== null) reject(this.translate(name, err, options.signal));
          else resolve(value);
        },
      );
      const cancel = (): void => {
        call.cancel();
      };
      options.signal.addEventListener('abort', cancel, { once: true });
    });
  }

  private serverStream(name: string, request: object, options: GobgpCallOptions): Promise<unknown[]> {
    const m = method(name);
    return new Promise((resolve, reject) => {
      if (options.signal.aborted) {
        reject(this.aborted(name));
        return;
      }
      const out: unknown[] = [];
      const call = this.client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, request, new Metadata(), this.callOptions());
      const cancel = (): void => {
        call.cancel();
      };
      options.signal.addEventListener('abort', cancel, { once: true });
      call.on('data', (d: unknown) => out.push(d));
      call.on('error', (err: ServiceError) => {
        options.signal.removeEventListener('abort', cancel);
        reject(this.translate(name, err, options.signal));
      });
      call.on('end', () => {
        options.signal.removeEventListener('abort', cancel);
        resolve(out);
      });
    });
  }

  private clientStream(name: string, messages: readonly object[], options: GobgpCallOptions): Promise<void> {
    const m = method(name);
    return new Promise((resolve, reject) => {
      if (options.signal.aborted) {
        reject(this.aborted(name));
        return;
      }
      const call = this.client.makeClientStreamRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        new Metadata(),
        { deadline: Date.now() + this.deadlineMs + messages.length * 100 },
        (err: ServiceError | null) => {
          options.signal.removeEventListener('abort', cancel);
          if (err !== null) reject(this.translate(name, err, options.signal));
          else resolve();
        },
      );
      const cancel = (): void => {
        call.cancel();
      };
      options.signal.addEventListener('abort', cancel, { once: true });
      for (const msg of messages) call.write(msg);
      call.end();
    });
  }

  private aborted(name: string): UnavailableError {
    return new UnavailableError(`gobgpd ${this.address}: ${name} aborted`);
  }

  private translate(name: string, err: ServiceError, signal: AbortSignal): CausewayError {
    const what = `gobgpd ${this.address}: ${name}: ${err.details || err.message}`;
    if (signal.aborted) return this.aborted(name);
    const code = err.code;
    if (code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.CANCELLED || code === status.RESOURCE_EXHAUSTED) {
      return new UnavailableError(what, { cause: err });
    }
    if (code === status.INVALID_ARGUMENT) return new InvalidInputError([{ field: name, message: what }], { cause: err });
    if (code === status.NOT_FOUND) return new NotFoundError(what, { cause: err });
    if (code === status.ALREADY_EXISTS) return new AlreadyExistsError(what, { cause: err });
    if (code === status.UNKNOWN) {
      // gobgpd answers almost every refusal with UNKNOWN and a sentence: read the sentence.
      if (/can't overwrite the existing peer/i.test(err.details)) return new AlreadyExistsError(what, { cause: err });
      if (/can't delete a peer configuration|not found|doesn't exist/i.test(err.details)) return new NotFoundError(what, { cause: err });
      if (/hasn't started yet/i.test(err.details)) return new NotStartedError(what, { cause: err });
      return new InvalidInputError([{ field: name, message: what }], { cause: err });
    }
    // INTERNAL, UNIMPLEMENTED and the rest: nothing the request could fix; try again later.
    return new UnavailableError(what, { cause: err });
  }
}

/** gobgpd runs but BGP has not been started (no global config): a conflict with what is asked. */
export class NotStartedError extends InvalidInputError {
  constructor(message: string, options?: ErrorOptions) {
    super([{ field: 'global', message }], options);
  }
}

// ---- messages ----------------------------------------------------------------------------------

function pathMessage(p: BgpPath, withdraw: boolean): object {
  const [address, length] = p.prefix.split('/');
  const nlri = { '@type': `${TYPE}IPAddressPrefix`, prefix: address, prefixLen: Number(length) };
  const pattrs: object[] = [{ '@type': `${TYPE}OriginAttribute`, origin: ORIGINS.indexOf(p.origin) }];
  if (p.family === 4) pattrs.push({ '@type': `${TYPE}NextHopAttribute`, nextHop: p.nextHop });
  else pattrs.push({ '@type': `${TYPE}MpReachNLRIAttribute`, family: FAMILY[6], nextHops: [p.nextHop], nlris: [nlri] });
  if (p.communities.length > 0) pattrs.push({ '@type': `${TYPE}CommunitiesAttribute`, communities: p.communities.map(communityNumber) });
  if (p.largeCommunities.length > 0) {
    pattrs.push({
      '@type': `${TYPE}LargeCommunitiesAttribute`,
      communities: p.largeCommunities.map((c) => {
        const [g, l1, l2] = c.split(':').map(Number);
        return { globalAdmin: g, localData1: l1, localData2: l2 };
      }),
    });
  }
  return { family: FAMILY[p.family], nlri, pattrs, isWithdraw: withdraw };
}

function communityNumber(c: string): number {
  const [asn, value] = c.split(':').map(Number);
  return (asn ?? 0) * 65_536 + (value ?? 0);
}

function observedPath(prefix: string, family: Family, p: Record<string, unknown>): ObservedBgpPath | undefined {
  // gobgpd stores what it cannot parse as `<nil>/24`: such a path is nobody's to diff against.
  const checked = checkCidr(prefix);
  if (!checked.ok) return undefined;
  let nextHop = '';
  let origin: BgpOrigin = 'incomplete';
  const communities: string[] = [];
  const largeCommunities: string[] = [];
  for (const a of list(p.pattrs)) {
    const attr = rec(a);
    switch (str(attr['@type']).slice(TYPE.length)) {
      case 'OriginAttribute':
        origin = ORIGINS[num(attr.origin)] ?? 'incomplete';
        break;
      case 'NextHopAttribute':
        nextHop = str(attr.nextHop);
        break;
      case 'MpReachNLRIAttribute':
        nextHop = str(list(attr.nextHops)[0]);
        break;
      case 'CommunitiesAttribute':
        for (const c of list(attr.communities)) communities.push(`${Math.floor(num(c) / 65_536)}:${num(c) % 65_536}`);
        break;
      case 'LargeCommunitiesAttribute':
        for (const c of list(attr.communities)) {
          const lc = rec(c);
          largeCommunities.push(`${num(lc.globalAdmin)}:${num(lc.localData1)}:${num(lc.localData2)}`);
        }
        break;
      default:
        break;
    }
  }
  // A path from a neighbor names it; gobgpd's own (AddPath) carry "<nil>".
  const neighbor = str(p.neighborIp);
  return { prefix: checked.cidr, family, nextHop, communities, largeCommunities, origin, local: neighbor === '' || neighbor === '<nil>' };
}

const STATES: Readonly<Record<string, SessionState>> = {
  UNKNOWN: SessionState.Unknown,
  IDLE: SessionState.Idle,
  CONNECT: SessionState.Connect,
  ACTIVE: SessionState.Active,
  OPENSENT: SessionState.OpenSent,
  OPENCONFIRM: SessionState.OpenConfirm,
  ESTABLISHED: SessionState.Established,
};

function peerInfo(peer: Record<string, unknown>): BgpPeerInfo {
  const conf = rec(peer.conf);
  const state = rec(peer.state);
  const transport = rec(peer.transport);
  const session = STATES[str(state.sessionState)] ?? SessionState.Unknown;
  const up = rec(rec(rec(peer.timers).state).uptime);
  let received = 0;
  let accepted = 0;
  let advertised = 0;
  for (const af of list(peer.afiSafis)) {
    const s = rec(rec(af).state);
    received += num(s.received);
    accepted += num(s.accepted);
    advertised += num(s.advertised);
  }
  return {
    address: str(conf.neighborAddress),
    asn: num(conf.peerAsn),
    port: num(transport.remotePort),
    description: str(conf.description),
    state: session,
    ...(session === SessionState.Established && num(up.seconds) > 0 ? { uptime: new Date(num(up.seconds) * 1000).toISOString() } : {}),
    received,
    accepted,
    advertised,
  };
}

// proto-loader answers untyped objects: read them defensively (a field gobgpd leaves out is a default).
function rec(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}
function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : 0;
}
