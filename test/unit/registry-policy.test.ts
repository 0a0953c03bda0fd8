// GlobalPolicy checks on write (issue 10 §1, §6), decided by the registry's plan on the in-memory
// store fake: contradictory rules at one priority in one tier are a 400 naming both and write
// nothing; a team's tenant policy that selects outside its namespaces is a 403 and writes nothing;
// the schema's new fields (defaultDeny, namespaceSelector, Cluster spec.policy) are accepted and
// checked.
import assert from 'node:assert/strict';
import { ForbiddenError, InvalidInputError, type Problem } from '../../controlplane/api/errors.ts';
import type { GlobalPolicyResource, Resource } from '../../controlplane/api/resources.ts';
import { validateDocument } from '../../controlplane/api/validate.ts';
import { authorizeChange, canRead, type Principal } from '../../controlplane/hub/auth.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { policyOf } from '../../controlplane/registry/policy-check.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, network } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };
const team: Principal = { name: 'shop-team', role: 'team', namespaces: ['shop'], clusterSelector: { matchLabels: { env: 'prod' } } };
const asTeam = {
  authorize: (c: Parameters<typeof authorizeChange>[1]) => {
    authorizeChange(team, c);
  },
  visible: (r: Resource) => canRead(team, r),
};

function policy(namespace: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'causeway.dev/v1alpha1', kind: 'GlobalPolicy', metadata: { name, namespace }, spec };
}

const allowWeb = policy('platform', 'allow-web', {
  tier: 'platform',
  priority: 10,
  action: 'Allow',
  from: [{ namespaces: ['web'] }],
  to: [{ namespaces: ['db'] }],
  ports: [{ port: 5432 }],
});
const denyWeb = policy('platform', 'deny-web', {
  tier: 'platform',
  priority: 10,
  action: 'Deny',
  from: [{ namespaces: ['web'] }],
  to: [{ namespaces: ['db'] }],
});

describe('Registry: GlobalPolicy checks across the set on write', () => {
  let registry: Registry;
  beforeEach(async () => {
    registry = new Registry(new MemoryStore());
    await registry.apply(declared(network('aws-vpc'), cluster('prod-a', '10.1.0.0/16', '10.2.0.0/20', { labels: { env: 'prod' } })), admin);
  });

  const policies = async (): Promise<string[]> =>
    (await registry.list('GlobalPolicy')).items.map((r) => `${r.metadata.namespace ?? ''}/${r.metadata.name}`).sort();

  it('refuses contradictory rules at one tier and priority with a 400 naming both, and writes nothing', async () => {
    const err = await registry.apply(declared(allowWeb, denyWeb), admin).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof InvalidInputError, String(err));
    assert.match(err.message, /platform\/allow-web rule 0 \(Allow\) and platform\/deny-web rule 0 \(Deny\)/);
    assert.match(err.message, /ContradictoryRules/);
    assert.equal((err.problems[0] as Problem).file, 'fixture.yaml');
    assert.equal((err.problems[0] as Problem).field, 'spec.priority');
    assert.deepEqual(await policies(), []);
  });

  it('refuses the second of two contradicting policies written apart, keeping the first', async () => {
    await registry.apply(declared(allowWeb), admin);
    await assert.rejects(registry.apply(declared(denyWeb), admin), (e: unknown) => e instanceof InvalidInputError && /allow-web/.test(e.message));
    assert.deepEqual(await policies(), ['platform/allow-web']);
  });

  it('accepts the same two at different priorities, and rules that cannot match one flow at one priority', async () => {
    await registry.apply(declared(allowWeb, { ...denyWeb, spec: { ...(denyWeb.spec as object), priority: 20 } }), admin);
    await registry.apply(
      declared(
        policy('platform', 'deny-other', { tier: 'platform', priority: 10, action: 'Deny', from: [{ namespaces: ['batch'] }], to: [{ namespaces: ['db'] }] }),
      ),
      admin,
    );
    assert.deepEqual(await policies(), ['platform/allow-web', 'platform/deny-other', 'platform/deny-web']);
  });

  it("refuses a team's tenant policy that opens another namespace with a 403 and writes nothing", async () => {
    const outside = policy('shop', 'open-db', { tier: 'tenant', action: 'Allow', from: [{ namespaces: ['shop'] }], to: [{ namespaces: ['db'] }] });
    await assert.rejects(
      registry.apply(declared(outside), team, asTeam),
      (e: unknown) => e instanceof ForbiddenError && /shop\/open-db rule 0 selects workloads outside the team's namespaces \(shop\)/.test(e.message),
    );
    const dd = policy('shop', 'deny-all', {
      tier: 'tenant',
      action: 'Deny',
      from: [{ namespaces: ['shop'] }],
      to: [{ namespaces: ['shop'] }],
      defaultDeny: { namespaces: ['db'] },
    });
    await assert.rejects(
      registry.apply(declared(dd), team, asTeam),
      (e: unknown) => e instanceof ForbiddenError && /default-denies namespace db/.test(e.message),
    );
    assert.deepEqual(await policies(), []);
  });

  it("keeps the tier rule: a team's platform policy is a 403", async () => {
    const platform = policy('shop', 'mine', { tier: 'platform', action: 'Allow', from: [{ namespaces: ['shop'] }], to: [{ namespaces: ['shop'] }] });
    await assert.rejects(registry.apply(declared(platform), team, asTeam), (e: unknown) => e instanceof ForbiddenError && /tier "tenant"/.test(e.message));
  });

  it("writes a team's tenant policy inside its namespaces, with a default deny of its own", async () => {
    const inside = policy('shop', 'shop-in', {
      tier: 'tenant',
      action: 'Allow',
      from: [{ namespaceSelector: { matchLabels: { team: 'web' } } }],
      to: [{ namespaces: ['shop'], pods: { matchLabels: { app: 'cart' } } }],
      ports: [{ port: 8080 }],
      defaultDeny: { namespaces: ['shop'], clusters: { matchLabels: { env: 'prod' } } },
    });
    await registry.apply(declared(inside), team, asTeam);
    const stored = (await registry.list('GlobalPolicy')).items[0] as GlobalPolicyResource;
    const p = policyOf(stored);
    assert.deepEqual(p.defaultDeny, { namespaces: ['shop'], clusters: { matchLabels: { env: 'prod' } } });
    assert.deepEqual(p.rules[0]?.from, [{ namespaceSelector: { matchLabels: { team: 'web' } } }]);
  });
});

