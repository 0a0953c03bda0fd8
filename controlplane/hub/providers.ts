// The hub's side of the providers (issue 9): what a provider controller plans from (an IntentSource
// over the registry view and the exports), the AWS adapter made on first use — the SDK is loaded
// only once an AWS Network exists — and the read-only route plan and provider plans (`causeway get
// routes`, `causeway plan`) that the HTTP edge serves. Plans ask the provider with DryRun and change
// nothing, so any replica answers them; only the leader's NetworkController applies.
import type { Condition } from '../api/conditions.ts';
import { API_VERSION } from '../api/kinds.ts';
import { matchesSelector } from '../api/labels.ts';
import type { ExportState } from '../api/messages.ts';
import type { DomainPlanView, DomainRoutesView, ProvidersView } from '../api/read-model.ts';
import type { ClusterResource, ExternalServiceResource, Provider } from '../api/resources.ts';
import { EtcdRouteOwnership } from '../registry/route-ownership-store.ts';
import type { Store } from '../registry/store.ts';
import { NetworkReason } from '../../providers/model/conditions.ts';
import type { IntentSource, PlanInputs } from '../../providers/model/intents.ts';
import type { AwsDomain, OnpremDomain, PrefixOwner, Protocol } from '../../providers/model/model.ts';
import { planRoutes, type DomainPlan, type ExportedService } from '../../providers/model/route-plan.ts';
import { buildModel } from '../../providers/model/translate.ts';
import type { AppliedChange, DomainAdapter, DomainReconcileResult } from '../../providers/model/reconcile.ts';
import type { CloudNarrowing } from '../policy/cloud.ts';
import type { ProvidersConfig } from './config.ts';
import type { RegistryView } from './registry-view.ts';

export type { DomainAdapter } from '../../providers/model/reconcile.ts';

/** The region of Networks that name none and of a hub config that names none. */
const DEFAULT_AWS_REGION = 'us-east-1';

/**
 * The services exported between clusters, as the route planner takes them: per service, the ports
 * the endpoints listen on, the clusters (and ExternalService networks) that export it, and who may
 * consume it — the clusters an export-to selector matches when every exporter has one, otherwise
 * the exporters' clustersets (the planner's default). Exports of clusters not registered are ignored.
 */
export function exportedServices(input: {
  readonly clusters: readonly ClusterResource[];
  readonly exports: ReadonlyMap<string, ReadonlyMap<string, ExportState>>;
  readonly externalServices: readonly ExternalServiceResource[];
}): ExportedService[] {
  const clusters = new Map(input.clusters.map((c) => [c.metadata.name, c]));
  interface Gathered {
    namespace: string;
    name: string;
    ports: Map<string, { protocol: Protocol; port: number }>;
    exporters: ExportedService['exporters'][number][];
    selectors: (ExportState['exportTo'] | undefined)[];
  }
  const byKey = new Map<string, Gathered>();
  const gathered = (namespace: string, name: string): Gathered => {
    const key = `${namespace}/${name}`;
    let g = byKey.get(key);
    if (g === undefined) {
      g = { namespace, name, ports: new Map(), exporters: [], selectors: [] };
      byKey.set(key, g);
    }
    return g;
  };
  const addPorts = (g: Gathered, ports: readonly { port: number; protocol?: Protocol | undefined }[]): void => {
    for (const p of ports) {
      const protocol = p.protocol ?? 'TCP';
      g.ports.set(`${protocol}/${p.port}`, { protocol, port: p.port });
    }
  };
  for (const [cluster, services] of [...input.exports].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!clusters.has(cluster)) continue;
    for (const state of services.values()) {
      const g = gathered(state.namespace, state.name);
      // Firewalls see the endpoints' ports (target ports), not the Service's.
      addPorts(g, state.endpointPorts ?? state.ports);
      g.exporters.push({ cluster });
      g.selectors.push(state.exportTo);
    }
  }
  for (const e of input.externalServices) {
    const g = gathered(e.metadata.namespace ?? 'default', e.metadata.name);
    addPorts(g, e.spec.ports);
    g.exporters.push({ network: e.spec.network, addresses: e.spec.endpoints.map((x) => x.address) });
    g.selectors.push(e.spec.exportTo?.clusterSelector);
  }
  // Services share a handful of export-to selectors: match each distinct one against the clusters
  // once (10,000 services × 1,000 clusters matched one by one took seconds per plan at scale).
  const matched = new Map<string, ReadonlySet<string>>();
  const clustersMatching = (selector: NonNullable<ExportState['exportTo']>): ReadonlySet<string> => {
    const key = JSON.stringify(selector);
    let names = matched.get(key);
    if (names === undefined) {
      names = new Set(input.clusters.filter((c) => matchesSelector(selector, c.metadata.labels)).map((c) => c.metadata.name));
      matched.set(key, names);
    }
    return names;
  };
  // And each distinct combination of them (a service's exporters' selectors) becomes a consumer list once.
  const names = input.clusters.map((c) => c.metadata.name);
  const consumersOf = new Map<string, readonly string[]>();
  const consumersMatching = (selectors: readonly NonNullable<ExportState['exportTo']>[]): readonly string[] => {
    const key = JSON.stringify(selectors);
    let consumers = consumersOf.get(key);
    if (consumers === undefined) {
      const sets = selectors.map(clustersMatching);
      consumers = names.filter((n) => sets.some((set) => set.has(n)));
      consumersOf.set(key, consumers);
    }
    return consumers;
  };
  return [...byKey.values()]
    .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))
    .map((g) => {
      const selectors = g.selectors.filter((s) => s !== undefined);
      const consumers = selectors.length === g.selectors.length && selectors.length > 0 ? [...consumersMatching(selectors)] : undefined;
      return {
        namespace: g.namespace,
        name: g.name,
        ports: [...g.ports.values()],
        exporters: g.exporters,
        ...(consumers !== undefined ? { consumers } : {}),
      };
    });
}

