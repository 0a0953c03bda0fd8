// How the GCP adapter applies one change: a task per route, firewall rule or router change, each
// following its Compute operation until it is DONE (the context's `wait`), idempotent — an insert
// answered "already exists" is done when the object is Causeway's and what it should be, a delete
// of what is gone is done — and naming the drift keys it puts back in place.
import { AlreadyExistsError, ConflictError, NotFoundError, UnavailableError } from '../../controlplane/api/errors.ts';
import type { GcpDomain } from '../model/model.ts';
import type { ChangeKind } from '../model/reconcile.ts';
import type { ComputeApi, FirewallSpec, OperationRef } from './compute-api.ts';
import { diffGcp, isOurs, sameFirewall, sameRoute, type FirewallChange, type RouteChange, type RouterChange } from './gcp-diff.ts';

export interface Task {
  readonly changes: readonly { readonly kind: ChangeKind; readonly object: string; readonly what: string }[];
  /** Drift keys this task puts in place: were they in place before, it repaired drift. */
  readonly keys: readonly string[];
  readonly run: () => Promise<void>;
}

export interface ApplyContext {
  readonly project: string;
  /** `projects/P/global/networks/N`, the object routes and rules are changed in. */
  readonly networkPath: string;
  /** `projects/P/regions/R/routers/N`, or empty when the Network names no router. */
  readonly routerPath: string;
  readonly domain: GcpDomain;
  readonly wantedRanges: readonly string[];
  readonly api: ComputeApi;
  /** Starts a change and waits on its operation until it is DONE (counting the change). */
  readonly wait: (start: () => Promise<OperationRef>) => Promise<void>;
  readonly signal: AbortSignal;
}

const lastSegment = (link: string): string => link.slice(link.lastIndexOf('/') + 1);

export function routeTask(c: RouteChange, ctx: ApplyContext): Task {
  const { project, networkPath, domain, api, wait, signal } = ctx;
  if (c.op === 'delete') {
    const r = c.route;
    return {
      changes: [{ kind: 'delete-route', object: networkPath, what: `${r.destRange} via ${lastSegment(r.nextHop.target)} (${r.name})` }],
      keys: [],
      run: () => gone(wait(() => api.deleteRoute(project, r.name, signal))),
    };
  }
  const spec = c.spec;
  const insert = async (): Promise<void> => {
    try {
      await wait(() => api.insertRoute(project, spec, signal));
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      // Already there: Causeway's own, when an earlier answer was lost, an operation finished
      // late or another replica got there first. Anything else under this name is not ours.
      const existing = await api.getRoute(project, spec.name, signal).catch((e: unknown) => {
        throw e instanceof NotFoundError
          ? new UnavailableError(`route ${spec.name} exists but cannot be read yet (an operation on it is running)`, { cause: e })
          : e;
      });
      if (!isOurs(existing, domain.name))
        throw new ConflictError(`route ${spec.name} already exists in project ${project} and is not Causeway's`, { cause: err });
      if (!sameRoute(existing, spec))
        throw new UnavailableError(`route ${spec.name} exists with another destination or next hop; it is replaced on the next reconcile`);
    }
  };
  return {
    changes: [{ kind: 'create-route', object: networkPath, what: `${spec.destRange} via ${lastSegment(spec.nextHopVpnTunnel)} (${spec.name})` }],
    keys: [routeKey(spec.name)],
    run:
      c.op === 'create'
        ? insert
        : async () => {
            await gone(wait(() => api.deleteRoute(project, spec.name, signal)));
            await insert();
          },
  };
}

export function firewallTask(c: FirewallChange, ctx: ApplyContext): Task {
  const { project, networkPath, domain, api, wait, signal } = ctx;
  if (c.op === 'delete') {
    return {
      changes: [{ kind: 'delete-firewall', object: networkPath, what: ruleText(c.rule) }],
      keys: [],
      run: () => gone(wait(() => api.deleteFirewall(project, c.rule.name, signal))),
    };
  }
  const spec = c.spec;
  const replace = (): Promise<void> => wait(() => api.replaceFirewall(project, spec, signal));
  const insert = async (): Promise<void> => {
    try {
      await wait(() => api.insertFirewall(project, spec, signal));
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      const existing = await api.getFirewall(project, spec.name, signal).catch((e: unknown) => {
        throw e instanceof NotFoundError
          ? new UnavailableError(`firewall rule ${spec.name} exists but cannot be read yet (an operation on it is running)`, { cause: e })
          : e;
      });
      if (!isOurs(existing, domain.name))
        throw new ConflictError(`firewall rule ${spec.name} already exists in project ${project} and is not Causeway's`, { cause: err });
      if (!sameFirewall(existing, spec)) await replace();
    }
  };
  return {
    changes: [{ kind: c.op === 'create' ? 'create-firewall' : 'update-firewall', object: networkPath, what: ruleText(spec) }],
    keys: [ruleKey(spec)],
    run: c.op === 'create' ? insert : replace,
  };
}

export function routerTask(change: RouterChange, ctx: ApplyContext): Task {
  const { project, routerPath, domain, wantedRanges, api, wait, signal } = ctx;
  const router = domain.cloudRouter ?? { region: '', name: '' };
  const changes: Task['changes'][number][] = [];
  if (change.add.length > 0) {
    const mode = change.switchesMode ? ' (advertiseMode DEFAULT → CUSTOM, all subnets still advertised)' : '';
    changes.push({ kind: 'advertise-ranges', object: routerPath, what: `${change.add.join(', ')}${mode}` });
  }
  if (change.remove.length > 0) changes.push({ kind: 'withdraw-ranges', object: routerPath, what: change.remove.join(', ') });
  return {
    changes,
    keys: change.add.map(rangeKey),
    run: async () => {
      // Router has no fingerprint to compare-and-swap on: read it again just before writing, so
      // that an edit of its BGP settings made since the observation is kept, not overwritten.
      const fresh = await api.getRouter(project, router.region, router.name, signal);
      const now = diffGcp({
        network: domain.name,
        routes: [],
        firewalls: [],
        router: fresh,
        desiredRoutes: [],
        desiredFirewalls: [],
        desiredRanges: wantedRanges,
      }).router;
      if (now === undefined) return;
      await wait(() => api.setRouterAdvertisements(project, router.region, router.name, now.bgp, signal));
    },
  };
}

/** A deletion of what is already gone is done. */
async function gone(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` at once; results in the items' order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}

export const routeKey = (name: string): string => `route|${name}`;
export const ruleKey = (spec: FirewallSpec): string =>
  `rule|${spec.name}|${[spec.direction, spec.priority, ...spec.sourceRanges, '>', ...spec.destinationRanges, ...spec.allowed.map((a) => `${a.protocol}:${a.ports.join(',')}`)].join(' ')}`;
export const rangeKey = (cidr: string): string => `range|${cidr}`;

function ruleText(r: {
  name: string;
  direction: string;
  sourceRanges: readonly string[];
  destinationRanges: readonly string[];
  allowed: FirewallSpec['allowed'];
}): string {
  const ports = r.allowed.map((a) => `${a.protocol}/${a.ports.join(',') || 'all'}`).join(' ');
  return `${r.direction.toLowerCase()} ${ports} ${r.sourceRanges.join(',') || '*'} -> ${r.destinationRanges.join(',') || '*'} (${r.name})`;
}
