// A small evaluator of the sig-network network-policy-api, written for the tests from the
// upstream API reference (sigs.k8s.io/network-policy-api: apis/v1alpha2 ClusterNetworkPolicy;
// apis/v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy) and independent of the
// compiler. It also checks each object against the API's validation (field shapes, enums, list
// limits, port ranges with start < end, the BANP's name), throwing on anything a real API server
// would refuse.
//
// Upstream semantics, for one connection and one direction: the admin tier first (ClusterNetwork-
// Policies of tier Admin, AdminNetworkPolicies) — policies whose subject selects the pod, lower
// priority first, rules in order, first match: Accept/Allow allows, Deny denies, Pass skips the rest
// of the tier. Two policies of one priority that both match are ambiguous (the implementation may
// apply either): reported as such. Then the NetworkPolicy tier: if a NetworkPolicy of that
// direction selects the pod, NetworkPolicy decides (np-semantics.ts). Then the baseline tier (CNP
// tier Baseline by priority; the one BANP, rules in order). Then allowed. Ingress peers select
// pods of this cluster only (by namespace labels, which include kubernetes.io/metadata.name, and
// pod labels); egress peers also `networks`, which match any destination address, pods' too.
// A rule without ports (CNP `protocols`, ANP `ports`) matches every port of every protocol.
import { cidrContains, ipFamily } from '../../../controlplane/api/cidr.ts';
import { matchesSelector, type LabelSelector } from '../../../controlplane/api/labels.ts';
import { npAllowsIngress, type NetworkPolicyObject, type NpSource } from './np-semantics.ts';

export interface Pod {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  ip: string;
  namedPorts?: Record<string, { port: number; protocol: string }>;
}

/** An ingress source: a pod of this cluster, or an address (another cluster's pod, or outside). */
export type Source = { kind: 'pod'; pod: Pod } | { kind: 'address'; ip: string };
/** An egress destination: a pod of this cluster (with its address), or an address. */
export type Destination = { kind: 'pod'; pod: Pod } | { kind: 'address'; ip: string };
export type Outcome = 'allowed' | 'denied' | 'ambiguous';

export interface PolicyApiObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function fail(o: PolicyApiObject, what: string): never {
  throw new Error(`${o.kind} ${o.metadata.name}: ${what} (the API server would refuse it)`);
}

function oneOf(o: PolicyApiObject, v: unknown, fields: readonly string[], where: string): string {
  if (v === null || typeof v !== 'object') fail(o, `${where} must be an object`);
  const set = Object.keys(v).filter((k) => (v as Json)[k] !== undefined);
  if (set.length !== 1 || !fields.includes(set[0] as string)) fail(o, `${where} must set exactly one of ${fields.join(', ')} (has ${set.join(', ')})`);
  return set[0] as string;
}

function list(o: PolicyApiObject, v: unknown, where: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v)) fail(o, `${where} must be a list`);
  if (v.length < min || v.length > max) fail(o, `${where} must have ${min}..${max} items (has ${v.length})`);
  return v;
}

function portNumber(o: PolicyApiObject, v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65_535) fail(o, `${where} must be a port number`);
  return v;
}

interface Version {
  readonly alpha2: boolean;
  readonly max: number;
}

const versionOf = (o: PolicyApiObject): Version =>
  o.apiVersion === 'policy.networking.k8s.io/v1alpha2' ? { alpha2: true, max: 25 } : { alpha2: false, max: 100 };

function namespaceLabelsOf(p: Pod): Record<string, string> {
  return { ...p.namespaceLabels, 'kubernetes.io/metadata.name': p.namespace };
}

/** A subject or a namespaces/pods peer: does it select the pod? */
function selects(o: PolicyApiObject, peer: unknown, pod: Pod, where: string): boolean {
  const field = oneOf(o, peer, ['namespaces', 'pods'], where);
  const v = (peer as Json)[field] as Json;
  if (field === 'namespaces') return matchesSelector(v, namespaceLabelsOf(pod));
  if (v.podSelector === undefined) fail(o, `${where}.pods.podSelector is required`);
  return matchesSelector(v.namespaceSelector ?? {}, namespaceLabelsOf(pod)) && matchesSelector(v.podSelector as LabelSelector, pod.labels);
}

