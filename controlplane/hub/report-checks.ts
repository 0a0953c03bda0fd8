// What an agent may say about its own exports, checked before anything is stored (issue 12 §3):
// endpoints must be addresses other clusters may be sent to (never loopback, link-local such as
// the cloud metadata address, multicast, ...) and inside the reporting cluster's declared ranges
// (its pod CIDRs and spec.endpointCIDRs), each address once; and the export time that decides
// KEP-1645 conflicts is the hub's own first sight of the export, never the agent's word. Pure.
import { cidrMatcher, specialAddress } from '../api/cidr.ts';
import { serviceKeyString, type ExportState, type Report } from '../api/messages.ts';

export const EndpointRefusal = {
  Special: 'special_address',
  OutsideCluster: 'outside_cluster_ranges',
  Duplicate: 'duplicate_address',
} as const;
export type EndpointRefusal = (typeof EndpointRefusal)[keyof typeof EndpointRefusal];

export interface ReportContext {
  /** Ranges the cluster's endpoints must fall in; undefined: the cluster declares none yet (nothing is refused for range). */
  readonly ranges: readonly string[] | undefined;
  /** When the hub first saw this export of this cluster, if it has. */
  readonly exportedAt: (service: string) => string | undefined;
  /** Now, as the hub's clock says (ISO 8601). */
  readonly now: string;
}

export interface CheckedReport {
  readonly report: Report;
  /** Endpoints (or addresses) refused, by reason. */
  readonly refused: ReadonlyMap<EndpointRefusal, number>;
}

export function checkReport(report: Report, ctx: ReportContext): CheckedReport {
  const refused = new Map<EndpointRefusal, number>();
  const refuse = (why: EndpointRefusal): void => {
    refused.set(why, (refused.get(why) ?? 0) + 1);
  };
  const inRanges = ctx.ranges === undefined ? undefined : cidrMatcher(ctx.ranges);
  const upserts = report.upserts.map((e) => checkExport(e, ctx, inRanges, refuse));
  return { report: { ...report, upserts }, refused };
}

function checkExport(e: ExportState, ctx: ReportContext, inRanges: ((ip: string) => boolean) | undefined, refuse: (why: EndpointRefusal) => void): ExportState {
  const seen = new Set<string>();
  const endpoints = e.endpoints.flatMap((ep) => {
    const addresses = ep.addresses.filter((ip) => {
      const why = refusalOf(ip, inRanges, seen);
      if (why !== undefined) refuse(why);
      else seen.add(ip);
      return why === undefined;
    });
    return addresses.length === 0 ? [] : [addresses.length === ep.addresses.length ? ep : { ...ep, addresses }];
  });
  return { ...e, endpoints, exportedAt: ctx.exportedAt(serviceKeyString(e)) ?? ctx.now };
}

function refusalOf(ip: string, inRanges: ((ip: string) => boolean) | undefined, seen: ReadonlySet<string>): EndpointRefusal | undefined {
  if (specialAddress(ip) !== undefined) return EndpointRefusal.Special;
  if (inRanges !== undefined && !inRanges(ip)) return EndpointRefusal.OutsideCluster;
  if (seen.has(ip)) return EndpointRefusal.Duplicate;
  return undefined;
}
