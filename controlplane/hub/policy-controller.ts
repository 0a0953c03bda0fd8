// GlobalPolicy on the hub (issue 10 §2-§4): keeps the World (policy-world.ts) and the policy set
// current on every replica from the registry view and the exports, and, on the leader, compiles
// each cluster's policy objects with the pure compiler, keyed by cluster on the kernel's
// Controller. A change of policies, clusters, namespaces or services starts a new Compilation and
// compiles every cluster; an endpoint change goes through the core's `recompileAfterEndpointChange`
// (compile/incremental.ts: clusters left alone, addresses patched, the rest compiled when their
// turn comes), one change at a time, and only the clusters whose result changed are sent again.
// A refused compile keeps the last
// good objects and says why on the Cluster (condition PolicyCompiled False, the compiler's message
// naming the rule, back to True once a compile succeeds); warnings of the set (a peer that selects
// nothing) go on the GlobalPolicy (condition Effective False). `explain` and `plan` read the same World and policies on any replica.
import { isDeepStrictEqual } from 'node:util';
import { ConditionStatus, setCondition, type Condition } from '../api/conditions.ts';
import type { ClusterResource, GlobalPolicyResource, Resource } from '../api/resources.ts';
import { Controller } from '../kernel/controller.ts';
import { raceAbort } from '../kernel/async.ts';
import { policyOf } from '../registry/policy-check.ts';
import type { Registry } from '../registry/registry.ts';
import type { CompiledObject, PolicyFormat } from '../policy/compile/index.ts';
import { compileCluster, recompileAfterEndpointChange, startCompilation, type Compilation } from '../policy/compile/incremental.ts';
import type { DependencyIndex } from '../policy/dependencies.ts';
import { cloudNarrowing, type CloudNarrowing } from '../policy/cloud.ts';
import { policyKey, type Policy, type Problem, type World } from '../policy/model.ts';
import { validateSet } from '../policy/validate-set.ts';
import { backgroundClock } from './controllers/background-clock.ts';
import type { ExportIndex } from './exports.ts';
import { buildWorld, endpointSteps, NO_REPORTS, policyFormats, type WorkloadSource } from './policy-world.ts';
import type { PlanInputs } from '../../providers/model/intents.ts';
import { planRoutes, type RoutePlan } from '../../providers/model/route-plan.ts';
import type { RegistryView } from './registry-view.ts';

export const PolicyConditionType = {
  /** On a Cluster: its policy objects compiled from the current policies and World (False: refused, the last good objects stay). */
  PolicyCompiled: 'PolicyCompiled',
  /** On a GlobalPolicy: every peer selects something and no platform Deny shadows it. */
  Effective: 'Effective',
} as const;

/**
 * How long a policy's inputs must stay unchanged before its Effective condition is written: a
 * policy applied with the workloads it selects (or just before their agents report them) does not
 * flap to SelectsNothing and back, and a write is not followed at once by a status write.
 */
export const EFFECTIVE_SETTLE_MS = 2000;

export const PolicyReason = { Compiled: 'Compiled', Selects: 'Selects' } as const;

/** One cluster's compiled policy as the hub serves it (`GET .../clusters/NAME/policy`). */
export interface ClusterPolicy {
  readonly cluster: string;
  readonly format: PolicyFormat;
  /** The objects the agent applies: the last good compile (empty before the first). */
  readonly objects: readonly CompiledObject[];
  /** Whether the latest compile succeeded; false: `objects` are from an earlier one. */
  readonly current: boolean;
  /** Problems of the latest compile (errors when refused, warnings otherwise). */
  readonly problems: readonly Problem[];
  /** The policies and world it was compiled from, as `namespace/name` of the policies. */
  readonly policies: readonly string[];
}

export interface PolicyControllerDeps {
  readonly view: RegistryView;
  readonly exports: ExportIndex;
  /** Reported namespaces and pods (issue 10 §5); default none: workloads come from the exports. */
  readonly workloads?: WorkloadSource;
  /** The route plan's inputs (providers.ts RegistryIntentSource), for explain's route and firewall layers. */
  readonly intents?: { now(): PlanInputs };
  readonly registry: Pick<Registry, 'updateStatus'>;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly now?: () => Date;
  /** Called after each cluster's compile (tests, metrics). */
  readonly compiled?: (cluster: string, result: ClusterPolicy) => void;
}

