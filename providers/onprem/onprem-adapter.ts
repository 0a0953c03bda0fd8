// The on-prem provider adapter: `reconcile(domain, signal)` observes the site's gobgpd (its global
// config, its neighbors, its global RIB), plans the domain with the route planner, diffs the plan's
// announcements against the paths Causeway owns there, and applies the difference through GoBGP's
// API — or, with `dryRun`, reports what it would do and changes nothing. It returns what it did, the
// BGP sessions' state (for the Network's status) and the domain's `Degraded` condition; a kernel
// Controller keyed by domain name drives it (level-based: a second run changes nothing).
//
// Ownership: paths carrying this Network's marker (onprem-diff.ts) and neighbors described as
// `causeway:<Network>`. Nothing else in gobgpd is changed, and BIRD/the fabric is never touched.
import { failureOf, type Failure } from '../model/provider-errors.ts';
import type { Condition } from '../../controlplane/api/conditions.ts';
import { ipFamily } from '../../controlplane/api/cidr.ts';
import { systemClock, type Clock } from '../../controlplane/kernel/clock.ts';
import { NetworkConditionType, NetworkReason } from '../model/conditions.ts';
import type { IntentSource } from '../model/intents.ts';
import type { OnpremDomain } from '../model/model.ts';
import { planRoutes } from '../model/route-plan.ts';
import type { AppliedChange, DomainAdapter, DomainReconcileResult, MutationOutcome, ReconcileOptions } from '../model/reconcile.ts';
import { SessionState, type BgpGlobal, type BgpPath, type BgpPeerInfo, type GobgpApi, type ObservedBgpPath } from './gobgp-api.ts';
import { diffAnnouncements, diffPeers, peerDescription } from './onprem-diff.ts';

export interface OnpremBgpAdapterOptions {
  /** The GoBGP port of a domain's gobgpd (one client per gobgpd address, owned by the caller). */
  readonly api: (domain: OnpremDomain) => GobgpApi;
  readonly intents: IntentSource;
  /** Router id to start an unstarted gobgpd with; default the Network's next hop when it is IPv4. */
  readonly routerId?: (domain: OnpremDomain) => string | undefined;
  /** BGP port an unstarted gobgpd is started on; default -1 (it does not listen, it connects to its peers). */
  readonly listenPort?: number;
  /** Seconds between gobgpd's connection attempts to a peer Causeway adds; default 5 (gobgpd's own is 120). */
  readonly connectRetrySeconds?: number;
  /** Periodic drift detection; default 60 s. */
  readonly driftIntervalMs?: number;
  /** Requeue while a session is not established, so the Network's status follows it; default 10 s. */
  readonly sessionRecheckMs?: number;
  readonly clock?: Clock;
}

/** A peer's session as the Network's status shows it (`status.bgp.peers`). */
export interface PeerStatus {
  readonly address: string;
  readonly asn: number;
  readonly port: number;
  readonly state: SessionState | 'not-configured';
  readonly uptime?: string;
  readonly received?: number;
  readonly accepted?: number;
  readonly advertised?: number;
  /** Causeway configured this neighbor (false: it was there already, configured outside Causeway). */
  readonly managed: boolean;
}

export interface PeerChange {
  readonly op: 'add' | 'delete' | 'start-bgp';
  readonly what: string;
  readonly outcome: MutationOutcome | 'failed' | 'skipped';
  readonly error?: string;
}

const pathKey = (p: BgpPath): string => `${p.prefix}|${p.nextHop}|${[...p.communities].sort().join(',')}`;

export class OnpremBgpAdapter implements DomainAdapter {
  private readonly opts: OnpremBgpAdapterOptions;
  private readonly clock: Clock;
  /** Per domain: the paths (prefix, next hop, communities) in place after the last applied reconcile (for drift). */
  private readonly inPlace = new Map<string, Set<string>>();
  private readonly conditions = new Map<string, Condition>();

  constructor(options: OnpremBgpAdapterOptions) {
    this.opts = options;
    this.clock = options.clock ?? systemClock;
  }

