// `causeway explain`: can A reach B, and which layer and rule decides? One entry per layer, in
// the order traffic meets them — the service's export and import, a route between the domains,
// the cloud firewalls on the path, and GlobalPolicy (the reference evaluator). Plain data in and
// out: what `causeway explain -o json` prints is this function's result.
import { cidrContains, cidrsOverlap, ipFamily } from '../api/cidr.ts';
import type { FirewallIntent, RouteIntent } from '../../providers/model/model.ts';
import type { RoutePlan } from '../../providers/model/plan-types.ts';
import { evaluate, isPrepared, prepare, serviceBackends, type Prepared } from './evaluate.ts';
import type { ClusterInfo, DecidedBy, Endpoint, Flow, Policy, Verdict, World } from './model.ts';

export const ExplainLayer = { ExportImport: 'export-import', Route: 'route', Firewall: 'cloud-firewall', Policy: 'policy' } as const;
export type ExplainLayer = (typeof ExplainLayer)[keyof typeof ExplainLayer];

export interface ChainEntry {
  readonly layer: ExplainLayer;
  readonly result: 'allowed' | 'denied' | 'not-applicable';
  readonly detail: string;
}

export interface Explanation {
  readonly verdict: Verdict;
  readonly chain: readonly ChainEntry[];
  readonly decidedBy?: DecidedBy;
  /** The first layer that denies, when one does. */
  readonly deniedAt?: ExplainLayer;
}

export interface ExplainInputs {
  readonly policies: readonly Policy[] | Prepared;
  readonly world: World;
  /** The route plan (every domain's routes and firewall intents); without it the route and firewall layers say so. */
  readonly routes?: RoutePlan | undefined;
}

interface Target {
  readonly cluster: ClusterInfo;
  readonly ip: string | undefined;
}

function addressOf(e: Endpoint, world: World): string | undefined {
  if (e.ip !== undefined) return e.ip;
  if (e.kind !== 'workload') return undefined;
  return world.workloads.find((w) => w.cluster === e.cluster && w.namespace === e.namespace && JSON.stringify(w.labels) === JSON.stringify(e.labels))?.ips[0];
}

/** Does the prefix list cover the address (or, unknown address, the cluster's pod CIDRs)? */
function covers(prefixes: readonly string[], ip: string | undefined, cluster: ClusterInfo | undefined): boolean {
  if (ip !== undefined) return prefixes.some((p) => ipFamily(p) === ipFamily(ip) && cidrContains(p, ip));
  return (cluster?.podCIDRs ?? []).some((c) => prefixes.some((p) => cidrsOverlap(p, c)));
}

function routeTo(plan: RoutePlan, fromDomain: string, to: Target): RouteIntent | undefined {
  const d = plan.domains.find((x) => x.domain === fromDomain);
  return d?.routes.find(
    (r) =>
      covers([r.destination], to.ip, to.cluster) || r.covers.some((c) => c.owner.kind === 'cluster' && c.owner.name === to.cluster.name && c.role === 'pods'),
  );
}

function firewallAllows(
  intents: readonly FirewallIntent[],
  direction: 'ingress' | 'egress',
  peer: string,
  flow: Flow,
  src: Target,
  dst: Target,
): FirewallIntent | undefined {
  return intents.find(
    (f) =>
      f.direction === direction &&
      f.peerDomain === peer &&
      f.protocol === flow.protocol &&
      flow.port >= f.fromPort &&
      flow.port <= f.toPort &&
      covers(f.sources, src.ip, src.cluster) &&
      covers(f.destinations, dst.ip, dst.cluster),
  );
}

