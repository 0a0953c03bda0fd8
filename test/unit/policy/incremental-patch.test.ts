// Incremental recompilation where it patches addresses in (compile/address-patch.ts), as a
// property over worlds built to write remote pods' addresses: pods picked by label from other
// clusters, default denies and Denies that carve pods out of a pod CIDR (`except`), clusters with
// two pod CIDRs (IPv4 and IPv6, or two IPv4), pods with two addresses, clusters taking remote
// peers as pod CIDRs. Changes move a pod (within its CIDRs, to an address outside them, onto an
// address in use), restart it (removed, then added with a new address), relabel it, add one,
// remove one or move it to another cluster. After every change each cluster's result is what a
// compile from scratch gives, whether the change left it alone, patched it or compiled it — and,
// with `defer`, once the stale clusters are compiled.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster } from '../../../controlplane/policy/compile/index.ts';
import { compileAll, compileCluster, recompileAfterEndpointChange, type Compilation } from '../../../controlplane/policy/compile/incremental.ts';
import type { ClusterInfo, Peer, Policy, Workload, World } from '../../../controlplane/policy/model.ts';

const APPS = ['web', 'db', 'api'] as const;
const CIDRS = { v4: (i: number) => `10.${i}.0.0/16`, v6: (i: number) => `fd00:${i}::/64`, v4b: (i: number) => `10.1${i}.0.0/16` };
type Second = 'none' | 'v6' | 'v4b';

function address(cluster: number, second: Second, host: number, which: 0 | 1): string {
  if (which === 0 || second === 'none') return `10.${cluster}.0.${host}`;
  return second === 'v6' ? `fd00:${cluster}::${host.toString(16)}` : `10.1${cluster}.0.${host}`;
}

interface Shape {
  readonly second: readonly Second[];
}

const worldArb: fc.Arbitrary<{ world: World; shape: Shape }> = fc
  .record({
    env: fc.array(fc.constantFrom('prod', 'dev'), { minLength: 4, maxLength: 4 }),
    second: fc.array(fc.constantFrom<Second>('none', 'none', 'v6', 'v4b'), { minLength: 4, maxLength: 4 }),
    byCidr: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }).map((b) => b.map((x, i) => x && i === 3)),
    workloads: fc.array(
      fc.record({ cluster: fc.nat(3), ns: fc.constantFrom('a', 'b'), app: fc.constantFrom(...APPS), canary: fc.boolean(), two: fc.boolean() }),
      { minLength: 3, maxLength: 10 },
    ),
    exporters: fc.subarray(['c0', 'c1', 'c2', 'c3']),
  })
  .map((r) => ({
    shape: { second: r.second },
    world: {
      clusters: [0, 1, 2, 3].map((i): ClusterInfo => ({
        name: `c${i}`,
        labels: { env: r.env[i] ?? 'prod' },
        podCIDRs: r.second[i] === 'none' ? [CIDRS.v4(i)] : [CIDRS.v4(i), CIDRS[r.second[i] as 'v6' | 'v4b'](i)],
        ...(r.byCidr[i] === true ? { remotePeers: 'podCIDRs' as const } : {}),
      })),
      namespaces: [0, 1, 2, 3].flatMap((i) => ['a', 'b'].map((n) => ({ cluster: `c${i}`, name: n, labels: { team: n === 'a' ? 'x' : 'y' } }))),
      workloads: r.workloads.map((w, i): Workload => {
        const second = r.second[w.cluster] ?? 'none';
        return {
          cluster: `c${w.cluster}`,
          namespace: w.ns,
          labels: { app: w.app, ...(w.canary ? { track: 'canary' } : {}) },
          ips:
            w.two && second !== 'none' ? [address(w.cluster, second, i + 1, 0), address(w.cluster, second, i + 1, 1)] : [address(w.cluster, second, i + 1, 0)],
        };
      }),
      services: [{ namespace: 'a', name: 's', selector: { matchLabels: { app: 'db' } }, exporters: r.exporters }],
    },
  }));

const peerArb: fc.Arbitrary<Peer> = fc.oneof(
  fc.constantFrom(...APPS).map((app): Peer => ({ pods: { matchLabels: { app } } })),
  fc
    .record({ app: fc.constantFrom(...APPS), env: fc.constantFrom('prod', 'dev') })
    .map(({ app, env }): Peer => ({ clusters: { matchLabels: { env } }, pods: { matchLabels: { app } } })),
  fc.constantFrom<Peer>(
    { pods: { matchLabels: { track: 'canary' } } },
    { namespaces: ['b'] },
    { namespaceSelector: { matchLabels: { team: 'y' } }, pods: { matchLabels: { app: 'web' } } },
    { service: { namespace: 'a', name: 's' } },
    { clusters: { matchLabels: { env: 'dev' } } },
  ),
);

