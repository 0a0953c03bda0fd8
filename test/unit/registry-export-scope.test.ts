// A team's ExternalService reaches only clusters of its own selector (issue 12 §3): whether one
// label selector selects a subset of another, and the default audience of a team's export.
// Table-driven and synchronous.
import assert from 'node:assert/strict';
import { ForbiddenError } from '../../controlplane/api/errors.ts';
import type { LabelSelector } from '../../controlplane/api/labels.ts';
import { authorizeChange, selectorWithin, withTeamDefaults, type Principal } from '../../controlplane/hub/auth.ts';
import { declared, externalService } from '../fixtures/resources.ts';

const In = (key: string, ...values: string[]) => ({ key, operator: 'In' as const, values });
const NotIn = (key: string, ...values: string[]) => ({ key, operator: 'NotIn' as const, values });
const Exists = (key: string) => ({ key, operator: 'Exists' as const });
const DoesNotExist = (key: string) => ({ key, operator: 'DoesNotExist' as const });

describe('selectorWithin: every cluster the inner selector selects, the outer selects too', () => {
  const table: { inner: LabelSelector; outer: LabelSelector; within: boolean }[] = [
    { inner: { matchLabels: { gpu: 'true' } }, outer: { matchLabels: { gpu: 'true' } }, within: true },
    { inner: { matchLabels: { gpu: 'true', zone: 'a' } }, outer: { matchLabels: { gpu: 'true' } }, within: true },
    { inner: { matchLabels: { zone: 'a' } }, outer: { matchLabels: { gpu: 'true' } }, within: false },
    { inner: {}, outer: { matchLabels: { gpu: 'true' } }, within: false },
    { inner: { matchLabels: { gpu: 'true' } }, outer: {}, within: true },
    { inner: { matchLabels: { gpu: 'false' } }, outer: { matchLabels: { gpu: 'true' } }, within: false },
    { inner: { matchExpressions: [In('gpu', 'true')] }, outer: { matchLabels: { gpu: 'true' } }, within: true },
    { inner: { matchExpressions: [In('gpu', 'true', 'false')] }, outer: { matchLabels: { gpu: 'true' } }, within: false },
    { inner: { matchLabels: { env: 'a' } }, outer: { matchExpressions: [In('env', 'a', 'b')] }, within: true },
    { inner: { matchExpressions: [In('env', 'a')] }, outer: { matchExpressions: [NotIn('env', 'b')] }, within: true },
    { inner: { matchExpressions: [In('env', 'b')] }, outer: { matchExpressions: [NotIn('env', 'b')] }, within: false },
    { inner: { matchExpressions: [NotIn('env', 'b', 'c')] }, outer: { matchExpressions: [NotIn('env', 'b')] }, within: true },
    { inner: { matchExpressions: [NotIn('env', 'c')] }, outer: { matchExpressions: [NotIn('env', 'b')] }, within: false },
    { inner: { matchExpressions: [DoesNotExist('env')] }, outer: { matchExpressions: [NotIn('env', 'b')] }, within: true },
    { inner: { matchLabels: { env: 'a' } }, outer: { matchExpressions: [Exists('env')] }, within: true },
    { inner: { matchExpressions: [Exists('env')] }, outer: { matchLabels: { env: 'a' } }, within: false },
    { inner: { matchExpressions: [DoesNotExist('env')] }, outer: { matchExpressions: [DoesNotExist('env')] }, within: true },
    { inner: { matchExpressions: [NotIn('env', 'a')] }, outer: { matchExpressions: [DoesNotExist('env')] }, within: false },
  ];
  for (const t of table) {
    it(`${JSON.stringify(t.inner)} within ${JSON.stringify(t.outer)}: ${t.within}`, () => {
      assert.equal(selectorWithin(t.inner, t.outer), t.within);
    });
  }
});

describe("a team's ExternalService audience", () => {
  const team: Principal = { name: 'gpu-team', role: 'team', namespaces: ['ml'], clusterSelector: { matchLabels: { gpu: 'true' } } };
  const noSelector: Principal = { name: 'bare', role: 'team', namespaces: ['ml'] };
  const admin: Principal = { name: 'admin', role: 'admin', namespaces: [] };
  const es = (exportTo?: LabelSelector) => {
    const base = externalService('ml', 'db') as { spec: Record<string, unknown> };
    const [d] = declared({ ...base, spec: { ...base.spec, ...(exportTo !== undefined ? { exportTo: { clusterSelector: exportTo } } : {}) } });
    assert.ok(d !== undefined);
    return d.resource;
  };
  const exportOf = (r: ReturnType<typeof es>): unknown => (r.kind === 'ExternalService' ? r.spec.exportTo : 'not an ExternalService');

  const defaults: { name: string; p: Principal; exportTo?: LabelSelector; want: unknown }[] = [
    { name: 'a team without exportTo gets its own selector', p: team, want: { clusterSelector: { matchLabels: { gpu: 'true' } } } },
    { name: 'a team with exportTo keeps it', p: team, exportTo: { matchLabels: { zone: 'a' } }, want: { clusterSelector: { matchLabels: { zone: 'a' } } } },
    { name: 'an admin without exportTo keeps none (every cluster)', p: admin, want: undefined },
    { name: 'a team without a selector gets none (and is refused below)', p: noSelector, want: undefined },
  ];
  for (const t of defaults) {
    it(`withTeamDefaults: ${t.name}`, () => {
      assert.deepEqual(exportOf(withTeamDefaults(t.p, es(t.exportTo))), t.want);
    });
  }

  const authorizations: { name: string; p: Principal; exportTo?: LabelSelector; refused?: RegExp }[] = [
    { name: 'a team exporting inside its selector', p: team, exportTo: { matchLabels: { gpu: 'true', zone: 'a' } } },
    {
      name: 'a team exporting outside its selector',
      p: team,
      exportTo: { matchLabels: { zone: 'a' } },
      refused: /spec\.exportTo\.clusterSelector zone=a reaches beyond the team's cluster selector gpu=true/,
    },
    { name: 'a team exporting to every cluster', p: team, refused: /spec\.exportTo\.clusterSelector \(absent: every cluster\) reaches beyond/ },
    { name: 'a team without a selector', p: noSelector, exportTo: {}, refused: /the team has no cluster selector, so it may export to no cluster/ },
    { name: 'an admin exporting to every cluster', p: admin },
  ];
  for (const t of authorizations) {
    it(`authorizeChange: ${t.name}: ${t.refused === undefined ? 'allowed' : 'refused'}`, () => {
      const run = () => {
        authorizeChange(t.p, { ref: { kind: 'ExternalService', namespace: 'ml', name: 'db' }, action: 'created', after: es(t.exportTo) });
      };
      if (t.refused === undefined) run();
      else assert.throws(run, (err: unknown) => err instanceof ForbiddenError && (t.refused as RegExp).test(err.message));
    });
  }

  it("authorizeChange: a team's delete of an ExternalService an admin exported to every cluster is allowed", () => {
    authorizeChange(team, { ref: { kind: 'ExternalService', namespace: 'ml', name: 'db' }, action: 'deleted', before: es() });
  });
});
