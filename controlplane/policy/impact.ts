// `causeway plan -f DIR` for policy: what a proposed set of GlobalPolicies changes before it is
// applied. Flows between known workloads (and to global services) whose verdict changes, per
// destination cluster, and the compiled objects that would be added, changed or removed; the
// classification maps to the CLI's exit codes (0 nothing changes, 4 changes without flow changes,
// 5 flow changes).
import { evaluate, prepare } from './evaluate.ts';
import { classify, portAtoms, type PortAtom } from './compile/atoms.ts';
import { compileForCluster, type CompiledObject, type PolicyFormat } from './compile/index.ts';
import { stableJson } from './compile/names.ts';
import type { Flow, Policy, Problem, Verdict, World } from './model.ts';

export interface FlowChange {
  /** `cluster/namespace/labels` of the source class. */
  readonly from: string;
  /** `cluster/namespace/labels` of the destination class. */
  readonly to: string;
  readonly protocol: PortAtom['protocol'];
  readonly port: number;
  readonly endPort: number;
  readonly before: Verdict;
  readonly after: Verdict;
  readonly decidedBy?: string;
}

export interface ObjectChange {
  readonly change: 'added' | 'changed' | 'removed';
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface ClusterImpact {
  readonly cluster: string;
  readonly flows: readonly FlowChange[];
  readonly objects: readonly ObjectChange[];
  /** Problems of the proposed compilation (a refusal here is a refusal after apply). */
  readonly problems: readonly Problem[];
}

export const ImpactClass = { Unchanged: 'unchanged', NoFlowChanges: 'no-flow-changes', FlowChanges: 'flow-changes' } as const;
export type ImpactClass = (typeof ImpactClass)[keyof typeof ImpactClass];

export const IMPACT_EXIT_CODE: Readonly<Record<ImpactClass, number>> = { unchanged: 0, 'no-flow-changes': 4, 'flow-changes': 5 };

export interface Impact {
  readonly classification: ImpactClass;
  readonly exitCode: number;
  readonly clusters: readonly ClusterImpact[];
}

export interface ImpactInput {
  readonly current: readonly Policy[];
  readonly proposed: readonly Policy[];
  readonly world: World;
  /** Each cluster's output format; default NetworkPolicy. */
  readonly formats?: Readonly<Record<string, PolicyFormat>>;
}

const name = (c: { cluster: string; namespace: string; labels: Readonly<Record<string, string>> }): string =>
  `${c.cluster}/${c.namespace}/${Object.entries(c.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;

export function impact(input: ImpactInput): Impact {
  const { world } = input;
  const before = prepare(input.current, world);
  const after = prepare(input.proposed, world);
  // Classes by every key either set reads: pods within a class are decided alike before and after.
  const keys = new Set<string>();
  for (const r of [...before.rules, ...after.rules]) {
    for (const p of [...r.rule.from, ...r.rule.to]) {
      for (const k of Object.keys(p.pods?.matchLabels ?? {})) keys.add(k);
      for (const e of p.pods?.matchExpressions ?? []) keys.add(e.key);
    }
  }
  for (const s of world.services) {
    for (const sel of [s.selector, ...Object.values(s.selectors ?? {})]) {
      for (const k of Object.keys(sel.matchLabels ?? {})) keys.add(k);
      for (const e of sel.matchExpressions ?? []) keys.add(e.key);
    }
  }
  const classes = classify(world.workloads, [...keys].sort());
  const ports = portAtoms([...before.rules, ...after.rules].map((r) => r.rule));
  const clusters: ClusterImpact[] = [];
  let flowsChanged = false;
  let objectsChanged = false;
  for (const c of [...world.clusters].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const flows: FlowChange[] = [];
    for (const dst of classes.filter((x) => x.cluster === c.name)) {
      for (const src of classes) {
        for (const p of ports) {
          const flow: Flow = { from: src.rep, to: dst.rep, protocol: p.protocol, port: p.port };
          const b = evaluate(before, world, flow);
          const a = evaluate(after, world, flow);
          if (a.verdict === b.verdict) continue;
          flows.push({
            from: name(src),
            to: name(dst),
            protocol: p.protocol,
            port: p.port,
            endPort: p.endPort,
            before: b.verdict,
            after: a.verdict,
            ...(a.decidedBy === undefined ? {} : { decidedBy: `${a.decidedBy.policy} rule ${String(a.decidedBy.rule)}` }),
          });
        }
      }
    }
    const format = input.formats?.[c.name] ?? 'NetworkPolicy';
    const was = compileForCluster(before, world, c.name, format);
    const will = compileForCluster(after, world, c.name, format);
    const objects = diffObjects(was.objects, will.objects);
    if (flows.length > 0) flowsChanged = true;
    if (objects.length > 0 || stableJson(was.problems) !== stableJson(will.problems)) objectsChanged = true;
    if (flows.length > 0 || objects.length > 0 || will.problems.length > 0) clusters.push({ cluster: c.name, flows, objects, problems: will.problems });
  }
  const policiesChanged = stableJson(sortPolicies(input.current)) !== stableJson(sortPolicies(input.proposed));
  const classification: ImpactClass = flowsChanged ? 'flow-changes' : objectsChanged || policiesChanged ? 'no-flow-changes' : 'unchanged';
  return { classification, exitCode: IMPACT_EXIT_CODE[classification], clusters };
}

function sortPolicies(ps: readonly Policy[]): Policy[] {
  return [...ps].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
}

function diffObjects(was: readonly CompiledObject[], will: readonly CompiledObject[]): ObjectChange[] {
  const id = (o: CompiledObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const old = new Map(was.map((o) => [id(o), o]));
  const neu = new Map(will.map((o) => [id(o), o]));
  const out: ObjectChange[] = [];
  const ref = (o: CompiledObject) => ({
    kind: o.kind,
    ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
    name: o.metadata.name,
  });
  for (const [k, o] of neu) {
    const prev = old.get(k);
    if (prev === undefined) out.push({ change: 'added', ...ref(o) });
    else if (stableJson(prev) !== stableJson(o)) out.push({ change: 'changed', ...ref(o) });
  }
  for (const [k, o] of old) if (!neu.has(k)) out.push({ change: 'removed', ...ref(o) });
  return out.sort((a, b) => (`${a.kind}/${a.namespace ?? ''}/${a.name}` < `${b.kind}/${b.namespace ?? ''}/${b.name}` ? -1 : 1));
}