  async reconcile(domainName: string, signal: AbortSignal, options: ReconcileOptions = {}): Promise<DomainReconcileResult> {
    const dryRun = options.dryRun === true;
    const driftMs = this.opts.driftIntervalMs ?? 60_000;
    let calls = 0;
    let mutatingCalls = 0;
    const read = async <T>(fn: () => Promise<T>): Promise<T> => {
      calls += 1;
      return fn();
    };
    const result = (
      r: Omit<DomainReconcileResult, 'domain' | 'dryRun' | 'calls' | 'mutatingCalls' | 'conditions' | 'requeueAfterMs' | 'problems'> & {
        sessionsDown?: boolean;
      },
      failures: readonly Failure[],
    ): DomainReconcileResult => {
      const { sessionsDown, ...rest } = r;
      const condition = this.condition(domainName, failures);
      return {
        domain: domainName,
        dryRun,
        ...rest,
        problems: [],
        conditions: [condition],
        calls,
        mutatingCalls,
        requeueAfterMs: r.retry ? Math.min(driftMs, 1000) : sessionsDown === true ? Math.min(driftMs, this.opts.sessionRecheckMs ?? 10_000) : driftMs,
      };
    };
    const nothing = { changes: [], unchanged: { routes: 0, rules: 0, announcements: 0 }, drift: 0 };

    const inputs = await this.opts.intents.current(signal);
    const domain = inputs.model.domains.find((d) => d.name === domainName);
    if (domain?.provider !== 'onprem') {
      const f = { reason: NetworkReason.ProviderObjectNotFound, message: `Network "${domainName}" is not an on-prem network the hub knows`, retry: false };
      return result({ ...nothing, retry: false }, [f]);
    }
    const api = this.opts.api(domain);
    const where = `Network "${domain.name}": gobgpd ${api.address}`;
    const object = `gobgpd ${api.address}`;

    // ---- observe ----
    let global: BgpGlobal;
    let peers: readonly BgpPeerInfo[];
    let paths: readonly ObservedBgpPath[];
    try {
      global = await read(() => api.getBgp({ signal }));
      peers = await read(() => api.listPeers({ signal }));
      paths = global.asn === 0 ? [] : await read(() => api.listPaths({ signal }));
    } catch (err) {
      return result({ ...nothing, retry: true }, [failureOf(err, where)]);
    }
    if (global.asn !== 0 && global.asn !== domain.asn) {
      // Announcing under another AS would lie to the fabric about where the prefixes come from.
      const f = {
        reason: NetworkReason.BgpAsnMismatch,
        message: `${where} runs AS ${global.asn} (router id ${global.routerId}), but Network "${domain.name}" has spec.onprem.asn ${domain.asn}: nothing announced; fix one of them`,
        retry: false,
      };
      return result({ ...nothing, retry: false, status: this.status(api.address, global, domain, peers, [], [], 0) }, [f]);
    }

    // ---- plan and diff ----
    const plan = planRoutes(inputs.model, {
      services: inputs.services,
      ...(inputs.podRoutes !== undefined ? { podRoutes: inputs.podRoutes } : {}),
      only: [domain.name],
    });
    const announcements = plan.domains[0]?.announcements ?? [];
    const diff = diffAnnouncements({ network: domain.name, asn: domain.asn, announcements, observed: paths });
    const peerDiff = diffPeers({
      network: domain.name,
      peers: domain.peers,
      observed: peers,
      ...(this.opts.connectRetrySeconds !== undefined ? { connectRetrySeconds: this.opts.connectRetrySeconds } : {}),
    });

    // ---- apply: start, make (neighbors, announcements), then break (withdrawals, neighbors) ----
    const failures: Failure[] = [];
    let stop: Failure | undefined;
    const peerChanges: PeerChange[] = [];
    const changes: AppliedChange[] = [];
    const before = this.inPlace.get(domain.name) ?? new Set<string>();
    let repaired = 0;
    const mutate = async (fn: () => Promise<number>, context: string): Promise<MutationOutcome | 'skipped' | Failure> => {
      if (stop !== undefined) return 'skipped';
      if (dryRun) return 'would-succeed';
      try {
        const n = await fn();
        calls += n;
        mutatingCalls += n;
        return 'done';
      } catch (err) {
        mutatingCalls += 1;
        calls += 1;
        const f = failureOf(err, `${where}: ${context}`);
        failures.push(f);
        if (f.retry) stop = f;
        return f;
      }
    };
    const outcomeOf = (o: MutationOutcome | 'skipped' | Failure): { outcome: AppliedChange['outcome']; error?: string } =>
      typeof o === 'string' ? { outcome: o } : { outcome: 'failed', error: o.message };

    if (global.asn === 0) {
      const routerId = this.opts.routerId?.(domain) ?? (domain.nextHop !== undefined && ipFamily(domain.nextHop) === 4 ? domain.nextHop : undefined);
      if (routerId === undefined) {
        const f = {
          reason: NetworkReason.BgpNotConfigured,
          message: `${where} has no global BGP config, and Network "${domain.name}" has no IPv4 spec.onprem.nextHop to start it with as router id: give gobgpd a config file ([global.config] as, router-id) or the Network an IPv4 next hop`,
          retry: false,
        };
        return result({ ...nothing, retry: false, status: this.status(api.address, global, domain, peers, [], [], 0) }, [f]);
      }
      const spec = { asn: domain.asn, routerId, listenPort: this.opts.listenPort ?? -1 };
      const o = await mutate(async () => {
        await api.startBgp(spec, { signal });
        return 1;
      }, `StartBgp AS ${spec.asn} router id ${routerId}`);
      peerChanges.push({ op: 'start-bgp', what: `AS ${spec.asn} router id ${routerId}`, ...outcomeOf(o) });
      if (typeof o !== 'string' || o === 'skipped') {
        const f = typeof o === 'string' ? undefined : o;
        return result(
          { ...nothing, retry: f?.retry ?? true, status: this.status(api.address, global, domain, peers, peerChanges, [], 0) },
          f === undefined ? [] : [f],
        );
      }
    }

    const replaced = new Set(peerDiff.add.map((p) => p.address));
    for (const address of peerDiff.delete.filter((a) => replaced.has(a))) {
      const o = await mutate(async () => {
        await api.deletePeer(address, { signal });
        return 1;
      }, `DeletePeer ${address} (to add it again with the Network's AS and port)`);
      peerChanges.push({ op: 'delete', what: address, ...outcomeOf(o) });
    }
    for (const p of peerDiff.add) {
      const o = await mutate(
        async () => {
          await api.addPeer(p, { signal });
          return 1;
        },
        `AddPeer ${p.address} AS ${p.asn} port ${p.port ?? 179}`,
      );
      peerChanges.push({ op: 'add', what: `${p.address} AS ${p.asn} port ${p.port ?? 179}`, ...outcomeOf(o) });
    }

    if (diff.announce.length > 0) {
      const o = await mutate(
        () =>
          api.addPaths(
            diff.announce.map((a) => a.path),
            { signal },
          ),
        `AddPath ${diff.announce.map((a) => a.path.prefix).join(', ')}`,
      );
      for (const a of diff.announce) {
        const drifted = o === 'done' && before.has(pathKey(a.path));
        if (drifted) repaired += 1;
        changes.push({ kind: 'announce', object, what: a.path.prefix, ...outcomeOf(o), drift: drifted });
      }
    }
    if (diff.withdraw.length > 0) {
      const o = await mutate(() => api.deletePaths(diff.withdraw, { signal }), `DeletePath ${diff.withdraw.map((p) => p.prefix).join(', ')}`);
      for (const p of diff.withdraw) changes.push({ kind: 'withdraw', object, what: p.prefix, ...outcomeOf(o), drift: false });
    }
    for (const address of peerDiff.delete.filter((a) => !replaced.has(a))) {
      const o = await mutate(async () => {
        await api.deletePeer(address, { signal });
        return 1;
      }, `DeletePeer ${address} (no longer one of the Network's peers)`);
      peerChanges.push({ op: 'delete', what: address, ...outcomeOf(o) });
    }

    if (!dryRun && stop === undefined) {
      const keys = new Set<string>();
      const failed = new Set(changes.filter((c) => c.outcome !== 'done').map((c) => c.what));
      for (const p of paths) if (diff.withdraw.every((w) => w.prefix !== p.prefix)) keys.add(pathKey(p));
      for (const a of diff.announce) if (!failed.has(a.path.prefix)) keys.add(pathKey(a.path));
      // Only paths that are Causeway's count: a foreign path's key is never announced by Causeway.
      this.inPlace.set(domain.name, keys);
    }

    // The sessions as they are now: neighbors just added or replaced show their new state.
    let sessions = peers;
    if (!dryRun && stop === undefined && peerChanges.some((c) => c.outcome === 'done' && c.op !== 'start-bgp')) {
      sessions = await read(() => api.listPeers({ signal })).catch(() => peers);
    }
    const status = this.status(
      api.address,
      global.asn === 0 ? { ...global, asn: domain.asn } : global,
      domain,
      sessions,
      peerChanges,
      diff.refused,
      diff.unchanged + diff.announce.length,
    );
    const down = (status.bgp.peers as readonly PeerStatus[]).filter((p) => p.state !== SessionState.Established);

    const all: Failure[] = [...(stop !== undefined ? [stop] : []), ...failures.filter((f) => f !== stop)];
    if (diff.refused.length > 0) {
      all.push({ reason: NetworkReason.AnnouncementRefused, message: diff.refused.map((r) => r.message).join('; '), retry: false });
    }
    if (diff.conflicts.length > 0) {
      all.push({ reason: NetworkReason.AnnouncementConflict, message: diff.conflicts.map((c) => c.message).join('; '), retry: false });
    }
    if (peerDiff.conflicts.length > 0) {
      all.push({ reason: NetworkReason.BgpPeerConflict, message: peerDiff.conflicts.map((c) => c.message).join('; '), retry: false });
    }
    if (down.length > 0) {
      all.push({
        reason: NetworkReason.BgpSessionDown,
        message: `Network "${domain.name}": BGP session ${down.map((p) => `to ${p.address} (AS ${p.asn}) is ${p.state}`).join(', ')}: its announcements do not reach the fabric`,
        retry: false,
      });
    }
    return result(
      {
        changes,
        unchanged: { routes: 0, rules: 0, announcements: diff.unchanged },
        drift: repaired,
        retry: stop?.retry ?? false,
        status,
        sessionsDown: down.length > 0,
      },
      all,
    );
  }

