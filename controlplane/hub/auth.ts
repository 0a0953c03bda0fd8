// Who may do what. Bearer tokens are looked up by their SHA-256 (the config stores only hashes);
// `admin` may do everything, `team` only what its namespaces and cluster label selector cover.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthorizedError } from '../api/errors.ts';
import { refString } from '../api/keys.ts';
import { formatSelector, matchesSelector, type LabelSelector, type SelectorOperator } from '../api/labels.ts';
import type { GlobalServiceView } from '../api/read-model.ts';
import type { Resource } from '../api/resources.ts';
import type { ChangeResult } from '../registry/registry.ts';

export const Role = { admin: 'admin', team: 'team' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** team: namespaces whose ExternalServices and GlobalPolicies it owns. */
  readonly namespaces: readonly string[];
  /** team: the clusters it may register and read. */
  readonly clusterSelector?: LabelSelector | undefined;
}

export interface TokenEntry extends Principal {
  /** Hex SHA-256 of the token. */
  readonly sha256: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** 32 random bytes, URL-safe: what `causeway token create` and the first hub start hand out. */
export function newToken(prefix = 'cw'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export class TokenAuthenticator {
  private readonly entries: readonly { digest: Buffer; principal: Principal }[];

  constructor(tokens: readonly TokenEntry[]) {
    this.entries = tokens.map(({ sha256, ...principal }) => ({ digest: Buffer.from(sha256, 'hex'), principal }));
  }

  /** The principal of an `Authorization: Bearer ...` header; UnauthorizedError otherwise. */
  authenticate(header: string | undefined): Principal {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (match?.[1] === undefined) throw new UnauthorizedError('missing bearer token: pass --token or set CAUSEWAY_TOKEN');
    const digest = createHash('sha256').update(match[1], 'utf8').digest();
    // Compare against every entry so that timing says nothing about which one matched.
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest)) found ??= e.principal;
    }
    if (found === undefined) throw new UnauthorizedError('invalid token');
    return found;
  }
}

export function canRead(p: Principal, r: Resource): boolean {
  if (p.role === 'admin') return true;
  switch (r.kind) {
    case 'Cluster':
      return p.clusterSelector !== undefined && matchesSelector(p.clusterSelector, r.metadata.labels);
    case 'Network':
    case 'IPPool':
      // The shape of the network is what teams build against; it holds no secrets.
      return true;
    case 'ExternalService':
    case 'GlobalPolicy':
      return p.namespaces.includes(r.metadata.namespace ?? '');
  }
}

/** Throws ForbiddenError unless `p` may make this change. */
export function authorizeChange(p: Principal, change: ChangeResult): void {
  if (p.role === 'admin') return;
  const what = refString(change.ref);
  const deny = (why: string): never => {
    throw new ForbiddenError(`token "${p.name}" (role team) may not ${verb(change)} ${what}: ${why}`);
  };
  for (const r of [change.before, change.after]) {
    if (r === undefined) continue;
    switch (r.kind) {
      case 'Network':
      case 'IPPool':
        deny('only admins declare networks and IP pools');
        break;
      case 'Cluster':
        if (p.clusterSelector === undefined) deny('the team has no cluster selector');
        else if (!matchesSelector(p.clusterSelector, r.metadata.labels)) {
          deny(`${r === change.before ? 'its current' : 'its'} labels do not match the team's cluster selector ${formatSelector(p.clusterSelector)}`);
        }
        break;
      case 'ExternalService': {
        if (!p.namespaces.includes(r.metadata.namespace ?? ''))
          deny(`namespace "${r.metadata.namespace ?? ''}" is not one of the team's (${p.namespaces.join(', ') || 'none'})`);
        // What the team writes must reach only clusters it may reach; the old state it replaces
        // or deletes may have been written wider by an admin.
        if (r !== change.after) break;
        const audience = r.spec.exportTo?.clusterSelector;
        if (p.clusterSelector === undefined) deny('the team has no cluster selector, so it may export to no cluster');
        else if (audience === undefined || !selectorWithin(audience, p.clusterSelector)) {
          deny(
            `spec.exportTo.clusterSelector ${audience === undefined ? '(absent: every cluster)' : formatSelector(audience)} reaches beyond the team's cluster selector ${formatSelector(p.clusterSelector)}; select a subset of it`,
          );
        }
        break;
      }
      case 'GlobalPolicy':
        if (!p.namespaces.includes(r.metadata.namespace ?? ''))
          deny(`namespace "${r.metadata.namespace ?? ''}" is not one of the team's (${p.namespaces.join(', ') || 'none'})`);
        if (r.spec.tier !== 'tenant') deny(`teams write only tier "tenant" policies (this one is "${r.spec.tier}")`);
        break;
    }
  }
}