/** What decides whether everything must be recompiled: all of the World but its workloads, and the policies. */
interface Shape {
  readonly clusters: World['clusters'];
  readonly namespaces: World['namespaces'];
  readonly services: World['services'];
  readonly formats: Readonly<Record<string, PolicyFormat>>;
  readonly policies: readonly Policy[];
}

export class PolicyController {
  private readonly deps: PolicyControllerDeps;
  private readonly clusters: Controller<string>;
  private readonly statuses: Controller<string>;
  private readonly policyResources = new Map<string, GlobalPolicyResource>();
  private readonly results = new Map<string, ClusterPolicy>();
  private state: { world: World; policies: Policy[]; index: DependencyIndex; formats: Record<string, PolicyFormat>; warnings: Map<string, Problem[]> };
  /** The core's compile state over `state`'s World: results of the clusters compiled so far. */
  private compilation: Compilation;
  private shape: Shape | undefined;
  private narrowing: { readonly state: object; readonly narrowing: CloudNarrowing } | undefined;
  private scheduled = false;

  /** A refresh is queued for the next turn of the event loop. */
  private refreshQueued = false;

  constructor(deps: PolicyControllerDeps) {
    this.deps = deps;
    const built = this.build();
    this.compilation = startCompilation(built.policies, built.world, formatOf(built.formats));
    this.state = { ...built, index: this.compilation.dependencies };
    this.clusters = new Controller<string>({
      name: 'policy-compile',
      clock: backgroundClock,
      reconcile: async (cluster, signal) => {
        await this.compile(cluster, signal);
        return undefined;
      },
      resync: () => this.state.world.clusters.map((c) => c.name),
      onError: (cluster, err, retryInMs) => {
        deps.warn({ cluster, err, retryInMs }, 'policy compile or its condition write failed; retrying');
      },
    });
    this.statuses = new Controller<string>({
      name: 'policy-conditions',
      clock: backgroundClock,
      reconcile: async (key, signal) => {
        await this.writeEffective(key, signal);
        return undefined;
      },
      resync: () => [...this.policyResources.keys()],
      onError: (policy, err, retryInMs) => {
        deps.warn({ policy, err, retryInMs }, 'writing the Effective condition failed; retrying');
      },
    });
    deps.view.onChange((changes) => {
      for (const c of changes) {
        if (c.kind !== 'GlobalPolicy') continue;
        const key = c.ref.slice('GlobalPolicy/'.length);
        if (c.after?.kind === 'GlobalPolicy') this.policyResources.set(key, c.after);
        else this.policyResources.delete(key);
      }
      if (changes.some((c) => c.kind === 'GlobalPolicy' || c.kind === 'Cluster')) this.schedule();
    });
    deps.exports.onChange(() => {
      this.schedule();
    });
    (deps.workloads ?? NO_REPORTS).onChange(() => {
      this.schedule();
    });
  }

  /** Leader only: compiles and writes conditions until the term's signal aborts. */
  lead(signal: AbortSignal): Promise<void> {
    return Promise.all([this.clusters.run(signal), this.statuses.run(signal)]).then(() => undefined);
  }

  /** The World, policies and formats as of now (explain and plan read these on any replica). */
  current(): {
    readonly world: World;
    readonly policies: readonly Policy[];
    readonly index: DependencyIndex;
    readonly formats: Readonly<Record<string, PolicyFormat>>;
  } {
    this.refresh();
    return this.state;
  }

  /**
   * The compiled policy of one cluster: the leader's last result, or (a replica that does not lead,
   * or before the first compile) compiled now from the same inputs. Undefined: no such cluster.
   */
  policyOf(cluster: string): ClusterPolicy | undefined {
    this.refresh();
    if (!this.state.world.clusters.some((c) => c.name === cluster)) return undefined;
    return this.results.get(cluster) ?? this.compileNow(cluster, undefined);
  }

  /** The World over other clusters (proposed ones, for `plan`), with today's exports and workloads. */
  worldFor(clusters: readonly ClusterResource[]): { readonly world: World; readonly formats: Readonly<Record<string, PolicyFormat>> } {
    return {
      world: buildWorld({ clusters, exports: this.deps.exports.all(), workloads: this.deps.workloads ?? NO_REPORTS }),
      formats: policyFormats(clusters),
    };
  }

