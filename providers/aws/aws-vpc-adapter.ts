// The AWS provider adapter: `reconcile(domain, signal)` observes one VPC (paginated), translates what
// it finds into the model, plans the domain with the route planner, diffs the plan against what
// Causeway owns there, and applies the difference — or, with `dryRun`, asks EC2 whether it would
// succeed (DryRun) and changes nothing. It returns what it did, the plan's problems and the
// domain's `Degraded` condition; a kernel Controller keyed by domain name drives it (level-based:
// it re-reads everything each time, and a second run changes nothing).
//
// Ownership: security-group rules are Causeway's when they carry its tags; routes, which cannot be
// tagged, when the RouteOwnership port holds a record of that exact route. Nothing else is changed.
import { CausewayError, NotFoundError, UnavailableError } from '../../controlplane/api/errors.ts';
import { failureOf, type Failure } from '../model/provider-errors.ts';
import type { Condition } from '../../controlplane/api/conditions.ts';
import { checkCidr } from '../../controlplane/api/cidr.ts';
import { systemClock, type Clock } from '../../controlplane/kernel/clock.ts';
import { NetworkConditionType, NetworkReason } from '../model/conditions.ts';
import type { IntentSource } from '../model/intents.ts';
import type { AwsDomain } from '../model/model.ts';
import type { RouteOwnership, RouteRecord } from '../model/ownership.ts';
import { planRoutes, type PlanProblem } from '../model/route-plan.ts';
import type { AppliedChange, ChangeKind, DomainReconcileResult, ReconcileOptions } from '../model/reconcile.ts';
import { desiredRules, diffAws, managedGroups, managedTables, observedTables, ownerTags, type RouteChange, type RuleChange } from './aws-diff.ts';
import { CallBudgetExhaustedError, DomainBudgets, type CallBudgetOptions, type CallBudgetStats } from '../model/call-budget.ts';
import type { CallGate, Ec2Api, MutationOutcome, RuleSpec } from './ec2-api.ts';

export interface AwsVpcAdapterOptions {
  /** The EC2 port for a domain, its calls passing `gate` (the domain's budget). */
  readonly api: (domain: AwsDomain, gate: CallGate) => Ec2Api;
  readonly ownership: RouteOwnership;
  readonly intents: IntentSource;
  readonly budget?: CallBudgetOptions;
  /** Value of the `causeway.dev/managed-by` tag on Causeway's rules; default `causeway`. */
  readonly owner?: string;
  /** Periodic drift detection; default 60 s. */
  readonly driftIntervalMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
}

// The result types are provider-neutral (every adapter answers them); re-exported for AWS callers.
export type { AppliedChange, ChangeKind, DomainReconcileResult, ReconcileOptions } from '../model/reconcile.ts';

const ruleText = (c: RuleChange): string =>
  c.op === 'authorize'
    ? `${c.egress ? 'egress' : 'ingress'} ${c.rules.map((r) => `${r.protocol}/${r.fromPort}-${r.toPort} ${r.cidrIpv4 ?? r.cidrIpv6 ?? ''}`).join(', ')}`
    : `${c.egress ? 'egress' : 'ingress'} ${c.ruleIds.join(', ')}`;

export class AwsVpcAdapter {
  private readonly opts: AwsVpcAdapterOptions;
  private readonly clock: Clock;
  private readonly owner: string;
  private readonly budgets: DomainBudgets;
  /** Per domain: the route and rule keys in place after the last applied reconcile (for drift). */
  private readonly inPlace = new Map<string, Set<string>>();
  private readonly conditions = new Map<string, Condition>();

  constructor(options: AwsVpcAdapterOptions) {
    this.opts = options;
    this.clock = options.clock ?? systemClock;
    this.budgets = new DomainBudgets(options.budget, this.clock, options.random);
    this.owner = options.owner ?? 'causeway';
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
    ): DomainReconcileResult => {
      const condition = this.condition(domainName, failure ?? problemFailure(r.problems));
      return {
        domain: domainName,
        dryRun,
        ...r,
        conditions: [condition],
        calls: budget.stats().calls - callsBefore,
        mutatingCalls,
        requeueAfterMs: r.retry ? Math.min(drift, 1000) : drift,
      };
    };
    const nothing = { changes: [], unchanged: { routes: 0, rules: 0 }, drift: 0, problems: [] };

    const inputs = await this.opts.intents.current(signal);
    const domain = inputs.model.domains.find((d) => d.name === domainName);
    if (domain?.provider !== 'aws') {
      const f = { reason: NetworkReason.ProviderObjectNotFound, message: `Network "${domainName}" is not an AWS network the hub knows`, retry: false };
      return result({ ...nothing, retry: false }, f);
    }
    const api = this.opts.api(domain, budget);
    const tags = ownerTags(domain.name, this.owner);

    // ---- observe ----
    let observed;
    try {
      observed = await this.observe(domain, api, signal);
    } catch (err) {
      const f = failureOf(err, `Network "${domain.name}"`);
      return result({ ...nothing, retry: f.retry }, f);
    }
    const missing = [...observed.missingTables.map((id) => `route table ${id}`), ...observed.missingGroups.map((id) => `security group ${id}`)];

