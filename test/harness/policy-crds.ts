// The CRDs of the policy kinds the agent writes compiled GlobalPolicy as, for the Kubernetes API
// double (kube-api-double.ts, a TEST DOUBLE): sig-network's ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2) and AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1),
// cluster-scoped, with structural schemas reduced from sigs.k8s.io/network-policy-api's generated
// CRDs to what the double checks: field names and types (unknown fields pruned), enums (tiers,
// actions, protocols), required fields, list limits and port bounds. The CEL rules (exactly one
// peer field, range start < end, the BANP's name) are not checked by the double; the tests'
// evaluator (test/unit/policy/anp-evaluator.ts) checks them on compiled output.
import type { CustomResourceDefinition, JSONSchemaProps } from './crd-schema.ts';

const str = (extra: Partial<JSONSchemaProps> = {}): JSONSchemaProps => ({ type: 'string', ...extra });
const list = (items: JSONSchemaProps, maxItems: number): JSONSchemaProps => ({ type: 'array', items, maxItems });
const portNumber: JSONSchemaProps = { type: 'integer', minimum: 1, maximum: 65_535 };
const protocol = str({ enum: ['TCP', 'UDP', 'SCTP'] });

const labelSelector: JSONSchemaProps = {
  type: 'object',
  properties: {
    matchExpressions: list(
      {
        type: 'object',
        required: ['key', 'operator'],
        properties: { key: str(), operator: str({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }), values: list(str(), 10_000) },
      },
      10_000,
    ),
    matchLabels: { type: 'object', additionalProperties: str() },
  },
};
const namespacedPod: JSONSchemaProps = {
  type: 'object',
  required: ['podSelector'],
  properties: { namespaceSelector: labelSelector, podSelector: labelSelector },
};
const subject: JSONSchemaProps = { type: 'object', properties: { namespaces: labelSelector, pods: namespacedPod } };
const egressPeer = (networks: number): JSONSchemaProps => ({
  type: 'object',
  properties: {
    namespaces: labelSelector,
    pods: namespacedPod,
    nodes: labelSelector,
    networks: list(str({ maxLength: 43 }), networks),
    domainNames: list(str(), 25),
  },
});
const status: JSONSchemaProps = { type: 'object', properties: { conditions: list({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, 10_000) } };

function clusterScoped(kind: string, plural: string, version: string, shortName: string, spec: JSONSchemaProps): CustomResourceDefinition {
  return {
    metadata: { name: `${plural}.policy.networking.k8s.io` },
    spec: {
      group: 'policy.networking.k8s.io',
      scope: 'Cluster',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames: [shortName] },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: { type: 'object', required: ['spec'], properties: { apiVersion: str(), kind: str(), metadata: { type: 'object' }, spec, status } },
          },
        },
      ],
    },
  };
}

// ---- v1alpha2 ClusterNetworkPolicy --------------------------------------------------------------

const cnpPort: JSONSchemaProps = {
  type: 'object',
  properties: { number: portNumber, range: { type: 'object', required: ['start', 'end'], properties: { start: portNumber, end: portNumber } } },
};
const cnpProtocol: JSONSchemaProps = {
  type: 'object',
  properties: {
    tcp: { type: 'object', properties: { destinationPort: cnpPort } },
    udp: { type: 'object', properties: { destinationPort: cnpPort } },
    sctp: { type: 'object', properties: { destinationPort: cnpPort } },
    destinationNamedPort: str(),
  },
};
const cnpRule = (peers: 'from' | 'to', peer: JSONSchemaProps): JSONSchemaProps => ({
  type: 'object',
  required: ['action', peers],
  properties: { name: str({ maxLength: 100 }), action: str({ enum: ['Accept', 'Deny', 'Pass'] }), [peers]: list(peer, 25), protocols: list(cnpProtocol, 25) },
});
const clusterNetworkPolicySpec: JSONSchemaProps = {
  type: 'object',
  required: ['tier', 'priority', 'subject'],
  properties: {
    tier: str({ enum: ['Admin', 'Baseline'] }),
    priority: { type: 'integer', minimum: 0, maximum: 1000 },
    subject,
    ingress: list(cnpRule('from', subject), 25),
    egress: list(cnpRule('to', egressPeer(25)), 25),
  },
};

// ---- v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy ----------------------------------

const anpPort: JSONSchemaProps = {
  type: 'object',
  properties: {
    portNumber: { type: 'object', required: ['protocol', 'port'], properties: { protocol: { ...protocol, default: 'TCP' }, port: portNumber } },
    namedPort: str(),
    portRange: { type: 'object', required: ['start', 'end'], properties: { protocol: { ...protocol, default: 'TCP' }, start: portNumber, end: portNumber } },
  },
};
const anpRule = (peers: 'from' | 'to', peer: JSONSchemaProps, actions: readonly string[]): JSONSchemaProps => ({
  type: 'object',
  required: ['action', peers],
  properties: { name: str({ maxLength: 100 }), action: str({ enum: actions }), [peers]: list(peer, 100), ports: list(anpPort, 100) },
});
const adminNetworkPolicySpec: JSONSchemaProps = {
  type: 'object',
  required: ['priority', 'subject'],
  properties: {
    priority: { type: 'integer', minimum: 0, maximum: 1000 },
    subject,
    ingress: list(anpRule('from', subject, ['Allow', 'Deny', 'Pass']), 100),
    egress: list(anpRule('to', egressPeer(25), ['Allow', 'Deny', 'Pass']), 100),
  },
};
const baselineAdminNetworkPolicySpec: JSONSchemaProps = {
  type: 'object',
  required: ['subject'],
  properties: {
    subject,
    ingress: list(anpRule('from', subject, ['Allow', 'Deny']), 100),
    egress: list(anpRule('to', egressPeer(25), ['Allow', 'Deny']), 100),
  },
};

/** sig-network's policy CRDs (network-policy-api v1alpha2 and v1alpha1), as a CNI that implements them installs them. */
export const policyCustomResourceDefinitions: readonly CustomResourceDefinition[] = [
  clusterScoped('ClusterNetworkPolicy', 'clusternetworkpolicies', 'v1alpha2', 'cnp', clusterNetworkPolicySpec),
  clusterScoped('AdminNetworkPolicy', 'adminnetworkpolicies', 'v1alpha1', 'anp', adminNetworkPolicySpec),
  clusterScoped('BaselineAdminNetworkPolicy', 'baselineadminnetworkpolicies', 'v1alpha1', 'banp', baselineAdminNetworkPolicySpec),
];
