// From the registry's resources (Network, Cluster, IPPool) to the network model. Pure: the hub
// passes in what it read; nothing here reads etcd or a provider. Each Network is one domain, each
// entry of its `spec.links` one directed link, and each link is resolved to what a route in that
// domain would point at (or marked unresolved, saying which Network field is missing).
import type { ClusterResource, IPPoolResource, NetworkResource } from '../../controlplane/api/resources.ts';
import { DEFAULT_CLUSTER_SET, effectiveCidrs } from '../../controlplane/api/semantic.ts';
import {
  DEFAULT_AWS_ROUTES_PER_TABLE,
  LinkKind,
  PrefixRole,
  TargetKind,
  type ClusterNode,
  type Domain,
  type Link,
  type LinkRouting,
  type ModelProblem,
  type NetworkModel,
  type Prefix,
} from './model.ts';
import { compareCidrs, familyOf } from './prefixes.ts';

export interface ModelInput {
  readonly networks: readonly NetworkResource[];
  readonly clusters: readonly ClusterResource[];
  readonly pools: readonly IPPoolResource[];
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function buildModel(input: ModelInput): NetworkModel {
  const problems: ModelProblem[] = [];
  const networks = [...input.networks].sort((a, b) => byName(a.metadata, b.metadata));
  const known = new Map(networks.map((n) => [n.metadata.name, n]));
  const domains = networks.map(toDomain);
  const domainByName = new Map(domains.map((d) => [d.name, d]));

  const links: Link[] = [];
  for (const n of networks) {
    const seen = new Set<string>();
    for (const [i, l] of (n.spec.links ?? []).entries()) {
      const field = `spec.links[${i}]`;
      const peer = domainByName.get(l.to);
      if (peer === undefined || l.to === n.metadata.name) {
        problems.push({
          kind: 'Network',
          name: n.metadata.name,
          field: `${field}.to`,
          message: `links to Network "${l.to}", which is not a routing domain here`,
        });
        continue;
      }
      if (seen.has(l.to)) {
        problems.push({ kind: 'Network', name: n.metadata.name, field, message: `a second link to "${l.to}": the first one is used` });
        continue;
      }
      seen.add(l.to);
      const from = domainByName.get(n.metadata.name);
      if (from !== undefined) links.push(toLink(from, l));
    }
  }

  const clusters: ClusterNode[] = [];
  const prefixes: Prefix[] = [];
  for (const c of [...input.clusters].sort((a, b) => byName(a.metadata, b.metadata))) {
    if (!known.has(c.spec.network)) {
      problems.push({ kind: 'Cluster', name: c.metadata.name, field: 'spec.network', message: `references Network "${c.spec.network}", which does not exist` });
      continue;
    }
    const { pod, service } = effectiveCidrs(c);
    clusters.push({
      name: c.metadata.name,
      domain: c.spec.network,
      clusterSet: c.spec.clusterSet ?? DEFAULT_CLUSTER_SET,
      provider: c.spec.provider,
      labels: c.metadata.labels ?? {},
      podCIDRs: pod,
      serviceCIDRs: service,
    });
    const owner = { kind: 'cluster', name: c.metadata.name } as const;
    for (const cidr of pod) prefixes.push({ cidr, family: familyOf(cidr), owner, role: PrefixRole.Pods, domain: c.spec.network });
    for (const cidr of service) prefixes.push({ cidr, family: familyOf(cidr), owner, role: PrefixRole.Services, domain: c.spec.network });
  }

  for (const p of [...input.pools].sort((a, b) => byName(a.metadata, b.metadata))) {
    const owner = { kind: 'pool', name: p.metadata.name } as const;
    const role = p.spec.use === 'LoadBalancer' ? PrefixRole.LoadBalancer : p.spec.use === 'ClusterSetIPs' ? PrefixRole.ClusterSetIPs : PrefixRole.ClusterCIDRs;
    let domain: string | undefined;
    if (p.spec.network !== undefined) {
      if (known.has(p.spec.network)) domain = p.spec.network;
      else
        problems.push({
          kind: 'IPPool',
          name: p.metadata.name,
          field: 'spec.network',
          message: `references Network "${p.spec.network}", which does not exist`,
        });
    }
    for (const cidr of p.spec.cidrs) prefixes.push({ cidr, family: familyOf(cidr), owner, role, domain });
  }

  for (const d of domains) {
    for (const cidr of d.prefixes)
      prefixes.push({ cidr, family: familyOf(cidr), owner: { kind: 'domain', name: d.name }, role: PrefixRole.Declared, domain: d.name });
  }
  prefixes.sort((a, b) => compareCidrs(a.cidr, b.cidr) || (a.owner.name < b.owner.name ? -1 : a.owner.name > b.owner.name ? 1 : 0));
  links.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { domains, links, clusters, prefixes, problems };
}

function toDomain(n: NetworkResource): Domain {
  const base = { name: n.metadata.name, prefixes: n.spec.prefixes ?? [], labels: n.metadata.labels ?? {} };
  const s = n.spec;
  if (s.provider === 'aws' && s.aws !== undefined) {
    const a = s.aws;
    return {
      ...base,
      provider: 'aws',
      region: s.region ?? '',
      vpcId: a.vpcId,
      ...(a.accountId !== undefined ? { accountId: a.accountId } : {}),
      ...(a.transitGatewayId !== undefined ? { transitGatewayId: a.transitGatewayId } : {}),
      ...(a.transitGatewayAttachmentId !== undefined ? { transitGatewayAttachmentId: a.transitGatewayAttachmentId } : {}),
      ...(a.vpnGatewayId !== undefined ? { vpnGatewayId: a.vpnGatewayId } : {}),
      ...(a.routeTables !== undefined ? { routeTables: a.routeTables } : {}),
      ...(a.securityGroups !== undefined ? { securityGroups: a.securityGroups } : {}),
      maxRoutesPerTable: a.maxRoutesPerTable ?? DEFAULT_AWS_ROUTES_PER_TABLE,
    };
  }
  if (s.provider === 'gcp' && s.gcp !== undefined) {
    return {
      ...base,
      provider: 'gcp',
      region: s.region ?? '',
      project: s.gcp.project,
      network: s.gcp.network,
      ...(s.gcp.cloudRouter !== undefined ? { cloudRouter: s.gcp.cloudRouter } : {}),
    };
  }
  const o = s.onprem ?? { site: n.metadata.name, asn: 0 };
  return {
    ...base,
    provider: 'onprem',
    site: o.site,
    asn: o.asn,
    peers: o.peers ?? [],
    ...(o.nextHop !== undefined ? { nextHop: o.nextHop } : {}),
    communities: o.communities ?? [],
  };
}

type DeclaredLink = NonNullable<NetworkResource['spec']['links']>[number];

function toLink(from: Domain, l: DeclaredLink): Link {
  const base = { id: `${from.name}->${l.to}`, from: from.name, to: l.to, declared: l.type };
  const bgp =
    l.bgp === undefined
      ? {}
      : { localAsn: l.bgp.localASN, peerAsn: l.bgp.peerASN, ...(l.bgp.peerAddress !== undefined ? { peerAddress: l.bgp.peerAddress } : {}) };
  const unresolved = (reason: string): LinkRouting => ({ mode: 'unresolved', reason });
  switch (from.provider) {
    case 'aws': {
      if (l.type === 'vpc-peering') {
        // A peering connection's id (pcx-...) is per pair of VPCs: Networks do not name it yet.
        return {
          ...base,
          kind: LinkKind.AwsVpcPeering,
          routing: unresolved(`Network "${from.name}" names no VPC peering connection for its link to "${l.to}"`),
        };
      }
      if (l.type === 'bgp') {
        return {
          ...base,
          kind: LinkKind.AwsVpn,
          routing: unresolved(`a bgp link is an on-prem session; from AWS, declare the link to "${l.to}" as vpn, interconnect or transit-gateway`),
        };
      }
      if (from.transitGatewayId !== undefined) {
        return {
          ...base,
          kind: LinkKind.AwsTransitGateway,
          routing: { mode: 'static', via: { kind: TargetKind.TransitGateway, id: from.transitGatewayId } },
          ...bgp,
        };
      }
      if (l.type !== 'transit-gateway' && from.vpnGatewayId !== undefined) {
        return { ...base, kind: LinkKind.AwsVpn, routing: { mode: 'static', via: { kind: TargetKind.VpnGateway, id: from.vpnGatewayId } }, ...bgp };
      }
      const missing = l.type === 'transit-gateway' ? 'spec.aws.transitGatewayId' : 'spec.aws.transitGatewayId or spec.aws.vpnGatewayId';
      return {
        ...base,
        kind: l.type === 'transit-gateway' ? LinkKind.AwsTransitGateway : LinkKind.AwsVpn,
        routing: unresolved(`Network "${from.name}" sets no ${missing} for its ${l.type} link to "${l.to}"`),
      };
    }
    case 'gcp': {
      if (l.type === 'vpc-peering') {
        // Peered VPC networks exchange their subnet routes themselves.
        return {
          ...base,
          kind: LinkKind.GcpVpcPeering,
          routing: { mode: 'learned', via: { kind: TargetKind.VpcPeering, id: `${from.project}/${from.network}->${l.to}` } },
        };
      }
      if (l.type === 'vpn' && l.vpnTunnel !== undefined) {
        // A Classic VPN tunnel with static routing: Causeway programs custom routes to the peer's
        // prefixes pointing at the tunnel. The other direction is independent of it: a Network
        // that also names a Cloud Router has GCP's own prefixes advertised from there.
        const via = { kind: TargetKind.VpnGateway, id: gcpVpnTunnelId(from.project, l.vpnTunnel.region, l.vpnTunnel.name) };
        return {
          ...base,
          kind: from.cloudRouter !== undefined ? LinkKind.GcpCloudRouter : LinkKind.GcpVpnTunnel,
          routing: { mode: 'static', via },
          ...bgp,
        };
      }
      if (l.type === 'vpn' || l.type === 'interconnect') {
        if (from.cloudRouter === undefined) {
          return {
            ...base,
            kind: LinkKind.GcpCloudRouter,
            routing: unresolved(`Network "${from.name}" sets no spec.gcp.cloudRouter for its ${l.type} link to "${l.to}"`),
            ...bgp,
          };
        }
        const id = `projects/${from.project}/regions/${from.cloudRouter.region}/routers/${from.cloudRouter.name}`;
        return { ...base, kind: LinkKind.GcpCloudRouter, routing: { mode: 'learned', via: { kind: TargetKind.CloudRouter, id } }, ...bgp };
      }
      return {
        ...base,
        kind: LinkKind.GcpCloudRouter,
        routing: unresolved(`a ${l.type} link is not a GCP link; from GCP, declare the link to "${l.to}" as vpc-peering, vpn or interconnect`),
      };
    }
    case 'onprem': {
      // The site's fabric learns remote prefixes over its own sessions (VPN, Interconnect, Direct
      // Connect); Causeway's part is announcing the site's prefixes to the fabric's peers.
      const via = { kind: TargetKind.BgpPeer, id: l.bgp?.peerAddress ?? l.to };
      return { ...base, kind: LinkKind.BgpSession, routing: { mode: 'learned', via }, ...bgp };
    }
  }
}

/** The id of a Cloud VPN tunnel in routes' targets: its partial URL, as custom routes' `nextHopVpnTunnel` names it. */
export function gcpVpnTunnelId(project: string, region: string, name: string): string {
  return `projects/${project}/regions/${region}/vpnTunnels/${name}`;
}