function inCidr(cidr: string, ip: string): boolean {
  return ipFamily(cidr) === ipFamily(ip) && cidrContains(cidr, ip);
}

/** Does one egress peer match the destination? */
function egressPeer(o: PolicyApiObject, peer: unknown, dst: Destination, where: string): boolean {
  const field = oneOf(o, peer, ['namespaces', 'pods', 'networks', 'nodes', 'domainNames'], where);
  if (field === 'networks') {
    const cidrs = list(o, (peer as Json).networks, `${where}.networks`, 1, 25);
    const ip = dst.kind === 'pod' ? dst.pod.ip : dst.ip;
    return cidrs.some((c) => typeof c === 'string' && inCidr(c, ip));
  }
  if (field === 'nodes' || field === 'domainNames') return false; // no node or domain destinations in these tests
  return dst.kind === 'pod' && selects(o, peer, dst.pod, where);
}

/** One port entry, validated: a protocol and an inclusive range, or a named port. */
type PortEntry = { protocol: string; start: number; end: number } | { named: string };

function range(o: PolicyApiObject, start: unknown, end: unknown, where: string): { start: number; end: number } {
  const s = portNumber(o, start, `${where}.start`);
  const e = portNumber(o, end, `${where}.end`);
  if (!(s < e)) fail(o, `${where}: start must be less than end`);
  return { start: s, end: e };
}

function portEntries(o: PolicyApiObject, v: Version, rule: Json, where: string): PortEntry[] | undefined {
  if (v.alpha2) {
    if (rule.protocols === undefined) return undefined;
    return list(o, rule.protocols, `${where}.protocols`, 1, 25).map((p, i) => {
      const at = `${where}.protocols[${i}]`;
      const field = oneOf(o, p, ['tcp', 'udp', 'sctp', 'destinationNamedPort'], at);
      if (field === 'destinationNamedPort') return { named: (p as Json).destinationNamedPort as string };
      const dp = ((p as Json)[field] as Json).destinationPort;
      if (dp === undefined) fail(o, `${at}.${field} needs destinationPort`);
      const which = oneOf(o, dp, ['number', 'range'], `${at}.${field}.destinationPort`);
      const protocol = field.toUpperCase();
      if (which === 'number') {
        const n = portNumber(o, (dp as Json).number, `${at}.number`);
        return { protocol, start: n, end: n };
      }
      const r = (dp as Json).range as Json;
      return { protocol, ...range(o, r.start, r.end, `${at}.range`) };
    });
  }
  if (rule.ports === undefined) return undefined;
  return list(o, rule.ports, `${where}.ports`, 1, 100).map((p, i) => {
    const at = `${where}.ports[${i}]`;
    const field = oneOf(o, p, ['portNumber', 'namedPort', 'portRange'], at);
    const x = (p as Json)[field];
    if (field === 'namedPort') return { named: x as string };
    const protocol = ((x as Json).protocol as string | undefined) ?? 'TCP';
    if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) fail(o, `${at} protocol ${protocol}`);
    if (field === 'portNumber') {
      const n = portNumber(o, (x as Json).port, `${at}.port`);
      return { protocol, start: n, end: n };
    }
    return { protocol, ...range(o, (x as Json).start, (x as Json).end, at) };
  });
}

/** Does the rule's port list match the connection's destination port? */
function portsMatch(o: PolicyApiObject, v: Version, rule: Json, target: Pod | undefined, protocol: string, port: number, where: string): boolean {
  const entries = portEntries(o, v, rule, where);
  if (entries === undefined) return true;
  return entries.some((e) => {
    if ('named' in e) {
      const named = target?.namedPorts?.[e.named];
      return named !== undefined && named.port === port && named.protocol === protocol;
    }
    return e.protocol === protocol && port >= e.start && port <= e.end;
  });
}

type Tier = 'admin' | 'baseline';
type Verdict = 'allow' | 'deny' | 'pass';

