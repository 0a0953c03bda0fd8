// The reference evaluator against docs/policy.md: journey 3's truth table and the examples of each
// section (tiers, priority, Pass, default deny, peers, ports).
import assert from 'node:assert/strict';
import { evaluate } from '../../../controlplane/policy/evaluate.ts';
import { workloadEndpoint, type Endpoint, type Flow, type Policy, type Protocol, type World } from '../../../controlplane/policy/model.ts';
import { dnsOnprem, journey3Policies, journey3World, llmAdmin, trainerAws, trainerGcp, webAws } from './journey3.ts';

const toLlm = { kind: 'service', namespace: 'inference', name: 'llm-serving' } as const;
const flow = (from: Endpoint, to: Flow['to'], port: number, protocol: Protocol = 'TCP'): Flow => ({ from, to, port, protocol });

describe('policy: reference evaluator', () => {
  describe('journey 3 truth table', () => {
    const rows: [string, Flow, 'allowed' | 'denied', string | undefined][] = [
      ['aws trainer → llm-serving TCP 8000', flow(workloadEndpoint(trainerAws), toLlm, 8000), 'allowed', 'inference/training-to-inference'],
      ['gcp trainer → llm-serving TCP 8000', flow(workloadEndpoint(trainerGcp), toLlm, 8000), 'allowed', 'inference/training-to-inference'],
      ['aws trainer → llm-serving TCP 22', flow(workloadEndpoint(trainerAws), toLlm, 22), 'denied', 'inference/deny-training-to-onprem'],
      ['aws trainer → llm-serving UDP 8000', flow(workloadEndpoint(trainerAws), toLlm, 8000, 'UDP'), 'denied', 'inference/deny-training-to-onprem'],
      [
        'aws trainer → on-prem admin pod TCP 8000',
        flow(workloadEndpoint(trainerAws), workloadEndpoint(llmAdmin), 8000),
        'denied',
        'inference/deny-training-to-onprem',
      ],
      [
        'gcp trainer → on-prem DNS UDP 53',
        flow(workloadEndpoint(trainerGcp), workloadEndpoint(dnsOnprem), 53, 'UDP'),
        'denied',
        'inference/deny-training-to-onprem',
      ],
      ['aws default/app=web → llm-serving TCP 8000', flow(workloadEndpoint(webAws), toLlm, 8000), 'denied', 'inference/deny-training-to-onprem'],
      ['on-prem admin → llm-serving TCP 8000 (nothing matches)', flow(workloadEndpoint(llmAdmin), toLlm, 8000), 'allowed', undefined],
      ['aws trainer → aws web (not on-prem)', flow(workloadEndpoint(trainerAws), workloadEndpoint(webAws), 80), 'allowed', undefined],
      ['external → llm-serving', flow({ kind: 'external', ip: '203.0.113.9' }, toLlm, 8000), 'allowed', undefined],
    ];
    for (const [name, f, verdict, policy] of rows) {
      it(name, () => {
        const e = evaluate(journey3Policies, journey3World, f);
        assert.equal(e.verdict, verdict);
        assert.equal(e.decidedBy?.policy, policy);
        if (policy !== undefined) assert.equal(e.decidedBy?.rule, 0);
      });
    }
    it('names the tier that decides', () => {
      assert.equal(evaluate(journey3Policies, journey3World, flow(workloadEndpoint(trainerAws), toLlm, 8000)).decidedBy?.tier, 'platform');
      assert.equal(evaluate(journey3Policies, journey3World, flow(workloadEndpoint(trainerAws), toLlm, 22)).decidedBy?.tier, 'baseline');
    });
  });

  describe('docs/policy.md examples', () => {
    const web = { kind: 'workload', cluster: 'c1', namespace: 'shop', labels: { app: 'web' }, ip: '10.1.0.5' } as const;
    const db = { kind: 'workload', cluster: 'c1', namespace: 'shop', labels: { app: 'db' }, ip: '10.1.0.6' } as const;
    const batch = { kind: 'workload', cluster: 'c2', namespace: 'batch', labels: { app: 'job' }, ip: '10.2.0.5' } as const;
    const world: World = {
      clusters: [
        { name: 'c1', labels: { env: 'prod' }, podCIDRs: ['10.1.0.0/16'] },
        { name: 'c2', labels: { env: 'dev' }, podCIDRs: ['10.2.0.0/16'] },
      ],
      namespaces: [
        { cluster: 'c1', name: 'shop', labels: { team: 'shop' } },
        { cluster: 'c2', name: 'batch', labels: { team: 'data' } },
      ],
      workloads: [],
      services: [],
    };
    const p = (name: string, tier: Policy['tier'], priority: number, rule: Policy['rules'][number], extra: Partial<Policy> = {}): Policy => ({
      namespace: 'shop',
      name,
      tier,
      priority,
      rules: [rule],
      ...extra,
    });
    const toDb = [{ pods: { matchLabels: { app: 'db' } } }];
    const fromAll = [{ clusters: {} }];

    it('lower priority number decides first within a tier', () => {
      const ps = [
        p('deny', 'platform', 20, { action: 'Deny', from: fromAll, to: toDb }),
        p('allow', 'platform', 10, { action: 'Allow', from: fromAll, to: toDb }),
      ];
      assert.equal(evaluate(ps, world, flow(web, db, 5432)).decidedBy?.policy, 'shop/allow');
    });
    it('platform decides before tenant before baseline, whatever the priorities', () => {
      const ps = [
        p('b', 'baseline', 0, { action: 'Allow', from: fromAll, to: toDb }),
        p('t', 'tenant', 0, { action: 'Allow', from: fromAll, to: toDb }),
        p('pl', 'platform', 999, { action: 'Deny', from: fromAll, to: toDb }),
      ];
      assert.deepEqual(evaluate(ps, world, flow(web, db, 5432)).decidedBy, { policy: 'shop/pl', tier: 'platform', rule: 0 });
    });
    it('Pass skips the rest of its tier, including a later Deny in it', () => {
      const ps = [
        p('pass', 'platform', 1, { action: 'Pass', from: fromAll, to: toDb }),
        p('deny', 'platform', 2, { action: 'Deny', from: fromAll, to: toDb }),
        p('tenant-allow', 'tenant', 1, { action: 'Allow', from: [{ namespaces: ['shop'] }], to: toDb }),
      ];
      assert.equal(evaluate(ps, world, flow(web, db, 5432)).decidedBy?.policy, 'shop/tenant-allow');
      // From elsewhere the tenant tier has nothing: default allow, the platform Deny was passed over.
      const e = evaluate(ps, world, flow(batch, db, 5432));
      assert.equal(e.verdict, 'allowed');
      assert.equal(e.decidedBy, undefined);
      assert.ok(e.trace.some((s) => s.event === 'passed'));
    });
    it('default deny denies what its tier left undecided, not what another rule of the tier allowed', () => {
      const ps = [
        p(
          'allow-web',
          'tenant',
          10,
          { action: 'Allow', from: [{ pods: { matchLabels: { app: 'web' } } }], to: toDb },
          { defaultDeny: { namespaces: ['shop'] } },
        ),
      ];
      assert.equal(evaluate(ps, world, flow(web, db, 5432)).verdict, 'allowed');
      assert.deepEqual(evaluate(ps, world, flow(batch, db, 5432)).decidedBy, { policy: 'shop/allow-web', tier: 'tenant', rule: 'default-deny' });
      // Not in a default-deny namespace: default allow.
      assert.equal(evaluate(ps, world, flow(db, batch, 80)).verdict, 'allowed');
    });
    it('a Pass skips its tier default deny', () => {
      const ps = [p('pass', 'tenant', 1, { action: 'Pass', from: [{ namespaces: ['batch'] }], to: toDb }, { defaultDeny: { namespaces: ['shop'] } })];
      assert.equal(evaluate(ps, world, flow(batch, db, 1)).verdict, 'allowed');
      assert.equal(evaluate(ps, world, flow(web, db, 1)).verdict, 'denied');
    });
    it('ports: ranges include both ends, protocol defaults to TCP, no ports means every port of every protocol', () => {
      const ps = [p('range', 'platform', 1, { action: 'Deny', from: fromAll, to: toDb, ports: [{ port: 5000, endPort: 5010 }] })];
      assert.equal(evaluate(ps, world, flow(web, db, 5000)).verdict, 'denied');
      assert.equal(evaluate(ps, world, flow(web, db, 5010)).verdict, 'denied');
      assert.equal(evaluate(ps, world, flow(web, db, 5011)).verdict, 'allowed');
      assert.equal(evaluate(ps, world, flow(web, db, 5005, 'UDP')).verdict, 'allowed');
      const any = [p('any', 'platform', 1, { action: 'Deny', from: fromAll, to: toDb })];
      assert.equal(evaluate(any, world, flow(web, db, 9, 'SCTP')).verdict, 'denied');
    });
    it('peers: fields of one peer must all hold, peers of one side are alternatives', () => {
      const ps = [
        p('x', 'platform', 1, {
          action: 'Deny',
          from: [
            { clusters: { matchLabels: { env: 'dev' } }, namespaces: ['batch'] },
            { namespaceSelector: { matchLabels: { team: 'shop' } }, pods: { matchLabels: { app: 'web' } } },
          ],
          to: toDb,
        }),
      ];
      assert.equal(evaluate(ps, world, flow(batch, db, 1)).verdict, 'denied');
      assert.equal(evaluate(ps, world, flow(web, db, 1)).verdict, 'denied');
      assert.equal(evaluate(ps, world, flow({ ...batch, namespace: 'other' }, db, 1)).verdict, 'allowed');
      assert.equal(evaluate(ps, world, flow({ ...web, namespace: 'other' }, db, 1)).verdict, 'allowed');
    });
    it('cidrs select external addresses only, never a pod whose address is in the range', () => {
      const ps = [p('ext', 'platform', 1, { action: 'Deny', from: [{ cidrs: ['10.0.0.0/8'] }], to: toDb })];
      assert.equal(evaluate(ps, world, flow({ kind: 'external', ip: '10.9.9.9' }, db, 1)).verdict, 'denied');
      assert.equal(evaluate(ps, world, flow({ kind: 'external', ip: '192.0.2.1' }, db, 1)).verdict, 'allowed');
      assert.equal(evaluate(ps, world, flow(web, db, 1)).verdict, 'allowed');
    });
    it('a flow to a service with no known pods is denied: there is nothing to reach', () => {
      const e = evaluate([], world, flow(web, { kind: 'service', namespace: 'x', name: 'y' }, 80));
      assert.equal(e.verdict, 'denied');
      assert.equal(e.decidedBy, undefined);
    });
  });
});
