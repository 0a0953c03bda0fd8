// The on-prem adapter's decisions, pure: which announcements are valid, which paths of gobgpd's
// global RIB are Causeway's (this Network's), what to announce and withdraw, and which BGP
// neighbors to add or delete. No I/O: the adapter observes, calls this, and applies the result.
//
// Ownership: a path is this Network's when it was originated by the gobgpd itself (not learned)
// and carries Causeway's large community `<ASN>:CAUSEWAY_PATH_TAG:<hash of the Network's name>`.
// Paths an operator added by hand, and paths of other Networks sharing the gobgpd, are never
// withdrawn or replaced. A neighbor is Causeway's when its description is `causeway:<Network>`.
import { checkCidr, isIpAddress, ipFamily } from '../../controlplane/api/cidr.ts';
import type { Announcement, BgpPeer, Family, PrefixOwner } from '../model/model.ts';
import type { BgpPath, BgpPeerInfo, BgpPeerSpec, ObservedBgpPath } from './gobgp-api.ts';

// WARNING - STABLE: the marker on every path Causeway announces. Changing it orphans the paths that
// running gobgpds hold (Causeway would neither recognise nor withdraw them).
/** "CWAY" as a number: the first local-data part of Causeway's large community. */
export const CAUSEWAY_PATH_TAG = 0x43574159;
export const PEER_DESCRIPTION_PREFIX = 'causeway:';

