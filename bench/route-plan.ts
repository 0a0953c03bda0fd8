// The route plan's figures (issue 9 §8), measured in-process: the planner is pure, so nothing but
// this process's CPU bounds them.
//
// - Full plan: 1,000 clusters over 100 domains (70 AWS VPCs, 20 GCP networks, 10 on-prem sites; each
//   cloud domain linked both ways to three sites), 10 clustersets, 200 exported services — the model
//   built from registry resources and every domain planned. Goal ≤ 1 s.
// - Incremental: one cluster's pod CIDR changes; the model is rebuilt and only the domains whose plan
//   can change are planned again (the cluster's own domain and every domain linked to it, the
//   `only` option a provider controller uses). Goal ≤ 50 ms at p99.
// - Steady reconcile: the AWS adapter against the EC2 Query API test double seeded with journey 3,
//   through the real SDK client: after the first reconcile, a second one of the unchanged domain
//   makes only reads. Goal: zero mutating calls.
//
//   npm run bench:route-plan          (node bench/route-plan.ts) prints the figures as JSON; `npm run bench`
//                                     runs it after the sweep and writes them into docs/benchmarks.json
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { validateDocument } from '../controlplane/api/validate.ts';
import type { ClusterResource, IPPoolResource, NetworkResource, Resource } from '../controlplane/api/resources.ts';
import { FixedIntentSource } from '../providers/model/intents.ts';
import { MemoryRouteOwnership } from '../providers/model/ownership.ts';
import { planRoutes, type ExportedService } from '../providers/model/route-plan.ts';
import { buildModel, type ModelInput } from '../providers/model/translate.ts';
import { AwsVpcAdapter } from '../providers/aws/aws-vpc-adapter.ts';
import { ec2Client, SdkEc2Api } from '../providers/aws/ec2-sdk.ts';
import { JOURNEY3_SERVICES } from '../test/fixtures/providers/journey3-services.ts';
import { journey3 } from '../test/fixtures/providers/journey3.ts';
import { readEc2Fixture, startEc2Double } from '../test/harness/ec2-double.ts';

export interface RoutePlanFigures {
  readonly clusters: number;
  readonly domains: number;
  readonly services: number;
  readonly model_ms: number;
  /** Median of the runs: model built and every domain planned. */
  readonly full_plan_ms: number;
  readonly full_plan_runs: number;
  readonly routes: number;
  readonly firewall_openings: number;
  readonly announcements: number;
  readonly incremental_p50_ms: number;
  readonly incremental_p99_ms: number;
  readonly incremental_runs: number;
  /** Domains planned again per incremental change (median). */
  readonly incremental_domains: number;
  readonly steady_reconcile: { readonly calls: number; readonly mutating_calls: number; readonly first_reconcile_changes: number };
}

