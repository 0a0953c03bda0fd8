// The resource model of causeway.dev/v1alpha1: one zod schema per kind, and the TypeScript types
// derived from them. Field-level validation lives here; checks across the whole set of resources
// (references, overlapping CIDRs) live in semantic.ts.
import { z } from 'zod';
import { isIpAddress, specialAddress } from './cidr.ts';
import type { API_VERSION, Kind } from './kinds.ts';
import {
  POLICY_FORMATS,
  asnSchema,
  cidrSchema,
  ipSchema,
  labelSelectorSchema,
  labelsSchema,
  nameSchema,
  portSchema,
  protocolSchema,
  providers,
} from './resource-fields.ts';
import type { ObjectMeta, Status } from './resource-fields.ts';

export * from './resource-fields.ts';

// ---- specs ---------------------------------------------------------------------------------

function perFamily(cidrs: readonly string[] | undefined, ctx: z.RefinementCtx, field: string): void {
  const families = (cidrs ?? []).map((c) => (c.includes(':') ? 6 : 4));
  if (new Set(families).size !== families.length) {
    ctx.addIssue({ code: 'custom', path: [field], message: 'at most one IPv4 and one IPv6 CIDR (dual-stack)', input: cidrs });
  }
}

export const clusterSpecSchema = z
  .strictObject({
    provider: z.enum(providers),
    region: z.string().min(1, 'expected the cloud region or on-prem site, e.g. "us-east-1"'),
    network: nameSchema,
    clusterSet: nameSchema.optional(),
    podCIDRs: z.array(cidrSchema).min(1).max(2).optional(),
    serviceCIDRs: z.array(cidrSchema).min(1).max(2).optional(),
    /**
     * Ranges besides the pod CIDRs whose addresses this cluster may export as endpoints (node
     * networks for host-network pods, a VM subnet): the hub refuses reported endpoints outside both.
     */
    endpointCIDRs: z.array(cidrSchema).max(16).optional(),
    ipam: z
      .strictObject({
        pool: nameSchema,
        podPrefixLength: z.int().min(8).max(120).optional(),
        servicePrefixLength: z.int().min(8).max(124).optional(),
      })
      .optional(),
    heartbeatTTLSeconds: z.int().min(5).max(3600).optional(),
    /**
     * On-prem only: a block of LoadBalancer addresses for MetalLB, allocated by the hub from a
     * LoadBalancer IPPool of the cluster's own Network into status.allocated.loadBalancerCIDRs
     * (one block per address family of the pool). Prefix lengths default to the pool's
     * spec.blockPrefixLength, then /28 (IPv4) and /120 (IPv6).
     */
    loadBalancer: z
      .strictObject({
        pool: nameSchema,
        prefixLength: z.int().min(8).max(32).optional(),
        ipv6PrefixLength: z.int().min(8).max(128).optional(),
      })
      .optional(),
    /**
     * How the hub compiles GlobalPolicy for this cluster (docs/policy.md): the policy objects its
     * CNI enforces (NetworkPolicy, which every CNI supports, by default), and whether other
     * clusters' pods appear in them as their own addresses (default) or as their clusters' pod
     * CIDRs (fewer rules, refused where pods of one cluster are decided differently).
     */
    policy: z
      .strictObject({
        /** Default NetworkPolicy. */
        format: z.enum(POLICY_FORMATS).optional(),
        /** Default addresses. */
        remotePeers: z.enum(['addresses', 'podCIDRs']).optional(),
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    if (s.loadBalancer !== undefined && s.provider !== 'onprem') {
      ctx.addIssue({
        code: 'custom',
        path: ['loadBalancer'],
        message: `only on-prem clusters get a LoadBalancer block (MetalLB); a ${s.provider} cluster uses its provider's load balancers`,
      });
    }
    perFamily(s.podCIDRs, ctx, 'podCIDRs');
    perFamily(s.serviceCIDRs, ctx, 'serviceCIDRs');
    for (const field of ['podCIDRs', 'serviceCIDRs'] as const) {
      if (s[field] === undefined && s.ipam === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `required: list the cluster's ${field === 'podCIDRs' ? 'pod' : 'service'} CIDRs, or set spec.ipam.pool to have the hub allocate them`,
        });
      }
    }
  });

