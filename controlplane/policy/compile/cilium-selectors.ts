// Selectors of this cluster's pods as boolean algebra, for the Cilium compiler (cilium.ts), whose
// policies have no order: what an ordered list of rules denies is written as a union of
// conjunctions of label requirements (disjunctive normal form), each conjunction one Cilium
// endpoint selector. A requirement is on a pod label or on a namespace label; its negation is
// again one requirement (In ↔ NotIn, Exists ↔ DoesNotExist, with Kubernetes' meaning: NotIn holds
// where the label is absent), so "selected by A and by none of B, C" stays a finite set of
// selectors. Cilium names the namespace `io.kubernetes.pod.namespace` and a namespace's labels
// `io.cilium.k8s.namespace.labels.<key>`.
import type { LabelSelector } from '../../api/labels.ts';
import { stableJson } from './names.ts';
import { NAMESPACE_NAME_LABEL } from './result.ts';
import type { LocalSelector } from './selectors.ts';

type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  readonly scope: 'namespace' | 'pod';
  readonly key: string;
  readonly operator: Operator;
  readonly values?: readonly string[];
}

/** Every requirement holds; the empty conjunction is every pod. */
export type Conjunction = readonly Requirement[];
/** Any conjunction holds; the empty union is no pod. */
export type Union = readonly Conjunction[];

export const EVERY_POD: Union = [[]];

export interface CiliumSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: Operator; values?: string[] }[];
}

function requirements(scope: Requirement['scope'], s: LabelSelector): Requirement[] {
  const out: Requirement[] = Object.entries(s.matchLabels ?? {}).map(([key, v]) => ({ scope, key, operator: 'In', values: [v] }));
  for (const e of s.matchExpressions ?? [])
    out.push({ scope, key: e.key, operator: e.operator, ...(e.values === undefined ? {} : { values: [...e.values].sort() }) });
  return out;
}

/** The selector's pods as one conjunction, or undefined when it can select none (`In [a]` and `In [b]` on one key). */
export function conjunctionOf(s: LocalSelector): Conjunction | undefined {
  return normal([...requirements('namespace', s.namespaceSelector), ...requirements('pod', s.podSelector)]);
}

/** A selector of this cluster's pods as a Cilium endpoint selector, requirement for requirement. */
export function endpointSelector(s: LocalSelector): CiliumSelector {
  return ciliumSelector([...requirements('namespace', s.namespaceSelector), ...requirements('pod', s.podSelector)]);
}

const NEGATE: Record<Operator, Operator> = { In: 'NotIn', NotIn: 'In', Exists: 'DoesNotExist', DoesNotExist: 'Exists' };

/** Sorted and distinct, or undefined when no pod can hold it. */
function normal(c: readonly Requirement[]): Conjunction | undefined {
  const byKey = new Map<string, Requirement[]>();
  for (const r of c) {
    const k = `${r.scope}\u0000${r.key}`;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  for (const list of byKey.values()) {
    const absent = list.some((r) => r.operator === 'DoesNotExist');
    const present = list.some((r) => r.operator === 'Exists' || r.operator === 'In');
    if (absent && present) return undefined;
    let allowed: Set<string> | undefined;
    for (const r of list) if (r.operator === 'In') allowed = new Set([...(r.values ?? [])].filter((v) => allowed === undefined || allowed.has(v)));
    for (const r of list) if (r.operator === 'NotIn') for (const v of r.values ?? []) allowed?.delete(v);
    if (allowed?.size === 0) return undefined;
    // An In decides the key: the other requirements on it are implied.
    if (allowed !== undefined) list.splice(0, list.length, { ...(list[0] as Requirement), operator: 'In', values: [...allowed].sort() });
  }
  const seen = new Map([...byKey.values()].flat().map((r) => [reqKey(r), r]));
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

const reqKeys = new WeakMap<Requirement, string>();
function reqKey(r: Requirement): string {
  let k = reqKeys.get(r);
  if (k === undefined) {
    k = stableJson(r);
    reqKeys.set(r, k);
  }
  return k;
}

/** A union grew past what is worth writing: the caller refuses. */
export class TooManySelectors extends Error {}

/** Distinct, and without a conjunction another one already covers (A ∨ (A ∧ B) = A); at most `limit` conjunctions. */
function simplify(u: readonly Conjunction[], limit: number): Union {
  const byKey = new Map<string, { c: Conjunction; keys: Set<string> }>();
  for (const c of u) {
    const keys = c.map(reqKey);
    byKey.set(keys.join('\u0001'), { c, keys: new Set(keys) });
  }
  const list = [...byKey.values()].sort((a, b) => a.keys.size - b.keys.size);
  const keep: { c: Conjunction; keys: Set<string> }[] = [];
  for (const x of list) {
    if (keep.some((k) => k.keys.size <= x.keys.size && [...k.keys].every((r) => x.keys.has(r)))) continue;
    keep.push(x);
    if (keep.length > limit) throw new TooManySelectors(`more than ${limit} selectors`);
  }
  return keep.map((k) => k.c);
}

/** Intermediate unions (the pods no earlier rule took) may grow larger than what is finally written. */
const LIMIT = 1024;

export function or(a: Union, b: Union): Union {
  return simplify([...a, ...b], LIMIT);
}

export function and(a: Union, b: Union): Union {
  const out: Conjunction[] = [];
  for (const x of a) {
    for (const y of b) {
      const c = normal([...x, ...y]);
      if (c !== undefined) out.push(c);
    }
  }
  return simplify(out, LIMIT);
}

/** The pods a union does not select. */
export function not(u: Union): Union {
  let out: Union = EVERY_POD;
  for (const c of u)
    out = and(
      out,
      c.map((r) => [{ ...r, operator: NEGATE[r.operator] }]),
    );
  return out;
}

const ciliumKey = (r: Requirement): string =>
  r.scope === 'pod' ? r.key : r.key === NAMESPACE_NAME_LABEL ? 'io.kubernetes.pod.namespace' : `io.cilium.k8s.namespace.labels.${r.key}`;

/** One conjunction as a Cilium endpoint selector (a single-valued In is a matchLabels entry). */
export function ciliumSelector(c: Conjunction): CiliumSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<CiliumSelector['matchExpressions']> = [];
  for (const r of c) {
    const key = ciliumKey(r);
    const [only, ...more] = r.values ?? [];
    if (r.operator === 'In' && only !== undefined && more.length === 0 && matchLabels[key] === undefined) matchLabels[key] = only;
    else matchExpressions.push({ key, operator: r.operator, ...(r.values === undefined ? {} : { values: [...r.values] }) });
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}