  private status(
    address: string,
    global: BgpGlobal,
    domain: OnpremDomain,
    observed: readonly BgpPeerInfo[],
    peerChanges: readonly PeerChange[],
    refused: readonly { prefix: string; owner: { kind: string; name: string }; message: string }[],
    announced: number,
  ): { readonly bgp: Readonly<Record<string, unknown>> } {
    const mine = peerDescription(domain.name);
    const byAddress = new Map(observed.map((p) => [p.address, p]));
    const peers: PeerStatus[] = domain.peers.map((p) => {
      const o = byAddress.get(p.address);
      if (o === undefined) return { address: p.address, asn: p.asn, port: p.port ?? 179, state: 'not-configured', managed: false };
      return {
        address: p.address,
        asn: o.asn,
        port: o.port === 0 ? 179 : o.port,
        state: o.state,
        ...(o.uptime !== undefined ? { uptime: o.uptime } : {}),
        received: o.received,
        accepted: o.accepted,
        advertised: o.advertised,
        managed: o.description === mine,
      };
    });
    return {
      bgp: {
        gobgpd: address,
        asn: global.asn,
        routerId: global.routerId,
        peers,
        announced,
        ...(refused.length > 0 ? { refused } : {}),
        ...(peerChanges.length > 0 ? { peerChanges } : {}),
      },
    };
  }

  private condition(domain: string, failures: readonly Failure[]): Condition {
    const first = failures[0];
    const next: Condition = {
      type: NetworkConditionType.Degraded,
      status: first === undefined ? 'False' : 'True',
      reason: first?.reason ?? NetworkReason.Reconciled,
      message: first === undefined ? 'every announcement and BGP session Causeway owns matches the plan' : failures.map((f) => f.message).join('; '),
      lastTransitionTime: new Date(this.clock.now()).toISOString(),
    };
    const prev = this.conditions.get(domain);
    const kept = prev !== undefined && prev.status === next.status ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
    this.conditions.set(domain, kept);
    return kept;
  }
}