/** A standard BGP community (RFC 1997), two 16-bit halves. */
const communitySchema = z.string().superRefine((v, ctx) => {
  const m = /^([0-9]{1,5}):([0-9]{1,5})$/.exec(v);
  if (m === null || Number(m[1]) > 65_535 || Number(m[2]) > 65_535) {
    ctx.addIssue({ code: 'custom', message: 'expected a BGP community "ASN:value" with both parts 0-65535, such as "64512:100"', input: v });
  }
});

/** AWS objects named by id or chosen by one tag. */
function awsSelectorSchema(prefix: string, what: string) {
  return z
    .strictObject({
      ids: z
        .array(z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `expected a ${what} id such as "${prefix}-0a1b2c3d"`))
        .min(1)
        .optional(),
      tag: z.strictObject({ key: z.string().min(1).max(128), value: z.string().max(256) }).optional(),
    })
    .refine((s) => s.ids !== undefined || s.tag !== undefined, { message: `name the ${what}s by ids or by tag` });
}

const linkSchema = z.strictObject({
  to: nameSchema,
  type: z.enum(['vpc-peering', 'transit-gateway', 'vpn', 'interconnect', 'bgp']),
  bgp: z.strictObject({ localASN: asnSchema, peerASN: asnSchema, peerAddress: ipSchema.optional() }).optional(),
  /**
   * GCP only: the Cloud VPN tunnel that static custom routes over this vpn link point at
   * (`nextHopVpnTunnel`). Without it, routes over the link are learned through the Cloud Router.
   */
  vpnTunnel: z.strictObject({ region: z.string().min(1), name: nameSchema }).optional(),
});

export const networkSpecSchema = z
  .strictObject({
    provider: z.enum(providers),
    region: z.string().min(1).optional(),
    aws: z
      .strictObject({
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'expected a VPC id such as "vpc-0a1b2c3d4e5f67890"'),
        accountId: z
          .string()
          .regex(/^[0-9]{12}$/, 'expected a 12-digit AWS account id')
          .optional(),
        transitGatewayId: z
          .string()
          .regex(/^tgw-[0-9a-f]{8,17}$/, 'expected a transit gateway id such as "tgw-0a1b2c3d"')
          .optional(),
        // What the AWS adapter programs (providers/aws): all optional, so older Networks stay valid.
        transitGatewayAttachmentId: z
          .string()
          .regex(/^tgw-attach-[0-9a-f]{8,17}$/, 'expected a transit gateway attachment id such as "tgw-attach-0a1b2c3d"')
          .optional(),
        vpnGatewayId: z
          .string()
          .regex(/^vgw-[0-9a-f]{8,17}$/, 'expected a virtual private gateway id such as "vgw-0a1b2c3d"')
          .optional(),
        /** The route tables Causeway adds routes to: by id, by tag, or (neither) every table of the VPC. */
        routeTables: awsSelectorSchema('rtb', 'route table').optional(),
        /** The security groups Causeway adds rules to: by id or by tag (neither: none). */
        securityGroups: awsSelectorSchema('sg', 'security group').optional(),
        /** Routes a route table may hold (AWS's quota, 50 unless raised for the account). */
        maxRoutesPerTable: z.int().min(1).max(1000).optional(),
      })
      .optional(),
    gcp: z
      .strictObject({
        project: z.string().regex(/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/, 'expected a GCP project id such as "ml-platform-prod"'),
        network: nameSchema,
        /** The Cloud Router whose BGP sessions carry the VPN/Interconnect links (custom advertised ranges). */
        cloudRouter: z.strictObject({ region: z.string().min(1), name: nameSchema }).optional(),
      })
      .optional(),
    onprem: z
      .strictObject({
        site: z.string().min(1),
        asn: asnSchema,
        /** The site's BGP peers (fabric routers) that Causeway announces to. */
        peers: z.array(z.strictObject({ address: ipSchema, asn: asnSchema, port: portSchema.optional() })).optional(),
        /** Next hop of the announced prefixes (the site's gateway to its clusters). */
        nextHop: ipSchema.optional(),
        /** BGP communities on every announcement, as "ASN:value". */
        communities: z.array(communitySchema).optional(),
      })
      .optional(),
    prefixes: z.array(cidrSchema).optional(),
    links: z.array(linkSchema).optional(),
  })
  .superRefine((s, ctx) => {
    for (const p of providers) {
      if (p === s.provider && s[p] === undefined) {
        ctx.addIssue({ code: 'custom', path: [p], message: `required for provider ${p}` });
      }
      if (p !== s.provider && s[p] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [p], message: `only allowed when provider is ${p} (provider is ${s.provider})` });
      }
    }
    if (s.provider !== 'onprem' && s.region === undefined) {
      ctx.addIssue({ code: 'custom', path: ['region'], message: `required for provider ${s.provider}` });
    }
    for (const [i, l] of (s.links ?? []).entries()) {
      if (l.type === 'bgp' && l.bgp === undefined) {
        ctx.addIssue({ code: 'custom', path: ['links', i, 'bgp'], message: 'a bgp link needs localASN and peerASN' });
      }
      if (l.vpnTunnel !== undefined && (s.provider !== 'gcp' || l.type !== 'vpn')) {
        ctx.addIssue({
          code: 'custom',
          path: ['links', i, 'vpnTunnel'],
          message: `only a GCP Network's vpn link names a Cloud VPN tunnel (this is a ${s.provider} ${l.type} link)`,
        });
      }
    }
  });

