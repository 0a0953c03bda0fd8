// The AWS adapter's decisions, pure: which route tables and security groups a Network manages, which
// observed routes are Causeway's (by ownership record) and which rules (by tag), what the plan wants
// in EC2's terms, and the changes that take one to the other. Only what Causeway owns is ever
// changed or deleted; what someone else made and already does what the plan wants is left to do it.
import type { AwsDomain, FirewallIntent, ObjectSelector, RouteIntent, RouteTarget } from '../model/model.ts';
import type { RouteRecord } from '../model/ownership.ts';
import type { ObservedRoute, ObservedRouteTable } from '../model/route-plan.ts';
import { ec2Protocol, type RouteTableEc2, type RouteTargetField, type RuleEc2, type RuleSpec, type SecurityGroupEc2, type Tag } from './ec2-api.ts';

export const MANAGED_BY_TAG = 'causeway.dev/managed-by';
export const NETWORK_TAG = 'causeway.dev/network';

/** The tags on every rule Causeway creates in a domain; a rule is Causeway's only with both. */
export function ownerTags(domain: string, owner: string): Tag[] {
  return [
    { key: MANAGED_BY_TAG, value: owner },
    { key: NETWORK_TAG, value: domain },
  ];
}

function hasTags(tags: readonly Tag[], wanted: readonly Tag[]): boolean {
  return wanted.every((w) => tags.some((t) => t.key === w.key && t.value === w.value));
}

function selects(selector: ObjectSelector | undefined, id: string, tags: readonly Tag[]): boolean {
  if (selector === undefined) return false;
  if (selector.ids?.includes(id) === true) return true;
  const tag = selector.tag;
  return tag !== undefined && tags.some((t) => t.key === tag.key && t.value === tag.value);
}

/** The route tables a Network manages: by ids, by tag, or (neither) every table of the VPC. */
export function managedTables(domain: AwsDomain, tables: readonly RouteTableEc2[]): { managed: RouteTableEc2[]; missing: string[] } {
  if (domain.routeTables === undefined) return { managed: [...tables], missing: [] };
  const managed = tables.filter((t) => selects(domain.routeTables, t.id, t.tags));
  const missing = (domain.routeTables.ids ?? []).filter((id) => !tables.some((t) => t.id === id));
  return { managed, missing };
}

/** The security groups a Network manages: by ids or tag (none when it names none). */
export function managedGroups(domain: AwsDomain, groups: readonly SecurityGroupEc2[]): { managed: SecurityGroupEc2[]; missing: string[] } {
  const managed = groups.filter((g) => selects(domain.securityGroups, g.id, g.tags));
  const missing = (domain.securityGroups?.ids ?? []).filter((id) => !groups.some((g) => g.id === id));
  return { managed, missing };
}

const recordKey = (table: string, destination: string): string => `${table}|${destination}`;

/** Whether a record makes this route Causeway's: it names the table, the destination and the target. */
function owns(record: RouteRecord | undefined, targetId: string): boolean {
  if (record === undefined) return false;
  return record.target === targetId || (record.state === 'pending' && record.previousTarget === targetId);
}

export function targetKindOf(field: RouteTargetField, id: string): RouteTarget {
  switch (field) {
    case 'transit-gateway':
      return { kind: 'transit-gateway', id };
    case 'vpc-peering':
      return { kind: 'vpc-peering', id };
    case 'gateway':
      return id.startsWith('vgw-') ? { kind: 'vpn-gateway', id } : { kind: 'other', id };
    case 'nat-gateway':
    case 'network-interface':
    case 'instance':
    case 'other':
      return { kind: 'other', id };
  }
}

/** The managed tables as the planner sees them: every route, Causeway's or foreign. */
export function observedTables(managed: readonly RouteTableEc2[], records: readonly RouteRecord[]): ObservedRouteTable[] {
  const byKey = new Map(records.map((r) => [recordKey(r.table, r.destination), r]));
  return managed.map((t) => ({
    id: t.id,
    routes: t.routes.map((r): ObservedRoute => ({
      destination: r.destination,
      target: targetKindOf(r.targetField, r.targetId),
      owner: r.origin === 'static' && owns(byKey.get(recordKey(t.id, r.destination)), r.targetId) ? 'causeway' : 'foreign',
      origin: r.origin,
    })),
  }));
}

