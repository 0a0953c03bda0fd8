// A small evaluator of Cilium's CiliumClusterwideNetworkPolicy (cilium.io/v2), written for the
// tests from the Cilium policy reference and independent of the compiler. It also checks each
// object against the CRD as far as these tests need (fields, selectors, CIDRs, ports with at most
// 40 per PortRule, protocols), throwing on anything unknown.
//
// Upstream semantics, for one connection at one endpoint in one direction: the policies whose
// `endpointSelector` selects the endpoint apply. A matching deny rule (`ingressDeny`/`egressDeny`)
// denies, whatever allows it. Otherwise, if any applying policy puts the endpoint in default deny
// for that direction (`enableDefaultDeny`, which defaults to true for a direction the policy has
// rules for, allow or deny), the connection is allowed only when an allow rule matches; else it is
// allowed. Within a rule, the peer fields are alternatives and `toPorts` must also match (none:
// every port of every protocol). `fromEndpoints`/`toEndpoints` select this cluster's pods by their
// labels, `io.kubernetes.pod.namespace` and `io.cilium.k8s.namespace.labels.<key>` (a `k8s:` or
// `any:` source prefix is read through); `fromCIDR`/`fromCIDRSet` (and `to…`) match addresses that
// are not this cluster's endpoints, with `except` carved out. Port "0" is every port of the protocol.
// The empty rule `{}` matches nothing: `ingress: [{}]` is how Cilium writes "deny all ingress".
import { checkCidr, cidrContains, ipFamily } from '../../../controlplane/api/cidr.ts';
import { matchesSelector, type LabelSelector } from '../../../controlplane/api/labels.ts';
import type { Destination, Outcome, Pod, PolicyApiObject, Source } from './anp-evaluator.ts';
import type { FormatReader } from './format-agreement.ts';

type Json = Record<string, unknown>;
type Party = { kind: 'pod'; pod: Pod } | { kind: 'address'; ip: string };

function fail(o: PolicyApiObject, what: string): never {
  throw new Error(`${o.kind} ${o.metadata.name}: ${what} (the API server would refuse it)`);
}

function only(o: PolicyApiObject, v: unknown, fields: readonly string[], where: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(o, `${where} must be an object`);
  for (const k of Object.keys(v)) if (!fields.includes(k)) fail(o, `${where}.${k} is not a field (or not one these tests read)`);
  return v as Json;
}

function list(o: PolicyApiObject, v: unknown, where: string, max = Infinity): unknown[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > max) fail(o, `${where} must be a list of 1..${max} items`);
  return v;
}

const strip = (key: string): string => key.replace(/^(k8s|any):/, '');

function selects(o: PolicyApiObject, sel: unknown, pod: Pod, where: string): boolean {
  const s = only(o, sel, ['matchLabels', 'matchExpressions'], where);
  const labels: Record<string, string> = { ...pod.labels, 'io.kubernetes.pod.namespace': pod.namespace };
  for (const [k, v] of Object.entries({ ...pod.namespaceLabels, 'kubernetes.io/metadata.name': pod.namespace }))
    labels[`io.cilium.k8s.namespace.labels.${k}`] = v;
  const selector: LabelSelector = {
    ...(s.matchLabels === undefined
      ? {}
      : { matchLabels: Object.fromEntries(Object.entries(s.matchLabels as Record<string, string>).map(([k, v]) => [strip(k), v])) }),
    ...(s.matchExpressions === undefined
      ? {}
      : {
          matchExpressions: list(o, s.matchExpressions, `${where}.matchExpressions`).map((e, i) => {
            const x = only(o, e, ['key', 'operator', 'values'], `${where}.matchExpressions[${i}]`);
            if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(x.operator as string)) fail(o, `${where}.matchExpressions[${i}].operator`);
            return { ...(x as { key: string; operator: 'In' }), key: strip(x.key as string) };
          }),
        }),
  };
  return matchesSelector(selector, labels);
}

