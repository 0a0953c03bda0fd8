// Problems of a whole set of GlobalPolicies (docs/policy.md): contradictory rules at one priority
// in one tier (error, naming both), peers that select nothing in the world (warning), tenant
// policies outside their author's namespaces (error) and tenant Allows a platform Deny decides
// first (warning). The hub runs it on write with the writer's scope; `plan` runs it on proposals.
import { peerMatches, prepare, type OrderedRule } from './evaluate.ts';
import { cidrsOverlap } from '../api/cidr.ts';
import { ProblemCode, type Endpoint, type Peer, type Policy, type PortRange, type Problem, type World } from './model.ts';

/** The part of the hub's Principal this needs (controlplane/hub/auth.ts): a team's namespaces. */
export interface PolicyAuthor {
  readonly role: 'admin' | 'team';
  readonly namespaces: readonly string[];
}

function portsOverlap(a: readonly PortRange[] | undefined, b: readonly PortRange[] | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  return a.some((x) => b.some((y) => (x.protocol ?? 'TCP') === (y.protocol ?? 'TCP') && x.port <= (y.endPort ?? y.port) && y.port <= (x.endPort ?? x.port)));
}

/** False only when no endpoint can match both peers (conservative: true when unsure). */
function peersMayOverlap(p: Peer, q: Peer): boolean {
  if ((p.cidrs === undefined) !== (q.cidrs === undefined)) return false;
  if (p.cidrs !== undefined && q.cidrs !== undefined) return p.cidrs.some((a) => q.cidrs?.some((b) => cidrsOverlap(a, b)) === true);
  if (p.namespaces !== undefined && q.namespaces !== undefined && !p.namespaces.some((n) => q.namespaces?.includes(n) === true)) return false;
  for (const [x, y] of [
    [p.pods, q.pods],
    [p.clusters, q.clusters],
  ] as const) {
    for (const [k, v] of Object.entries(x?.matchLabels ?? {})) {
      const w = y?.matchLabels?.[k];
      if (w !== undefined && w !== v) return false;
    }
  }
  if (p.service !== undefined && q.service !== undefined && (p.service.namespace !== q.service.namespace || p.service.name !== q.service.name)) return false;
  return true;
}

/** False only when no flow can match both rules (conservative: true when unsure). */
export function rulesMayOverlap(a: OrderedRule, b: OrderedRule): boolean {
  return (
    portsOverlap(a.rule.ports, b.rule.ports) &&
    a.rule.from.some((p) => b.rule.from.some((q) => peersMayOverlap(p, q))) &&
    a.rule.to.some((p) => b.rule.to.some((q) => peersMayOverlap(p, q)))
  );
}

function insideScope(p: Peer, scope: readonly string[]): boolean {
  if (p.cidrs !== undefined) return false;
  if (p.service !== undefined) return scope.includes(p.service.namespace) && (p.namespaces === undefined || p.namespaces.every((n) => scope.includes(n)));
  return p.namespaces !== undefined && p.namespaces.every((n) => scope.includes(n));
}

/**
 * Problems of the set. With `author` a team, the tenant policies in `written` (default: all of
 * them) are checked against its namespaces.
 */
export function validateSet(policies: readonly Policy[], world: World, author?: PolicyAuthor, written?: readonly string[]): Problem[] {
  const prepared = prepare(policies, world);
  const problems: Problem[] = [];
  const rules = prepared.rules;
  // Contradictions: same tier, same priority, different actions, a flow both can match.
  for (let i = 0; i < rules.length; i++) {
    const a = rules[i] as OrderedRule;
    for (let j = i + 1; j < rules.length; j++) {
      const b = rules[j] as OrderedRule;
      if (b.tierIndex !== a.tierIndex || b.policy.priority !== a.policy.priority) break;
      if (a.rule.action === b.rule.action || !rulesMayOverlap(a, b)) continue;
      problems.push({
        severity: 'error',
        code: ProblemCode.ContradictoryRules,
        policies: [a.key, b.key],
        message: `${a.key} rule ${a.index} (${a.rule.action}) and ${b.key} rule ${b.index} (${b.rule.action}) are both ${a.policy.tier} priority ${a.policy.priority} and can match the same flow: give one a lower priority number`,
      });
    }
  }
  // Peers that select nothing.
  const endpoints: Endpoint[] = world.workloads.map((w) => ({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels }));
  for (const r of rules) {
    for (const side of ['from', 'to'] as const) {
      r.rule[side].forEach((peer, k) => {
        if (peer.cidrs !== undefined || endpoints.some((e) => peerMatches(peer, e, prepared.index))) return;
        problems.push({
          severity: 'warning',
          code: ProblemCode.SelectsNothing,
          policies: [r.key],
          rule: r.index,
          message: `${r.key} rule ${r.index} ${side}[${k}] selects no workload (yet)`,
        });
      });
    }
  }
  // Tenant scope.
  if (author?.role === 'team') {
    const scope = author.namespaces;
    for (const p of policies) {
      const key = `${p.namespace}/${p.name}`;
      if (written !== undefined && !written.includes(key)) continue;
      if (p.tier !== 'tenant') {
        problems.push({
          severity: 'error',
          code: ProblemCode.OutsideScope,
          policies: [key],
          message: `${key}: a team may write only tenant-tier policies (this one is ${p.tier})`,
        });
        continue;
      }
      p.rules.forEach((rule, i) => {
        const toInside = rule.to.every((x) => insideScope(x, scope));
        const fromInside = rule.from.every((x) => insideScope(x, scope));
        if (toInside || (rule.action === 'Deny' && fromInside)) return;
        problems.push({
          severity: 'error',
          code: ProblemCode.OutsideScope,
          policies: [key],
          rule: i,
          message: `${key} rule ${i} selects workloads outside the team's namespaces (${scope.join(', ') || 'none'}): name them in every to peer${rule.action === 'Deny' ? ' (or every from peer)' : ''}`,
        });
      });
      for (const n of p.defaultDeny?.namespaces ?? []) {
        if (!scope.includes(n))
          problems.push({
            severity: 'error',
            code: ProblemCode.OutsideScope,
            policies: [key],
            rule: 'default-deny',
            message: `${key} default-denies namespace ${n}, which is not the team's`,
          });
      }
    }
  }
  // Tenant Allows a platform Deny decides first, on a flow the world holds.
  for (const t of rules.filter((r) => r.policy.tier === 'tenant' && r.rule.action === 'Allow')) {
    for (const d of rules.filter((r) => r.policy.tier === 'platform' && r.rule.action === 'Deny')) {
      const both = (side: 'from' | 'to'): boolean =>
        endpoints.some((e) => t.rule[side].some((p) => peerMatches(p, e, prepared.index)) && d.rule[side].some((p) => peerMatches(p, e, prepared.index)));
      if (portsOverlap(t.rule.ports, d.rule.ports) && both('from') && both('to')) {
        problems.push({
          severity: 'warning',
          code: ProblemCode.ShadowedByPlatformDeny,
          policies: [t.key, d.key],
          message: `${t.key} rule ${t.index} allows flows that ${d.key} (platform Deny) denies first: it has no effect there`,
        });
      }
    }
  }
  return problems;
}
