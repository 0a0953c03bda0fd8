// The GCP provider adapter: `reconcile(domain, signal)` observes one VPC network (every list page by
// page through the domain's budget: the network, its subnetworks, routes and firewall rules, the
// Cloud Router and the VPN tunnels the Network names), plans the domain with the route planner,
// diffs the plan against what Causeway owns there, and applies the difference, following every
// Compute operation until it is DONE. A kernel Controller keyed by domain name drives it
// (level-based: it re-reads everything each time, and a second run changes nothing).
//
// GCP has no DryRun: with `dryRun`, the adapter observes (which proves that the network, router and
// tunnels exist and may be read) and reports each change it would make as `would-succeed`, calling
// nothing that changes anything.
//
// Ownership (gcp-diff.ts): routes and rules named AND described as this Network's; advertised
// ranges described `causeway:<Network>`. Nothing else is changed.
import type { Condition } from '../../controlplane/api/conditions.ts';
import { failureOf, type Failure } from '../model/provider-errors.ts';
import { CausewayError, NotFoundError } from '../../controlplane/api/errors.ts';
import { systemClock, type Clock } from '../../controlplane/kernel/clock.ts';
import { NetworkConditionType, NetworkReason } from '../model/conditions.ts';
import type { IntentSource } from '../model/intents.ts';
import type { GcpDomain, NetworkModel } from '../model/model.ts';
import type { AppliedChange, DomainAdapter, DomainReconcileResult, ReconcileOptions } from '../model/reconcile.ts';
import { planRoutes, type PlanProblem } from '../model/route-plan.ts';
import {
  DomainBudgets,
  CallBudgetExhaustedError,
  type CallBudgetOptions,
  type CallBudgetStats,
  type CallGate,
  type ComputeApi,
  type NetworkGcp,
  type OperationRef,
  type RouterGcp,
} from './compute-api.ts';
import { firewallTask, inParallel, rangeKey, routerTask, routeKey, routeTask, ruleKey, type ApplyContext, type Task } from './gcp-apply.ts';
import { desiredFirewalls, desiredRanges, desiredRoutes, diffGcp, observedPrefixes, observedTable, ownerMarker, partialUrl } from './gcp-diff.ts';

export interface GcpVpcAdapterOptions {
  /** The Compute port for a domain, its calls passing `gate` (the domain's budget). */
  readonly api: (domain: GcpDomain, gate: CallGate) => ComputeApi;
  readonly intents: IntentSource;
  readonly budget?: CallBudgetOptions;
  /** Periodic drift detection; default 60 s. */
  readonly driftIntervalMs?: number;
  /** Compute operations one domain has in flight at once; default 4. */
  readonly parallelism?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
}

interface Observed {
  readonly network: NetworkGcp;
  readonly subnetworks: Awaited<ReturnType<ComputeApi['listSubnetworks']>>;
  readonly routes: Awaited<ReturnType<ComputeApi['listRoutes']>>;
  readonly firewalls: Awaited<ReturnType<ComputeApi['listFirewalls']>>;
  readonly router: RouterGcp | undefined;
}

const regionOfLink = (link: string): string | undefined => /\/regions\/([^/]+)\//.exec(link)?.[1];
const lastSegment = (link: string): string => link.slice(link.lastIndexOf('/') + 1);

/** The Cloud VPN tunnels the domain's static links point at (`projects/P/regions/R/vpnTunnels/T`). */
function tunnelsOf(model: NetworkModel, domain: GcpDomain): { region: string; name: string }[] {
  const out = new Map<string, { region: string; name: string }>();
  for (const l of model.links) {
    if (l.from !== domain.name || l.routing.mode !== 'static' || l.routing.via.kind !== 'vpn-gateway') continue;
    const m = /^projects\/[^/]+\/regions\/([^/]+)\/vpnTunnels\/([^/]+)$/.exec(l.routing.via.id);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(l.routing.via.id, { region: m[1], name: m[2] });
  }
  return [...out.values()];
}

export class GcpVpcAdapter implements DomainAdapter {
  private readonly opts: GcpVpcAdapterOptions;
  private readonly clock: Clock;
  private readonly budgets: DomainBudgets;
  /** Per domain: the route, rule and range keys in place after the last applied reconcile (for drift). */
  private readonly inPlace = new Map<string, Set<string>>();
  private readonly conditions = new Map<string, Condition>();

  constructor(options: GcpVpcAdapterOptions) {
    this.opts = options;
    this.clock = options.clock ?? systemClock;
    this.budgets = new DomainBudgets(options.budget, this.clock, options.random);
  }

