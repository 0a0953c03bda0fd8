// The world bench/policy.ts measures GlobalPolicy compilation over (issue 10 §7), seeded so that
// every run compiles the same one: clusters with env, provider, region, gpu and role labels (a few
// taking remote peers as pod CIDRs), teams deployed in some clusters each, their workloads and
// global services, and platform, tenant and baseline policies (see bench/policy.ts's header).
import type { ClusterInfo, NamespaceInfo, Peer, Policy, PortRange, ServiceInfo, Tier, Workload, World } from '../controlplane/policy/model.ts';

export interface PolicyBenchOptions {
  readonly clusters?: number;
  readonly policies?: number;
  readonly teams?: number;
  /** Clusters each team is deployed in. */
  readonly spread?: number;
  readonly fullRuns?: number;
  readonly incrementalRuns?: number;
  /** Restarts (removed, then added with a new address) measured after the moves. */
  readonly restartRuns?: number;
  readonly explainFlows?: number;
  readonly seed?: number;
}

/** mulberry32: a seeded generator, so the world is the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `10.a.b.0/20` blocks, one per index, never overlapping (4,096 fit in 10/8). */
function podBlock(i: number): { cidr: string; host: (k: number) => string } {
  const a = Math.floor(i / 16);
  const b = (i % 16) * 16;
  return { cidr: `10.${a}.${b}.0/20`, host: (k) => `10.${a}.${b + Math.floor(k / 250)}.${(k % 250) + 2}` };
}

const APPS = ['web', 'api', 'db', 'worker'];
const ENVS = ['prod', 'prod', 'prod', 'staging', 'staging', 'dev'];
const PROVIDERS = ['aws', 'gcp', 'onprem'];

export interface PolicyBenchWorld {
  readonly world: World;
  readonly policies: Policy[];
}