// ---- changes -------------------------------------------------------------------------------

export interface RouteChange {
  readonly op: 'create' | 'replace' | 'delete';
  readonly table: string;
  readonly destination: string;
  /** For create and replace. */
  readonly target?: { readonly field: RouteTargetField; readonly id: string };
  /** For replace: the target the route has now. */
  readonly previousTarget?: string;
}

export interface RuleChange {
  readonly op: 'authorize' | 'revoke';
  readonly groupId: string;
  readonly egress: boolean;
  /** For authorize. */
  readonly rules: readonly RuleSpec[];
  /** For revoke. */
  readonly ruleIds: readonly string[];
}

export interface AwsChanges {
  readonly routes: readonly RouteChange[];
  readonly rules: readonly RuleChange[];
  /** Records that name no route any more (the route is gone, or is now someone else's). */
  readonly staleRecords: readonly { readonly table: string; readonly destination: string }[];
  /** Pending records whose route exists as recorded: confirm them. */
  readonly confirmRecords: readonly RouteRecord[];
  readonly unchanged: { readonly routes: number; readonly rules: number };
}

const ruleKey = (r: RuleSpec, groupId: string): string =>
  [groupId, r.egress ? 'e' : 'i', r.protocol, r.fromPort, r.toPort, r.cidrIpv4 ?? '', r.cidrIpv6 ?? ''].join('|');

