// One cluster's NetworkPolicies after an endpoint change that moved only addresses: when every
// class keeps its key, its selection and its rules (compile/endpoint-shape.ts says so), the
// decisions, the objects, their rules and every peer but the address lists are what they were, so
// the addresses of the changed classes are taken out of and put into the lists the compile
// recorded for them (facts.slots, np-ingress.ts), each list sorted as the renderer sorts it.
// Objects, rules and lists not touched are shared with the previous result.
import { cidrContains } from '../../api/cidr.ts';
import type { AddressSlot } from './network-policy.ts';
import { hostBlock, type NetworkPolicyIngressRule, type NetworkPolicyPeer, type NetworkPolicySpec } from './np-ingress.ts';
import type { CompileResult, CompiledObject } from './result.ts';

/** One remote class whose addresses changed: all inside its cluster's pod CIDRs, none another workload's. */
export interface AddressChange {
  /** The class key in the cluster's source keys. */
  readonly key: string;
  readonly removed: readonly string[];
  readonly added: readonly string[];
}

interface Edit {
  readonly remove: Set<string>;
  readonly add: Set<string>;
}

/**
 * The result with the changes written in; `unchanged` when no list differs; undefined when a patch
 * cannot say it (a rule left out for having no peer would appear or one would lose its last peer):
 * then the cluster must be compiled.
 */
export function patchAddresses(
  result: CompileResult,
  slots: ReadonlyMap<string, readonly AddressSlot[]>,
  changes: readonly AddressChange[],
  wholeBlock: (cidr: string) => NetworkPolicyPeer,
): CompileResult | 'unchanged' | undefined {
  // Per rule (`object/rule`): the edit of its trailing address peers and of each `except`.
  const tails = new Map<string, { object: number; rule: number; start: number; edit: Edit }>();
  const excepts = new Map<string, { object: number; rule: number; peer: number; cidr: string; edit: Edit }>();
  const edit = (): Edit => ({ remove: new Set(), add: new Set() });
  for (const c of changes) {
    const list = slots.get(c.key);
    if (list === undefined) continue;
    for (const s of list) {
      if (s.kind === 'dropped') return undefined;
      let e: Edit;
      let pick: (ip: string) => string | undefined;
      if (s.kind === 'blocks') {
        const k = `${String(s.object)}/${String(s.rule)}`;
        const t = tails.get(k) ?? { object: s.object, rule: s.rule, start: s.start, edit: edit() };
        tails.set(k, t);
        e = t.edit;
        pick = hostBlock;
      } else {
        const k = `${String(s.object)}/${String(s.rule)}/${String(s.peer)}`;
        const x = excepts.get(k) ?? { object: s.object, rule: s.rule, peer: s.peer, cidr: s.cidr, edit: edit() };
        excepts.set(k, x);
        e = x.edit;
        pick = (ip) => {
          const b = hostBlock(ip);
          return cidrContains(s.cidr, b) ? b : undefined;
        };
      }
      for (const ip of c.removed) {
        const b = pick(ip);
        if (b !== undefined) e.remove.add(b);
      }
      for (const ip of c.added) {
        const b = pick(ip);
        if (b !== undefined) e.add.add(b);
      }
    }
  }

  const objects = result.objects.slice();
  const copied = new Map<string, NetworkPolicyPeer[]>();
  const copiedSpecs = new Map<number, NetworkPolicySpec>();
  const fromOf = (object: number, rule: number): NetworkPolicyPeer[] => {
    const k = `${String(object)}/${String(rule)}`;
    let from = copied.get(k);
    if (from === undefined) {
      const o = objects[object] as CompiledObject;
      const spec = o.spec as NetworkPolicySpec;
      // The object and its spec are copied once, the rule once; the rest is shared.
      const own = copiedSpecs.get(object) ?? { ...spec, ingress: spec.ingress.slice() };
      if (!copiedSpecs.has(object)) {
        copiedSpecs.set(object, own);
        objects[object] = { ...o, spec: own };
      }
      const r = own.ingress[rule] as NetworkPolicyIngressRule;
      from = (r.from ?? []).slice();
      own.ingress[rule] = { ...r, from };
      copied.set(k, from);
    }
    return from;
  };
  let changed = false;
  const apply = (list: readonly string[], e: Edit): string[] | undefined => {
    const set = new Set(list);
    let differs = false;
    for (const b of e.remove) differs = set.delete(b) || differs;
    for (const b of e.add) {
      if (set.has(b)) continue;
      set.add(b);
      differs = true;
    }
    return differs ? [...set].sort() : undefined;
  };
  for (const x of excepts.values()) {
    const current = ((result.objects[x.object]?.spec as NetworkPolicySpec).ingress[x.rule]?.from ?? [])[x.peer];
    const next = apply(current?.ipBlock?.except ?? [], x.edit);
    if (next === undefined) continue;
    changed = true;
    fromOf(x.object, x.rule)[x.peer] = next.length > 0 ? { ipBlock: { cidr: x.cidr, except: next } } : wholeBlock(x.cidr);
  }
  for (const t of tails.values()) {
    const peers = (result.objects[t.object]?.spec as NetworkPolicySpec).ingress[t.rule]?.from ?? [];
    const next = apply(
      peers.slice(t.start).map((p) => p.ipBlock?.cidr ?? ''),
      t.edit,
    );
    if (next === undefined) continue;
    if (t.start === 0 && next.length === 0) return undefined;
    changed = true;
    const from = fromOf(t.object, t.rule);
    from.length = t.start;
    for (const b of next) from.push({ ipBlock: { cidr: b } });
  }
  return changed ? { objects, problems: result.problems } : 'unchanged';
}
