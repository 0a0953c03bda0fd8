// `causeway get pools` against a real hub on a real etcd: the CLI as a user runs it, the hub's
// read-model endpoint (GET /apis/causeway.dev/v1alpha1/pools) computing each pool's size, used,
// free and holders from the registry (cluster CIDRs, LoadBalancer blocks, release quarantine).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { PoolUsageView } from '../../controlplane/api/read-model.ts';
import { cluster, network, pool } from '../fixtures/resources.ts';
import { causeway } from '../harness/cli.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';

function lbPool(name: string, cidrs: string[], networkName: string): Record<string, unknown> {
  const p = pool(name, 'LoadBalancer', cidrs);
  return { ...p, spec: { ...(p.spec as object), network: networkName, blockPrefixLength: { ipv4: 28 } } };
}

describe('causeway get pools (real hub, real etcd)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub.stop();
  });

  const run = (args: string[]) => causeway(args, { cwd: hub.dataDir, server: hub.url, token: hub.adminToken });

  it('prints a List of pools with size, used, free and holders; the table names them; deletes move blocks into quarantine', async () => {
    const file = join(hub.dataDir, 'pools.yaml');
    const docs = [
      network('fra', 'onprem', { prefixes: ['10.32.0.0/12'] }),
      pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/14']),
      lbPool('lb', ['10.40.0.0/24'], 'fra'),
      pool('vips', 'ClusterSetIPs', ['10.255.0.0/24']),
      ...['a', 'b'].map((n) =>
        cluster(n, undefined, undefined, {
          provider: 'onprem',
          network: 'fra',
          spec: { ipam: { pool: 'cidrs', podPrefixLength: 16, servicePrefixLength: 20 }, loadBalancer: { pool: 'lb' } },
        }),
      ),
    ];
    writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
    const applied = await run(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);

    const json = await run(['get', 'pools', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as { kind: string; items: PoolUsageView[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((p) => p.metadata.name),
      ['cidrs', 'lb', 'vips'],
    );
    const by = new Map(list.items.map((p) => [p.metadata.name, p]));
    const lb = by.get('lb');
    assert.deepEqual(
      { use: lb?.use, size: lb?.size, used: lb?.used, free: lb?.free, network: lb?.network },
      { use: 'LoadBalancer', size: '256', used: '32', free: '224', network: 'fra' },
    );
    assert.deepEqual(lb?.holders, [
      { holder: 'Cluster/a', field: 'loadBalancerCIDRs', cidr: '10.40.0.0/28' },
      { holder: 'Cluster/b', field: 'loadBalancerCIDRs', cidr: '10.40.0.16/28' },
    ]);
    const cidrs = by.get('cidrs');
    // Two /16 pod CIDRs and two /20 service CIDRs out of a /14.
    assert.deepEqual(
      { size: cidrs?.size, used: cidrs?.used, free: cidrs?.free },
      { size: '262144', used: String(2 * 65536 + 2 * 4096), free: String(262144 - 2 * 65536 - 2 * 4096) },
    );
    assert.equal(cidrs?.holders.length, 4);
    assert.deepEqual({ size: by.get('vips')?.size, used: by.get('vips')?.used, holders: by.get('vips')?.holders }, { size: '256', used: '0', holders: [] });

    const tableRun = await run(['get', 'pools']);
    assert.equal(tableRun.code, 0, tableRun.stderr);
    const lines = tableRun.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+USE\s+SIZE\s+USED\s+FREE\s+HOLDERS$/);
    assert.match(lines.find((l) => l.startsWith('lb ')) ?? '', /^lb\s+LoadBalancer\s+256\s+32\s+224\s+a,b$/);

    // Deleting b: its LB block is in quarantine, neither used nor free.
    const deleted = await run(['delete', 'cluster', 'b']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const after = JSON.parse((await run(['get', 'pools', 'lb', '-o', 'json'])).stdout) as { items: PoolUsageView[] };
    assert.deepEqual(
      after.items.map((p) => [p.used, p.quarantined, p.free, p.holders.map((h) => h.holder)]),
      [['16', '16', '224', ['Cluster/a']]],
    );

    // `get ippools` still lists the IPPool resources themselves.
    const resources = JSON.parse((await run(['get', 'ippools', '-o', 'json'])).stdout) as { items: { kind: string }[] };
    assert.deepEqual(new Set(resources.items.map((r) => r.kind)), new Set(['IPPool']));
  });
});
