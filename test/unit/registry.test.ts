import assert from 'node:assert/strict';
import { ConflictError, InvalidInputError, NotFoundError, formatProblem, AlreadyExistsError } from '../../controlplane/api/errors.ts';
import { HISTORY_PREFIX, OBJECTS_PREFIX } from '../../controlplane/api/keys.ts';
import type { ClusterResource } from '../../controlplane/api/resources.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, externalService, names, network, pool } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };

async function storedKeys(store: MemoryStore): Promise<string[]> {
  return (await store.range(OBJECTS_PREFIX)).kvs.map((kv) => kv.key);
}

function fixedClock(): () => Date {
  let t = Date.parse('2026-11-23T00:00:00Z');
  return () => new Date((t += 1000));
}

describe('Registry (on the in-memory store fake)', () => {
  let store: MemoryStore;
  let registry: Registry;
  beforeEach(() => {
    store = new MemoryStore();
    registry = new Registry(store, { now: fixedClock() });
  });

  it('applies a multi-document set atomically and reads it back with system fields', async () => {
    const result = await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    assert.deepEqual(
      result.changes.map((c) => c.action),
      ['created', 'created'],
    );
    const { items } = await registry.list();
    assert.deepEqual(names(items), ['Cluster/a', 'Network/aws-vpc']);
    const a = await registry.get({ kind: 'Cluster', name: 'a' });
    assert.equal(a.metadata.resourceVersion, String(result.revision));
    assert.equal(a.metadata.generation, 1);
    assert.ok(a.metadata.uid !== undefined && a.metadata.creationTimestamp !== undefined);
    assert.deepEqual(
      a.status?.conditions?.map((c) => `${c.type}=${c.status}`),
      ['Joined=True', 'Available=Unknown', 'Synced=Unknown'],
    );
  });

  it('refuses the whole apply when one document is bad, writing nothing', async () => {
    await assert.rejects(
      registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16'), cluster('b', '10.1.128.0/17', '10.3.0.0/16')), admin),
      (err: unknown) =>
        err instanceof InvalidInputError && /Cluster "b" podCIDRs\[0\] 10\.1\.128\.0\/17 overlaps Cluster "a" podCIDRs\[0\] 10\.1\.0\.0\/16/.test(err.message),
    );
    assert.deepEqual(await storedKeys(store), []);
    assert.deepEqual((await store.range(HISTORY_PREFIX)).kvs, []);
  });

  it('names both clusters and the file and document of an overlap with an existing cluster', async () => {
    await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    const err = await registry.apply(declared(cluster('b', '10.9.0.0/16', '10.2.4.0/24')), admin).catch((e: unknown) => e);
    assert.ok(err instanceof InvalidInputError);
    const [p] = err.problems;
    assert.match(
      formatProblem(p ?? { field: '', message: '' }),
      /^fixture\.yaml: document 1 \(Cluster b\): spec\.serviceCIDRs\[0\]: Cluster "b" serviceCIDRs\[0\] 10\.2\.4\.0\/24 overlaps Cluster "a" serviceCIDRs\[0\] 10\.2\.0\.0\/16 \(both in clusterset "default"\)/,
    );
  });

  it('allows the same CIDRs in different clustersets', async () => {
    await registry.apply(
      declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16'), cluster('b', '10.1.0.0/16', '10.2.0.0/16', { spec: { clusterSet: 'lab' } })),
      admin,
    );
    assert.equal((await registry.list('Cluster')).items.length, 2);
  });

  it('refuses unknown references and deleting a referenced network', async () => {
    await assert.rejects(
      registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16', { network: 'nope' })), admin),
      /references Network "nope", which does not exist/,
    );
    await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    await assert.rejects(
      registry.delete({ kind: 'Network', name: 'aws-vpc' }, admin),
      /Cluster a: spec\.network: references Network "aws-vpc", which does not exist/,
    );
    assert.equal((await registry.list()).items.length, 2);
  });

  it('is idempotent: re-applying the same set writes nothing', async () => {
    const first = await registry.apply(declared(network('aws-vpc')), admin);
    const again = await registry.apply(declared(network('aws-vpc')), admin);
    assert.deepEqual(
      again.changes.map((c) => c.action),
      ['unchanged'],
    );
    assert.equal(again.revision, first.revision);
    assert.equal((await registry.history()).length, 1);
  });

  it('bumps generation on spec change only and keeps status, uid and creation time', async () => {
    await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    const before = await registry.get({ kind: 'Cluster', name: 'a' });
    await registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16', { labels: { gpu: 'true' } })), admin);
    const relabelled = await registry.get({ kind: 'Cluster', name: 'a' });
    assert.equal(relabelled.metadata.generation, 1);
    await registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16', { spec: { region: 'us-west-2' } })), admin);
    const after = await registry.get({ kind: 'Cluster', name: 'a' });
    assert.equal(after.metadata.generation, 2);
    assert.equal(after.metadata.uid, before.metadata.uid);
    assert.equal(after.metadata.creationTimestamp, before.metadata.creationTimestamp);
    assert.deepEqual(after.status, before.status);
  });

  it('refuses a stale resourceVersion with a conflict and changes nothing', async () => {
    const r = await registry.apply(declared(network('aws-vpc')), admin);
    await registry.apply(declared(network('aws-vpc', 'aws', { region: 'us-west-2' })), admin);
    const stale = declared({ ...network('aws-vpc', 'aws', { region: 'eu-west-1' }), metadata: { name: 'aws-vpc', resourceVersion: String(r.revision) } });
    await assert.rejects(registry.apply(stale, admin), (e: unknown) => e instanceof ConflictError && /resourceVersion \d+ is stale/.test(e.message));
    const n = await registry.get({ kind: 'Network', name: 'aws-vpc' });
    assert.equal(n.kind === 'Network' ? n.spec.region : '', 'us-west-2');
  });

  it('create refuses an existing object, update and delete refuse a missing one', async () => {
    await registry.apply(declared(network('aws-vpc')), admin, { mode: 'create' });
    await assert.rejects(registry.apply(declared(network('aws-vpc')), admin, { mode: 'create' }), AlreadyExistsError);
    await assert.rejects(registry.apply(declared(network('other')), admin, { mode: 'update' }), NotFoundError);
    await assert.rejects(registry.delete({ kind: 'Network', name: 'other' }, admin), NotFoundError);
  });

  it('refuses a document declared twice in one apply', async () => {
    await assert.rejects(
      registry.apply(declared(network('aws-vpc'), network('aws-vpc')), admin),
      /Network\/aws-vpc is declared twice \(first in fixture\.yaml document 1\)/,
    );
    assert.deepEqual(await storedKeys(store), []);
  });

  it('dry run reports changes and writes nothing', async () => {
    const r = await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin, { dryRun: true });
    assert.deepEqual(
      r.changes.map((c) => c.action),
      ['created', 'created'],
    );
    assert.equal(r.dryRun, true);
    assert.deepEqual(await storedKeys(store), []);
  });

  it('keeps history with actor, operation and before/after, newest first, filterable by object', async () => {
    await registry.apply(declared(network('aws-vpc')), admin);
    await registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16')), { name: 'ci', role: 'admin' });
    await registry.delete({ kind: 'Cluster', name: 'a' }, admin);
    const all = await registry.history();
    assert.deepEqual(
      all.map((e) => [e.operation, e.actor.name, e.changes.map((c) => `${c.action} ${c.kind}/${c.name}`)]),
      [
        ['delete', 'alice', ['deleted Cluster/a']],
        ['apply', 'ci', ['created Cluster/a']],
        ['apply', 'alice', ['created Network/aws-vpc']],
      ],
    );
    const [newest, previous] = all;
    assert.ok(newest !== undefined && previous !== undefined && newest.revision > previous.revision);
    assert.equal(newest.changes[0]?.before?.metadata.name, 'a');
    const onlyA = await registry.history({ ref: { kind: 'Cluster', name: 'a' } });
    assert.equal(onlyA.length, 2);
  });

  it('rolls back to a revision by writing a new, audited revision', async () => {
    const r1 = await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    await registry.apply(
      declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16', { spec: { region: 'us-west-2' } }), cluster('b', '10.5.0.0/16', '10.6.0.0/16')),
      admin,
    );
    await registry.delete({ kind: 'Network', name: 'aws-vpc' }, admin).catch(() => undefined);
    const dry = await registry.rollback(r1.revision, admin, { dryRun: true });
    assert.deepEqual(dry.changes.map((c) => `${c.action} ${c.ref.name}`).sort(), ['deleted b', 'unchanged aws-vpc', 'updated a']);
    const rb = await registry.rollback(r1.revision, { name: 'bob', role: 'admin' });
    assert.ok(rb.revision > r1.revision);
    const { items } = await registry.list();
    assert.deepEqual(names(items), ['Cluster/a', 'Network/aws-vpc']);
    const a = items.find((i) => i.kind === 'Cluster') as ClusterResource;
    assert.equal(a.spec.region, 'us-east-1');
    const [last] = await registry.history({ limit: 1 });
    assert.deepEqual([last?.operation, last?.rollbackTo, last?.actor.name], ['rollback', r1.revision, 'bob']);
    await assert.rejects(registry.rollback(rb.revision + 100, admin), /is in the future/);
  });

  it('allocates pod and service CIDRs from a pool without overlap, and keeps them', async () => {
    await registry.apply(declared(network('aws-vpc'), pool('clusters', 'ClusterCIDRs', ['10.0.0.0/8']), cluster('fixed', '10.0.0.0/16', '10.1.0.0/16')), admin);
    const ipam = { ipam: { pool: 'clusters' } };
    await registry.apply(declared(cluster('x', undefined, undefined, { spec: ipam }), cluster('y', undefined, undefined, { spec: ipam })), admin);
    const x = (await registry.get({ kind: 'Cluster', name: 'x' })) as ClusterResource;
    const y = (await registry.get({ kind: 'Cluster', name: 'y' })) as ClusterResource;
    const xa = x.status?.allocated as { podCIDRs: string[]; serviceCIDRs: string[] };
    const ya = y.status?.allocated as { podCIDRs: string[]; serviceCIDRs: string[] };
    // First free aligned blocks after the fixed cluster's 10.0/16 and 10.1/16, in apply order.
    assert.deepEqual([xa.podCIDRs, xa.serviceCIDRs, ya.podCIDRs, ya.serviceCIDRs], [['10.2.0.0/16'], ['10.3.0.0/20'], ['10.4.0.0/16'], ['10.3.16.0/20']]);
    // Re-applying keeps the allocation.
    await registry.apply(declared(cluster('x', undefined, undefined, { spec: ipam, labels: { a: 'b' } })), admin);
    const again = (await registry.get({ kind: 'Cluster', name: 'x' })) as ClusterResource;
    assert.deepEqual(again.status?.allocated, x.status?.allocated);
  });

  it('reports an exhausted pool and writes nothing', async () => {
    await registry.apply(declared(network('aws-vpc'), pool('tiny', 'ClusterCIDRs', ['10.0.0.0/16'])), admin);
    await assert.rejects(
      registry.apply(declared(cluster('x', undefined, undefined, { spec: { ipam: { pool: 'tiny' } } })), admin),
      /IPPool "tiny" has no free IPv4 \/20 left for service CIDRs/,
    );
    assert.equal((await registry.list('Cluster')).items.length, 0);
  });

  it('retries when another writer moves the head, and never loses either write', async () => {
    await registry.apply(declared(network('aws-vpc')), admin);
    const other = new Registry(store);
    await Promise.all([
      registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin),
      other.apply(declared(cluster('b', '10.3.0.0/16', '10.4.0.0/16')), admin),
    ]);
    assert.deepEqual(names((await registry.list('Cluster')).items), ['Cluster/a', 'Cluster/b']);
    assert.equal((await registry.history()).length, 3);
  });

  it('watches changes as ADDED, MODIFIED and DELETED', async () => {
    const r = await registry.apply(declared(network('aws-vpc')), admin);
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const batch of registry.watch(undefined, r.revision, ac.signal)) {
        for (const e of batch) seen.push(`${e.type} ${e.object.kind}/${e.object.metadata.name}`);
        if (seen.length >= 3) ac.abort();
      }
    })();
    await registry.apply(declared(externalService('db', 'pg')), admin);
    await registry.apply(declared(network('aws-vpc', 'aws', { region: 'us-west-2' })), admin);
    await registry.delete({ kind: 'ExternalService', namespace: 'db', name: 'pg' }, admin);
    await done;
    assert.deepEqual(seen, ['ADDED ExternalService/pg', 'MODIFIED Network/aws-vpc', 'DELETED ExternalService/pg']);
  });
});

