// The test evaluator of the network-policy-api (anp-evaluator.ts) on the upstream API's own cases,
// before it is trusted to judge compiled output: tier order, priority and rule order, Pass to the
// NetworkPolicy tier, NetworkPolicy deciding for the pods it selects and the baseline for the rest,
// ingress peers that only select this cluster's pods, `networks` matching pod addresses too, ports
// (number, range, named), ambiguity at one priority, and the validation a real API server applies.
import assert from 'node:assert/strict';
import { tieredEgress, tieredIngress, validatePolicyObjects, type PolicyApiObject, type Pod } from './anp-evaluator.ts';

const V2 = 'policy.networking.k8s.io/v1alpha2';
const V1 = 'policy.networking.k8s.io/v1alpha1';
const db: Pod = { namespace: 'a', namespaceLabels: {}, labels: { app: 'db' }, ip: '10.0.0.2', namedPorts: { pg: { port: 5432, protocol: 'TCP' } } };
const web: Pod = { namespace: 'b', namespaceLabels: { team: 'x' }, labels: { app: 'web' }, ip: '10.0.0.3' };
const nsA = { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'a' } } };
const fromB = { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'b' } } };

const cnp = (name: string, tier: 'Admin' | 'Baseline', priority: number, spec: Record<string, unknown>): PolicyApiObject => ({
  apiVersion: V2,
  kind: 'ClusterNetworkPolicy',
  metadata: { name },
  spec: { tier, priority, subject: nsA, ...spec },
});
const rule = (action: string, extra: Record<string, unknown> = {}) => ({ action, from: [fromB], ...extra });
const denyAllNp: PolicyApiObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'np', namespace: 'a' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};
const allowAllNp: PolicyApiObject = { ...denyAllNp, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] } };
const from = { kind: 'pod' as const, pod: web };
const ingress = (objects: PolicyApiObject[], port = 80, protocol = 'TCP') => tieredIngress(objects, db, from, protocol, port, false);