/** The plan inputs as of now, from the watch-fed registry view and the exports. */
export class RegistryIntentSource implements IntentSource {
  private readonly view: RegistryView;
  private readonly exports: () => ReadonlyMap<string, ReadonlyMap<string, ExportState>>;
  private narrowing: () => CloudNarrowing | undefined = () => undefined;

  constructor(view: RegistryView, exports: () => ReadonlyMap<string, ReadonlyMap<string, ExportState>>) {
    this.view = view;
    this.exports = exports;
  }

  /** Where GlobalPolicy's cloud narrowing comes from (the policy controller; undefined while no policy exists). */
  narrowWith(narrowing: () => CloudNarrowing | undefined): void {
    this.narrowing = narrowing;
  }

  current(): Promise<PlanInputs> {
    return Promise.resolve(this.now());
  }

  now(): PlanInputs {
    const clusters = this.view.clusters();
    const services = exportedServices({ clusters, exports: this.exports(), externalServices: this.view.externalServices() });
    const narrowing = this.narrowing();
    const model = buildModel({ networks: this.view.networks(), clusters, pools: this.view.pools() });
    // While GlobalPolicy exists, its decisions narrow the firewall openings and the pod routes alike.
    return narrowing === undefined ? { model, services } : { model, services: narrowServices(services, clusters, narrowing), podRoutes: 'allowed-flows' };
  }
}

/**
 * Every service's cloud sources per consumer and port, as policy decides them (issue 10 §2): only
 * where the answer is narrower than the consumer's pod CIDRs, so that a policy allowing everything
 * changes no plan.
 */
export function narrowServices(services: readonly ExportedService[], clusters: readonly ClusterResource[], narrowing: CloudNarrowing): ExportedService[] {
  return services.map((s) => {
    const exporters = new Set(s.exporters.flatMap((e) => ('cluster' in e ? [e.cluster] : [])));
    const sources: Record<string, Record<string, readonly string[]>> = {};
    for (const c of s.consumers ?? clusters.map((x) => x.metadata.name)) {
      if (exporters.has(c)) continue;
      for (const p of s.ports) {
        if (p.endPort !== undefined) continue;
        const protocol = p.protocol ?? 'TCP';
        const answer = narrowing(c, s, protocol, p.port);
        if (answer.kind === 'cluster') continue;
        (sources[c] ??= {})[`${protocol}/${p.port}`] = answer.addresses;
      }
    }
    return Object.keys(sources).length === 0 ? s : { ...s, sources };
  });
}

export interface HubProvidersOptions {
  readonly store: Store;
  readonly intents: RegistryIntentSource;
  readonly config: ProvidersConfig;
}

/** An adapter made on first use (its SDK loaded then), and how to release its clients. */
export interface LoadedAdapter {
  readonly adapter: DomainAdapter;
  readonly close: () => void;
}

type AdapterLoader = (options: HubProvidersOptions) => Promise<LoadedAdapter>;