describe('Registry status writes (on the in-memory store fake)', () => {
  it('writes status without a history record', async () => {
    const registry = new Registry(new MemoryStore());
    await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    const historyBefore = (await registry.history()).length;
    await registry.updateStatus({ kind: 'Cluster', name: 'a' }, (c) => ({ ...c.status, agentVersion: 'v1' }));
    assert.equal((await registry.history()).length, historyBefore);
    assert.equal((await registry.get({ kind: 'Cluster', name: 'a' })).status?.agentVersion, 'v1');
  });

  it('an apply planned before a status write retries instead of putting the old status back', async () => {
    const store = new MemoryStore();
    const registry = new Registry(store);
    await registry.apply(declared(network('aws-vpc'), cluster('a', '10.1.0.0/16', '10.2.0.0/16')), admin);
    // The status write lands between the apply's read and its transaction.
    let raced = false;
    const racing: typeof store = Object.create(store) as typeof store;
    racing.txn = async (compares, ops) => {
      if (!raced) {
        raced = true;
        await registry.updateStatus({ kind: 'Cluster', name: 'a' }, (c) => ({ ...c.status, agentVersion: 'v2' }));
      }
      return store.txn(compares, ops);
    };
    await new Registry(racing).apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/16', { labels: { gpu: 'true' } })), admin);
    const a = await registry.get({ kind: 'Cluster', name: 'a' });
    assert.ok(raced);
    assert.equal(a.status?.agentVersion, 'v2');
    assert.deepEqual(a.metadata.labels, { gpu: 'true' });
  });
});