export function requireAdmin(p: Principal, what: string): void {
  if (p.role !== 'admin') throw new ForbiddenError(`token "${p.name}" (role team) may not ${what}: admins only`);
}

function verb(c: ChangeResult): string {
  return c.action === 'created' ? 'create' : c.action === 'deleted' ? 'delete' : 'update';
}

/**
 * The global services a principal may see: a team's own namespaces, with the exporters and
 * importers outside its cluster selector left out, the endpoint count of the exporters it sees,
 * and condition messages that name a cluster it may not see reduced to their reason.
 */
export function visibleServices(p: Principal, services: readonly GlobalServiceView[], clusters: readonly Resource[]): GlobalServiceView[] {
  if (p.role === 'admin') return [...services];
  const readable = new Set(clusters.filter((c) => c.kind === 'Cluster' && canRead(p, c)).map((c) => c.metadata.name));
  return services
    .filter((s) => p.namespaces.includes(s.namespace))
    .map((s) => {
      const exporters = s.exporters.filter((e) => readable.has(e.cluster));
      const hidden = [...s.exporters.map((e) => e.cluster), ...s.importers].filter((c) => !readable.has(c));
      const names = (m: string): boolean => hidden.some((c) => new RegExp(`(^|[^a-z0-9-])${c}($|[^a-z0-9-])`).test(m));
      return {
        ...s,
        exporters,
        importers: s.importers.filter((c) => readable.has(c)),
        endpoints: exporters.reduce((n, e) => n + e.endpoints, 0),
        conditions: s.conditions.map((c) => (names(c.message) ? { ...c, message: `${c.reason} (details name clusters you may not see)` } : c)),
      };
    });
}

/**
 * A team's ExternalService without spec.exportTo is exported to the team's own clusters: the
 * team's cluster selector is written into it, so the stored object says who receives it and the
 * exchange needs to know nothing of who wrote it. (Refusing it would break a team's plain
 * manifests for no gain; exporting it to every cluster would let a team reach clusters outside
 * its scope.) Admins' declarations and explicit selectors are left as written.
 */
export function withTeamDefaults(p: Principal, r: Resource): Resource {
  if (p.role === 'admin' || r.kind !== 'ExternalService' || r.spec.exportTo !== undefined || p.clusterSelector === undefined) return r;
  return { ...r, spec: { ...r.spec, exportTo: { clusterSelector: p.clusterSelector } } } as Resource;
}

interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

function requirements(s: LabelSelector): Requirement[] {
  return [
    ...Object.entries(s.matchLabels ?? {}).map(([key, v]) => ({ key, operator: 'In' as const, values: [v] })),
    ...(s.matchExpressions ?? []).map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? [] })),
  ];
}

/**
 * Whether every cluster `inner` selects is also selected by `outer`: each of outer's requirements
 * must follow from one of inner's. Sound but not complete (a selector that only implies outer's
 * terms together is refused), which errs on the side of the team's scope.
 */
export function selectorWithin(inner: LabelSelector, outer: LabelSelector): boolean {
  const have = requirements(inner);
  return requirements(outer).every((want) => have.some((h) => h.key === want.key && implies(h, want)));
}

function implies(h: Requirement, want: Requirement): boolean {
  const subset = (a: readonly string[], b: readonly string[]): boolean => a.every((v) => b.includes(v));
  switch (want.operator) {
    case 'In':
      return h.operator === 'In' && subset(h.values, want.values);
    case 'NotIn':
      return (
        (h.operator === 'In' && h.values.every((v) => !want.values.includes(v))) ||
        (h.operator === 'NotIn' && subset(want.values, h.values)) ||
        h.operator === 'DoesNotExist'
      );
    case 'Exists':
      return h.operator === 'In' || h.operator === 'Exists';
    case 'DoesNotExist':
      return h.operator === 'DoesNotExist';
  }
}