/** The providers the hub reconciles, each loaded lazily: a hub without its Networks never loads its SDK. */
const LOADERS: Partial<Record<Provider, AdapterLoader>> = {
  aws: loadAws,
  gcp: loadGcp,
  onprem: loadOnprem,
};

/** gobgpd's API when the hub config names none (a gobgpd beside the hub). */
export const DEFAULT_GOBGP_API = '127.0.0.1:50051';

/** The provider adapters of one hub process, and the read-only views over them. */
export class HubProviders implements ProvidersView {
  private readonly opts: HubProvidersOptions;
  private readonly loaded = new Map<Provider, Promise<LoadedAdapter>>();

  constructor(options: HubProvidersOptions) {
    this.opts = options;
  }

  /** Whether this hub reconciles Networks of this provider. */
  static reconciles(provider: Provider): boolean {
    return LOADERS[provider] !== undefined;
  }

  /** The adapter of a provider; the first call loads its SDK. */
  adapter(provider: Provider): Promise<DomainAdapter> {
    let l = this.loaded.get(provider);
    if (l === undefined) {
      const loader = LOADERS[provider];
      if (loader === undefined) return Promise.reject(new Error(`no adapter reconciles ${provider} Networks`));
      l = loader(this.opts);
      // A failed load is not cached: the next reconcile tries again.
      l.catch(() => this.loaded.delete(provider));
      this.loaded.set(provider, l);
    }
    return l.then((a) => a.adapter);
  }

  /**
   * Loads, ahead of use, the adapters of the providers these Networks name that this hub
   * reconciles. Loading an SDK is seconds of synchronous work (about 1.4 s for Google's compute
   * client on these machines): done when a replica first sees the Network, not when it wins the
   * lease, so a standby takes over without stalling its event loop, and its lease keepalives, for
   * that long. A failed load only warns: the first reconcile tries again and reports it.
   */
  async warm(providers: Iterable<Provider>, warn: (fields: Record<string, unknown>, message: string) => void): Promise<void> {
    const wanted = [...new Set(providers)].filter((p) => HubProviders.reconciles(p));
    await Promise.all(
      wanted.map((provider) =>
        this.adapter(provider).then(
          () => undefined,
          (err: unknown) => {
            warn({ provider, err }, 'loading the provider adapter failed; its first reconcile tries again');
          },
        ),
      ),
    );
  }

  /** The route plan of every domain, from the registry alone (no provider is asked). */
  routes(): Promise<readonly DomainRoutesView[]> {
    const { model, services, podRoutes } = this.opts.intents.now();
    return Promise.resolve(planRoutes(model, { services, ...(podRoutes !== undefined ? { podRoutes } : {}) }).domains.map(routesView));
  }

  /** What applying would change in each domain Causeway reconciles, asked with DryRun where the provider has it. */
  async plan(signal: AbortSignal): Promise<readonly DomainPlanView[]> {
    const { model } = this.opts.intents.now();
    const out: DomainPlanView[] = [];
    for (const d of model.domains) {
      if (!HubProviders.reconciles(d.provider)) continue;
      const adapter = await this.adapter(d.provider);
      out.push(planView(await adapter.reconcile(d.name, signal, { dryRun: true }), d.provider));
    }
    return out;
  }

  async close(): Promise<void> {
    const loaded = [...this.loaded.values()];
    this.loaded.clear();
    for (const l of loaded) (await l.catch(() => undefined))?.close();
  }
}

async function loadAws(options: HubProvidersOptions): Promise<LoadedAdapter> {
  const [{ AwsVpcAdapter }, { SdkEc2Api, ec2Client }] = await Promise.all([
    import('../../providers/aws/aws-vpc-adapter.ts'),
    import('../../providers/aws/ec2-sdk.ts'),
  ]);
  const config = options.config.aws ?? {};
  const clients = new Map<string, ReturnType<typeof ec2Client>>();
  // One client per region; credentials from the SDK's default chain (env, profile, web identity).
  const clientFor = (domain: AwsDomain): ReturnType<typeof ec2Client> => {
    const region = domain.region !== '' ? domain.region : (config.region ?? DEFAULT_AWS_REGION);
    let c = clients.get(region);
    if (c === undefined) {
      c = ec2Client({ region, ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}) });
      clients.set(region, c);
    }
    return c;
  };
  const adapter = new AwsVpcAdapter({
    api: (domain, gate) => new SdkEc2Api({ client: clientFor(domain), gate }),
    ownership: new EtcdRouteOwnership(options.store),
    intents: options.intents,
  });
  return {
    adapter,
    close: () => {
      for (const c of clients.values()) c.destroy();
    },
  };
}

