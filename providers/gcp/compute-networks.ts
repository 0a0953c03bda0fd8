// The ComputeApi port's reads of what a Network is built on and Causeway never changes: the VPC
// network, its subnetworks (whose ranges are the observed prefixes) and the Cloud VPN tunnels that
// static links route through.
import type { ComputeApi, SubnetworkGcp } from './compute-api.ts';
import { lastSegment, strings, type ComputeCalls } from './compute-calls.ts';
import type { ISubnetwork } from './compute-sdk.ts';

export function networkCalls(calls: ComputeCalls): Pick<ComputeApi, 'getNetwork' | 'listSubnetworks' | 'getVpnTunnel'> {
  return {
    getNetwork: (project, network, signal) =>
      calls.read(`reading network ${network} of project ${project}`, signal, async (c, o) => {
        const [n] = await c.networks.get({ project, network }, o);
        return { name: n.name ?? network, selfLink: n.selfLink ?? '', subnetworks: strings(n.subnetworks) };
      }),

    listSubnetworks: (project, region, networkSelfLink, signal) =>
      calls
        .pages(`listing the subnetworks of ${lastSegment(networkSelfLink)} in ${region} of project ${project}`, signal, (c, pageToken, o) =>
          c.subnetworks.list({ project, region, ...calls.networkPage(networkSelfLink, pageToken) }, o),
        )
        .then((items) => items.map((s) => subnetwork(s, region))),

    getVpnTunnel: (project, region, name, signal) =>
      calls.read(`reading Cloud VPN tunnel ${region}/${name} of project ${project}`, signal, async (c, o) => {
        const [t] = await c.vpnTunnels.get({ project, region, vpnTunnel: name }, o);
        return { name: t.name ?? name, region, status: t.status ?? '' };
      }),
  };
}

/** `.../projects/p/regions/europe-west4/subnetworks/x` → `europe-west4`. */
function regionOfLink(link: string): string | undefined {
  return /\/regions\/([^/]+)\//.exec(link)?.[1];
}

function subnetwork(s: ISubnetwork, region: string): SubnetworkGcp {
  const ranges: { cidr: string; range: string }[] = [];
  if (s.ipCidrRange) ranges.push({ cidr: s.ipCidrRange, range: 'primary' });
  for (const r of s.secondaryIpRanges ?? []) if (r.ipCidrRange) ranges.push({ cidr: r.ipCidrRange, range: r.rangeName ?? 'secondary' });
  const v6 = s.ipv6CidrRange ?? s.internalIpv6Prefix ?? s.externalIpv6Prefix;
  if (v6) ranges.push({ cidr: v6, range: 'ipv6' });
  return { name: s.name ?? '', region: regionOfLink(s.selfLink ?? '') ?? region, network: s.network ?? '', ranges };
}
