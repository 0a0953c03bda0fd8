// A small evaluator of the Kubernetes NetworkPolicy specification (networking.k8s.io/v1), written
// for the tests from the upstream documentation and independent of the compiler: which ingress
// connections to a pod a set of NetworkPolicies allows. Upstream semantics: a pod no Ingress policy
// selects accepts everything; a selected pod accepts the union of its policies' rules; a rule with
// no `from` accepts every source and one with no `ports` every port; a peer's podSelector alone
// means pods of the policy's namespace, namespaceSelector alone every pod of those namespaces, both
// together pods matching both; ipBlock matches addresses in `cidr` outside `except`. Whether an
// ipBlock also matches in-cluster pod addresses is implementation-defined: `ipBlockMatchesPods`
// picks one reading, and the compiled output must be right under both.
import { cidrContains, ipFamily } from '../../../controlplane/api/cidr.ts';
import { matchesSelector, type LabelSelector } from '../../../controlplane/api/labels.ts';

export interface NpPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface NpPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
export interface NetworkPolicyObject {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: NpPeer[]; ports?: NpPort[] }[];
    egress?: unknown[];
  };
}

export type NpSource =
  { kind: 'pod'; namespace: string; namespaceLabels: Record<string, string>; labels: Record<string, string>; ip: string } | { kind: 'address'; ip: string };

export interface NpTarget {
  namespace: string;
  labels: Record<string, string>;
  /** Named container ports of the target pod, for rules that name a port. */
  namedPorts?: Record<string, { port: number; protocol: string }>;
}

function inBlock(ip: string, b: { cidr: string; except?: string[] }): boolean {
  if (ipFamily(b.cidr) !== ipFamily(ip) || !cidrContains(b.cidr, ip)) return false;
  return !(b.except ?? []).some((e) => cidrContains(e, ip));
}

function peerMatches(peer: NpPeer, policyNamespace: string, src: NpSource, ipBlockMatchesPods: boolean): boolean {
  if (peer.ipBlock !== undefined) {
    if (src.kind === 'pod' && !ipBlockMatchesPods) return false;
    return inBlock(src.ip, peer.ipBlock);
  }
  if (src.kind !== 'pod') return false;
  const nsLabels = { ...src.namespaceLabels, 'kubernetes.io/metadata.name': src.namespace };
  if (peer.namespaceSelector !== undefined) {
    if (!matchesSelector(peer.namespaceSelector, nsLabels)) return false;
  } else if (src.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector === undefined || matchesSelector(peer.podSelector, src.labels);
}

function portMatches(ports: NpPort[] | undefined, target: NpTarget, protocol: string, port: number): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') {
      const named = target.namedPorts?.[p.port];
      return named !== undefined && named.port === port && named.protocol === protocol;
    }
    return port >= p.port && port <= (p.endPort ?? p.port);
  });
}

function isIngress(p: NetworkPolicyObject): boolean {
  // Upstream default: Ingress always, Egress only when the policy has egress rules.
  return p.spec.policyTypes === undefined ? true : p.spec.policyTypes.includes('Ingress');
}

export function npAllowsIngress(
  policies: readonly NetworkPolicyObject[],
  target: NpTarget,
  src: NpSource,
  protocol: string,
  port: number,
  ipBlockMatchesPods: boolean,
): boolean {
  const selecting = policies.filter(
    (p) => (p.metadata.namespace ?? 'default') === target.namespace && isIngress(p) && matchesSelector(p.spec.podSelector, target.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec.ingress ?? []).some(
      (r) =>
        portMatches(r.ports, target, protocol, port) &&
        (r.from === undefined || r.from.length === 0 || r.from.some((peer) => peerMatches(peer, p.metadata.namespace ?? 'default', src, ipBlockMatchesPods))),
    ),
  );
}