function tierOf(o: PolicyApiObject): Tier | undefined {
  if (o.kind === 'ClusterNetworkPolicy' && o.apiVersion === 'policy.networking.k8s.io/v1alpha2') {
    const t = o.spec.tier;
    if (t !== 'Admin' && t !== 'Baseline') fail(o, `spec.tier must be Admin or Baseline (got ${String(t)})`);
    return t === 'Admin' ? 'admin' : 'baseline';
  }
  if (o.apiVersion !== 'policy.networking.k8s.io/v1alpha1') return undefined;
  if (o.kind === 'AdminNetworkPolicy') return 'admin';
  if (o.kind === 'BaselineAdminNetworkPolicy') {
    if (o.metadata.name !== 'default') fail(o, 'a BaselineAdminNetworkPolicy must be named "default"');
    return 'baseline';
  }
  return undefined;
}

function actionOf(o: PolicyApiObject, v: Version, rule: Json, where: string): Verdict {
  const a = rule.action;
  const allowed = v.alpha2 ? ['Accept', 'Deny', 'Pass'] : o.kind === 'BaselineAdminNetworkPolicy' ? ['Allow', 'Deny'] : ['Allow', 'Deny', 'Pass'];
  if (typeof a !== 'string' || !allowed.includes(a)) fail(o, `${where}.action must be one of ${allowed.join(', ')} (got ${String(a)})`);
  return a === 'Deny' ? 'deny' : a === 'Pass' ? 'pass' : 'allow';
}

/** The first matching rule's verdict in one object, for one direction. */
function firstMatch(o: PolicyApiObject, direction: 'ingress' | 'egress', matches: (rule: Json, where: string) => boolean): Verdict | undefined {
  const v = versionOf(o);
  const rules = o.spec[direction];
  if (rules === undefined) return undefined;
  const all = list(o, rules, `spec.${direction}`, 0, v.max);
  for (const [i, r] of all.entries()) {
    const where = `spec.${direction}[${i}]`;
    const rule = r as Json;
    if (typeof rule.name === 'string' && rule.name.length > 100) fail(o, `${where}.name is longer than 100 characters`);
    const action = actionOf(o, v, rule, where);
    if (matches(rule, where)) return action;
  }
  return undefined;
}

function priority(o: PolicyApiObject): number {
  if (o.kind === 'BaselineAdminNetworkPolicy') return 0;
  const p = o.spec.priority;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 1000) fail(o, `spec.priority must be 0..1000 (got ${String(p)})`);
  return p;
}

