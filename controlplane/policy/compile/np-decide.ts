// The reference evaluator's verdicts in bulk, for the NetworkPolicy compiler: each source a bit,
// each rule the bitset of the sources its `from` selects; for one destination class, ports that the
// same rules cover are decided together by walking those rules in evaluation order over whole
// bitsets (first match per tier, Pass skips the rest of its tier and its default deny, nothing
// matched is allowed). Byte-identical to deciding every (source, port) with evaluate.ts.
import { portsMatch, type OrderedRule, type Prepared } from '../evaluate.ts';
import { TIERS, policyKey, type Policy } from '../model.ts';
import { portAtoms, type PortAtom } from './atoms.ts';

export const WORD = 32;

/** Bit i set: source i. */
export function has(bits: Uint32Array, i: number): boolean {
  return ((bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
}

export interface Decision {
  readonly allowed: Uint32Array;
  /** Every source is allowed. */
  readonly full: boolean;
  /** The policies that decided something (a Pass decides nothing). */
  readonly policies: readonly string[];
  sig?: string;
}

/** The sources as bits: `mask` has a bit for each, in `nWords` words. */
export interface Bits {
  readonly nWords: number;
  readonly mask: Uint32Array;
  readonly fromBits: ReadonlyMap<number, Uint32Array>;
}

export function sourceMask(count: number): { nWords: number; mask: Uint32Array } {
  const nWords = Math.ceil(count / WORD);
  const mask = new Uint32Array(nWords).fill(0xffffffff);
  if (count % WORD !== 0) mask[nWords - 1] = (1 << (count % WORD)) - 1;
  return { nWords, mask };
}

/** Every port interval of one destination class and its decision (intervals covered by the same rules share one). */
export function decideDestination(
  prepared: Prepared,
  rules: ArrayLike<number>,
  dd: readonly (Policy | undefined)[],
  bits: Bits,
): { ports: PortAtom[]; decisions: Decision[] } {
  const ruleList = Array.from(rules, (pos) => prepared.rules[pos] as OrderedRule);
  const ports = portAtoms(ruleList.map((r) => r.rule));
  const bySubset = new Map<string, Decision>();
  const decisions = ports.map((p) => {
    const subset: number[] = [];
    for (let k = 0; k < rules.length; k++) {
      const pos = rules[k] as number;
      if (portsMatch((prepared.rules[pos] as OrderedRule).rule.ports, p.protocol, p.port)) subset.push(pos);
    }
    const sig = subset.join(',');
    let d = bySubset.get(sig);
    if (d === undefined) {
      d = decide(prepared, subset, dd, bits);
      bySubset.set(sig, d);
    }
    return d;
  });
  return { ports, decisions };
}

/**
 * The reference evaluator's verdicts for every source at once, for one destination class and the
 * rules that match at one port interval (in evaluation order): first match per tier, Pass skips the
 * rest of its tier and its default deny, nothing matched is allowed.
 */
export function decide(prepared: Prepared, subset: readonly number[], dd: readonly (Policy | undefined)[], bits: Bits): Decision {
  const { nWords, mask, fromBits } = bits;
  const decided = new Uint32Array(nWords);
  const allowed = new Uint32Array(nWords);
  const passed = new Uint32Array(nWords);
  const policies = new Set<string>();
  let k = 0;
  for (let t = 0; t < TIERS.length; t++) {
    passed.fill(0);
    for (; k < subset.length; k++) {
      const r = prepared.rules[subset[k] as number] as OrderedRule;
      if (r.tierIndex !== t) break;
      const from = fromBits.get(subset[k] as number) as Uint32Array;
      const action = r.rule.action;
      let any = 0;
      for (let w = 0; w < nWords; w++) {
        const hit = (from[w] as number) & ~(decided[w] as number) & ~(passed[w] as number);
        if (hit === 0) continue;
        any |= hit;
        if (action === 'Pass') passed[w] = (passed[w] as number) | hit;
        else {
          decided[w] = (decided[w] as number) | hit;
          if (action === 'Allow') allowed[w] = (allowed[w] as number) | hit;
        }
      }
      if (any !== 0 && action !== 'Pass') policies.add(r.key);
    }
    const d = dd[t];
    if (d !== undefined) {
      let any = 0;
      for (let w = 0; w < nWords; w++) {
        const rest = ~(decided[w] as number) & ~(passed[w] as number) & (mask[w] as number);
        any |= rest;
        decided[w] = (decided[w] as number) | rest;
      }
      if (any !== 0) policies.add(policyKey(d));
    }
  }
  let full = true;
  for (let w = 0; w < nWords; w++) {
    allowed[w] = ((allowed[w] as number) | (~(decided[w] as number) & (mask[w] as number))) >>> 0;
    if (allowed[w] !== (mask[w] as number) >>> 0) full = false;
  }
  return { allowed, full, policies: [...policies] };
}
