// GlobalPolicy checks across the set, run on every registry write (issue 10 §1, §6): a write
// that leaves two rules contradicting each other at one priority in one tier is refused naming
// both (400), and a team's tenant policy that selects outside the team's namespaces is refused as
// forbidden (403). Both are errors of `validateSet` (controlplane/policy/validate-set.ts); its
// warnings (a selector that matches nothing yet) are not the writer's fault and are reported as a
// condition by the hub's policy controller instead.
import { ForbiddenError, InvalidInputError, type Problem } from '../api/errors.ts';
import type { GlobalPolicyResource, Resource } from '../api/resources.ts';
import type { Source } from '../api/validate.ts';
import { policyFromResource, ProblemCode, type Policy, type World } from '../policy/model.ts';
import { validateSet, type PolicyAuthor } from '../policy/validate-set.ts';

/**
 * The semantics' view of a stored or proposed GlobalPolicy, with every field the schema has.
 * (`policyFromResource` does not carry spec.defaultDeny yet; this adds it until it does.)
 */
export function policyOf(r: GlobalPolicyResource): Policy {
  const p = policyFromResource(r);
  const dd = r.spec.defaultDeny;
  return p.defaultDeny !== undefined || dd === undefined ? p : { ...p, defaultDeny: dd };
}

export function policiesOf(resources: Iterable<Resource>): Policy[] {
  const out: Policy[] = [];
  for (const r of resources) if (r.kind === 'GlobalPolicy') out.push(policyOf(r));
  return out;
}

/** Contradictions need no workloads: clusters are enough for the evaluator's index. */
function registryWorld(resources: Iterable<Resource>): World {
  const clusters = [];
  for (const r of resources) if (r.kind === 'Cluster') clusters.push({ name: r.metadata.name, labels: r.metadata.labels ?? {}, podCIDRs: [] });
  return { clusters, namespaces: [], workloads: [], services: [] };
}

const keyOf = (ref: string): string => ref.slice('GlobalPolicy/'.length);

/**
 * A team's rule that only lets its own pods reach addresses outside the clusterset (every `from`
 * names only its namespaces, every `to` is `cidrs`) opens nobody else's workloads: it is the
 * team's to write, as it was before validateSet (which counts any `cidrs` destination as outside).
 */
function ownEgress(
  p: { readonly policies?: readonly string[]; readonly rule?: number | 'default-deny' },
  policies: readonly Policy[],
  scope: readonly string[],
): boolean {
  if (typeof p.rule !== 'number') return false;
  const policy = policies.find((x) => `${x.namespace}/${x.name}` === p.policies?.[0]);
  const rule = policy?.rules[p.rule];
  if (rule === undefined) return false;
  const own = (x: Policy['rules'][number]['from'][number]): boolean =>
    x.cidrs === undefined && x.namespaces !== undefined && x.namespaces.every((n) => scope.includes(n));
  return rule.from.every(own) && rule.to.every((x) => x.cidrs !== undefined);
}

/**
 * Throws when the write makes the policy set worse: contradictions that involve a changed policy
 * and that the set did not already have, and scope violations in what a team writes.
 * `changed` holds registry refs (`GlobalPolicy/ns/name`) of what this write creates or updates.
 */
export function checkPolicyWrite(input: {
  readonly before: ReadonlyMap<string, Resource>;
  readonly after: ReadonlyMap<string, Resource>;
  readonly changed: ReadonlySet<string>;
  readonly sources: ReadonlyMap<string, Source>;
  readonly author?: PolicyAuthor | undefined;
  readonly visible: (r: Resource) => boolean;
}): void {
  const written = [...input.changed].filter((ref) => ref.startsWith('GlobalPolicy/') && input.after.has(ref));
  if (written.length === 0) return;
  const policies = policiesOf(input.after.values());
  const world = registryWorld(input.after.values());
  const writtenKeys = written.map(keyOf);
  const problems = validateSet(policies, world, input.author?.role === 'team' ? input.author : undefined, writtenKeys).filter((p) => p.severity === 'error');

  const scope = problems.filter((p) => p.code === ProblemCode.OutsideScope && !ownEgress(p, policies, input.author?.namespaces ?? []));
  if (scope.length > 0) throw new ForbiddenError(scope.map((p) => p.message).join('; '));

  const old = new Set(
    validateSet(policiesOf(input.before.values()), registryWorld(input.before.values()))
      .filter((p) => p.code === ProblemCode.ContradictoryRules)
      .map((p) => p.message),
  );
  const contradictions = problems.filter(
    (p) => p.code === ProblemCode.ContradictoryRules && !old.has(p.message) && (p.policies ?? []).some((k) => writtenKeys.includes(k)),
  );
  if (contradictions.length === 0) return;
  const out: Problem[] = [];
  for (const c of contradictions) {
    const involved = c.policies ?? [];
    const own = involved.find((k) => writtenKeys.includes(k)) ?? involved[0] ?? '';
    const ref = `GlobalPolicy/${own}`;
    const source = input.sources.get(ref) ?? {};
    // The other policy may be one the writer may not read (another team's): name it only if visible.
    const hidden = involved.some((k) => {
      const r = input.after.get(`GlobalPolicy/${k}`);
      return r !== undefined && !input.visible(r);
    });
    out.push({
      ...(source.file !== undefined ? { file: source.file } : {}),
      ...(source.document !== undefined ? { document: source.document } : {}),
      kind: 'GlobalPolicy',
      name: own.slice(own.indexOf('/') + 1),
      field: 'spec.priority',
      message: hidden
        ? `${own} contradicts a policy you may not see at the same tier and priority (ContradictoryRules): give it another priority`
        : `ContradictoryRules: ${c.message}`,
    });
  }
  throw new InvalidInputError(out);
}