export const IPPoolUse = { ClusterCIDRs: 'ClusterCIDRs', ClusterSetIPs: 'ClusterSetIPs', LoadBalancer: 'LoadBalancer' } as const;
export type IPPoolUse = (typeof IPPoolUse)[keyof typeof IPPoolUse];

export const ipPoolSpecSchema = z
  .strictObject({
    use: z.enum(['ClusterCIDRs', 'ClusterSetIPs', 'LoadBalancer']),
    cidrs: z.array(cidrSchema).min(1),
    /** For LoadBalancer pools: the on-prem network that announces them. */
    network: nameSchema.optional(),
    /** For LoadBalancer pools: the size of the block each cluster gets, per family (a Cluster's spec.loadBalancer may ask otherwise). */
    blockPrefixLength: z.strictObject({ ipv4: z.int().min(8).max(32).optional(), ipv6: z.int().min(8).max(128).optional() }).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.blockPrefixLength !== undefined && s.use !== 'LoadBalancer') {
      ctx.addIssue({
        code: 'custom',
        path: ['blockPrefixLength'],
        message: `only LoadBalancer pools hand out blocks of a pool-wide size (this pool is for ${s.use}); cluster CIDR sizes come from each Cluster's spec.ipam`,
      });
    }
  });

const servicePortSchema = z.strictObject({
  name: nameSchema.optional(),
  port: portSchema,
  protocol: protocolSchema.optional(),
  appProtocol: z.string().min(1).optional(),
});

/** ExternalServices are VMs and bare metal: a thousand endpoints is a large fleet, and keeps one service's import well inside a message. */
export const MAX_EXTERNAL_ENDPOINTS = 1000;

/** An endpoint address other clusters will be sent to: never loopback, link-local, multicast and the like. */
const endpointAddressSchema = ipSchema.superRefine((ip, ctx) => {
  if (!isIpAddress(ip)) return;
  const special = specialAddress(ip);
  if (special !== undefined) ctx.addIssue({ code: 'custom', message: `${ip} is ${special}: not an address other clusters may be sent to` });
});

export const externalServiceSpecSchema = z
  .strictObject({
    network: nameSchema,
    ports: z.array(servicePortSchema).min(1),
    endpoints: z
      .array(
        z.strictObject({
          address: endpointAddressSchema,
          hostname: nameSchema.optional(),
          zone: z.string().min(1).optional(),
          ready: z.boolean().optional(),
          labels: labelsSchema.optional(),
        }),
      )
      .max(MAX_EXTERNAL_ENDPOINTS, `at most ${MAX_EXTERNAL_ENDPOINTS} endpoints per ExternalService (docs/operations.md, "Limits")`),
    exportTo: z.strictObject({ clusterSelector: labelSelectorSchema }).optional(),
  })
  .superRefine((s, ctx) => {
    const addresses = new Map<string, number>();
    for (const [i, e] of s.endpoints.entries()) {
      const first = addresses.get(e.address);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'address'], message: `duplicates endpoints[${first}].address` });
      addresses.set(e.address, i);
    }
    const seen = new Map<string, number>();
    for (const [i, p] of s.ports.entries()) {
      const key = `${p.port}/${p.protocol ?? 'TCP'}`;
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['ports', i], message: `duplicates ports[${first}] (${key})` });
      seen.set(key, i);
    }
  });

