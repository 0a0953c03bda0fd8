// GlobalPolicy on the API (issue 10 §2-§4): a cluster's compiled policy objects, `explain` of one
// flow, and `plan` of proposed documents. All three read the World and the policies the policy
// controller keeps on every replica and call the pure core (controlplane/policy); no logic here
// beyond parsing, scope and shaping the answer.
import { z } from 'zod';
import { ForbiddenError, NotFoundError, UnavailableError } from '../../api/errors.ts';
import { refString } from '../../api/keys.ts';
import { API_VERSION } from '../../api/kinds.ts';
import { parseFlowQuery, type ClusterPolicyView, type ExplanationView, type PolicyPlanItem, type PolicyPlanView } from '../../api/read-model.ts';
import type { Resource } from '../../api/resources.ts';
import { explain } from '../../policy/explain.ts';
import { impact } from '../../policy/impact.ts';
import type { Flow } from '../../policy/model.ts';
import { policiesOf } from '../../registry/policy-check.ts';
import { authorizeChange, canRead, type Principal } from '../auth.ts';
import type { ClusterPolicy, PolicyController } from '../policy-controller.ts';
import { API_PREFIX, type HubApp, type HubServerDeps } from './app.ts';
import { BadParameterError } from './bad-request.ts';
import { declaredFor, principalOf, queryValue } from './requests.ts';

const explainQuery = z.object({ from: queryValue, to: queryValue, port: queryValue });
const clusterParams = z.object({ name: z.string() });

export function registerPolicyRoutes(app: HubApp, deps: HubServerDeps): void {
  const policy = (): PolicyController => {
    if (deps.policy === undefined) throw new UnavailableError('this hub does not run the policy controller');
    return deps.policy;
  };
  const readableCluster = async (principal: Principal, name: string): Promise<Resource> => {
    const r = await deps.registry.get({ kind: 'Cluster', name }).catch(() => undefined);
    // What a team may not read is absent to it, as everywhere else.
    if (r === undefined || !canRead(principal, r)) throw new NotFoundError(`Cluster/${name} not found`);
    return r;
  };

  app.get(`${API_PREFIX}/clusters/:name/policy`, { schema: { params: clusterParams } }, async (request): Promise<ClusterPolicyView> => {
    const principal = principalOf(request);
    const name = request.params.name;
    await readableCluster(principal, name);
    const result = policy().policyOf(name);
    if (result === undefined) throw new NotFoundError(`Cluster/${name} not found`);
    return clusterPolicyView(result);
  });

  app.get(`${API_PREFIX}/explain`, { schema: { querystring: explainQuery } }, async (request): Promise<ExplanationView> => {
    const principal = principalOf(request);
    const parsed = parseFlowQuery(request.query);
    if (!parsed.ok) throw new BadParameterError(parsed.field, request.query[parsed.field] ?? '', parsed.message);
    const q = parsed.value;
    await readableCluster(principal, q.from.cluster);
    if (q.to.kind === 'workload') await readableCluster(principal, q.to.cluster);
    if (
      q.to.kind === 'service' &&
      principal.role !== 'admin' &&
      !principal.namespaces.includes(q.to.namespace) &&
      !principal.namespaces.includes(q.from.namespace)
    )
      throw new ForbiddenError(
        `token "${principal.name}" (role team) may explain only flows from or to its namespaces (${principal.namespaces.join(', ') || 'none'})`,
      );
    const p = policy();
    const { world, index } = p.current();
    const flow: Flow = { from: q.from, to: q.to, protocol: q.protocol, port: q.port };
    const e = explain({ policies: index.prepared, world, routes: p.routePlan() }, flow);
    const label = (l: Readonly<Record<string, string>>): string =>
      Object.entries(l)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
    return {
      apiVersion: API_VERSION,
      kind: 'Explanation',
      from: `${q.from.cluster}/${q.from.namespace}/${label(q.from.labels)}`,
      to: q.to.kind === 'service' ? `${q.to.namespace}/${q.to.name}` : `${q.to.cluster}/${q.to.namespace}/${label(q.to.labels)}`,
      port: `${q.port}/${q.protocol}`,
      verdict: e.verdict,
      chain: e.chain,
      ...(e.decidedBy === undefined ? {} : { decidedBy: e.decidedBy }),
      ...(e.deniedAt === undefined ? {} : { deniedAt: e.deniedAt }),
    };
  });

  app.post(`${API_PREFIX}/plan`, async (request): Promise<PolicyPlanView> => {
    const principal = principalOf(request);
    const declared = declaredFor(principal, request.body);
    // The registry's own dry run: the same validation, scope and set checks as apply, nothing written.
    const changes = await deps.registry.diff(declared, {
      authorize: (c) => {
        authorizeChange(principal, c);
      },
      visible: (r) => canRead(principal, r),
    });
    const { items, revision } = await deps.registry.list();
    const proposed = new Map(items.map((r) => [refKey(r), r]));
    for (const c of changes) {
      if (c.after !== undefined) proposed.set(refString(c.ref), c.after);
      else proposed.delete(refString(c.ref));
    }
    const p = policy();
    const now = p.current();
    const world = p.worldFor([...proposed.values()].filter((r) => r.kind === 'Cluster'));
    const result = impact({ current: now.policies, proposed: policiesOf(proposed.values()), world: world.world, formats: world.formats });
    const written = changes.filter((c) => c.action !== 'unchanged');
    const classification = result.classification === 'unchanged' && written.length > 0 ? 'no-flow-changes' : result.classification;
    const readable = new Set([...proposed.values()].filter((r) => r.kind === 'Cluster' && canRead(principal, r)).map((r) => r.metadata.name));
    const planItems: PolicyPlanItem[] = result.clusters
      .filter((c) => readable.has(c.cluster))
      .map((c) => ({
        apiVersion: API_VERSION,
        kind: 'ClusterPolicyPlan',
        metadata: { name: c.cluster },
        flows: c.flows,
        objects: c.objects,
        problems: c.problems.map(problemView),
      }));
    return {
      apiVersion: API_VERSION,
      kind: 'List',
      metadata: { resourceVersion: String(revision) },
      classification,
      exitCode: classification === 'flow-changes' ? 5 : classification === 'no-flow-changes' ? 4 : 0,
      changes: written.map((c) => `${refString(c.ref)} ${c.action}`),
      items: planItems,
    };
  });
}

function refKey(r: Resource): string {
  return refString({ kind: r.kind, name: r.metadata.name, ...(r.metadata.namespace !== undefined ? { namespace: r.metadata.namespace } : {}) });
}

function problemView(p: { readonly severity: string; readonly code: string; readonly message: string }): { severity: string; code: string; message: string } {
  return { severity: p.severity, code: p.code, message: p.message };
}

function clusterPolicyView(r: ClusterPolicy): ClusterPolicyView {
  return {
    apiVersion: API_VERSION,
    kind: 'ClusterPolicy',
    metadata: { name: r.cluster },
    format: r.format,
    current: r.current,
    objects: r.objects as unknown as Readonly<Record<string, unknown>>[],
    problems: r.problems.map(problemView),
    policies: r.policies,
  };
}
