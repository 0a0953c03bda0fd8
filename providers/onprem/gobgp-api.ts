// The narrow GoBGP port the on-prem adapter works through: plain records in, plain records out, the
// contract's named errors for every failure. `gobgp-grpc.ts` implements it on gobgpd's gRPC API
// (the one file that imports @grpc/*, ADR 0015); nothing else sees a proto message or gRPC status.
import type { Family } from '../model/model.ts';

/** gobgpd's global configuration; `asn` 0 means BGP has not been started (no config file, no StartBgp). */
export interface BgpGlobal {
  readonly asn: number;
  readonly routerId: string;
  /** -1: gobgpd does not listen (it only connects out). */
  readonly listenPort: number;
}

export interface StartBgpSpec {
  readonly asn: number;
  readonly routerId: string;
  readonly listenPort: number;
  readonly listenAddresses?: readonly string[];
}

/** A neighbor as Causeway configures it: ebgp-multihop on, both IPv4 and IPv6 unicast. */
export interface BgpPeerSpec {
  readonly address: string;
  readonly asn: number;
  /** The peer's BGP port; undefined: 179. */
  readonly port?: number | undefined;
  /** Marks the peer as Causeway's (`causeway:<Network>`): only such peers are ever deleted. */
  readonly description: string;
  readonly multihopTtl?: number;
  /** Seconds between connection attempts; gobgpd's own default is 120. */
  readonly connectRetrySeconds?: number;
}

export const SessionState = {
  Unknown: 'unknown',
  Idle: 'idle',
  Connect: 'connect',
  Active: 'active',
  OpenSent: 'opensent',
  OpenConfirm: 'openconfirm',
  Established: 'established',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

export interface BgpPeerInfo {
  readonly address: string;
  readonly asn: number;
  /** The peer's BGP port gobgpd connects to (0: the default, 179). */
  readonly port: number;
  readonly description: string;
  readonly state: SessionState;
  /** When the session last came up (ISO 8601), while it is established. */
  readonly uptime?: string;
  /** Prefixes received from / accepted from / advertised to the peer, both families summed. */
  readonly received: number;
  readonly accepted: number;
  readonly advertised: number;
}

export type BgpOrigin = 'igp' | 'egp' | 'incomplete';

/** One path of gobgpd's global RIB (ipv4/ipv6 unicast), or one to add or withdraw. */
export interface BgpPath {
  /** Normalised CIDR, e.g. `10.32.0.0/16`. */
  readonly prefix: string;
  readonly family: Family;
  readonly nextHop: string;
  /** Standard communities, `ASN:value`. */
  readonly communities: readonly string[];
  /** Large communities (RFC 8092), `global:local1:local2`; Causeway marks its own paths with one. */
  readonly largeCommunities: readonly string[];
  readonly origin: BgpOrigin;
}

export interface ObservedBgpPath extends BgpPath {
  /** Originated by this gobgpd (through its API), not learned from a neighbor. */
  readonly local: boolean;
}

export interface GobgpCallOptions {
  readonly signal: AbortSignal;
}

export interface GobgpApi {
  /** The address the port talks to (`host:port`), for messages. */
  readonly address: string;
  getBgp(options: GobgpCallOptions): Promise<BgpGlobal>;
  startBgp(spec: StartBgpSpec, options: GobgpCallOptions): Promise<void>;
  listPeers(options: GobgpCallOptions): Promise<readonly BgpPeerInfo[]>;
  /** AlreadyExistsError when gobgpd has a neighbor at that address. */
  addPeer(peer: BgpPeerSpec, options: GobgpCallOptions): Promise<void>;
  /** NotFoundError when gobgpd has no neighbor at that address. */
  deletePeer(address: string, options: GobgpCallOptions): Promise<void>;
  /** Every path of the global RIB in both unicast families (an unstarted gobgpd has none). */
  listPaths(options: GobgpCallOptions): Promise<readonly ObservedBgpPath[]>;
  /** Adds (or replaces: the same prefix from the same origin is implicitly withdrawn) locally originated paths; returns how many calls it made. */
  addPaths(paths: readonly BgpPath[], options: GobgpCallOptions): Promise<number>;
  /** Withdraws locally originated paths by prefix; returns how many calls it made. */
  deletePaths(paths: readonly BgpPath[], options: GobgpCallOptions): Promise<number>;
  close(): void;
}