function inCidrRule(o: PolicyApiObject, rule: unknown, ip: string, where: string): boolean {
  const r = only(o, rule, ['cidr', 'except'], where);
  const cidr = r.cidr;
  if (typeof cidr !== 'string' || !checkCidr(cidr).ok) fail(o, `${where}.cidr is not a CIDR`);
  const except = r.except === undefined ? [] : list(o, r.except, `${where}.except`);
  for (const e of except)
    if (typeof e !== 'string' || !checkCidr(e).ok || ipFamily(e) !== ipFamily(cidr) || !cidrContains(cidr, e))
      fail(o, `${where}.except ${String(e)} is not inside ${cidr}`);
  const inside = (c: string): boolean => ipFamily(c) === ipFamily(ip) && cidrContains(c, ip);
  return inside(cidr) && !except.some((e) => inside(e as string));
}

function portsMatch(o: PolicyApiObject, toPorts: unknown, protocol: string, port: number, where: string): boolean {
  if (toPorts === undefined) return true;
  return list(o, toPorts, where).some((pr, i) => {
    const rule = only(o, pr, ['ports'], `${where}[${i}]`);
    return list(o, rule.ports, `${where}[${i}].ports`, 40).some((pp, j) => {
      const at = `${where}[${i}].ports[${j}]`;
      const p = only(o, pp, ['port', 'endPort', 'protocol'], at);
      if (typeof p.port !== 'string' || !/^\d{1,5}$/.test(p.port) || Number(p.port) > 65_535) fail(o, `${at}.port must be a port number string`);
      const start = Number(p.port);
      const end = p.endPort === undefined ? start : (p.endPort as number);
      if (p.endPort !== undefined && (typeof p.endPort !== 'number' || end < start || end > 65_535 || start === 0)) fail(o, `${at}.endPort`);
      const proto = (p.protocol as string | undefined) ?? 'ANY';
      if (!['TCP', 'UDP', 'SCTP', 'ANY'].includes(proto)) fail(o, `${at}.protocol ${proto}`);
      return (proto === 'ANY' || proto === protocol) && (start === 0 || (port >= start && port <= end));
    });
  });
}

/** Does one rule's peers and ports match the party? */
function ruleMatches(o: PolicyApiObject, rule: unknown, dir: 'from' | 'to', party: Party, protocol: string, port: number, where: string): boolean {
  const r = only(o, rule, [`${dir}Endpoints`, `${dir}CIDR`, `${dir}CIDRSet`, 'toPorts'], where);
  const endpoints = r[`${dir}Endpoints`];
  const cidr = r[`${dir}CIDR`];
  const cidrSet = r[`${dir}CIDRSet`];
  if (endpoints === undefined && cidr === undefined && cidrSet === undefined) {
    // The empty rule `{}` selects no peer (Cilium's documented "deny all" in a default-deny direction).
    if (r.toPorts !== undefined) fail(o, `${where} has ports but no peer (an L4-only rule: not written, not read by these tests)`);
    return false;
  }
  const ports = portsMatch(o, r.toPorts, protocol, port, `${where}.toPorts`);
  const byEndpoint =
    endpoints !== undefined &&
    list(o, endpoints, `${where}.${dir}Endpoints`).some((s, i) => party.kind === 'pod' && selects(o, s, party.pod, `${where}.${dir}Endpoints[${i}]`));
  // CIDR rules never match this cluster's own endpoints.
  const ip = party.kind === 'address' ? party.ip : undefined;
  const byCidr =
    (cidr !== undefined && list(o, cidr, `${where}.${dir}CIDR`).some((c) => ip !== undefined && inCidrRule(o, { cidr: c }, ip, `${where}.${dir}CIDR`))) ||
    (cidrSet !== undefined &&
      list(o, cidrSet, `${where}.${dir}CIDRSet`).some((c, i) => ip !== undefined && inCidrRule(o, c, ip, `${where}.${dir}CIDRSet[${i}]`)));
  return ports && (byEndpoint || byCidr);
}