const peerSchema = z
  .strictObject({
    clusters: labelSelectorSchema.optional(),
    namespaces: z.array(nameSchema).min(1).optional(),
    /** Namespaces by their labels; with `namespaces`, both must hold. */
    namespaceSelector: labelSelectorSchema.optional(),
    pods: labelSelectorSchema.optional(),
    service: z.strictObject({ namespace: nameSchema, name: nameSchema }).optional(),
    cidrs: z.array(cidrSchema).min(1).optional(),
  })
  .superRefine((p, ctx) => {
    const set = Object.entries(p)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k);
    if (set.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'name at least one of clusters, namespaces, namespaceSelector, pods, service or cidrs' });
    }
    if (p.cidrs !== undefined && set.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['cidrs'], message: 'cidrs select addresses outside the clusterset and cannot be combined with other fields' });
    }
    if (p.service !== undefined && p.pods !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['pods'], message: 'a service peer already selects its pods; drop pods' });
    }
  });

export const PolicyTier = { platform: 'platform', tenant: 'tenant', baseline: 'baseline' } as const;
export type PolicyTier = (typeof PolicyTier)[keyof typeof PolicyTier];

export const globalPolicySpecSchema = z.strictObject({
  tier: z.enum(['platform', 'tenant', 'baseline']),
  priority: z.int().min(0).max(1000).optional(),
  action: z.enum(['Allow', 'Deny', 'Pass']),
  from: z.array(peerSchema).min(1),
  to: z.array(peerSchema).min(1),
  ports: z
    .array(
      z.strictObject({ protocol: protocolSchema.optional(), port: portSchema, endPort: portSchema.optional() }).superRefine((p, ctx) => {
        if (p.endPort !== undefined && p.endPort < p.port) {
          ctx.addIssue({ code: 'custom', path: ['endPort'], message: `must be at least port (${p.port})` });
        }
      }),
    )
    .optional(),
  /**
   * Traffic to pods of these namespaces (in the clusters the selector matches; every cluster when
   * omitted) that reaches the end of this policy's tier undecided is denied there (docs/policy.md).
   */
  defaultDeny: z
    .strictObject({
      namespaces: z.array(nameSchema).min(1, 'name at least one namespace to default-deny'),
      clusters: labelSelectorSchema.optional(),
    })
    .optional(),
});

export type ClusterSpec = z.output<typeof clusterSpecSchema>;
export type NetworkSpec = z.output<typeof networkSpecSchema>;
export type IPPoolSpec = z.output<typeof ipPoolSpecSchema>;
export type ExternalServiceSpec = z.output<typeof externalServiceSpecSchema>;
export type GlobalPolicySpec = z.output<typeof globalPolicySpecSchema>;

export const SPEC_SCHEMAS = {
  Cluster: clusterSpecSchema,
  Network: networkSpecSchema,
  IPPool: ipPoolSpecSchema,
  ExternalService: externalServiceSpecSchema,
  GlobalPolicy: globalPolicySpecSchema,
} as const satisfies Record<Kind, z.ZodType>;

interface ResourceOf<K extends Kind, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: Status;
}

export type ClusterResource = ResourceOf<'Cluster', ClusterSpec>;
export type NetworkResource = ResourceOf<'Network', NetworkSpec>;
export type IPPoolResource = ResourceOf<'IPPool', IPPoolSpec>;
export type ExternalServiceResource = ResourceOf<'ExternalService', ExternalServiceSpec>;
export type GlobalPolicyResource = ResourceOf<'GlobalPolicy', GlobalPolicySpec>;
export type Resource = ClusterResource | NetworkResource | IPPoolResource | ExternalServiceResource | GlobalPolicyResource;