    // ---- plan and diff ----
    const plan = planRoutes(inputs.model, {
      services: inputs.services,
      ...(inputs.podRoutes !== undefined ? { podRoutes: inputs.podRoutes } : {}),
      observed: { [domain.name]: { routeTables: observedTables(observed.managed, observed.records) } },
      only: [domain.name],
    });
    const dp = plan.domains[0];
    const problems = dp?.problems ?? [];
    const changes = diffAws({
      allTables: observed.tables,
      managedTables: observed.managed,
      records: observed.records,
      routes: dp?.routes ?? [],
      managedGroups: observed.groups,
      rules: observed.rules,
      desiredRules: desiredRules(dp?.firewall ?? []),
      ownerTags: tags,
    });

    // ---- apply ----
    const before = this.inPlace.get(domain.name) ?? new Set<string>();
    const applied: AppliedChange[] = [];
    const failures: Failure[] = [];
    let stop: Failure | undefined;
    let repaired = 0;
    const notInPlace = new Set<string>();
    const run = async (
      change: { kind: ChangeKind; object: string; what: string; keys: readonly string[] },
      fn: () => Promise<MutationOutcome>,
      after?: (outcome: MutationOutcome) => Promise<void>,
      onError?: (err: unknown) => Promise<void>,
    ): Promise<void> => {
      const { kind, object, what } = change;
      if (stop !== undefined) {
        applied.push({ kind, object, what, outcome: 'skipped', drift: false });
        return;
      }
      mutatingCalls += 1;
      try {
        const outcome = await fn();
        await after?.(outcome);
        const drifted = dryRun ? 0 : change.keys.filter((k) => before.has(k)).length;
        repaired += drifted;
        applied.push({ kind, object, what, outcome, drift: drifted > 0 });
      } catch (err) {
        if (!(err instanceof CausewayError)) throw err;
        await onError?.(err).catch(() => undefined);
        const f = failureOf(err, `${kind} ${what} in ${object}`, kind);
        failures.push(f);
        for (const k of change.keys) notInPlace.add(k);
        applied.push({ kind, object, what, outcome: 'failed', error: f.message, drift: false });
        if (err instanceof CallBudgetExhaustedError || signal.aborted) stop = f;
      }
    };
    const store = this.opts.ownership;
    const routeWhat = (c: RouteChange): string => (c.target === undefined ? c.destination : `${c.destination} via ${c.target.id}`);

    try {
      if (!dryRun) for (const r of changes.confirmRecords) await store.put(domain.name, r, signal);
      for (const c of changes.routes.filter((x) => x.op !== 'delete')) {
        const target = c.target ?? { field: 'transit-gateway' as const, id: '' };
        const pending: RouteRecord = {
          table: c.table,
          destination: c.destination,
          target: target.id,
          state: 'pending',
          ...(c.previousTarget !== undefined ? { previousTarget: c.previousTarget } : {}),
        };
        const confirmed: RouteRecord = { table: c.table, destination: c.destination, target: target.id, state: 'confirmed' };
        await run(
          { kind: c.op === 'create' ? 'create-route' : 'replace-route', object: c.table, what: routeWhat(c), keys: [routeKey(c.table, c.destination)] },
          async () => {
            if (!dryRun) await store.put(domain.name, pending, signal);
            return c.op === 'create'
              ? api.createRoute(c.table, c.destination, target, { dryRun, signal })
              : api.replaceRoute(c.table, c.destination, target, { dryRun, signal });
          },
          async (outcome) => {
            if (outcome === 'done') await store.put(domain.name, confirmed, signal);
          },
          async (err) => {
            // Refused outright: nothing was made, so the pending record goes. An unknown outcome
            // keeps it: the next observation tells whether the route exists.
            if (!dryRun && !(err instanceof UnavailableError) && c.op === 'create') await store.remove(domain.name, c.table, c.destination, signal);
          },
        );
      }
      for (const c of changes.rules.filter((x) => x.op === 'authorize')) {
        await run({ kind: 'authorize-rules', object: c.groupId, what: ruleText(c), keys: c.rules.map((r) => ruleKeyOf(c.groupId, r)) }, () =>
          api.authorize(c.groupId, c.egress, c.rules, tags, { dryRun, signal }),
        );
      }
      for (const c of changes.routes.filter((x) => x.op === 'delete')) {
        await run(
          { kind: 'delete-route', object: c.table, what: routeWhat(c), keys: [] },
          () => api.deleteRoute(c.table, c.destination, { dryRun, signal }),
          async (outcome) => {
            if (outcome === 'done') await store.remove(domain.name, c.table, c.destination, signal);
          },
          async (err) => {
            if (!dryRun && err instanceof NotFoundError) await store.remove(domain.name, c.table, c.destination, signal);
          },
        );
      }
      for (const c of changes.rules.filter((x) => x.op === 'revoke')) {
        await run({ kind: 'revoke-rules', object: c.groupId, what: ruleText(c), keys: [] }, () =>
          api.revoke(c.groupId, c.egress, c.ruleIds, { dryRun, signal }),
        );
      }
      if (!dryRun) for (const s of changes.staleRecords) await store.remove(domain.name, s.table, s.destination, signal);
    } catch (err) {
      // The ownership store failed (etcd lost): stop here; the next reconcile starts from what exists.
      const f = failureOf(err, `Network "${domain.name}": route ownership records`);
      return result({ changes: applied, unchanged: changes.unchanged, drift: repaired, problems, retry: true }, f);
    }