const policiesArb: fc.Arbitrary<Policy[]> = fc
  .array(
    fc.record({
      tier: fc.constantFrom('platform', 'tenant', 'baseline'),
      action: fc.constantFrom('Allow', 'Allow', 'Deny', 'Pass'),
      from: fc.array(peerArb, { minLength: 1, maxLength: 2 }),
      to: fc.constantFrom<Peer[]>(
        [{ namespaces: ['a'] }],
        [{ namespaces: ['b'] }],
        [{ pods: { matchLabels: { app: 'db' } } }],
        [{ service: { namespace: 'a', name: 's' } }],
      ),
      port: fc.constantFrom(undefined, 80, 8000),
      defaultDeny: fc.constantFrom(undefined, ['a'], ['b'], ['a', 'b']),
    }),
    { minLength: 1, maxLength: 5 },
  )
  .map((rs) =>
    rs.map((r, i): Policy => ({
      namespace: 'a',
      name: `p${i}`,
      tier: r.tier,
      priority: i,
      rules: [{ action: r.action, from: r.from, to: r.to, ...(r.port === undefined ? {} : { ports: [{ protocol: 'TCP' as const, port: r.port }] }) }],
      ...(r.defaultDeny === undefined ? {} : { defaultDeny: { namespaces: r.defaultDeny } }),
    })),
  );

type Change = {
  kind: 'move' | 'restart' | 'relabel' | 'add' | 'remove' | 'migrate' | 'outside' | 'collide';
  pick: number;
  to: number;
  host: number;
  app: (typeof APPS)[number];
  two: boolean;
};

const changeArb: fc.Arbitrary<Change> = fc.record({
  kind: fc.constantFrom('move', 'move', 'move', 'restart', 'restart', 'relabel', 'add', 'remove', 'migrate', 'outside', 'collide'),
  pick: fc.nat(20),
  to: fc.nat(3),
  host: fc.integer({ min: 100, max: 140 }),
  app: fc.constantFrom(...APPS),
  two: fc.boolean(),
});

/** One change as the steps the core sees (a restart is a removal, then an addition). */
function steps(w: World, shape: Shape, c: Change): { world: World; before?: Workload; after?: Workload }[] {
  const k = c.pick % w.workloads.length;
  const old = w.workloads[k] as Workload;
  const n = Number(old.cluster.slice(1));
  const ips = (cluster: number): string[] => {
    const second = shape.second[cluster] ?? 'none';
    return c.two && second !== 'none' ? [address(cluster, second, c.host, 0), address(cluster, second, c.host, 1)] : [address(cluster, second, c.host, 0)];
  };
  const replace = (world: World, next: Workload | undefined): World => ({
    ...world,
    workloads: next === undefined ? world.workloads.filter((x) => x !== old) : world.workloads.map((x) => (x === old ? next : x)),
  });
  const swap = (after: Workload): { world: World; before: Workload; after: Workload }[] => [{ world: replace(w, after), before: old, after }];
  switch (c.kind) {
    case 'move':
      return swap({ ...old, ips: ips(n) });
    case 'outside':
      return swap({ ...old, ips: [`192.168.9.${c.host}`] });
    case 'collide': {
      const other = w.workloads[(k + 1) % w.workloads.length] as Workload;
      return swap({ ...old, ips: [...other.ips] });
    }
    case 'relabel':
      return swap({ ...old, labels: { app: c.app } });
    case 'migrate': {
      const to = c.to === n ? (n + 1) % 4 : c.to;
      return swap({ ...old, cluster: `c${to}`, ips: ips(to) });
    }
    case 'remove':
      return [{ world: replace(w, undefined), before: old }];
    case 'add': {
      const after: Workload = { cluster: `c${c.to}`, namespace: 'a', labels: { app: c.app }, ips: ips(c.to) };
      return [{ world: { ...w, workloads: [...w.workloads, after] }, after }];
    }
    case 'restart': {
      const gone = replace(w, undefined);
      const after: Workload = { ...old, ips: ips(n) };
      return [
        { world: gone, before: old },
        { world: { ...gone, workloads: [...gone.workloads, after] }, after },
      ];
    }
  }
}