function specOf(o: PolicyApiObject): Json {
  if (o.apiVersion !== 'cilium.io/v2' || o.kind !== 'CiliumClusterwideNetworkPolicy') fail(o, `unexpected ${o.apiVersion} ${o.kind}`);
  return only(o, o.spec, ['endpointSelector', 'ingress', 'ingressDeny', 'egress', 'egressDeny', 'enableDefaultDeny', 'description'], 'spec');
}

function decides(objects: readonly PolicyApiObject[], direction: 'ingress' | 'egress', endpoint: Pod, party: Party, protocol: string, port: number): Outcome {
  const dir = direction === 'ingress' ? 'from' : 'to';
  const deny = `${direction}Deny`;
  const applying = objects.filter((o) => selects(o, specOf(o).endpointSelector, endpoint, 'spec.endpointSelector'));
  const rules = (o: PolicyApiObject, field: string): unknown[] => {
    const v = specOf(o)[field];
    return v === undefined ? [] : list(o, v, `spec.${field}`);
  };
  if (applying.some((o) => rules(o, deny).some((r, i) => ruleMatches(o, r, dir, party, protocol, port, `spec.${deny}[${i}]`)))) return 'denied';
  const defaultDeny = applying.some((o) => {
    const d = specOf(o).enableDefaultDeny as Record<string, boolean> | undefined;
    return d?.[direction] ?? (rules(o, direction).length > 0 || rules(o, deny).length > 0);
  });
  if (!defaultDeny) return 'allowed';
  return applying.some((o) => rules(o, direction).some((r, i) => ruleMatches(o, r, dir, party, protocol, port, `spec.${direction}[${i}]`)))
    ? 'allowed'
    : 'denied';
}

export const ciliumIngress = (objects: readonly PolicyApiObject[], dst: Pod, src: Source, protocol: string, port: number): Outcome =>
  decides(objects, 'ingress', dst, src, protocol, port);
export const ciliumEgress = (objects: readonly PolicyApiObject[], src: Pod, dst: Destination, protocol: string, port: number): Outcome =>
  decides(objects, 'egress', src, dst, protocol, port);

/** Every object checked in full against the CRD as far as these tests read; throws on the first violation. */
export function validateCiliumObjects(objects: readonly PolicyApiObject[]): void {
  const nobody: Pod = { namespace: '~', namespaceLabels: {}, labels: {}, ip: '0.0.0.0' };
  for (const o of objects) {
    const s = specOf(o);
    if (o.metadata.namespace !== undefined) fail(o, 'a cluster-scoped object has no namespace');
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(o.metadata.name)) fail(o, 'name must be a DNS-1123 subdomain');
    if (s.endpointSelector === undefined) fail(o, 'spec.endpointSelector is required');
    if (s.enableDefaultDeny !== undefined) only(o, s.enableDefaultDeny, ['ingress', 'egress'], 'spec.enableDefaultDeny');
    if (['ingress', 'ingressDeny', 'egress', 'egressDeny'].every((f) => s[f] === undefined)) fail(o, 'a policy needs a rule');
    selects(o, s.endpointSelector, nobody, 'spec.endpointSelector');
    for (const field of ['ingress', 'ingressDeny', 'egress', 'egressDeny'] as const) {
      if (s[field] === undefined) continue;
      const dir = field.startsWith('ingress') ? 'from' : 'to';
      for (const [i, r] of list(o, s[field], `spec.${field}`).entries()) {
        // Every field is read: against a pod and an address, on a port no rule has.
        ruleMatches(o, r, dir, { kind: 'pod', pod: nobody }, 'TCP', 0, `spec.${field}[${i}]`);
        ruleMatches(o, r, dir, { kind: 'address', ip: '0.0.0.0' }, 'TCP', 0, `spec.${field}[${i}]`);
      }
    }
  }
}

export const ciliumReader: FormatReader = { validate: validateCiliumObjects, ingress: ciliumIngress, egress: ciliumEgress };
