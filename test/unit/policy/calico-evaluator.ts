// A small evaluator of Calico tiered policy (projectcalico.org/v3 Tier and GlobalNetworkPolicy),
// written for the tests from the Calico reference and independent of the compiler. It also checks
// every object against the API's validation as far as these tests need (kinds, names, fields,
// actions, ports only with a protocol, CIDRs, selectors), throwing on anything unknown.
//
// Upstream semantics, for one connection at one endpoint in one direction: tiers by `order`
// (lower first, none last); in each tier the policies that apply to the endpoint (`types` has the
// direction, `namespaceSelector` matches its namespace's labels and `selector` its labels) by
// `order` then name; their rules in order, first match: Allow and Deny are final, Pass goes to the
// next tier, Log goes on. A tier with no policy for the endpoint is skipped; one that has some but
// matched nothing applies its `defaultAction` (Deny unless Pass). After the last tier the
// endpoint's profile decides: a Kubernetes namespace's profile allows. An entity rule's `nets`
// and `notNets` look at the address (a pod's too); `selector` and `namespaceSelector` match only
// endpoints of this cluster. Workload endpoints carry `projectcalico.org/namespace`; namespaces
// carry `kubernetes.io/metadata.name` and `projectcalico.org/name`.
import { checkCidr, cidrContains, ipFamily } from '../../../controlplane/api/cidr.ts';
import type { Destination, Outcome, Pod, PolicyApiObject, Source } from './anp-evaluator.ts';
import { parseSelector, type SelectorFn } from './calico-selector.ts';
import type { FormatReader } from './format-agreement.ts';

type Json = Record<string, unknown>;
type Party = { kind: 'pod'; pod: Pod } | { kind: 'address'; ip: string };

function fail(o: PolicyApiObject, what: string): never {
  throw new Error(`${o.kind} ${o.metadata.name}: ${what} (Calico would refuse it)`);
}

function only(o: PolicyApiObject, v: unknown, fields: readonly string[], where: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(o, `${where} must be an object`);
  for (const k of Object.keys(v)) if (!fields.includes(k)) fail(o, `${where}.${k} is not a field (or not one these tests read)`);
  return v as Json;
}

const selectors = new Map<string, SelectorFn>();
function selector(o: PolicyApiObject, v: unknown, where: string): SelectorFn {
  if (typeof v !== 'string') fail(o, `${where} must be a selector string`);
  let fn = selectors.get(v);
  if (fn === undefined) {
    fn = parseSelector(v);
    selectors.set(v, fn);
  }
  return fn;
}

function cidrs(o: PolicyApiObject, v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0) fail(o, `${where} must be a non-empty list of CIDRs`);
  for (const c of v) if (typeof c !== 'string' || !checkCidr(c).ok) fail(o, `${where}: ${String(c)} is not a CIDR`);
  return v as string[];
}

const inNet = (c: string, ip: string): boolean => ipFamily(c) === ipFamily(ip) && cidrContains(c, ip);
const podLabels = (p: Pod): Record<string, string> => ({ ...p.labels, 'projectcalico.org/namespace': p.namespace, 'projectcalico.org/orchestrator': 'k8s' });
const nsLabels = (p: Pod): Record<string, string> => ({
  ...p.namespaceLabels,
  'kubernetes.io/metadata.name': p.namespace,
  'projectcalico.org/name': p.namespace,
});

function ports(o: PolicyApiObject, v: unknown, where: string): [number, number][] {
  if (!Array.isArray(v) || v.length === 0) fail(o, `${where} must be a non-empty list`);
  const valid = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65_535;
  return v.map((p): [number, number] => {
    if (typeof p === 'number' && valid(p)) return [p, p];
    const m = typeof p === 'string' ? /^(\d+):(\d+)$/.exec(p) : null;
    const a = Number(m?.[1]);
    const b = Number(m?.[2]);
    if (m === null || !valid(a) || !valid(b) || a >= b) fail(o, `${where}: ${JSON.stringify(p)} is not a port or "from:to" range`);
    return [a, b];
  });
}