function tier(
  objects: readonly PolicyApiObject[],
  t: Tier,
  subject: Pod,
  direction: 'ingress' | 'egress',
  matches: (o: PolicyApiObject, rule: Json, where: string) => boolean,
): Verdict | 'ambiguous' | undefined {
  const mine = objects.filter((o) => tierOf(o) === t && selects(o, o.spec.subject, subject, 'spec.subject'));
  const priorities = [...new Set(mine.map(priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const verdicts = new Set(mine.filter((o) => priority(o) === p).flatMap((o) => firstMatch(o, direction, (rule, where) => matches(o, rule, where)) ?? []));
    if (verdicts.size > 1) return 'ambiguous';
    const [only] = verdicts;
    if (only !== undefined) return only;
  }
  return undefined;
}

function npSelects(nps: readonly NetworkPolicyObject[], pod: Pod, type: 'Ingress' | 'Egress'): boolean {
  return nps.some(
    (p) =>
      (p.metadata.namespace ?? 'default') === pod.namespace &&
      (p.spec.policyTypes ?? (type === 'Ingress' ? ['Ingress'] : p.spec.egress !== undefined ? ['Egress'] : [])).includes(type) &&
      matchesSelector(p.spec.podSelector, pod.labels),
  );
}

function outcome(v: Verdict | 'ambiguous' | undefined): Outcome | undefined {
  return v === 'ambiguous' ? 'ambiguous' : v === 'allow' ? 'allowed' : v === 'deny' ? 'denied' : undefined;
}

/** Ingress to `dst` from `src` on (protocol, port). `ipBlockMatchesPods`: NetworkPolicy's implementation-defined reading (np-semantics.ts). */
export function tieredIngress(
  objects: readonly PolicyApiObject[],
  dst: Pod,
  src: Source,
  protocol: string,
  port: number,
  ipBlockMatchesPods: boolean,
): Outcome {
  const matches = (o: PolicyApiObject, rule: Json, where: string): boolean =>
    portsMatch(o, versionOf(o), rule, dst, protocol, port, where) &&
    list(o, rule.from, `${where}.from`, 1, versionOf(o).max).some((peer, i) => src.kind === 'pod' && selects(o, peer, src.pod, `${where}.from[${i}]`));
  const admin = tier(objects, 'admin', dst, 'ingress', matches);
  if (admin !== undefined && admin !== 'pass') return outcome(admin) as Outcome;
  const nps = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicyObject[];
  if (npSelects(nps, dst, 'Ingress')) {
    const s: NpSource = src.kind === 'pod' ? { kind: 'pod', ...src.pod } : src;
    return npAllowsIngress(
      nps,
      { namespace: dst.namespace, labels: dst.labels, ...(dst.namedPorts ? { namedPorts: dst.namedPorts } : {}) },
      s,
      protocol,
      port,
      ipBlockMatchesPods,
    )
      ? 'allowed'
      : 'denied';
  }
  return outcome(tier(objects, 'baseline', dst, 'ingress', matches)) ?? 'allowed';
}

/** Egress from `src` to `dst` on (protocol, port). No NetworkPolicy egress rules are evaluated: the tests' objects must have none. */
export function tieredEgress(objects: readonly PolicyApiObject[], src: Pod, dst: Destination, protocol: string, port: number): Outcome {
  const matches = (o: PolicyApiObject, rule: Json, where: string): boolean =>
    portsMatch(o, versionOf(o), rule, dst.kind === 'pod' ? dst.pod : undefined, protocol, port, where) &&
    list(o, rule.to, `${where}.to`, 1, versionOf(o).max).some((peer, i) => egressPeer(o, peer, dst, `${where}.to[${i}]`));
  const admin = tier(objects, 'admin', src, 'egress', matches);
  if (admin !== undefined && admin !== 'pass') return outcome(admin) as Outcome;
  const nps = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicyObject[];
  if (npSelects(nps, src, 'Egress')) throw new Error('a NetworkPolicy with egress rules: not evaluated by these tests');
  return outcome(tier(objects, 'baseline', src, 'egress', matches)) ?? 'allowed';
}

/** Every object checked in full against the API's validation, whatever a flow would touch; throws on the first violation. */
export function validatePolicyObjects(objects: readonly PolicyApiObject[]): void {
  const nobody: Pod = { namespace: '~', namespaceLabels: {}, labels: {}, ip: '0.0.0.0' };
  for (const o of objects) {
    const t = tierOf(o);
    if (t === undefined) {
      if (o.kind !== 'NetworkPolicy') fail(o, `unknown kind ${o.apiVersion} ${o.kind}`);
      continue;
    }
    if (o.metadata.namespace !== undefined) fail(o, 'a cluster-scoped object has no namespace');
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(o.metadata.name) || o.metadata.name.length > 253)
      fail(o, 'name must be a DNS-1123 subdomain');
    const v = versionOf(o);
    selects(o, o.spec.subject, nobody, 'spec.subject');
    priority(o);
    for (const direction of ['ingress', 'egress'] as const) {
      const rules = o.spec[direction];
      if (rules === undefined) continue;
      for (const [i, r] of list(o, rules, `spec.${direction}`, 0, v.max).entries()) {
        const rule = r as Json;
        const where = `spec.${direction}[${i}]`;
        actionOf(o, v, rule, where);
        const peers = list(o, direction === 'ingress' ? rule.from : rule.to, `${where}.${direction === 'ingress' ? 'from' : 'to'}`, 1, v.max);
        peers.forEach((peer, k) =>
          direction === 'ingress'
            ? selects(o, peer, nobody, `${where}.from[${k}]`)
            : egressPeer(o, peer, { kind: 'address', ip: '0.0.0.0' }, `${where}.to[${k}]`),
        );
        // Every port entry is read: a protocol no entry has visits each.
        for (const [protocol, port] of [
          ['ICMP', 1],
          ['TCP', 0],
        ] as const)
          portsMatch(o, v, rule, undefined, protocol, port, where);
      }
    }
  }
}
