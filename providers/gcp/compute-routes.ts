// The ComputeApi port's custom routes: every route of the network read (Causeway's and everyone
// else's, for the diff to tell apart), and Causeway's static routes to a Cloud VPN tunnel inserted
// and deleted.
import type { ComputeApi, NextHopField, RouteGcp } from './compute-api.ts';
import { lastSegment, strings, type ComputeCalls } from './compute-calls.ts';
import type { IRoute } from './compute-sdk.ts';

export function routeCalls(calls: ComputeCalls): Pick<ComputeApi, 'listRoutes' | 'getRoute' | 'insertRoute' | 'deleteRoute'> {
  return {
    listRoutes: (project, networkSelfLink, signal) =>
      calls
        .pages(`listing the routes of ${lastSegment(networkSelfLink)} in project ${project}`, signal, (c, pageToken, o) =>
          c.routes.list({ project, ...calls.networkPage(networkSelfLink, pageToken) }, o),
        )
        .then((items) => items.map(route)),

    getRoute: (project, name, signal) =>
      calls.read(`reading route ${name} of project ${project}`, signal, async (c, o) => route((await c.routes.get({ project, route: name }, o))[0])),

    insertRoute: (project, r, signal) => {
      const routeResource: IRoute = {
        name: r.name,
        network: r.network,
        destRange: r.destRange,
        priority: r.priority,
        nextHopVpnTunnel: r.nextHopVpnTunnel,
        description: r.description,
      };
      return calls.mutate(
        `inserting route ${r.name} (${r.destRange} via ${lastSegment(r.nextHopVpnTunnel)}) in project ${project}`,
        signal,
        undefined,
        (c, o) => c.routes.insert({ project, routeResource }, o),
      );
    },

    deleteRoute: (project, name, signal) =>
      calls.mutate(`deleting route ${name} in project ${project}`, signal, undefined, (c, o) => c.routes.delete({ project, route: name }, o)),
  };
}

function route(r: IRoute): RouteGcp {
  const hops: [NextHopField, string | null | undefined][] = [
    ['vpn-tunnel', r.nextHopVpnTunnel],
    ['gateway', r.nextHopGateway],
    ['ip', r.nextHopIp],
    ['instance', r.nextHopInstance],
    ['ilb', r.nextHopIlb],
    ['peering', r.nextHopPeering],
    ['interconnect', r.nextHopInterconnectAttachment],
    ['hub', r.nextHopHub],
    ['network', r.nextHopNetwork],
  ];
  const hop = hops.find(([, v]) => typeof v === 'string' && v !== '');
  return {
    name: r.name ?? '',
    network: r.network ?? '',
    destRange: r.destRange ?? '',
    priority: r.priority ?? 1000,
    nextHop: hop === undefined ? { field: 'other', target: '' } : { field: hop[0], target: hop[1] ?? '' },
    description: r.description ?? '',
    routeType: r.routeType ?? '',
    tags: strings(r.tags),
  };
}