/** FNV-1a (32 bit) of the Network's name: the second local-data part of the marker. */
export function networkHash(network: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(network)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The large community marking a Network's paths, `<asn>:<tag>:<hash>`. */
export function pathMarker(network: string, asn: number): string {
  return `${asn}:${CAUSEWAY_PATH_TAG}:${networkHash(network)}`;
}

/** True when the path carries the marker of this Network (whatever ASN it was announced under). */
export function isNetworksPath(path: ObservedBgpPath, network: string): boolean {
  const suffix = `:${CAUSEWAY_PATH_TAG}:${networkHash(network)}`;
  return path.local && path.largeCommunities.some((c) => c.endsWith(suffix));
}

export const peerDescription = (network: string): string => `${PEER_DESCRIPTION_PREFIX}${network}`;

// ---- validation --------------------------------------------------------------------------------

export interface RefusedAnnouncement {
  readonly prefix: string;
  readonly owner: PrefixOwner;
  readonly message: string;
}

const ownerText = (o: PrefixOwner): string => `${o.kind} ${o.name}`;
const COMMUNITY = /^([0-9]{1,5}):([0-9]{1,5})$/;

/**
 * Checks one announcement strictly before it can reach gobgpd, which validates almost nothing
 * (`10.256.0.0/24` becomes `<nil>/24` and breaks its RIB listing; an IPv4 prefix sent as IPv6
 * becomes `::/24`; host bits are silently zeroed). Returns the normalised prefix or why not.
 */
export function checkAnnouncement(a: Announcement): { readonly ok: true; readonly prefix: string } | { readonly ok: false; readonly message: string } {
  const refuse = (why: string): { ok: false; message: string } => ({
    ok: false,
    message: `Network "${a.domain}": announcement ${JSON.stringify(a.prefix)} of ${ownerText(a.owner)}: ${why}`,
  });
  const c = checkCidr(a.prefix);
  if (!c.ok) return refuse(c.message);
  if (c.family !== a.family) return refuse(`an IPv${c.family} prefix planned as IPv${a.family}`);
  const length = Number(a.prefix.split('/')[1]);
  if (length < 1) return refuse('a default route (/0) is never announced by Causeway: expected a prefix length from 1 to ' + (a.family === 4 ? '32' : '128'));
  if (a.nextHop !== undefined && !isIpAddress(a.nextHop)) return refuse(`next hop ${JSON.stringify(a.nextHop)} is not an IPv4 or IPv6 address`);
  for (const community of a.communities) {
    const m = COMMUNITY.exec(community);
    if (m === null || Number(m[1]) > 65_535 || Number(m[2]) > 65_535) {
      return refuse(`community ${JSON.stringify(community)}: expected "ASN:value" with both parts 0-65535, such as "64512:100"`);
    }
  }
  return { ok: true, prefix: c.cidr };
}

/**
 * The next hop a path carries: the Network's own when it is of the prefix's family, otherwise
 * "self" (`0.0.0.0` / `::`), which gobgpd replaces with its session address toward each peer.
 */
export function nextHopFor(family: Family, nextHop: string | undefined): string {
  if (nextHop !== undefined && ipFamily(nextHop) === family) return nextHop;
  return family === 4 ? '0.0.0.0' : '::';
}

// ---- announcements -----------------------------------------------------------------------------

export interface AnnounceChange {
  readonly path: BgpPath;
  readonly owner: PrefixOwner;
  /** A path of Causeway's for this prefix exists with other attributes (next hop, communities). */
  readonly replaces: boolean;
}

export interface AnnouncementConflict {
  readonly prefix: string;
  readonly owner: PrefixOwner;
  readonly message: string;
}

export interface AnnouncementDiff {
  readonly announce: readonly AnnounceChange[];
  readonly withdraw: readonly BgpPath[];
  readonly unchanged: number;
  readonly refused: readonly RefusedAnnouncement[];
  /** Planned prefixes gobgpd already originates outside Causeway (by hand, another Network): left alone. */
  readonly conflicts: readonly AnnouncementConflict[];
}

export interface AnnouncementDiffInput {
  readonly network: string;
  readonly asn: number;
  readonly announcements: readonly Announcement[];
  /** gobgpd's global RIB, both families. */
  readonly observed: readonly ObservedBgpPath[];
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

export function diffAnnouncements(input: AnnouncementDiffInput): AnnouncementDiff {
  const marker = pathMarker(input.network, input.asn);
  const ours = new Map<string, ObservedBgpPath>();
  const foreignLocal = new Set<string>();
  for (const p of input.observed) {
    if (isNetworksPath(p, input.network)) ours.set(p.prefix, p);
    else if (p.local) foreignLocal.add(p.prefix);
  }

  const announce: AnnounceChange[] = [];
  const refused: RefusedAnnouncement[] = [];
  const conflicts: AnnouncementConflict[] = [];
  const wanted = new Set<string>();
  let unchanged = 0;
  for (const a of input.announcements) {
    const checked = checkAnnouncement(a);
    if (!checked.ok) {
      refused.push({ prefix: a.prefix, owner: a.owner, message: checked.message });
      continue;
    }
    if (wanted.has(checked.prefix)) continue;
    wanted.add(checked.prefix);
    const path: BgpPath = {
      prefix: checked.prefix,
      family: a.family,
      nextHop: nextHopFor(a.family, a.nextHop),
      communities: [...a.communities].sort(),
      largeCommunities: [marker],
      origin: 'igp',
    };
    const have = ours.get(checked.prefix);
    if (have === undefined && foreignLocal.has(checked.prefix)) {
      // An AddPath would replace that path (same origin: this gobgpd): it is not Causeway's to replace.
      conflicts.push({
        prefix: checked.prefix,
        owner: a.owner,
        message: `Network "${input.network}": ${checked.prefix} of ${ownerText(a.owner)} is already originated by this gobgpd outside Causeway (by hand or by another Network): left alone`,
      });
      continue;
    }
    if (have !== undefined && have.nextHop === path.nextHop && sameSet(have.communities, path.communities) && have.origin === path.origin) {
      unchanged += 1;
      continue;
    }
    announce.push({ path, owner: a.owner, replaces: have !== undefined });
  }
  const withdraw = [...ours.values()].filter((p) => !wanted.has(p.prefix));
  return { announce, withdraw, unchanged, refused, conflicts };
}

// ---- neighbors ---------------------------------------------------------------------------------

export interface PeerConflict {
  readonly address: string;
  readonly message: string;
}

export interface PeerDiff {
  readonly add: readonly BgpPeerSpec[];
  /** Causeway's neighbors to delete: no longer wanted, or wanted with another ASN or port (then added again). */
  readonly delete: readonly string[];
  /** A neighbor at a wanted address that is not Causeway's and differs from what the Network asks: left alone. */
  readonly conflicts: readonly PeerConflict[];
}

export interface PeerDiffInput {
  readonly network: string;
  readonly peers: readonly BgpPeer[];
  readonly observed: readonly BgpPeerInfo[];
  readonly connectRetrySeconds?: number;
}

const portOf = (p: number | undefined): number => (p === undefined || p === 0 ? 179 : p);

export function diffPeers(input: PeerDiffInput): PeerDiff {
  const description = peerDescription(input.network);
  const byAddress = new Map(input.observed.map((p) => [p.address, p]));
  const wanted = new Set(input.peers.map((p) => p.address));
  const add: BgpPeerSpec[] = [];
  const del: string[] = [];
  const conflicts: PeerConflict[] = [];
  const spec = (p: BgpPeer): BgpPeerSpec => ({
    address: p.address,
    asn: p.asn,
    port: portOf(p.port),
    description,
    ...(input.connectRetrySeconds !== undefined ? { connectRetrySeconds: input.connectRetrySeconds } : {}),
  });
  for (const p of input.peers) {
    const have = byAddress.get(p.address);
    if (have === undefined) {
      add.push(spec(p));
      continue;
    }
    const same = have.asn === p.asn && portOf(have.port) === portOf(p.port);
    if (same) continue;
    if (have.description === description) {
      del.push(p.address);
      add.push(spec(p));
    } else {
      conflicts.push({
        address: p.address,
        message: `Network "${input.network}": peer ${p.address} is configured in gobgpd outside Causeway (description ${JSON.stringify(have.description)}) with AS ${have.asn} port ${portOf(have.port)}, not AS ${p.asn} port ${portOf(p.port)}: left alone`,
      });
    }
  }
  for (const o of input.observed) if (o.description === description && !wanted.has(o.address)) del.push(o.address);
  return { add, delete: del, conflicts };
}
