// The pieces of Calico's projectcalico.org/v3 policy model the Calico compiler writes (calico.ts):
// label selectors in Calico's selector syntax, entity rules, and the shapes of Tier and
// GlobalNetworkPolicy. A Kubernetes LabelSelector becomes the Calico expression with the same
// meaning: `k == 'v'`, `k in {...}`, `k not in {...}` (true where the label is absent, as NotIn),
// `has(k)`, `!has(k)`, joined by `&&`; the empty selector is `all()`.
import { ipFamily } from '../../api/cidr.ts';
import type { LabelSelector } from '../../api/labels.ts';
import type { PortRange, Protocol } from '../model.ts';

export const CALICO_API_VERSION = 'projectcalico.org/v3';

export interface CalicoEntityRule {
  selector?: string;
  namespaceSelector?: string;
  nets?: string[];
  notNets?: string[];
  ports?: (number | string)[];
}

export interface CalicoRule {
  action: 'Allow' | 'Deny' | 'Pass';
  protocol?: Protocol;
  source?: CalicoEntityRule;
  destination?: CalicoEntityRule;
}

export interface TierSpec {
  order: number;
  defaultAction: 'Deny' | 'Pass';
}

export interface GlobalNetworkPolicySpec {
  tier: string;
  order: number;
  /** Applies to workload endpoints only: `namespaceSelector` is always set (`all()` for every namespace). */
  namespaceSelector: string;
  selector: string;
  types: ('Ingress' | 'Egress')[];
  ingress?: CalicoRule[];
  egress?: CalicoRule[];
}

const quote = (v: string): string => `'${v}'`;
const set = (values: readonly string[]): string => `{${[...values].sort().map(quote).join(', ')}}`;

/** A Kubernetes label selector as a Calico selector expression. */
export function calicoSelector(s: LabelSelector): string {
  const terms: string[] = [];
  for (const [k, v] of Object.entries(s.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) terms.push(`${k} == ${quote(v)}`);
  for (const e of s.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
        terms.push(`${e.key} in ${set(e.values ?? [])}`);
        break;
      case 'NotIn':
        terms.push(`${e.key} not in ${set(e.values ?? [])}`);
        break;
      case 'Exists':
        terms.push(`has(${e.key})`);
        break;
      case 'DoesNotExist':
        terms.push(`!has(${e.key})`);
        break;
    }
  }
  return terms.length === 0 ? 'all()' : terms.join(' && ');
}

/** CIDRs of one family, sorted and distinct. */
export function ofFamily(cidrs: Iterable<string>, family: 4 | 6): string[] {
  return [...new Set([...cidrs].filter((c) => ipFamily(c) === family))].sort();
}

/** Port ranges grouped by protocol, as Calico writes them: a number, or `"from:to"`. */
export function calicoPorts(ports: readonly PortRange[] | undefined): { protocol?: Protocol; ports?: (number | string)[] }[] {
  if (ports === undefined) return [{}];
  const by = new Map<Protocol, (number | string)[]>();
  for (const p of ports) {
    const protocol = p.protocol ?? 'TCP';
    const list = by.get(protocol) ?? [];
    const end = p.endPort ?? p.port;
    list.push(end > p.port ? `${p.port}:${end}` : p.port);
    by.set(protocol, list);
  }
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([protocol, list]) => ({ protocol, ports: list }));
}