  /** The call budget of a domain (calls, throttled calls, time waited, current rate). */
  budgetStats(domain: string): CallBudgetStats | undefined {
    return this.budgets.stats(domain);
  }

  async reconcile(domainName: string, signal: AbortSignal, options: ReconcileOptions = {}): Promise<DomainReconcileResult> {
    const dryRun = options.dryRun === true;
    const budget = this.budgets.for(domainName);
    budget.begin();
    const callsBefore = budget.stats().calls;
    let mutatingCalls = 0;
    const drift = this.opts.driftIntervalMs ?? 60_000;
    const result = (
      r: Omit<DomainReconcileResult, 'domain' | 'dryRun' | 'calls' | 'mutatingCalls' | 'conditions' | 'requeueAfterMs'>,
      failure: Failure | undefined,
    ): DomainReconcileResult => ({
      domain: domainName,
      dryRun,
      ...r,
      conditions: [this.condition(domainName, failure ?? problemFailure(r.problems))],
      calls: budget.stats().calls - callsBefore,
      mutatingCalls,
      requeueAfterMs: r.retry ? Math.min(drift, 1000) : drift,
    });
    const nothing = { changes: [], unchanged: { routes: 0, rules: 0, announcements: 0 }, drift: 0, problems: [] };

    const inputs = await this.opts.intents.current(signal);
    const domain = inputs.model.domains.find((d) => d.name === domainName);
    if (domain?.provider !== 'gcp') {
      const f = { reason: NetworkReason.ProviderObjectNotFound, message: `Network "${domainName}" is not a GCP network the hub knows`, retry: false };
      return result({ ...nothing, retry: false }, f);
    }
    const api = this.opts.api(domain, budget);
    const project = domain.project;

    // ---- observe: everything the Network names must exist before anything is changed ----
    let observed: Observed;
    try {
      observed = await this.observe(domain, api, tunnelsOf(inputs.model, domain), signal);
    } catch (err) {
      const f = failureOf(err, `Network "${domain.name}"`);
      return result({ ...nothing, retry: f.retry }, f);
    }
    const status = { observedPrefixes: observedPrefixes(observed.subnetworks) };

    // ---- plan and diff ----
    const plan = planRoutes(inputs.model, {
      services: inputs.services,
      ...(inputs.podRoutes !== undefined ? { podRoutes: inputs.podRoutes } : {}),
      observed: { [domain.name]: { routeTables: [observedTable(domain, observed.routes)] } },
      only: [domain.name],
    });
    const dp = plan.domains[0];
    const problems = dp?.problems ?? [];
    const selfLink = observed.network.selfLink;
    const wantedRoutes = desiredRoutes(domain, dp?.routes ?? [], selfLink);
    const wantedRules = desiredFirewalls(domain, dp?.firewall ?? [], selfLink);
    const wantedRanges = desiredRanges(domain, dp?.announcements ?? []);
    const changes = diffGcp({
      network: domain.name,
      routes: observed.routes,
      firewalls: observed.firewalls,
      router: observed.router,
      desiredRoutes: wantedRoutes,
      desiredFirewalls: wantedRules,
      desiredRanges: wantedRanges,
    });
    const failures: Failure[] = [];
    for (const b of changes.blocked) {
      failures.push({
        reason: NetworkReason.ProviderRefused,
        message: `Network "${domain.name}": a ${b.kind === 'route' ? 'route' : 'firewall rule'} named ${b.name} exists in project ${project} and is not Causeway's (its description does not start with "${ownerMarker(domain.name)}"); left alone`,
        retry: false,
      });
    }
    const routerPath = domain.cloudRouter === undefined ? '' : `projects/${project}/regions/${domain.cloudRouter.region}/routers/${domain.cloudRouter.name}`;
    if (wantedRanges.length > 0 && observed.router !== undefined && observed.router.bgp === undefined) {
      failures.push({
        reason: NetworkReason.ProviderRefused,
        message: `Network "${domain.name}": Cloud Router ${routerPath} has no BGP configuration, so ${wantedRanges.join(', ')} cannot be advertised from it`,
        retry: false,
      });
    }

    // ---- apply ----
    const networkPath = partialUrl(selfLink);
    const wait = async (start: () => Promise<OperationRef>): Promise<void> => {
      mutatingCalls += 1;
      const op = await start();
      await api.waitOperation(project, op, signal);
    };
    const ctx: ApplyContext = { project, networkPath, routerPath, domain, wantedRanges, api, wait, signal };
    const phase1: Task[] = [];
    const phase2: Task[] = [];
    for (const c of changes.routes) (c.op === 'delete' ? phase2 : phase1).push(routeTask(c, ctx));
    for (const c of changes.firewalls) (c.op === 'delete' ? phase2 : phase1).push(firewallTask(c, ctx));
    if (changes.router !== undefined && domain.cloudRouter !== undefined) {
      phase1.push(routerTask(changes.router, ctx));
    }

    const before = this.inPlace.get(domain.name) ?? new Set<string>();
    const applied: AppliedChange[] = [];
    const notInPlace = new Set<string>();
    let stop: Failure | undefined;
    let repaired = 0;
    const execute = async (task: Task): Promise<{ changes: AppliedChange[]; failure?: Failure }> => {
      if (stop !== undefined) return { changes: task.changes.map((c) => ({ ...c, outcome: 'skipped', drift: false })) };
      if (dryRun) return { changes: task.changes.map((c) => ({ ...c, outcome: 'would-succeed', drift: false })) };
      try {
        await task.run();
        const drifted = task.keys.filter((k) => before.has(k)).length;
        repaired += drifted;
        return { changes: task.changes.map((c) => ({ ...c, outcome: 'done', drift: drifted > 0 })) };
      } catch (err) {
        if (!(err instanceof CausewayError)) throw err;
        const first = task.changes[0];
        const f = failureOf(err, `${first?.kind ?? 'change'} ${first?.what ?? ''} in ${first?.object ?? ''}`, first?.kind);
        for (const k of task.keys) notInPlace.add(k);
        if (err instanceof CallBudgetExhaustedError || signal.aborted) stop = f;
        return { changes: task.changes.map((c) => ({ ...c, outcome: 'failed', error: f.message, drift: false })), failure: f };
      }
    };
    // Make before break: creations, replacements and advertisements first, deletions after. The
    // results keep the tasks' order, so that the same failures make the same condition.
    for (const phase of [phase1, phase2]) {
      for (const r of await inParallel(phase, this.opts.parallelism ?? 4, execute)) {
        applied.push(...r.changes);
        if (r.failure !== undefined) failures.push(r.failure);
      }
    }

    if (!dryRun && stop === undefined) {
      const keys = new Set<string>([
        ...wantedRoutes.map((s) => routeKey(s.name)),
        ...wantedRules.map(ruleKey),
        ...(observed.router?.bgp !== undefined ? wantedRanges.map(rangeKey) : []),
      ]);
      // What failed is not in place: putting it there later is not a repair of drift.
      for (const k of notInPlace) keys.delete(k);
      this.inPlace.set(domain.name, keys);
    }

    const failure = stop ?? failures[0];
    return result({ changes: applied, unchanged: changes.unchanged, drift: repaired, problems, retry: failure?.retry ?? false, status }, failure);
  }