export function policyWorld(options: PolicyBenchOptions = {}): PolicyBenchWorld {
  const nClusters = options.clusters ?? 1000;
  const nPolicies = options.policies ?? 10_000;
  const nTeams = options.teams ?? 200;
  const spread = Math.min(options.spread ?? 15, nClusters);
  const rnd = random(options.seed ?? 10);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

  // Journey 3's clusters are the first three; the rest are generated.
  const clusters: ClusterInfo[] = [];
  const hosts: ((k: number) => string)[] = [];
  for (let i = 0; i < nClusters; i++) {
    const block = podBlock(i);
    hosts.push(block.host);
    const name = i === 0 ? 'aws-train' : i === 1 ? 'gcp-train' : i === 2 ? 'onprem-inference' : `c${String(i).padStart(4, '0')}`;
    const provider = i === 0 ? 'aws' : i === 1 ? 'gcp' : i === 2 ? 'onprem' : pick(PROVIDERS);
    const labels: Record<string, string> = { env: i < 3 ? 'prod' : pick(ENVS), provider, region: `r${i % 10}` };
    if (i < 2 || (i >= 3 && rnd() < 0.1)) labels['gpu'] = 'true';
    if (i === 2 || (i >= 3 && rnd() < 0.03)) labels['role'] = 'inference';
    clusters.push({
      name,
      labels,
      podCIDRs: [block.cidr],
      network: `${provider}-${labels['region'] ?? ''}`,
      ...(i >= 3 && rnd() < 0.02 ? { remotePeers: 'podCIDRs' as const } : {}),
    });
  }

  const namespaces: NamespaceInfo[] = [];
  const workloads: Workload[] = [];
  const perCluster = new Map<string, number>();
  const addWorkload = (c: number, namespace: string, labels: Record<string, string>, count = 1): void => {
    const cluster = clusters[c] as ClusterInfo;
    const k = perCluster.get(cluster.name) ?? 0;
    perCluster.set(cluster.name, k + count);
    workloads.push({ cluster: cluster.name, namespace, labels, ips: Array.from({ length: count }, (_, j) => (hosts[c] as (k: number) => string)(k + j)) });
  };
  const addNamespace = (c: number, name: string, labels: Record<string, string>): void => {
    const cluster = clusters[c] as ClusterInfo;
    if (!namespaces.some((n) => n.cluster === cluster.name && n.name === name)) namespaces.push({ cluster: cluster.name, name, labels });
  };

  // Journey 3 (test/unit/policy/journey3.ts): trainers in both training clusters, web in aws-train, llm-serving on-prem.
  addNamespace(0, 'ml-training', {});
  addNamespace(0, 'default', {});
  addNamespace(1, 'ml-training', {});
  addNamespace(2, 'inference', { team: 'inference' });
  addWorkload(0, 'ml-training', { app: 'trainer' });
  addWorkload(1, 'ml-training', { app: 'trainer' });
  addWorkload(0, 'default', { app: 'web' });
  addWorkload(2, 'inference', { app: 'llm-serving' }, 2);

  // Teams: each in `spread` clusters, one workload per app it runs there.
  const teamClusters: number[][] = [];
  for (let t = 0; t < nTeams; t++) {
    const at = new Set<number>();
    while (at.size < spread) at.add(Math.floor(rnd() * nClusters));
    const list = [...at].sort((a, b) => a - b);
    teamClusters.push(list);
    for (const c of list) {
      addNamespace(c, `team-${t}`, { team: `t${t}`, env: (clusters[c] as ClusterInfo).labels['env'] ?? 'prod' });
      addWorkload(c, `team-${t}`, { app: pick(APPS), track: rnd() < 0.8 ? 'stable' : 'canary' });
    }
  }
  const services: ServiceInfo[] = [
    {
      namespace: 'inference',
      name: 'llm-serving',
      selector: { matchLabels: { app: 'llm-serving' } },
      exporters: ['onprem-inference'],
      ports: [{ port: 8000 }],
    },
    ...teamClusters.map((cs, t): ServiceInfo => ({
      namespace: `team-${t}`,
      name: 'api',
      selector: { matchLabels: { app: 'api' } },
      exporters: cs.map((c) => (clusters[c] as ClusterInfo).name),
      ports: [{ port: 8080 }],
    })),
  ];

  const policies: Policy[] = [
    {
      namespace: 'inference',
      name: 'training-to-inference',
      tier: 'platform',
      priority: 100,
      rules: [
        {
          action: 'Allow',
          from: [{ clusters: { matchLabels: { gpu: 'true' } }, namespaces: ['ml-training'] }],
          to: [{ service: { namespace: 'inference', name: 'llm-serving' } }],
          ports: [{ protocol: 'TCP', port: 8000 }],
        },
      ],
    },
    {
      namespace: 'inference',
      name: 'deny-training-to-onprem',
      tier: 'baseline',
      priority: 1000,
      rules: [{ action: 'Deny', from: [{ clusters: { matchLabels: { gpu: 'true' } } }], to: [{ clusters: { matchLabels: { role: 'inference' } } }] }],
    },
  ];
  const team = (): number => Math.floor(rnd() * nTeams);
  const portRange = (): PortRange[] => {
    const base = pick([80, 443, 5432, 8000, 8080, 9090]);
    return rnd() < 0.3
      ? [{ protocol: 'TCP', port: base, endPort: base + Math.floor(rnd() * 20) }]
      : [{ protocol: pick(['TCP', 'TCP', 'UDP'] as const), port: base }];
  };
  const teamPeer = (t: number): Peer => {
    const r = rnd();
    if (r < 0.2) return { service: { namespace: `team-${t}`, name: 'api' } };
    if (r < 0.35) return { namespaceSelector: { matchLabels: { team: `t${t}` } }, pods: { matchLabels: { app: pick(APPS) } } };
    if (r < 0.5) return { clusters: { matchLabels: { env: 'prod' } }, namespaces: [`team-${t}`] };
    return { namespaces: [`team-${t}`], pods: { matchLabels: { app: pick(APPS) } } };
  };
  const nPlatform = Math.floor(nPolicies * 0.04);
  const nBaseline = Math.floor(nPolicies * 0.03);
  for (let i = 0; policies.length < nPolicies; i++) {
    let tier: Tier;
    let p: Omit<Policy, 'namespace' | 'name' | 'tier'>;
    let namespace: string;
    if (i < nPlatform) {
      tier = 'platform';
      namespace = 'platform';
      const kind = i % 4;
      const t = team();
      p =
        kind === 0
          ? {
              priority: 10 + (i % 50),
              rules: [
                {
                  action: 'Deny',
                  from: [{ clusters: { matchLabels: { env: 'dev' } } }],
                  to: [{ clusters: { matchLabels: { env: 'prod' } }, namespaces: [`team-${t}`] }],
                },
              ],
            }
          : kind === 1
            ? {
                priority: 60 + (i % 50),
                rules: [
                  { action: 'Allow', from: [{ namespaces: ['monitoring'] }], to: [{ namespaces: [`team-${t}`] }], ports: [{ protocol: 'TCP', port: 9100 }] },
                ],
              }
            : kind === 2
              ? {
                  priority: 110 + (i % 50),
                  rules: [
                    {
                      action: 'Pass',
                      from: [{ clusters: { matchLabels: { region: `r${i % 10}` } }, namespaces: [`team-${team()}`] }],
                      to: [{ clusters: { matchLabels: { region: `r${i % 10}` } }, namespaces: [`team-${t}`] }],
                      ports: portRange(),
                    },
                  ],
                }
              : {
                  priority: 160 + (i % 50),
                  rules: [
                    {
                      action: 'Deny',
                      from: [{ clusters: { matchLabels: { provider: pick(PROVIDERS) } }, namespaces: [`team-${team()}`] }],
                      to: [{ namespaces: [`team-${t}`], pods: { matchLabels: { app: 'db' } } }],
                      ports: [{ protocol: 'TCP', port: 5432 }],
                    },
                  ],
                };
    } else if (i < nPlatform + nBaseline) {
      tier = 'baseline';
      namespace = 'platform';
      const t = team();
      p =
        i % 2 === 0
          ? {
              priority: i % 1000,
              rules: [
                { action: 'Allow', from: [{ cidrs: [pick(['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/25'])] }], to: [teamPeer(t)], ports: portRange() },
              ],
            }
          : {
              priority: i % 1000,
              rules: [
                {
                  action: 'Deny',
                  from: [{ clusters: { matchLabels: { env: 'staging' } }, namespaces: [`team-${team()}`] }],
                  to: [{ clusters: { matchLabels: { env: 'prod' } }, namespaces: [`team-${t}`] }],
                },
              ],
            };
    } else {
      tier = 'tenant';
      const t = team();
      namespace = `team-${t}`;
      const r = rnd();
      const action = r < 0.8 ? 'Allow' : r < 0.95 ? 'Deny' : 'Pass';
      p = {
        priority: i % 1000,
        rules: [{ action, from: [teamPeer(team()), ...(rnd() < 0.3 ? [teamPeer(team())] : [])], to: [teamPeer(t)], ports: portRange() }],
        // One in fifty tenant policies also denies the rest of the team's namespace by default.
        ...(i % 50 === 0 ? { defaultDeny: { namespaces: [`team-${t}`], clusters: { matchLabels: { env: 'prod' } } } } : {}),
      };
    }
    policies.push({ namespace, name: `${tier}-${i}`, tier, ...p });
  }
  return { world: { clusters, namespaces, workloads, services }, policies };
}