function assertFresh(state: Compilation, policies: readonly Policy[], world: World, what: string): void {
  for (const cl of world.clusters) {
    assert.equal(JSON.stringify(state.results.get(cl.name)), JSON.stringify(compileForCluster(policies, world, cl.name)), `${cl.name} after ${what}`);
  }
}

describe('policy: incremental recompilation patching addresses', function () {
  this.timeout(120_000);

  it('a pod moving inside an except list and a dual-stack pod moving are patched to what a compile gives', () => {
    // c0's namespace a admits every pod but c1's db pods: c1's pod CIDRs with the db pod carved out.
    const world: World = {
      clusters: [
        { name: 'c0', labels: {}, podCIDRs: ['10.0.0.0/16'] },
        { name: 'c1', labels: {}, podCIDRs: ['10.1.0.0/16', 'fd00:1::/64'] },
      ],
      namespaces: [],
      workloads: [
        { cluster: 'c0', namespace: 'a', labels: { app: 'web' }, ips: ['10.0.0.1'] },
        { cluster: 'c1', namespace: 'a', labels: { app: 'db' }, ips: ['10.1.0.9', 'fd00:1::9'] },
        { cluster: 'c1', namespace: 'a', labels: { app: 'web' }, ips: ['10.1.0.3'] },
      ],
      services: [],
    };
    const policies: Policy[] = [
      {
        namespace: 'a',
        name: 'deny-db',
        tier: 'platform',
        priority: 1,
        rules: [{ action: 'Deny', from: [{ pods: { matchLabels: { app: 'db' } } }], to: [{ namespaces: ['a'] }] }],
      },
      {
        namespace: 'a',
        name: 'allow',
        tier: 'tenant',
        priority: 1,
        rules: [{ action: 'Allow', from: [{ clusters: {} }], to: [{ namespaces: ['a'] }] }],
        defaultDeny: { namespaces: ['a'] },
      },
    ];
    const state = compileAll(policies, world);
    const db = world.workloads[1] as Workload;
    const after: Workload = { ...db, ips: ['10.1.0.77', 'fd00:1::77'] };
    const next: World = { ...world, workloads: world.workloads.map((w) => (w === db ? after : w)) };
    const r = recompileAfterEndpointChange(state, next, { before: db, after });
    assert.deepEqual(r.patched, ['c0']);
    assert.deepEqual(r.recompiled, []);
    assert.deepEqual(r.changed, ['c0']);
    const text = JSON.stringify(r.compilation.results.get('c0'));
    assert.ok(text.includes('"except":["10.1.0.77/32"]') && text.includes('"except":["fd00:1::77/128"]'), text);
    assert.ok(!text.includes('10.1.0.9/32') && !text.includes('fd00:1::9/128'), text);
    assertFresh(r.compilation, policies, next, 'the db pod moved');
  });

  it('what it leaves, patches or compiles is a fresh compile, deferred or not (fast-check)', () => {
    const seen = { patched: 0, recompiled: 0, skipped: 0, stale: 0 };
    fc.assert(
      fc.property(worldArb, policiesArb, fc.array(changeArb, { minLength: 1, maxLength: 4 }), fc.boolean(), ({ world: w0, shape }, ps, changes, defer) => {
        let state = compileAll(ps, w0);
        let w = w0;
        for (const c of changes) {
          if (w.workloads.length === 0) break;
          for (const step of steps(w, shape, c)) {
            const r = recompileAfterEndpointChange(state, step.world, { before: step.before, after: step.after }, { defer });
            state = r.compilation;
            for (const name of r.stale) state = compileCluster(state, name);
            w = step.world;
            assertFresh(
              state,
              ps,
              w,
              `${JSON.stringify(c)} (patched ${r.patched.join(',')}; recompiled ${r.recompiled.join(',')}; stale ${r.stale.join(',')})`,
            );
            seen.patched += r.patched.length;
            seen.recompiled += r.recompiled.length;
            seen.stale += r.stale.length;
            seen.skipped += w.clusters.length - r.patched.length - r.recompiled.length - r.stale.length;
          }
        }
      }),
      { numRuns: 400, seed: 17 },
    );
    // Every path must be exercised, or the property says little.
    for (const [path, n] of Object.entries(seen)) assert.ok(n > 100, `${path} ${String(n)} (${JSON.stringify(seen)})`);
  });
});