/** EC2 rules for the plan's firewall openings: one per peer prefix and port range, in every managed group. */
export function desiredRules(firewall: readonly FirewallIntent[]): RuleSpec[] {
  const out = new Map<string, RuleSpec>();
  for (const f of firewall) {
    const egress = f.direction === 'egress';
    const peers = egress ? f.destinations : f.sources;
    for (const cidr of peers) {
      const spec: RuleSpec = {
        egress,
        protocol: ec2Protocol(f.protocol),
        fromPort: f.fromPort,
        toPort: f.toPort,
        ...(f.family === 4 ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
        description: `causeway ${f.services.join(' ')}`.slice(0, 255),
      };
      const k = ruleKey(spec, '');
      const seen = out.get(k);
      // Two services on one port and peer are one rule; its description names both.
      out.set(k, seen === undefined ? spec : { ...seen, description: `${seen.description ?? ''} ${f.services.join(' ')}`.slice(0, 255) });
    }
  }
  return [...out.values()];
}

export interface DiffInput {
  readonly allTables: readonly RouteTableEc2[];
  readonly managedTables: readonly RouteTableEc2[];
  readonly records: readonly RouteRecord[];
  /** The plan's routes for this domain (static, per observed table). */
  readonly routes: readonly RouteIntent[];
  readonly managedGroups: readonly SecurityGroupEc2[];
  readonly rules: readonly RuleEc2[];
  readonly desiredRules: readonly RuleSpec[];
  readonly ownerTags: readonly Tag[];
}

function fieldOf(t: RouteTarget): RouteTargetField {
  switch (t.kind) {
    case 'transit-gateway':
      return 'transit-gateway';
    case 'vpc-peering':
      return 'vpc-peering';
    case 'vpn-gateway':
      return 'gateway';
    case 'cloud-router':
    case 'bgp-peer':
    case 'other':
      return 'other';
  }
}

export function diffAws(input: DiffInput): AwsChanges {
  const routes: RouteChange[] = [];
  const stale: { table: string; destination: string }[] = [];
  const confirm: RouteRecord[] = [];
  let unchangedRoutes = 0;
  const records = new Map(input.records.map((r) => [recordKey(r.table, r.destination), r]));
  const tables = new Map(input.allTables.map((t) => [t.id, t]));
  const managed = new Set(input.managedTables.map((t) => t.id));
  const wanted = new Map<string, RouteIntent>();
  for (const r of input.routes) if (r.mode === 'static' && r.table !== undefined && managed.has(r.table)) wanted.set(recordKey(r.table, r.destination), r);

  for (const [key, want] of wanted) {
    const table = want.table ?? '';
    const present = tables.get(table)?.routes.find((r) => r.destination === want.destination);
    const record = records.get(key);
    const target = { field: fieldOf(want.via), id: want.via.id };
    if (present === undefined) routes.push({ op: 'create', table, destination: want.destination, target });
    else if (present.targetId === want.via.id) {
      unchangedRoutes += 1;
      if (record?.state === 'pending' && record.target === present.targetId)
        confirm.push({ table, destination: want.destination, target: present.targetId, state: 'confirmed' });
    } else if (owns(record, present.targetId)) {
      // Causeway's own route, to a target the plan no longer uses (the Network named a new TGW).
      routes.push({ op: 'replace', table, destination: want.destination, target, previousTarget: present.targetId });
    }
    // Otherwise the route is someone else's: the planner reported the conflict and wants nothing here.
  }

  for (const r of input.records) {
    const key = recordKey(r.table, r.destination);
    const present = tables.get(r.table)?.routes.find((x) => x.destination === r.destination);
    const mine = present !== undefined && present.origin === 'static' && owns(r, present.targetId);
    if (!mine) {
      // Gone, or changed by someone else (it is theirs now). A wanted route is created afresh.
      if (!wanted.has(key) || present !== undefined) stale.push({ table: r.table, destination: r.destination });
      continue;
    }
    if (!wanted.has(key)) routes.push({ op: 'delete', table: r.table, destination: r.destination });
  }

  // Rules: Causeway's are those carrying its tags; identical foreign rules already let the traffic through.
  const rules: RuleChange[] = [];
  let unchangedRules = 0;
  const groupIds = new Set(input.managedGroups.map((g) => g.id));
  const ours = input.rules.filter((r) => !r.referencesOther && hasTags(r.tags, input.ownerTags));
  const foreign = input.rules.filter((r) => !ours.includes(r));
  const authorize = new Map<string, RuleSpec[]>();
  const revoke = new Map<string, string[]>();
  const push = <T>(m: Map<string, T[]>, k: string, v: T): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };
  const wantedKeys = new Set<string>();
  for (const g of input.managedGroups) {
    for (const spec of input.desiredRules) {
      const k = ruleKey(spec, g.id);
      wantedKeys.add(k);
      if (ours.some((r) => ruleKey(r, r.groupId) === k)) unchangedRules += 1;
      else if (foreign.some((r) => !r.referencesOther && ruleKey(r, r.groupId) === k)) unchangedRules += 1;
      else push(authorize, `${g.id}|${spec.egress ? 'e' : 'i'}`, spec);
    }
  }
  for (const r of ours) {
    if (!groupIds.has(r.groupId) || !wantedKeys.has(ruleKey(r, r.groupId))) push(revoke, `${r.groupId}|${r.egress ? 'e' : 'i'}`, r.id);
  }
  for (const [k, specs] of [...authorize].sort(([a], [b]) => a.localeCompare(b))) {
    const [groupId = '', dir] = k.split('|');
    rules.push({ op: 'authorize', groupId, egress: dir === 'e', rules: specs, ruleIds: [] });
  }
  for (const [k, ids] of [...revoke].sort(([a], [b]) => a.localeCompare(b))) {
    const [groupId = '', dir] = k.split('|');
    rules.push({ op: 'revoke', groupId, egress: dir === 'e', rules: [], ruleIds: ids.sort() });
  }

  // Make before break: new routes and rules first, then what they replace goes.
  const order = { create: 0, replace: 1, delete: 2 } as const;
  routes.sort((a, b) => order[a.op] - order[b.op] || a.table.localeCompare(b.table) || a.destination.localeCompare(b.destination));
  return { routes, rules, staleRecords: stale, confirmRecords: confirm, unchanged: { routes: unchangedRoutes, rules: unchangedRules } };
}