  /**
   * What GlobalPolicy lets through cloud firewalls, for the route plan (issue 10 §2); undefined
   * while no GlobalPolicy exists, so that the plan then costs nothing more. Built once per state.
   */
  cloudNarrowing(): CloudNarrowing | undefined {
    if (this.policyResources.size === 0) return undefined;
    const state = this.current();
    if (this.narrowing?.state !== state) this.narrowing = { state, narrowing: cloudNarrowing(state.policies, state.world) };
    return this.narrowing.narrowing;
  }

  /** The route plan as of now, when the hub plans routes (explain's route and cloud-firewall layers). */
  routePlan(): RoutePlan | undefined {
    const inputs = this.deps.intents?.now();
    return inputs === undefined
      ? undefined
      : planRoutes(inputs.model, { services: inputs.services, ...(inputs.podRoutes !== undefined ? { podRoutes: inputs.podRoutes } : {}) });
  }

  // ---- inputs --------------------------------------------------------------------------------

  private schedule(): void {
    this.scheduled = true;
    // With no GlobalPolicy and nothing compiled there is nothing to recompile: the World (every
    // export's endpoints) is rebuilt only when asked (explain, plan) instead of on every endpoint
    // change — the exchange's hot path must not pay for a policy nobody wrote.
    if (this.refreshQueued || (this.policyResources.size === 0 && this.results.size === 0)) return;
    this.refreshQueued = true;
    // Changes of one watch batch (and of the same tick) are one recompute.
    setImmediate(() => {
      this.refreshQueued = false;
      this.refresh();
    });
  }

  /** Rebuilds the state if an input changed since, and queues what must be compiled again. */
  private refresh(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    const next = this.build();
    const shape: Shape = {
      clusters: next.world.clusters,
      namespaces: next.world.namespaces,
      services: next.world.services,
      formats: next.formats,
      policies: next.policies,
    };
    if (this.shape === undefined || !isDeepStrictEqual(shape, this.shape)) {
      this.shape = shape;
      this.compilation = startCompilation(next.policies, next.world, formatOf(next.formats));
      this.state = { ...next, index: this.compilation.dependencies };
      for (const c of next.world.clusters) this.clusters.add(c.name);
      for (const gone of [...this.results.keys()].filter((c) => !next.world.clusters.some((x) => x.name === c))) this.results.delete(gone);
      for (const p of this.policyResources.keys()) this.statuses.addAfter(p, EFFECTIVE_SETTLE_MS);
      return;
    }
    // Only endpoints changed: the core says, change by change, which clusters' results differ now
    // and which it left to compile (those not compiled yet stay so).
    const steps = endpointSteps(this.compilation.prepared.index.world.workloads, next.world.workloads);
    const send = new Set<string>();
    let compilation = this.compilation;
    for (const step of steps) {
      const world: World = { ...compilation.prepared.index.world, workloads: step.workloads };
      const r = recompileAfterEndpointChange(compilation, world, step, { defer: true });
      compilation = r.compilation;
      for (const c of [...r.changed, ...r.stale]) send.add(c);
    }
    this.compilation = compilation;
    this.state = { ...next, world: compilation.prepared.index.world, index: compilation.dependencies };
    for (const c of send) this.clusters.add(c);
    if (steps.length > 0) for (const p of this.policyResources.keys()) this.statuses.addAfter(p, EFFECTIVE_SETTLE_MS);
  }

  private build(): Omit<PolicyController['state'], 'index'> {
    const clusters = this.deps.view.clusters();
    const world = buildWorld({ clusters, exports: this.deps.exports.all(), workloads: this.deps.workloads ?? NO_REPORTS });
    const policies = [...this.policyResources.values()].map(policyOf).sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
    const warnings = new Map<string, Problem[]>();
    // Until some agent reports its pods, the World holds exported endpoints only: "selects nothing"
    // would be about the missing reports, not about the policy, so nothing is said yet.
    const reported = clusters.some((c) => (this.deps.workloads ?? NO_REPORTS).report(c.metadata.name) !== undefined);
    for (const p of reported ? validateSet(policies, world) : []) {
      if (p.severity !== 'warning') continue;
      for (const k of (p.policies ?? []).slice(0, 1)) warnings.set(k, [...(warnings.get(k) ?? []), p]);
    }
    return { world, policies, formats: policyFormats(clusters), warnings };
  }

