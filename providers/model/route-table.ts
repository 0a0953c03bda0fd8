// One route table's static routes, pure: the wanted prefixes over each link summarised exactly,
// a route that would shadow one Causeway does not own refused as a RouteConflict, and what does not
// fit the table's quota (per address family, after the routes that are not Causeway's) refused as
// RouteQuotaExceeded naming the table, the quota and the prefixes. Routes already in place keep
// their slots, so a new prefix never evicts an existing one.
import type { Domain, Link, PrefixRef, RouteIntent, RouteTarget } from './model.ts';
import type { ObservedRouteTable, PlanProblem } from './plan-types.ts';
import { compareCidrs, covers, familyOf, prefixLength, sortCidrs, summarise } from './prefixes.ts';

/** The routes wanted over one link of a domain. */
export interface Wanted {
  readonly link: Link;
  readonly via: RouteTarget;
  readonly mode: 'static' | 'learned';
  readonly prefixes: Map<string, PrefixRef[]>;
}

const sameTarget = (a: RouteTarget, b: RouteTarget): boolean => a.kind === b.kind && a.id === b.id;

/** The static routes of one route table (or of every managed table, when none was observed). */
export function planTable(d: Domain, table: ObservedRouteTable | undefined, statics: readonly Wanted[], quota: number, problems: PlanProblem[]): RouteIntent[] {
  const tableName = table?.id ?? 'every managed route table';
  const foreign = (table?.routes ?? []).filter((r) => r.owner === 'foreign');
  const ours = new Set((table?.routes ?? []).filter((r) => r.owner === 'causeway').map((r) => r.destination));
  const candidates: { destination: string; entry: Wanted; covers: PrefixRef[] }[] = [];
  for (const entry of statics) {
    const kept = new Map<string, PrefixRef[]>();
    for (const [cidr, refs] of entry.prefixes) {
      // A foreign route already doing exactly this is left to do it.
      if (foreign.some((f) => f.destination === cidr && sameTarget(f.target, entry.via))) continue;
      const shadowed = foreign.find((f) => prefixLength(f.destination) > 0 && !sameTarget(f.target, entry.via) && covers(f.destination, cidr));
      if (shadowed !== undefined) {
        problems.push({
          reason: 'RouteConflict',
          domain: d.name,
          table: tableName,
          destination: cidr,
          covers: refs,
          foreign: { destination: shadowed.destination, target: shadowed.target },
          message: `route table ${tableName}: a route to ${cidr} via ${entry.via.id} would take traffic from ${shadowed.destination} via ${shadowed.target.id}, which Causeway does not own; not planned`,
        });
        continue;
      }
      kept.set(cidr, refs);
    }
    for (const summary of summarise(kept.keys())) {
      const refs = [...kept].filter(([cidr]) => covers(summary, cidr)).flatMap(([, r]) => r);
      candidates.push({ destination: summary, entry, covers: refs });
    }
  }
  const out: RouteIntent[] = [];
  for (const family of [4, 6] as const) {
    const usedByOthers = foreign.filter((f) => f.origin === 'static' && familyOf(f.destination) === family).length;
    const room = Math.max(0, quota - usedByOthers);
    // Routes already in place keep their slots, so a new prefix never evicts an existing one.
    const mine = candidates
      .filter((c) => familyOf(c.destination) === family)
      .sort((a, b) => Number(ours.has(b.destination)) - Number(ours.has(a.destination)) || compareCidrs(a.destination, b.destination));
    const fit = mine.slice(0, room);
    const rest = mine.slice(room);
    if (rest.length > 0) {
      const didNotFit = sortCidrs(rest.map((r) => r.destination));
      problems.push({
        reason: 'RouteQuotaExceeded',
        domain: d.name,
        table: tableName,
        family,
        quota,
        usedByOthers,
        didNotFit,
        message: `route table ${tableName} holds at most ${quota} IPv${family} routes (${usedByOthers} are not Causeway's); ${didNotFit.length} did not fit after summarising: ${didNotFit.join(', ')}${quotaHint(d)}`,
      });
    }
    for (const c of fit) {
      out.push({
        domain: d.name,
        ...(table !== undefined ? { table: table.id } : {}),
        destination: c.destination,
        family,
        link: c.entry.link.id,
        mode: 'static',
        via: c.entry.via,
        covers: c.covers,
      });
    }
  }
  return out;
}

function quotaHint(d: Domain): string {
  return d.provider === 'aws' ? `; raise the account's quota and spec.aws.maxRoutesPerTable (now ${d.maxRoutesPerTable})` : '';
}