  private async observe(domain: GcpDomain, api: ComputeApi, tunnels: readonly { region: string; name: string }[], signal: AbortSignal): Promise<Observed> {
    const project = domain.project;
    const network = await api.getNetwork(project, domain.network, signal);
    const regions = [...new Set(network.subnetworks.map(regionOfLink).filter((r): r is string => r !== undefined))].sort();
    const subnetworks = [];
    for (const region of regions) subnetworks.push(...(await api.listSubnetworks(project, region, network.selfLink, signal)));
    const routes = await api.listRoutes(project, network.selfLink, signal);
    const firewalls = await api.listFirewalls(project, network.selfLink, signal);
    let router: RouterGcp | undefined;
    if (domain.cloudRouter !== undefined) {
      const { region, name } = domain.cloudRouter;
      router = await api.getRouter(project, region, name, signal);
      if (partialUrl(router.network) !== partialUrl(network.selfLink)) {
        throw new NotFoundError(`Cloud Router ${region}/${name} of project ${project} is on network ${lastSegment(router.network)}, not ${domain.network}`);
      }
    }
    for (const t of tunnels) await api.getVpnTunnel(project, t.region, t.name, signal);
    return { network, subnetworks, routes, firewalls, router };
  }

  private condition(domain: string, failure: Failure | undefined): Condition {
    const next: Condition = {
      type: NetworkConditionType.Degraded,
      status: failure === undefined ? 'False' : 'True',
      reason: failure?.reason ?? NetworkReason.Reconciled,
      message: failure?.message ?? 'every route, firewall rule and advertised range Causeway owns matches the plan',
      lastTransitionTime: new Date(this.clock.now()).toISOString(),
    };
    const prev = this.conditions.get(domain);
    const kept = prev !== undefined && prev.status === next.status ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
    this.conditions.set(domain, kept);
    return kept;
  }
}

function problemFailure(problems: readonly PlanProblem[]): Failure | undefined {
  const first = problems[0];
  if (first === undefined) return undefined;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return { reason: first.reason, message: `${first.message}${more}`, retry: false };
}