    if (!dryRun && stop === undefined) {
      const rules = desiredRules(dp?.firewall ?? []);
      const keys = new Set<string>();
      for (const r of dp?.routes ?? []) if (r.mode === 'static' && r.table !== undefined) keys.add(routeKey(r.table, r.destination));
      for (const g of observed.groups) for (const r of rules) keys.add(ruleKeyOf(g.id, r));
      // What failed is not in place: putting it there later is not a repair of drift.
      for (const k of notInPlace) keys.delete(k);
      this.inPlace.set(domain.name, keys);
    }

    const notFound: Failure | undefined =
      missing.length > 0
        ? {
            reason: NetworkReason.ProviderObjectNotFound,
            message: `Network "${domain.name}" names ${missing.join(', ')}, not found in ${domain.vpcId}`,
            retry: false,
          }
        : undefined;
    const failure = stop ?? failures[0] ?? notFound;
    // The VPC's CIDR blocks (IPv4 and IPv6) join the hub's overlap checks as the Network's observed
    // prefixes. Subnets lie inside them by EC2's rules, so DescribeSubnets would add a call and no range.
    const status = { observedPrefixes: observedPrefixes(observed.vpc.cidrs) };
    return result({ changes: applied, unchanged: changes.unchanged, drift: repaired, problems, retry: failure?.retry ?? false, status }, failure);
  }

  private async observe(domain: AwsDomain, api: Ec2Api, signal: AbortSignal) {
    const vpc = await api.describeVpc(domain.vpcId, signal);
    if (domain.transitGatewayId !== undefined) await api.describeTransitGateway(domain.transitGatewayId, signal);
    if (domain.transitGatewayAttachmentId !== undefined) {
      const a = await api.describeAttachment(domain.transitGatewayAttachmentId, signal);
      if (a.resourceId !== domain.vpcId || (domain.transitGatewayId !== undefined && a.transitGatewayId !== domain.transitGatewayId)) {
        throw new NotFoundError(
          `transit gateway attachment ${a.id} attaches ${a.resourceId} to ${a.transitGatewayId}, not ${domain.vpcId} to ${domain.transitGatewayId ?? 'a transit gateway'}`,
        );
      }
    }
    const tables = await api.describeRouteTables(domain.vpcId, signal);
    const { managed, missing: missingTables } = managedTables(domain, tables);
    const records = await this.opts.ownership.list(domain.name, signal);
    const allGroups = domain.securityGroups === undefined ? [] : await api.describeSecurityGroups(domain.vpcId, signal);
    const { managed: groups, missing: missingGroups } = managedGroups(domain, allGroups);
    const rules = await api.describeRules(
      groups.map((g) => g.id),
      { key: 'causeway.dev/managed-by', value: this.owner },
      signal,
    );
    return { vpc, tables, managed, missingTables, records, groups, missingGroups, rules };
  }

  private condition(domain: string, failure: Failure | undefined): Condition {
    const next: Condition = {
      type: NetworkConditionType.Degraded,
      status: failure === undefined ? 'False' : 'True',
      reason: failure?.reason ?? NetworkReason.Reconciled,
      message: failure?.message ?? 'every route and rule Causeway owns matches the plan',
      lastTransitionTime: new Date(this.clock.now()).toISOString(),
    };
    const prev = this.conditions.get(domain);
    const kept = prev !== undefined && prev.status === next.status ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
    this.conditions.set(domain, kept);
    return kept;
  }
}

const routeKey = (table: string, destination: string): string => `route|${table}|${destination}`;
const ruleKeyOf = (groupId: string, r: RuleSpec): string =>
  `rule|${groupId}|${r.egress ? 'e' : 'i'}|${r.protocol}|${r.fromPort}|${r.toPort}|${r.cidrIpv4 ?? r.cidrIpv6 ?? ''}`;

/** Valid CIDRs only, normalised and sorted, so that an unchanged VPC writes an unchanged status. */
function observedPrefixes(cidrs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const c of cidrs) {
    const checked = checkCidr(c);
    if (checked.ok) out.add(checked.cidr);
  }
  return [...out].sort();
}

function problemFailure(problems: readonly PlanProblem[]): Failure | undefined {
  const first = problems[0];
  if (first === undefined) return undefined;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return { reason: first.reason, message: `${first.message}${more}`, retry: false };
}