  // ---- compile -------------------------------------------------------------------------------

  private compileNow(cluster: string, previous: ClusterPolicy | undefined): ClusterPolicy {
    const { formats, policies } = this.state;
    const format = formats[cluster] ?? 'NetworkPolicy';
    // What the core holds for the cluster (compiled, patched or left as it was since), else compiled now.
    if (!this.compilation.results.has(cluster)) this.compilation = compileCluster(this.compilation, cluster);
    const result = this.compilation.results.get(cluster) ?? { objects: [], problems: [] };
    const refused = result.problems.some((p) => p.severity === 'error');
    return {
      cluster,
      format,
      objects: refused ? (previous?.objects ?? []) : result.objects,
      current: !refused,
      problems: result.problems,
      policies: policies.map(policyKey),
    };
  }

  private async compile(cluster: string, signal: AbortSignal): Promise<void> {
    this.refresh();
    if (!this.state.world.clusters.some((c) => c.name === cluster)) {
      this.results.delete(cluster);
      return;
    }
    const result = this.compileNow(cluster, this.results.get(cluster));
    this.results.set(cluster, result);
    this.deps.compiled?.(cluster, result);
    const errors = result.problems.filter((p) => p.severity === 'error');
    const now = (this.deps.now?.() ?? new Date()).toISOString();
    const condition: Condition =
      errors.length > 0
        ? {
            type: PolicyConditionType.PolicyCompiled,
            status: ConditionStatus.False,
            reason: errors[0]?.code ?? 'Refused',
            message: `${errors.map((e) => e.message).join('; ')} (the ${result.objects.length} objects compiled before stay)`,
            lastTransitionTime: now,
          }
        : {
            type: PolicyConditionType.PolicyCompiled,
            status: ConditionStatus.True,
            reason: PolicyReason.Compiled,
            message: `${result.objects.length} ${result.format} objects from ${result.policies.length} policies`,
            lastTransitionTime: now,
          };
    await raceAbort(
      this.deps.registry.updateStatus({ kind: 'Cluster', name: cluster }, (current) => (signal.aborted ? undefined : withCondition(current, condition))),
      signal,
    );
  }

  private async writeEffective(key: string, signal: AbortSignal): Promise<void> {
    this.refresh();
    if (!this.policyResources.has(key)) return;
    const slash = key.indexOf('/');
    const warnings = this.state.warnings.get(key) ?? [];
    const condition: Condition = {
      type: PolicyConditionType.Effective,
      status: warnings.length > 0 ? ConditionStatus.False : ConditionStatus.True,
      reason: warnings[0]?.code ?? PolicyReason.Selects,
      message: warnings.length > 0 ? warnings.map((w) => w.message).join('; ') : 'every peer selects workloads the hub knows',
      lastTransitionTime: (this.deps.now?.() ?? new Date()).toISOString(),
    };
    await raceAbort(
      this.deps.registry.updateStatus({ kind: 'GlobalPolicy', namespace: key.slice(0, slash), name: key.slice(slash + 1) }, (current) =>
        signal.aborted ? undefined : withCondition(current, condition),
      ),
      signal,
    );
  }
}

/**
 * The status with the condition set, or undefined when there is nothing to write: it is already
 * there, or it is good news about an object that never had bad news (a healthy cluster or policy
 * carries no policy condition, so the common path writes nothing and moves no resourceVersion).
 */
function withCondition(current: Resource, next: Condition): Resource['status'] | undefined {
  const conditions = current.status?.conditions ?? [];
  const prev = conditions.find((c) => c.type === next.type);
  if (prev === undefined && next.status === ConditionStatus.True) return undefined;
  if (prev !== undefined && prev.status === next.status && prev.reason === next.reason && prev.message === next.message) return undefined;
  return { ...current.status, conditions: setCondition(conditions, next) };
}

function formatOf(formats: Readonly<Record<string, PolicyFormat>>): (cluster: { readonly name: string }) => PolicyFormat {
  return (c) => formats[c.name] ?? 'NetworkPolicy';
}
