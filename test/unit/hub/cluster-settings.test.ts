// The hub's ClusterSettingsController against the in-memory bus (MemoryBus): settings requests are
// answered for the requesting cluster only (bound to the subject's cluster), from the registry view;
// the leader publishes a cluster's settings when its LoadBalancer block appears, changes or goes,
// and nothing when only the revision moved or after the term ended.
import assert from 'node:assert/strict';
import { clusterSettingsCodec, settingsRequestCodec, type ClusterSettings } from '../../../controlplane/api/messages.ts';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { AgentSubjectKind, ClusterSubjectKind, agentSubject, clusterSubject } from '../../../controlplane/api/subjects.ts';
import { MemoryBus } from '../../../controlplane/bus/memory-bus.ts';
import { ClusterSettingsController } from '../../../controlplane/hub/cluster-settings.ts';
import { cluster, declared } from '../../fixtures/resources.ts';

function stored(name: string, revision: number, cidrs: string[] | undefined): ClusterResource {
  const [d] = declared(cluster(name, '10.1.0.0/16', '10.2.0.0/20', { provider: 'onprem', network: 'fra', spec: { loadBalancer: { pool: 'lb' } } }));
  const r = d?.resource as ClusterResource;
  return {
    ...r,
    metadata: { ...r.metadata, resourceVersion: String(revision) },
    status: cidrs === undefined ? {} : { allocated: { loadBalancerPool: 'lb', loadBalancerCIDRs: cidrs } },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('hub: cluster settings (ClusterSettingsController, MemoryBus)', () => {
  let bus: MemoryBus;
  let clusters: Map<string, ClusterResource>;
  let counts: string[];
  let settings: ClusterSettingsController;
  let term: AbortController;

  beforeEach(() => {
    bus = new MemoryBus();
    clusters = new Map([
      ['fra-1', stored('fra-1', 7, ['10.40.0.0/28'])],
      ['fra-2', stored('fra-2', 8, undefined)],
    ]);
    counts = [];
    term = new AbortController();
    settings = new ClusterSettingsController({
      bus,
      cluster: (n) => clusters.get(n),
      clusters: () => clusters.values(),
      count: (kind, result) => counts.push(`${kind}:${result}`),
      warn: () => undefined,
    });
    bus.subscribe('causeway.v1.agent.*.settings', { queue: 'hub' }, (msg) => {
      settings.handleRequest(msg);
    });
  });
  afterEach(() => {
    term.abort();
  });

  const ask = async (from: string, body = from): Promise<ClusterSettings | string> => {
    try {
      const data = await bus.request(
        agentSubject(from, AgentSubjectKind.Settings),
        settingsRequestCodec.encode({ v: 1, cluster: body, session: 'session-1' }),
        100,
      );
      const decoded = clusterSettingsCodec.decode(data, from);
      return decoded.ok ? decoded.value : decoded.reason;
    } catch {
      return 'no reply';
    }
  };
  const pushed = (name: string): ClusterSettings[] =>
    bus.published
      .filter((m) => m.subject === clusterSubject(name, ClusterSubjectKind.Settings))
      .map((m) => {
        const d = clusterSettingsCodec.decode(m.data, name);
        if (!d.ok) throw new Error(d.message);
        return d.value;
      });

  it('answers a request with the cluster’s own settings, from any replica (no leadership needed)', async () => {
    assert.deepEqual(await ask('fra-1'), { v: 1, cluster: 'fra-1', revision: 7, loadBalancer: { pool: 'lb', cidrs: ['10.40.0.0/28'] } });
    assert.deepEqual(await ask('fra-2'), { v: 1, cluster: 'fra-2', revision: 8 });
  });

  it('refuses a body naming another cluster than its subject, and gives an unknown cluster no answer (not "no block")', async () => {
    assert.equal(await ask('fra-2', 'fra-1'), 'no reply');
    assert.equal(await ask('gone'), 'no reply');
    assert.deepEqual(counts.sort(), ['settings:rejected_unknown_cluster', 'settings:rejected_wrong_cluster']);
  });

  it('the leader publishes when a block appears, changes or goes; not when only the revision moved; nothing after its term', async () => {
    void settings.lead(term.signal);
    await tick();
    assert.deepEqual(
      pushed('fra-1').map((s) => s.loadBalancer?.cidrs),
      [['10.40.0.0/28']],
      'a new term tells each cluster with a block',
    );
    assert.deepEqual(pushed('fra-2'), [], 'a cluster without a block is told nothing (its agent asks)');

    clusters.set('fra-1', stored('fra-1', 9, ['10.40.0.0/28']));
    settings.clusterChanged('fra-1');
    clusters.set('fra-2', stored('fra-2', 10, ['10.40.0.16/28']));
    settings.clusterChanged('fra-2');
    await tick();
    assert.equal(pushed('fra-1').length, 1, 'a status write that left the block alone sends nothing');
    assert.deepEqual(
      pushed('fra-2').map((s) => [s.revision, s.loadBalancer?.cidrs]),
      [[10, ['10.40.0.16/28']]],
    );

    clusters.set('fra-1', stored('fra-1', 11, undefined));
    settings.clusterChanged('fra-1');
    await tick();
    assert.deepEqual(pushed('fra-1').at(-1), { v: 1, cluster: 'fra-1', revision: 11 }, 'a released block is published as none');

    term.abort();
    await tick();
    clusters.set('fra-2', stored('fra-2', 12, ['10.40.0.32/28']));
    settings.clusterChanged('fra-2');
    await tick();
    assert.equal(pushed('fra-2').length, 1, 'a follower publishes nothing');
  });
});