/** Does an entity rule match the party (and, for a destination, the port)? Every field is read first (validated). */
function entityMatches(o: PolicyApiObject, e: unknown, party: Party, port: number | undefined, where: string): boolean {
  const r = only(o, e, ['selector', 'namespaceSelector', 'nets', 'notNets', 'ports'], where);
  const ip = party.kind === 'pod' ? party.pod.ip : party.ip;
  const nets = r.nets === undefined ? undefined : cidrs(o, r.nets, `${where}.nets`);
  const notNets = r.notNets === undefined ? undefined : cidrs(o, r.notNets, `${where}.notNets`);
  const list = r.ports === undefined ? undefined : ports(o, r.ports, `${where}.ports`);
  const sel = r.selector === undefined ? undefined : selector(o, r.selector, `${where}.selector`);
  const ns = r.namespaceSelector === undefined ? undefined : selector(o, r.namespaceSelector, `${where}.namespaceSelector`);
  if (nets !== undefined && !nets.some((c) => inNet(c, ip))) return false;
  if (notNets?.some((c) => inNet(c, ip)) === true) return false;
  if (list !== undefined) {
    if (port === undefined) fail(o, `${where}.ports on a source`);
    if (!list.some(([a, b]) => port >= a && port <= b)) return false;
  }
  if (sel !== undefined || ns !== undefined) {
    if (party.kind !== 'pod') return false;
    if (ns !== undefined && !ns(nsLabels(party.pod))) return false;
    if (sel !== undefined && !sel(podLabels(party.pod))) return false;
  }
  return true;
}

type Verdict = 'Allow' | 'Deny' | 'Pass' | 'Log';

function ruleMatches(
  o: PolicyApiObject,
  rule: unknown,
  direction: 'ingress' | 'egress',
  endpoint: Pod,
  party: Party,
  protocol: string,
  port: number,
  where: string,
): Verdict | undefined {
  const r = only(o, rule, ['action', 'protocol', 'source', 'destination'], where);
  const action = r.action;
  if (action !== 'Allow' && action !== 'Deny' && action !== 'Pass' && action !== 'Log') fail(o, `${where}.action ${String(action)}`);
  if (r.protocol !== undefined && !['TCP', 'UDP', 'SCTP', 'ICMP'].includes(r.protocol as string)) fail(o, `${where}.protocol ${JSON.stringify(r.protocol)}`);
  const hasPorts = (e: unknown): boolean => e !== undefined && (e as Json).ports !== undefined;
  if ((hasPorts(r.source) || hasPorts(r.destination)) && !['TCP', 'UDP', 'SCTP'].includes(r.protocol as string))
    fail(o, `${where}: ports need protocol TCP, UDP or SCTP`);
  const self: Party = { kind: 'pod', pod: endpoint };
  const [src, dst] = direction === 'ingress' ? [party, self] : [self, party];
  const source = r.source === undefined || entityMatches(o, r.source, src, undefined, `${where}.source`);
  const destination = r.destination === undefined || entityMatches(o, r.destination, dst, port, `${where}.destination`);
  return (r.protocol === undefined || r.protocol === protocol) && source && destination ? action : undefined;
}

interface Tier {
  name: string;
  order: number;
  defaultAction: 'Deny' | 'Pass';
}

function tiersOf(objects: readonly PolicyApiObject[]): Tier[] {
  const tiers: Tier[] = [{ name: 'default', order: Number.POSITIVE_INFINITY, defaultAction: 'Deny' }];
  for (const o of objects.filter((x) => x.kind === 'Tier')) {
    const s = only(o, o.spec, ['order', 'defaultAction'], 'spec');
    if (s.order !== undefined && typeof s.order !== 'number') fail(o, 'spec.order must be a number');
    if (s.defaultAction !== undefined && s.defaultAction !== 'Deny' && s.defaultAction !== 'Pass')
      fail(o, `spec.defaultAction ${JSON.stringify(s.defaultAction)}`);
    tiers.push({
      name: o.metadata.name,
      order: s.order ?? Number.POSITIVE_INFINITY,
      defaultAction: (s.defaultAction as 'Pass' | undefined) ?? 'Deny',
    });
  }
  return tiers.sort((a, b) => a.order - b.order || (a.name < b.name ? -1 : 1));
}

function policySpec(o: PolicyApiObject): Json {
  return only(o, o.spec, ['tier', 'order', 'selector', 'namespaceSelector', 'types', 'ingress', 'egress'], 'spec');
}