async function loadGcp(options: HubProvidersOptions): Promise<LoadedAdapter> {
  const { gcpAdapter } = await import('../../providers/gcp/gcp-factory.ts');
  const config = options.config.gcp ?? {};
  // Credentials from Google's default chain unless the config names a key file; never from the registry.
  return gcpAdapter({ endpoint: config.endpoint, credentialsFile: config.credentialsFile, intents: options.intents });
}

async function loadOnprem(options: HubProvidersOptions): Promise<LoadedAdapter> {
  const { onpremAdapter } = await import('../../providers/onprem/onprem-factory.ts');
  const config = options.config.onprem ?? {};
  return onpremAdapter({
    // Per site, else the hub's one gobgpd: one gRPC client per address.
    gobgpFor: (domain: OnpremDomain) => config.sites?.[domain.site]?.gobgp ?? config.gobgp ?? DEFAULT_GOBGP_API,
    intents: options.intents,
  });
}

function routesView(d: DomainPlan): DomainRoutesView {
  return {
    apiVersion: API_VERSION,
    kind: 'DomainRoutes',
    metadata: { name: d.domain },
    provider: d.provider,
    routes: d.routes.map((r) => ({
      destination: r.destination,
      mode: r.mode,
      link: r.link,
      via: { kind: r.via.kind, id: r.via.id },
      ...(r.table !== undefined ? { table: r.table } : {}),
      covers: r.covers.map((c) => `${c.cidr} (${ownerText(c.owner)})`),
    })),
    announcements: d.announcements.map((a) => ({
      prefix: a.prefix,
      ...(a.nextHop !== undefined ? { nextHop: a.nextHop } : {}),
      communities: [...a.communities],
      peers: a.peers.map((p) => `${p.address} AS${p.asn}`),
      toward: [...a.toward],
    })),
    firewall: d.firewall.map((f) => ({
      direction: f.direction,
      protocol: f.protocol,
      fromPort: f.fromPort,
      toPort: f.toPort,
      sources: [...f.sources],
      destinations: [...f.destinations],
      peerDomain: f.peerDomain,
      services: [...f.services],
    })),
    problems: d.problems.map((p) => ({ reason: p.reason, message: p.message })),
  };
}

function ownerText(owner: PrefixOwner): string {
  return `${owner.kind} ${owner.name}`;
}

const ACTIONS: Record<AppliedChange['kind'], { action: DomainPlanView['changes'][number]['action']; object: string }> = {
  'create-route': { action: 'create', object: 'route' },
  'replace-route': { action: 'replace', object: 'route' },
  'delete-route': { action: 'delete', object: 'route' },
  'authorize-rules': { action: 'create', object: 'rules' },
  'revoke-rules': { action: 'delete', object: 'rules' },
  'create-firewall': { action: 'create', object: 'firewall' },
  'update-firewall': { action: 'replace', object: 'firewall' },
  'delete-firewall': { action: 'delete', object: 'firewall' },
  'advertise-ranges': { action: 'create', object: 'advertised-ranges' },
  'withdraw-ranges': { action: 'delete', object: 'advertised-ranges' },
  announce: { action: 'create', object: 'announcement' },
  withdraw: { action: 'delete', object: 'announcement' },
};

/** Degraded reasons that mean the provider was not (fully) asked: the plan is not the whole answer. */
const UNPLANNED_REASONS = new Set<string>([
  NetworkReason.ProviderUnavailable,
  NetworkReason.ProviderForbidden,
  NetworkReason.ProviderObjectNotFound,
  NetworkReason.CallBudgetExhausted,
]);

export function planView(r: DomainReconcileResult, provider: string): DomainPlanView {
  const conditions: Condition[] = r.conditions.map((c) => ({ ...c }));
  return {
    apiVersion: API_VERSION,
    kind: 'DomainPlan',
    metadata: { name: r.domain },
    provider,
    changes: r.changes.map((c) => ({
      ...ACTIONS[c.kind],
      in: c.object,
      what: c.what,
      outcome: c.outcome,
      ...(c.error !== undefined ? { error: c.error } : {}),
    })),
    unchanged: { ...r.unchanged },
    planned: !r.retry && !r.conditions.some((c) => c.status === 'True' && UNPLANNED_REASONS.has(c.reason)),
    conditions,
  };
}
