// The agent's heartbeat conditions (cluster-agent/planners/conditions.ts), pure, table-driven.
import assert from 'node:assert/strict';
import { MAX_CONDITION_MESSAGE, agentConditions, type AgentConditionInput } from '../../../cluster-agent/planners/conditions.ts';

const base: AgentConditionInput = {
  kube: { synced: true, healthy: true, message: 'all watches running' },
  hub: { reachable: true, message: 'synced' },
  imports: { snapshotApplied: true, applied: 7, revision: 7, failing: new Map(), syncing: false },
};
const withImports = (i: Partial<AgentConditionInput['imports']>): AgentConditionInput => ({ ...base, imports: { ...base.imports, ...i } });
const of = (input: AgentConditionInput, type: string): [string, string] | undefined => {
  const c = agentConditions(input).find((x) => x.type === type);
  return c === undefined ? undefined : [c.status, c.reason];
};

describe('agent planner: heartbeat conditions (pure)', () => {
  const rows: { name: string; input: AgentConditionInput; type: string; want: [string, string] }[] = [
    { name: 'imports up to date', input: base, type: 'ImportsApplied', want: ['True', 'UpToDate'] },
    { name: 'no snapshot yet', input: withImports({ snapshotApplied: false, applied: 0 }), type: 'ImportsApplied', want: ['False', 'AwaitingSnapshot'] },
    {
      name: 'a service failing, revision applied',
      input: withImports({ failing: new Map([['apps/bad', 'x']]) }),
      type: 'ImportsApplied',
      want: ['False', 'ApplyFailed'],
    },
    { name: 'behind the held revision', input: withImports({ applied: 6 }), type: 'ImportsApplied', want: ['False', 'Applying'] },
    { name: 'a sync in flight', input: withImports({ syncing: true }), type: 'ImportsApplied', want: ['False', 'Syncing'] },
    { name: 'watches running', input: base, type: 'KubernetesReachable', want: ['True', 'WatchesRunning'] },
    { name: 'a watch restarting', input: { ...base, kube: { ...base.kube, healthy: false } }, type: 'KubernetesReachable', want: ['False', 'WatchRestarting'] },
    { name: 'caches not listed yet', input: { ...base, kube: { ...base.kube, synced: false } }, type: 'KubernetesReachable', want: ['False', 'NotSynced'] },
    { name: 'the hub acknowledged', input: base, type: 'HubReachable', want: ['True', 'Acknowledged'] },
    {
      name: 'the hub did not',
      input: { ...base, hub: { reachable: false, message: 'report failed' } },
      type: 'HubReachable',
      want: ['False', 'NoAcknowledgement'],
    },
  ];
  for (const r of rows) {
    it(`${r.type}: ${r.name}`, () => {
      assert.deepEqual(of(r.input, r.type), r.want);
    });
  }

  it('ApplyFailed names every failing service with its error, bounded by the schema', () => {
    const failing = new Map([
      ['apps/a', 'denied by webhook'],
      ['apps/b', 'quota exceeded'],
    ]);
    const c = agentConditions(withImports({ failing })).find((x) => x.type === 'ImportsApplied');
    assert.match(c?.message ?? '', /2 service\(s\).*apps\/a: denied by webhook; apps\/b: quota exceeded/);
    const many = new Map(Array.from({ length: 200 }, (_, i): [string, string] => [`apps/s${i}`, 'refused by the API server']));
    assert.equal(agentConditions(withImports({ failing: many })).find((x) => x.type === 'ImportsApplied')?.message.length, MAX_CONDITION_MESSAGE);
  });
});
