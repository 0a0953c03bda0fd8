// The ComputeApi port's Cloud Routers: a router read, and its advertisement (mode, groups, custom
// ranges) set with every other field of the router kept.
import type { ComputeApi, RouterGcp } from './compute-api.ts';
import { strings, type ComputeCalls } from './compute-calls.ts';
import type { IRouter } from './compute-sdk.ts';

export function routerCalls(calls: ComputeCalls): Pick<ComputeApi, 'getRouter' | 'setRouterAdvertisements'> {
  return {
    getRouter: (project, region, name, signal) =>
      calls.read(`reading Cloud Router ${region}/${name} of project ${project}`, signal, async (c, o) => {
        const [r] = await c.routers.get({ project, region, router: name }, o);
        return router(r, region);
      }),

    setRouterAdvertisements: async (project, region, name, bgp, signal) => {
      const what = `setting the advertised ranges of Cloud Router ${region}/${name} in project ${project}`;
      const wanted = {
        asn: bgp.asn,
        advertiseMode: bgp.advertiseMode,
        advertisedGroups: [...bgp.advertisedGroups],
        advertisedIpRanges: bgp.advertisedIpRanges.map((r) => ({ range: r.range, description: r.description })),
      };
      if (wanted.advertisedIpRanges.length > 0 && (wanted.advertisedGroups.length > 0 || bgp.advertiseMode === 'DEFAULT')) {
        // A merge patch of `bgp` keeps the router's peers, interfaces and NATs (Router has no
        // fingerprint to compare-and-swap on: an edit of bgp made since the read is overwritten).
        return calls.mutate(what, signal, region, (c, o) => c.routers.patch({ project, region, router: name, routerResource: { bgp: wanted } }, o));
      }
      // An emptied list cannot be patched (the client leaves empty lists out of the request): the
      // router is read again and replaced whole, with only its advertisement changed.
      const current = await calls.read(`reading Cloud Router ${region}/${name} of project ${project}`, signal, async (c, o) => {
        return (await c.routers.get({ project, region, router: name }, o))[0];
      });
      const routerResource: IRouter = { ...current, bgp: { ...current.bgp, ...wanted } };
      return calls.mutate(what, signal, region, (c, o) => c.routers.update({ project, region, router: name, routerResource }, o));
    },
  };
}

function router(r: IRouter, region: string): RouterGcp {
  const b = r.bgp;
  return {
    name: r.name ?? '',
    region,
    network: r.network ?? '',
    bgp:
      b === null || b === undefined
        ? undefined
        : {
            asn: b.asn ?? 0,
            advertiseMode: b.advertiseMode === 'CUSTOM' ? 'CUSTOM' : 'DEFAULT',
            advertisedGroups: strings(b.advertisedGroups),
            advertisedIpRanges: (b.advertisedIpRanges ?? []).map((x) => ({ range: x.range ?? '', description: x.description ?? '' })),
          },
    customPeers: (r.bgpPeers ?? []).filter((p) => p.advertiseMode === 'CUSTOM').map((p) => p.name ?? ''),
  };
}
