// Compilation per cluster and output format: `compileForCluster` is what the hub's policy
// controller calls for each cluster (and `plan` for proposed policies), with the format the
// Cluster's CNI supports. Exact or refused: a format that cannot carry the effective policy
// returns no objects and an error problem that says why and which rule.
import { isPrepared, prepare, type Prepared } from '../evaluate.ts';
import type { Policy, World } from '../model.ts';
import { compileAdminNetworkPolicies } from './admin-network-policy.ts';
import { compileCalicoPolicies } from './calico.ts';
import { compileCiliumPolicies } from './cilium.ts';
import { compileClusterNetworkPolicies } from './cluster-network-policy.ts';
import { compileNetworkPolicies } from './network-policy.ts';
import type { CompileResult } from './result.ts';

export const PolicyFormat = {
  NetworkPolicy: 'NetworkPolicy',
  ClusterNetworkPolicy: 'ClusterNetworkPolicy',
  AdminNetworkPolicy: 'AdminNetworkPolicy',
  CalicoGlobalNetworkPolicy: 'CalicoGlobalNetworkPolicy',
  CiliumClusterwideNetworkPolicy: 'CiliumClusterwideNetworkPolicy',
} as const;
export type PolicyFormat = (typeof PolicyFormat)[keyof typeof PolicyFormat];

export function compileForCluster(
  policies: readonly Policy[] | Prepared,
  world: World,
  cluster: string,
  format: PolicyFormat = 'NetworkPolicy',
): CompileResult {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  switch (format) {
    case 'NetworkPolicy':
      return compileNetworkPolicies(prepared, world, cluster);
    case 'ClusterNetworkPolicy':
      return compileClusterNetworkPolicies(prepared, world, cluster);
    case 'AdminNetworkPolicy':
      return compileAdminNetworkPolicies(prepared, world, cluster);
    case 'CalicoGlobalNetworkPolicy':
      return compileCalicoPolicies(prepared, world, cluster);
    case 'CiliumClusterwideNetworkPolicy':
      return compileCiliumPolicies(prepared, world, cluster);
  }
}

export type { CompileResult, CompiledObject } from './result.ts';