describe('schema: GlobalPolicy defaultDeny, peer namespaceSelector, Cluster spec.policy', () => {
  const problems = (object: Record<string, unknown>): string[] => {
    const v = validateDocument({ source: { file: 'f.yaml', document: 1 }, object });
    return v.ok ? [] : v.problems.map((p) => `${p.field}: ${p.message}`);
  };
  const base = { tier: 'platform', action: 'Deny', from: [{ namespaces: ['a'] }], to: [{ namespaces: ['b'] }] };

  const cases: { name: string; object: Record<string, unknown>; want: RegExp | undefined }[] = [
    { name: 'defaultDeny with namespaces', object: policy('p', 'x', { ...base, defaultDeny: { namespaces: ['b'] } }), want: undefined },
    { name: 'defaultDeny with no namespace', object: policy('p', 'x', { ...base, defaultDeny: { namespaces: [] } }), want: /^spec\.defaultDeny\.namespaces: / },
    {
      name: 'defaultDeny with an unknown field',
      object: policy('p', 'x', { ...base, defaultDeny: { namespaces: ['b'], pods: {} } }),
      want: /spec\.defaultDeny/,
    },
    {
      name: 'namespaceSelector with pods and clusters',
      object: policy('p', 'x', { ...base, from: [{ namespaceSelector: { matchLabels: { t: 'a' } }, pods: {}, clusters: {} }] }),
      want: undefined,
    },
    {
      name: 'namespaceSelector with cidrs',
      object: policy('p', 'x', { ...base, from: [{ namespaceSelector: {}, cidrs: ['10.0.0.0/8'] }] }),
      want: /spec\.from\[0\]\.cidrs: cidrs select addresses outside/,
    },
    {
      name: 'cluster policy format',
      object: cluster('c', '10.1.0.0/16', '10.2.0.0/20', { spec: { policy: { format: 'CiliumClusterwideNetworkPolicy', remotePeers: 'podCIDRs' } } }),
      want: undefined,
    },
    {
      name: 'cluster policy format unknown',
      object: cluster('c', '10.1.0.0/16', '10.2.0.0/20', { spec: { policy: { format: 'Antrea' } } }),
      want: /spec\.policy\.format/,
    },
    {
      name: 'cluster remotePeers unknown',
      object: cluster('c', '10.1.0.0/16', '10.2.0.0/20', { spec: { policy: { remotePeers: 'nodes' } } }),
      want: /spec\.policy\.remotePeers/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = problems(c.object);
      if (c.want === undefined) assert.deepEqual(got, []);
      else
        assert.ok(
          got.some((g) => c.want?.test(g) === true),
          got.join('\n'),
        );
    });
  }
});