describe('policy: the test ClusterNetworkPolicy / AdminNetworkPolicy evaluator (upstream semantics)', () => {
  it('nothing selects the pod: allowed; the admin tier decides first, Accept and Deny are final', () => {
    assert.equal(ingress([]), 'allowed');
    assert.equal(ingress([cnp('d', 'Admin', 10, { ingress: [rule('Deny')] }), allowAllNp]), 'denied');
    assert.equal(ingress([cnp('a', 'Admin', 10, { ingress: [rule('Accept')] }), denyAllNp]), 'allowed');
  });
  it('lower priority first, then rule order; a subject that does not select the pod changes nothing', () => {
    const deny = cnp('d', 'Admin', 20, { ingress: [rule('Deny')] });
    assert.equal(ingress([deny, cnp('a', 'Admin', 10, { ingress: [rule('Accept')] })]), 'allowed');
    assert.equal(ingress([deny, cnp('a', 'Admin', 30, { ingress: [rule('Accept')] })]), 'denied');
    assert.equal(ingress([cnp('x', 'Admin', 10, { ingress: [rule('Deny'), rule('Accept')] })]), 'denied');
    assert.equal(ingress([cnp('x', 'Admin', 1, { subject: fromB, ingress: [rule('Deny')] })]), 'allowed');
  });
  it('two policies of one priority that decide differently are ambiguous', () => {
    assert.equal(ingress([cnp('d', 'Admin', 10, { ingress: [rule('Deny')] }), cnp('a', 'Admin', 10, { ingress: [rule('Accept')] })]), 'ambiguous');
    assert.equal(ingress([cnp('d', 'Admin', 10, { ingress: [rule('Deny')] }), cnp('e', 'Admin', 10, { ingress: [rule('Deny')] })]), 'denied');
  });
  it('Pass leaves the admin tier: a NetworkPolicy that selects the pod decides, else the baseline, else allowed', () => {
    const pass = cnp('p', 'Admin', 1, { ingress: [rule('Pass')] });
    const deny = cnp('d', 'Admin', 2, { ingress: [rule('Deny')] });
    const baseline = cnp('b', 'Baseline', 1, { ingress: [rule('Deny')] });
    assert.equal(ingress([pass, deny]), 'allowed');
    assert.equal(ingress([pass, deny, baseline]), 'denied');
    assert.equal(ingress([pass, deny, baseline, allowAllNp]), 'allowed', 'a selecting NetworkPolicy decides: the baseline is not reached');
    assert.equal(ingress([pass, deny, denyAllNp]), 'denied');
    assert.equal(ingress([cnp('b', 'Baseline', 1, { ingress: [rule('Pass')] }), cnp('c', 'Baseline', 2, { ingress: [rule('Deny')] })]), 'allowed');
  });
  it('ingress peers select pods of this cluster only: an address is never matched by them', () => {
    const objects = [cnp('d', 'Admin', 1, { ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] })];
    assert.equal(tieredIngress(objects, db, { kind: 'address', ip: '10.9.0.1' }, 'TCP', 80, false), 'allowed');
    assert.equal(tieredIngress(objects, db, from, 'TCP', 80, false), 'denied');
  });
  it('pods peers need both the namespace and the pod selector; namespaces select by namespace labels, the name label included', () => {
    const r = (peer: unknown) => [cnp('d', 'Admin', 1, { ingress: [{ action: 'Deny', from: [peer] }] })];
    assert.equal(ingress(r({ pods: { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: { matchLabels: { app: 'web' } } } })), 'denied');
    assert.equal(ingress(r({ pods: { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: { matchLabels: { app: 'db' } } } })), 'allowed');
    assert.equal(ingress(r({ namespaces: { matchLabels: { team: 'y' } } })), 'allowed');
  });
  it('ports: a number, a range, a named port of the destination; none means every protocol', () => {
    const r = (protocols: unknown[]) => [cnp('d', 'Admin', 1, { ingress: [rule('Deny', { protocols })] })];
    assert.equal(ingress(r([{ tcp: { destinationPort: { number: 80 } } }])), 'denied');
    assert.equal(ingress(r([{ udp: { destinationPort: { number: 80 } } }])), 'allowed');
    assert.equal(ingress(r([{ tcp: { destinationPort: { range: { start: 70, end: 80 } } } }])), 'denied');
    assert.equal(ingress(r([{ tcp: { destinationPort: { range: { start: 70, end: 79 } } } }])), 'allowed');
    assert.equal(ingress(r([{ destinationNamedPort: 'pg' }]), 5432), 'denied');
    assert.equal(ingress(r([{ destinationNamedPort: 'pg' }]), 5433), 'allowed');
    assert.equal(ingress([cnp('d', 'Admin', 1, { ingress: [rule('Deny')] })], 9, 'SCTP'), 'denied');
    const anp = (ports: unknown[]): PolicyApiObject[] => [
      {
        apiVersion: V1,
        kind: 'AdminNetworkPolicy',
        metadata: { name: 'x' },
        spec: { priority: 1, subject: nsA, ingress: [{ action: 'Deny', from: [fromB], ports }] },
      },
    ];
    assert.equal(ingress(anp([{ portNumber: { protocol: 'TCP', port: 80 } }])), 'denied');
    assert.equal(ingress(anp([{ portRange: { protocol: 'UDP', start: 1, end: 100 } }]), 80, 'UDP'), 'denied');
    assert.equal(ingress(anp([{ namedPort: 'pg' }]), 5432), 'denied');
  });
  it('egress: networks match any destination address, pods too; pods peers match pods of this cluster', () => {
    const e = (to: unknown[]) => [cnp('e', 'Admin', 1, { subject: fromB, egress: [{ action: 'Deny', to }] })];
    assert.equal(tieredEgress(e([{ networks: ['10.0.0.0/8'] }]), web, { kind: 'pod', pod: db }, 'TCP', 80), 'denied');
    assert.equal(tieredEgress(e([{ networks: ['10.0.0.0/8'] }]), web, { kind: 'address', ip: '192.0.2.1' }, 'TCP', 80), 'allowed');
    assert.equal(tieredEgress(e([nsA]), web, { kind: 'pod', pod: db }, 'TCP', 80), 'denied');
    assert.equal(tieredEgress(e([nsA]), web, { kind: 'address', ip: db.ip }, 'TCP', 80), 'allowed');
  });
  it('the BaselineAdminNetworkPolicy: rules in order, Allow and Deny', () => {
    const banp: PolicyApiObject = {
      apiVersion: V1,
      kind: 'BaselineAdminNetworkPolicy',
      metadata: { name: 'default' },
      spec: {
        subject: nsA,
        ingress: [
          { action: 'Allow', from: [fromB], ports: [{ portNumber: { protocol: 'TCP', port: 80 } }] },
          { action: 'Deny', from: [fromB] },
        ],
      },
    };
    assert.equal(ingress([banp], 80), 'allowed');
    assert.equal(ingress([banp], 81), 'denied');
  });
  it('refuses what the API server refuses', () => {
    const bad: [string, PolicyApiObject][] = [
      ['a tier', cnp('x', 'Admin', 1, { tier: 'Developer' })],
      ['a priority', cnp('x', 'Admin', 1001, {})],
      ['a subject with two fields', cnp('x', 'Admin', 1, { subject: { namespaces: {}, pods: { podSelector: {} } } })],
      ['an action', cnp('x', 'Admin', 1, { ingress: [rule('Allow')] })],
      ['a range', cnp('x', 'Admin', 1, { ingress: [rule('Deny', { protocols: [{ tcp: { destinationPort: { range: { start: 80, end: 80 } } } }] })] })],
      ['26 rules', cnp('x', 'Admin', 1, { ingress: Array.from({ length: 26 }, () => rule('Deny')) })],
      ['a namespace', { ...cnp('x', 'Admin', 1, {}), metadata: { name: 'x', namespace: 'a' } }],
      ['a BANP name', { apiVersion: V1, kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'other' }, spec: { subject: nsA } }],
      ['a BANP Pass', { apiVersion: V1, kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' }, spec: { subject: nsA, ingress: [rule('Pass')] } }],
    ];
    for (const [what, o] of bad) {
      assert.throws(
        () => {
          validatePolicyObjects([o]);
        },
        /the API server would refuse it/,
        what,
      );
    }
    validatePolicyObjects([cnp('ok', 'Baseline', 1000, { ingress: [rule('Deny', { protocols: [{ sctp: { destinationPort: { number: 9 } } }] })] })]);
  });
});