function applies(o: PolicyApiObject, endpoint: Pod, direction: 'ingress' | 'egress'): boolean {
  const s = policySpec(o);
  const types = (s.types as string[] | undefined) ?? (s.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress']);
  if (!types.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) return false;
  if (s.namespaceSelector !== undefined && !selector(o, s.namespaceSelector, 'spec.namespaceSelector')(nsLabels(endpoint))) return false;
  return selector(o, s.selector ?? 'all()', 'spec.selector')(podLabels(endpoint));
}

/** One connection at `endpoint` (a pod of this cluster) in one direction with `party` on the other end. */
export function calicoDecides(
  objects: readonly PolicyApiObject[],
  direction: 'ingress' | 'egress',
  endpoint: Pod,
  party: Party,
  protocol: string,
  port: number,
): Outcome {
  const gnps = objects.filter((o) => o.kind === 'GlobalNetworkPolicy');
  for (const tier of tiersOf(objects)) {
    const mine = gnps
      .filter((o) => ((policySpec(o).tier as string | undefined) ?? 'default') === tier.name && applies(o, endpoint, direction))
      .sort(
        (a, b) =>
          ((policySpec(a).order as number | undefined) ?? Infinity) - ((policySpec(b).order as number | undefined) ?? Infinity) ||
          (a.metadata.name < b.metadata.name ? -1 : 1),
      );
    if (mine.length === 0) continue;
    let passed = false;
    outer: for (const o of mine) {
      const rules = policySpec(o)[direction];
      if (rules !== undefined && !Array.isArray(rules)) fail(o, `spec.${direction} must be a list`);
      for (const [i, rule] of ((rules as unknown[] | undefined) ?? []).entries()) {
        const v = ruleMatches(o, rule, direction, endpoint, party, protocol, port, `spec.${direction}[${i}]`);
        if (v === 'Allow') return 'allowed';
        if (v === 'Deny') return 'denied';
        if (v === 'Pass') {
          passed = true;
          break outer;
        }
      }
    }
    if (!passed && tier.defaultAction === 'Deny') return 'denied';
  }
  return 'allowed';
}

export const calicoIngress = (objects: readonly PolicyApiObject[], dst: Pod, src: Source, protocol: string, port: number): Outcome =>
  calicoDecides(objects, 'ingress', dst, src, protocol, port);
export const calicoEgress = (objects: readonly PolicyApiObject[], src: Pod, dst: Destination, protocol: string, port: number): Outcome =>
  calicoDecides(objects, 'egress', src, dst, protocol, port);

/** Every object checked against what Calico's API server would accept (as far as these tests read); throws on the first violation. */
export function validateCalicoObjects(objects: readonly PolicyApiObject[]): void {
  const tiers = new Set(tiersOf(objects).map((t) => t.name));
  const nobody: Pod = { namespace: '~', namespaceLabels: {}, labels: {}, ip: '0.0.0.0' };
  for (const o of objects) {
    if (o.apiVersion !== 'projectcalico.org/v3' || (o.kind !== 'Tier' && o.kind !== 'GlobalNetworkPolicy')) fail(o, `unexpected ${o.apiVersion} ${o.kind}`);
    if (o.metadata.namespace !== undefined) fail(o, 'a cluster-scoped object has no namespace');
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(o.metadata.name) || o.metadata.name.length > 253)
      fail(o, 'name must be a DNS-1123 subdomain');
    if (o.kind === 'Tier') continue;
    const s = policySpec(o);
    const tier = (s.tier as string | undefined) ?? 'default';
    if (!tiers.has(tier)) fail(o, `spec.tier ${tier} does not exist`);
    if (tier !== 'default' && !o.metadata.name.startsWith(`${tier}.`)) fail(o, `a policy of tier ${tier} must be named ${tier}.<name>`);
    if (s.order !== undefined && typeof s.order !== 'number') fail(o, 'spec.order must be a number');
    if (s.types !== undefined && (!Array.isArray(s.types) || s.types.some((t) => t !== 'Ingress' && t !== 'Egress'))) fail(o, 'spec.types');
    applies(o, nobody, 'ingress');
    for (const direction of ['ingress', 'egress'] as const) {
      const rules = (s[direction] as unknown[] | undefined) ?? [];
      // Reading each rule against a flow no entity matches still visits every field.
      for (const [i, rule] of rules.entries())
        for (const port of [1, 65_535])
          ruleMatches(
            o,
            rule,
            direction,
            nobody,
            { kind: 'address', ip: '0.0.0.0' },
            ((rule as Json).protocol as string | undefined) ?? 'TCP',
            port,
            `spec.${direction}[${i}]`,
          );
    }
  }
}

export const calicoReader: FormatReader = { validate: validateCalicoObjects, ingress: calicoIngress, egress: calicoEgress };
