// The policy kinds of the Calico and Cilium formats, for the Kubernetes API double
// (kube-api-double.ts, a TEST DOUBLE), as resources with structural schemas reduced to what the
// double checks: field names and types (unknown fields pruned), enums (actions, protocols, types),
// required fields and bounds. Calico's projectcalico.org/v3 Tier and GlobalNetworkPolicy are served
// by the Calico API server (an aggregated API, not CRDs) — the double serves them as cluster-scoped
// custom resources of that group, which is what the agent's custom-objects calls see either way.
// Cilium's cilium.io/v2 CiliumClusterwideNetworkPolicy is a CRD; its schema here is reduced from
// the generated one (ports as strings, at most 40 per PortRule). Selector syntax, CIDRs and the
// other rules the real servers check are left to the tests' evaluators
// (test/unit/policy/calico-evaluator.ts, cilium-evaluator.ts), which check them on compiled output.
import type { CustomResourceDefinition, JSONSchemaProps } from './crd-schema.ts';

const str = (extra: Partial<JSONSchemaProps> = {}): JSONSchemaProps => ({ type: 'string', ...extra });
const list = (items: JSONSchemaProps, maxItems = 10_000): JSONSchemaProps => ({ type: 'array', items, maxItems });
const obj = (properties: Record<string, JSONSchemaProps>, required: readonly string[] = []): JSONSchemaProps => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
});

function clusterScoped(group: string, version: string, kind: string, plural: string, shortName: string, spec: JSONSchemaProps): CustomResourceDefinition {
  return {
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Cluster',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames: [shortName] },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: obj({ apiVersion: str(), kind: str(), metadata: { type: 'object' }, spec }, ['spec']) },
        },
      ],
    },
  };
}

// ---- Calico projectcalico.org/v3 ------------------------------------------------------------------

const calicoPorts = list({ 'x-kubernetes-int-or-string': true });
const entityRule = obj({
  selector: str(),
  namespaceSelector: str(),
  nets: list(str()),
  notNets: list(str()),
  ports: calicoPorts,
  notPorts: calicoPorts,
  notSelector: str(),
});
const calicoRule = obj(
  {
    action: str({ enum: ['Allow', 'Deny', 'Pass', 'Log'] }),
    protocol: { 'x-kubernetes-int-or-string': true },
    ipVersion: { type: 'integer', minimum: 4, maximum: 6 },
    source: entityRule,
    destination: entityRule,
  },
  ['action'],
);
const tierSpec = obj({ order: { type: 'number' }, defaultAction: str({ enum: ['Deny', 'Pass'] }) });
const globalNetworkPolicySpec = obj({
  tier: str(),
  order: { type: 'number' },
  selector: str(),
  namespaceSelector: str(),
  types: list(str({ enum: ['Ingress', 'Egress'] }), 2),
  ingress: list(calicoRule),
  egress: list(calicoRule),
});

// ---- Cilium cilium.io/v2 --------------------------------------------------------------------------

const labelSelector = obj({
  matchLabels: { type: 'object', additionalProperties: str() },
  matchExpressions: list(obj({ key: str(), operator: str({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }), values: list(str()) }, ['key', 'operator'])),
});
const cidrRule = obj({ cidr: str(), except: list(str()) }, ['cidr']);
const portRule = obj({
  ports: list(
    obj({ port: str(), endPort: { type: 'integer', minimum: 0, maximum: 65_535 }, protocol: str({ enum: ['TCP', 'UDP', 'SCTP', 'ANY'] }) }, ['port']),
    40,
  ),
});
const ciliumRule = (dir: 'from' | 'to'): JSONSchemaProps =>
  obj({
    [`${dir}Endpoints`]: list(labelSelector),
    [`${dir}CIDR`]: list(str()),
    [`${dir}CIDRSet`]: list(cidrRule),
    [`${dir}Entities`]: list(str()),
    toPorts: list(portRule),
  });
const ccnpSpec = obj({
  description: str(),
  endpointSelector: labelSelector,
  ingress: list(ciliumRule('from')),
  ingressDeny: list(ciliumRule('from')),
  egress: list(ciliumRule('to')),
  egressDeny: list(ciliumRule('to')),
  enableDefaultDeny: obj({ ingress: { type: 'boolean' }, egress: { type: 'boolean' } }),
});

/** Calico's tiered policy resources and Cilium's cluster-wide policy, as a cluster running that CNI serves them. */
export const cniCustomResourceDefinitions: readonly CustomResourceDefinition[] = [
  clusterScoped('projectcalico.org', 'v3', 'Tier', 'tiers', 'tier', tierSpec),
  clusterScoped('projectcalico.org', 'v3', 'GlobalNetworkPolicy', 'globalnetworkpolicies', 'gnp', globalNetworkPolicySpec),
  clusterScoped('cilium.io', 'v2', 'CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies', 'ccnp', ccnpSpec),
];