function parse<K extends Resource['kind']>(kind: K, object: Record<string, unknown>): Extract<Resource, { kind: K }> {
  const v = validateDocument({ source: {}, object: { apiVersion: 'causeway.dev/v1alpha1', kind, ...object } });
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.field}: ${p.message}`).join('\n'));
  return v.value as Extract<Resource, { kind: K }>;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** `10.a.b.0/20` blocks, one per index, never overlapping (4,096 fit in 10/8). */
function podBlock(i: number): string {
  return `10.${Math.floor(i / 16)}.${(i % 16) * 16}.0/20`;
}

export interface Topology {
  readonly input: ModelInput;
  readonly services: ExportedService[];
  /** Domain → the domains it links to. */
  readonly neighbours: ReadonlyMap<string, readonly string[]>;
}

/** 1,000 clusters over 100 domains, as described at the top. */
export function topology(clusterCount = 1000, domainCount = 100, serviceCount = 200): Topology {
  const sites = Math.max(1, Math.round(domainCount / 10));
  const gcp = Math.round(domainCount / 5);
  const aws = domainCount - sites - gcp;
  const networks: NetworkResource[] = [];
  const neighbours = new Map<string, string[]>();
  const link = (a: string, b: string): void => {
    neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
  };
  const siteName = (i: number): string => `site-${i}`;
  const cloudLinks = (i: number): number[] => [0, 1, 2].map((k) => (i + k) % sites).filter((v, idx, all) => all.indexOf(v) === idx);
  const siteLinks = new Map<number, { to: string; asn: number }[]>();
  for (let i = 0; i < aws; i++) {
    const name = `aws-${i}`;
    const to = cloudLinks(i);
    networks.push(
      parse('Network', {
        metadata: { name },
        spec: {
          provider: 'aws',
          region: 'us-east-1',
          aws: { vpcId: `vpc-${hex(i, 17)}`, transitGatewayId: `tgw-${hex(i, 17)}` },
          links: to.map((s) => ({ to: siteName(s), type: 'transit-gateway' })),
        },
      }),
    );
    for (const s of to) {
      link(name, siteName(s));
      siteLinks.set(s, [...(siteLinks.get(s) ?? []), { to: name, asn: 64_600 + (i % 100) }]);
    }
  }
  for (let i = 0; i < gcp; i++) {
    const name = `gcp-${i}`;
    const to = cloudLinks(i + aws);
    networks.push(
      parse('Network', {
        metadata: { name },
        spec: {
          provider: 'gcp',
          region: 'europe-west4',
          gcp: { project: `ml-platform-${hex(i, 4)}`, network: `net-${i}`, cloudRouter: { region: 'europe-west4', name: `router-${i}` } },
          links: to.map((s) => ({ to: siteName(s), type: 'interconnect' })),
        },
      }),
    );
    for (const s of to) {
      link(name, siteName(s));
      siteLinks.set(s, [...(siteLinks.get(s) ?? []), { to: name, asn: 64_700 + (i % 100) }]);
    }
  }
  for (let s = 0; s < sites; s++) {
    const name = siteName(s);
    const links = siteLinks.get(s) ?? [];
    networks.push(
      parse('Network', {
        metadata: { name },
        spec: {
          provider: 'onprem',
          onprem: { site: name, asn: 64_512, peers: [{ address: `192.0.2.${s + 1}`, asn: 65_000 }], nextHop: `192.0.2.${s + 101}`, communities: ['64512:100'] },
          links: links.map((l) => ({ to: l.to, type: 'bgp', bgp: { localASN: 64_512, peerASN: l.asn } })),
        },
      }),
    );
    for (const l of links) link(name, l.to);
  }
  const domainNames = networks.map((n) => n.metadata.name);
  const provider = (d: string): 'aws' | 'gcp' | 'onprem' => (d.startsWith('aws') ? 'aws' : d.startsWith('gcp') ? 'gcp' : 'onprem');
  const clusters: ClusterResource[] = [];
  for (let i = 0; i < clusterCount; i++) {
    const domain = domainNames[i % domainNames.length] ?? 'aws-0';
    const p = provider(domain);
    clusters.push(
      parse('Cluster', {
        metadata: { name: `c-${i}` },
        spec: {
          provider: p,
          region: p === 'aws' ? 'us-east-1' : p === 'gcp' ? 'europe-west4' : 'fra1',
          network: domain,
          clusterSet: `set-${i % 10}`,
          podCIDRs: [podBlock(i)],
          serviceCIDRs: [`172.${16 + (i % 16)}.${Math.floor(i / 16) % 256}.0/24`],
        },
      }),
    );
  }
  const pools: IPPoolResource[] = [
    parse('IPPool', { metadata: { name: 'vips' }, spec: { use: 'ClusterSetIPs', cidrs: ['100.64.0.0/16'] } }),
    ...Array.from({ length: sites }, (_, s) =>
      parse('IPPool', { metadata: { name: `lb-${s}` }, spec: { use: 'LoadBalancer', cidrs: [`100.${100 + s}.0.0/24`], network: siteName(s) } }),
    ),
  ];
  const services: ExportedService[] = Array.from({ length: serviceCount }, (_, k) => ({
    namespace: `ns-${k % 20}`,
    name: `svc-${k}`,
    ports: [{ protocol: 'TCP', port: 8000 + (k % 50) }],
    exporters: [{ cluster: `c-${(k * 7) % clusterCount}` }, { cluster: `c-${(k * 7 + 10) % clusterCount}` }],
  }));
  return { input: { networks, clusters, pools }, services, neighbours };
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

async function steadyReconcile(): Promise<RoutePlanFigures['steady_reconcile']> {
  const fixture = fileURLToPath(new URL('../test/fixtures/providers/ec2-journey3.json', import.meta.url));
  const double = await startEc2Double({ fixture: await readEc2Fixture(fixture) });
  const client = ec2Client({ region: 'us-east-1', endpoint: double.endpoint, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, maxAttempts: 1 });
  try {
    const adapter = new AwsVpcAdapter({
      api: (_d, gate) => new SdkEc2Api({ client, gate }),
      ownership: new MemoryRouteOwnership(),
      intents: new FixedIntentSource({ model: buildModel(journey3()), services: JOURNEY3_SERVICES }),
    });
    const signal = new AbortController().signal;
    const first = await adapter.reconcile('aws-train-vpc', signal);
    const second = await adapter.reconcile('aws-train-vpc', signal);
    return { calls: second.calls, mutating_calls: second.mutatingCalls, first_reconcile_changes: first.changes.length };
  } finally {
    client.destroy();
    await double.stop();
  }
}

export async function measureRoutePlan(
  options: { clusters?: number; domains?: number; runs?: number; incrementalRuns?: number } = {},
): Promise<RoutePlanFigures> {
  const t = topology(options.clusters ?? 1000, options.domains ?? 100);
  const runs = options.runs ?? 7;
  // Warm the JIT once; then time the model alone and the whole plan.
  planRoutes(buildModel(t.input), { services: t.services });
  let t0 = performance.now();
  const model = buildModel(t.input);
  const modelMs = performance.now() - t0;
  const full: number[] = [];
  let plan = planRoutes(model, { services: t.services });
  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    plan = planRoutes(buildModel(t.input), { services: t.services });
    full.push(performance.now() - t0);
  }
  full.sort((a, b) => a - b);

  // One cluster's pod CIDR changes (to a free block); replan what it touches. The first few plans
  // of the `only` path run while the JIT still compiles it (30 ms against 10-20 ms after), so they
  // are made untimed, as the full plan's first one is; then enough runs that p99 is not the maximum.
  const incremental: number[] = [];
  const planned: number[] = [];
  const n = t.input.clusters.length;
  const warmup = 5;
  const incrementalRuns = options.incrementalRuns ?? 200;
  for (let i = 0; i < warmup + incrementalRuns; i++) {
    const k = (i * 37) % n;
    const clusters = t.input.clusters.map((c, j) => (j === k ? { ...c, spec: { ...c.spec, podCIDRs: [podBlock(n + i)] } } : c));
    const domain = clusters[k]?.spec.network ?? '';
    const only = [domain, ...(t.neighbours.get(domain) ?? [])];
    t0 = performance.now();
    planRoutes(buildModel({ ...t.input, clusters }), { services: t.services, only });
    if (i < warmup) continue;
    incremental.push(performance.now() - t0);
    planned.push(only.length);
  }
  incremental.sort((a, b) => a - b);
  planned.sort((a, b) => a - b);
  return {
    clusters: t.input.clusters.length,
    domains: t.input.networks.length,
    services: t.services.length,
    model_ms: round(modelMs),
    full_plan_ms: round(percentile(full, 0.5)),
    full_plan_runs: runs,
    routes: plan.domains.reduce((s, d) => s + d.routes.length, 0),
    firewall_openings: plan.domains.reduce((s, d) => s + d.firewall.length, 0),
    announcements: plan.domains.reduce((s, d) => s + d.announcements.length, 0),
    incremental_p50_ms: round(percentile(incremental, 0.5)),
    incremental_p99_ms: round(percentile(incremental, 0.99)),
    incremental_runs: incremental.length,
    incremental_domains: percentile(planned, 0.5),
    steady_reconcile: await steadyReconcile(),
  };
}

if (import.meta.main) {
  process.stdout.write(`${JSON.stringify(await measureRoutePlan(), null, 2)}\n`);
}
