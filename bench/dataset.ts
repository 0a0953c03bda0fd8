// The simulated clusterset of one benchmark step: N clusters on one network, each exporting a few
// services whose audience is its group (causeway.dev/export-to `bench-g<k>=in`, which the
// group's clusters carry as a label), so every service is imported by `groupSize` clusters, and
// an optional "big" consumer in enough groups to import ~100,000 endpoints (memory and resync).
// The first groups, at least `fullAgents` clusters, run the full agent with its in-memory
// Kubernetes side; the others are light consumers (light-agent.ts). A group is all full or all
// light, so a change's consumers are of one kind and its latency says which path it measured.
import type { AgentPlan, ExportPlan } from './ipc.ts';

export interface DatasetShape {
  readonly clusters: number;
  readonly servicesPerCluster: number;
  readonly endpointsPerService: number;
  /** Clusters per audience group (every service is imported by its group). */
  readonly groupSize: number;
  /** Endpoints the big consumer should import (capped by what exists). */
  readonly bigImports: number;
  /** Clusters that run the full agent (rounded up to whole groups); the rest are light consumers. Default: all. */
  readonly fullAgents?: number;
}

export const NETWORK = 'bench-net';
export const BIG = 'c-big';

export class Dataset {
  readonly shape: DatasetShape;
  readonly groups: number;
  /** Groups the big consumer belongs to. */
  readonly bigGroups: number;
  /** Clusters 0 .. fullClusters-1 (whole groups) run the full agent. */
  readonly fullClusters: number;

  constructor(shape: DatasetShape) {
    if (shape.servicesPerCluster * shape.endpointsPerService > 4000) throw new Error('a cluster has a /20 of pod addresses: at most 4,000 endpoints');
    this.shape = shape;
    this.groups = Math.ceil(shape.clusters / shape.groupSize);
    this.bigGroups = Math.min(this.groups, Math.ceil(shape.bigImports / (shape.groupSize * shape.servicesPerCluster * shape.endpointsPerService)));
    this.fullClusters = Math.min(shape.clusters, Math.ceil((shape.fullAgents ?? shape.clusters) / shape.groupSize) * shape.groupSize);
  }

  /** Whether cluster `i` is a light consumer (the big consumer never is). */
  isLight(i: number): boolean {
    return i !== this.bigIndex && i >= this.fullClusters;
  }

  get services(): number {
    return this.shape.clusters * this.shape.servicesPerCluster;
  }

  get endpoints(): number {
    return this.services * this.shape.endpointsPerService;
  }

  /** The big consumer's index, after the regular clusters. */
  get bigIndex(): number {
    return this.shape.clusters;
  }

  name(i: number): string {
    return i === this.bigIndex ? BIG : `c-${String(i).padStart(4, '0')}`;
  }

  groupOf(i: number): number {
    return Math.floor(i / this.shape.groupSize);
  }

  membersOf(group: number): number[] {
    const first = group * this.shape.groupSize;
    const last = Math.min(this.shape.clusters, first + this.shape.groupSize);
    return Array.from({ length: last - first }, (_, k) => first + k);
  }

  /** Who imports what cluster `i` exports: its group, and the big consumer if it is in that group. */
  consumersOf(i: number, bigActive: boolean): number[] {
    const g = this.groupOf(i);
    const members = this.membersOf(g);
    return bigActive && g < this.bigGroups ? [...members, this.bigIndex] : members;
  }

  /** Endpoints cluster `i` imports once converged. */
  expectedImported(i: number): number {
    const perCluster = this.shape.servicesPerCluster * this.shape.endpointsPerService;
    if (i === this.bigIndex) {
      let n = 0;
      for (let g = 0; g < this.bigGroups; g++) n += this.membersOf(g).length * perCluster;
      return n;
    }
    return this.membersOf(this.groupOf(i)).length * perCluster;
  }

  exportsOf(i: number): ExportPlan[] {
    if (i === this.bigIndex) return [];
    const base = podBase(i);
    return Array.from({ length: this.shape.servicesPerCluster }, (_, j) => {
      const first = base + 1 + j * this.shape.endpointsPerService;
      return {
        namespace: `ns-${(i * this.shape.servicesPerCluster + j) % 20}`,
        name: `s-${i}-${j}`,
        audienceLabel: `bench-g${this.groupOf(i)}`,
        firstAddress: first,
        endpoints: this.shape.endpointsPerService,
      };
    });
  }

  agentPlan(i: number, creds: string): AgentPlan {
    return { cluster: this.name(i), index: i, creds, exports: this.exportsOf(i), expectedImported: this.expectedImported(i), light: this.isLight(i) };
  }

  networkManifests(): object[] {
    return [
      {
        apiVersion: 'causeway.dev/v1alpha1',
        kind: 'Network',
        metadata: { name: NETWORK },
        spec: { provider: 'onprem', onprem: { site: 'bench', asn: 64512 }, prefixes: ['10.0.0.0/8', '100.64.0.0/10'] },
      },
      {
        apiVersion: 'causeway.dev/v1alpha1',
        kind: 'IPPool',
        metadata: { name: 'bench-vips' },
        spec: { use: 'ClusterSetIPs', cidrs: ['172.16.0.0/16'] },
      },
    ];
  }

  clusterManifest(i: number): object {
    const labels: Record<string, string> = {};
    if (i === this.bigIndex) for (let g = 0; g < this.bigGroups; g++) labels[`bench-g${g}`] = 'in';
    else labels[`bench-g${this.groupOf(i)}`] = 'in';
    const pod = octets(podBase(i));
    return {
      apiVersion: 'causeway.dev/v1alpha1',
      kind: 'Cluster',
      metadata: { name: this.name(i), labels },
      spec: {
        provider: 'onprem',
        region: 'bench',
        network: NETWORK,
        podCIDRs: [`${pod.join('.')}/20`],
        serviceCIDRs: [`100.${64 + (i >> 8)}.${i & 255}.0/24`],
      },
    };
  }
}

/** Cluster i's pod CIDR, 10.x.y.0/20, as an integer address. */
function podBase(i: number): number {
  return 10 * 2 ** 24 + i * 4096;
}

export function octets(n: number): [number, number, number, number] {
  return [Math.floor(n / 2 ** 24) % 256, Math.floor(n / 2 ** 16) % 256, Math.floor(n / 256) % 256, n % 256];
}