export function explain(inputs: ExplainInputs, flow: Flow): Explanation {
  const { world } = inputs;
  const prepared = isPrepared(inputs.policies) ? inputs.policies : prepare(inputs.policies, world);
  const clusters = prepared.index.clusters;
  const chain: ChainEntry[] = [];
  const src: Target | undefined =
    flow.from.kind === 'workload' ? { cluster: clusters.get(flow.from.cluster) as ClusterInfo, ip: addressOf(flow.from, world) } : undefined;

  // 1. export and import
  let targets: Target[] = [];
  if (flow.to.kind === 'service') {
    const key = `${flow.to.namespace}/${flow.to.name}`;
    const s = prepared.index.services.get(key);
    if (s === undefined || s.exporters.length === 0) {
      chain.push({ layer: 'export-import', result: 'denied', detail: `${key} is not exported by any cluster` });
    } else if (flow.from.kind === 'workload' && s.consumers !== undefined && !s.consumers.includes(flow.from.cluster)) {
      chain.push({
        layer: 'export-import',
        result: 'denied',
        detail: `${key} is exported by ${s.exporters.join(', ')} but not imported in ${flow.from.cluster}`,
      });
    } else {
      chain.push({
        layer: 'export-import',
        result: 'allowed',
        detail: `${key} is exported by ${s.exporters.join(', ')}${flow.from.kind === 'workload' ? ` and imported in ${flow.from.cluster}` : ''}`,
      });
      targets = serviceBackends(s, world).flatMap((b) => {
        const c = clusters.get(b.cluster);
        return c === undefined ? [] : [{ cluster: c, ip: b.ips[0] }];
      });
    }
  } else {
    chain.push({ layer: 'export-import', result: 'not-applicable', detail: 'the destination is not a service' });
    if (flow.to.kind === 'workload') {
      const c = clusters.get(flow.to.cluster);
      if (c !== undefined) targets = [{ cluster: c, ip: addressOf(flow.to, world) }];
    }
  }

  // 2. route, 3. cloud firewall: per destination cluster; the service is reachable when one of its pods is.
  if (src === undefined || targets.length === 0 || inputs.routes === undefined || chain[0]?.result === 'denied') {
    const why =
      chain[0]?.result === 'denied'
        ? 'not reached: the service is not imported'
        : src === undefined
          ? 'the source is outside the clusterset'
          : targets.length === 0
            ? 'no destination pods in the clusterset'
            : 'no route plan given';
    chain.push({ layer: 'route', result: 'not-applicable', detail: why });
    chain.push({ layer: 'cloud-firewall', result: 'not-applicable', detail: why });
  } else {
    const routes = inputs.routes;
    const routeDetails: string[] = [];
    const fwDetails: string[] = [];
    let routed = false;
    let fwOk = false;
    let fwApplies = false;
    for (const t of targets) {
      const a = src.cluster.network;
      const b = t.cluster.network;
      if (a === undefined || b === undefined) continue;
      if (a === b) {
        routed = true;
        routeDetails.push(`${t.cluster.name}: same network ${a}`);
        fwDetails.push(`${t.cluster.name}: same network, no cross-domain firewall`);
        fwOk = true;
        continue;
      }
      const there = routeTo(routes, a, t);
      const back = routeTo(routes, b, src);
      if (there === undefined || back === undefined) {
        const un = routes.unreachable.find((u) => (u.from === a && u.to === b) || (u.from === b && u.to === a));
        routeDetails.push(
          `${t.cluster.name}: ${there === undefined ? `no route in ${a} towards ${b}` : `no return route in ${b} towards ${a}`}${un === undefined ? '' : ` (${un.message})`}`,
        );
        continue;
      }
      routed = true;
      routeDetails.push(`${t.cluster.name}: ${a} → ${b} over ${there.link} (${there.mode} via ${there.via.kind} ${there.via.id}), back over ${back.link}`);
      const checks: string[] = [];
      let ok = true;
      for (const [domain, direction, peer] of [
        [b, 'ingress', a],
        [a, 'egress', b],
      ] as const) {
        const plan = routes.domains.find((d) => d.domain === domain);
        if (plan === undefined || plan.provider === 'onprem') continue;
        fwApplies = true;
        const hit = firewallAllows(plan.firewall, direction, peer, flow, src, t);
        if (hit === undefined) ok = false;
        checks.push(
          hit === undefined
            ? `${domain} ${direction}: no rule opens ${flow.protocol} ${flow.port}`
            : `${domain} ${direction}: open ${hit.protocol} ${hit.fromPort}-${hit.toPort} for ${hit.services.join(', ')}`,
        );
      }
      if (ok) fwOk = true;
      fwDetails.push(`${t.cluster.name}: ${checks.length === 0 ? 'no cloud firewall on the path' : checks.join('; ')}`);
    }
    // One line per distinct path: several pods behind a service usually share one.
    chain.push({
      layer: 'route',
      result: routed ? 'allowed' : 'denied',
      detail: [...new Set(routeDetails)].join('; ') || 'no destination with a known network',
    });
    chain.push({
      layer: 'cloud-firewall',
      result: !routed ? 'not-applicable' : !fwApplies || fwOk ? (fwApplies ? 'allowed' : 'not-applicable') : 'denied',
      detail: [...new Set(fwDetails)].join('; ') || 'not reached',
    });
  }

  // 4. policy
  const e = evaluate(prepared, world, flow);
  const d = e.decidedBy;
  chain.push({
    layer: 'policy',
    result: e.verdict,
    detail:
      d === undefined
        ? (e.trace[e.trace.length - 1]?.detail ?? '')
        : `${d.policy} (${d.tier} tier) rule ${String(d.rule)} ${e.verdict === 'allowed' ? 'allows' : 'denies'} it`,
  });
  const denied = chain.find((c) => c.result === 'denied');
  return {
    verdict: denied === undefined ? 'allowed' : 'denied',
    chain,
    ...(d === undefined ? {} : { decidedBy: d }),
    ...(denied === undefined ? {} : { deniedAt: denied.layer }),
  };
}
