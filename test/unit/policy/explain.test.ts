// explain: the chain export/import → route → cloud firewall → policy for journey 3's flows, with a
// hand-written route plan (plain data as providers/model/route-plan.ts produces it).
import assert from 'node:assert/strict';
import { explain } from '../../../controlplane/policy/explain.ts';
import { workloadEndpoint, type World } from '../../../controlplane/policy/model.ts';
import type { FirewallIntent, RouteIntent } from '../../../providers/model/model.ts';
import type { RoutePlan } from '../../../providers/model/plan-types.ts';
import { journey3Policies, journey3World, trainerAws, trainerGcp, webAws } from './journey3.ts';

const route = (domain: string, destination: string, to: string, via: RouteIntent['via']): RouteIntent => ({
  domain,
  destination,
  family: 4,
  link: `${domain}->${to}`,
  mode: 'static',
  via,
  covers: [],
});
const fw = (domain: string, direction: 'ingress' | 'egress', peerDomain: string, sources: string[], destinations: string[]): FirewallIntent => ({
  domain,
  direction,
  family: 4,
  protocol: 'TCP',
  fromPort: 8000,
  toPort: 8000,
  sources,
  destinations,
  peerDomain,
  services: ['inference/llm-serving'],
});
const plan: RoutePlan = {
  domains: [
    {
      domain: 'aws-train-vpc',
      provider: 'aws',
      routes: [route('aws-train-vpc', '10.32.0.0/16', 'onprem-fra', { kind: 'transit-gateway', id: 'tgw-1' })],
      announcements: [],
      firewall: [fw('aws-train-vpc', 'egress', 'onprem-fra', ['10.16.0.0/16'], ['10.32.0.0/16'])],
      problems: [],
    },
    { domain: 'gcp-train-vpc', provider: 'gcp', routes: [], announcements: [], firewall: [], problems: [] },
    {
      domain: 'onprem-fra',
      provider: 'onprem',
      routes: [route('onprem-fra', '10.16.0.0/16', 'aws-train-vpc', { kind: 'bgp-peer', id: '192.0.2.1' })],
      announcements: [],
      firewall: [],
      problems: [],
    },
  ],
  unreachable: [{ from: 'gcp-train-vpc', to: 'onprem-fra', clusterSets: ['default'], message: 'no link from gcp-train-vpc to onprem-fra' }],
};
const llm = { kind: 'service', namespace: 'inference', name: 'llm-serving' } as const;

describe('policy: explain', () => {
  it('aws trainer → llm-serving TCP 8000: allowed, every layer says why, the platform rule decides', () => {
    const x = explain(
      { policies: journey3Policies, world: journey3World, routes: plan },
      { from: workloadEndpoint(trainerAws), to: llm, protocol: 'TCP', port: 8000 },
    );
    assert.equal(x.verdict, 'allowed');
    assert.deepEqual(
      x.chain.map((c) => [c.layer, c.result]),
      [
        ['export-import', 'allowed'],
        ['route', 'allowed'],
        ['cloud-firewall', 'allowed'],
        ['policy', 'allowed'],
      ],
    );
    assert.match(x.chain[1]?.detail ?? '', /aws-train-vpc → onprem-fra over aws-train-vpc->onprem-fra \(static via transit-gateway tgw-1\)/);
    assert.deepEqual(x.decidedBy, { policy: 'inference/training-to-inference', tier: 'platform', rule: 0 });
    assert.equal(x.deniedAt, undefined);
  });
  it('aws default/app=web → llm-serving: denied by the baseline policy', () => {
    const x = explain(
      { policies: journey3Policies, world: journey3World, routes: plan },
      { from: workloadEndpoint(webAws), to: llm, protocol: 'TCP', port: 8000 },
    );
    assert.equal(x.verdict, 'denied');
    assert.equal(x.deniedAt, 'policy');
    assert.deepEqual(x.decidedBy, { policy: 'inference/deny-training-to-onprem', tier: 'baseline', rule: 0 });
  });
  it('port 22: the cloud firewall already denies it, and the policy would too', () => {
    const x = explain(
      { policies: journey3Policies, world: journey3World, routes: plan },
      { from: workloadEndpoint(trainerAws), to: llm, protocol: 'TCP', port: 22 },
    );
    assert.equal(x.verdict, 'denied');
    assert.equal(x.deniedAt, 'cloud-firewall');
    assert.match(x.chain[2]?.detail ?? '', /aws-train-vpc egress: no rule opens TCP 22/);
    assert.equal(x.decidedBy?.policy, 'inference/deny-training-to-onprem');
  });
  it('no route: names the domains and the planner message', () => {
    const x = explain(
      { policies: journey3Policies, world: journey3World, routes: plan },
      { from: workloadEndpoint(trainerGcp), to: llm, protocol: 'TCP', port: 8000 },
    );
    assert.equal(x.deniedAt, 'route');
    assert.match(x.chain[1]?.detail ?? '', /no route in gcp-train-vpc towards onprem-fra \(no link from gcp-train-vpc to onprem-fra\)/);
  });
  it('a service not imported in the source cluster is denied at export-import', () => {
    const world: World = { ...journey3World, services: journey3World.services.map((s) => ({ ...s, consumers: ['gcp-train'] })) };
    const x = explain({ policies: journey3Policies, world }, { from: workloadEndpoint(trainerAws), to: llm, protocol: 'TCP', port: 8000 });
    assert.equal(x.deniedAt, 'export-import');
    assert.match(x.chain[0]?.detail ?? '', /not imported in aws-train/);
  });
  it('without a route plan the route and firewall layers say so and policy decides', () => {
    const x = explain({ policies: journey3Policies, world: journey3World }, { from: workloadEndpoint(trainerAws), to: llm, protocol: 'TCP', port: 8000 });
    assert.equal(x.verdict, 'allowed');
    assert.deepEqual(
      x.chain.map((c) => c.result),
      ['allowed', 'not-applicable', 'not-applicable', 'allowed'],
    );
  });
});
