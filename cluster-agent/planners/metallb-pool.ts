// The MetalLB IPAddressPool the agent owns in its cluster, pure: from the hub's ClusterSettings
// (the cluster's LoadBalancer block) to the object to server-side apply, or to delete. MetalLB then
// assigns LoadBalancer Service IPs only from a block no other cluster holds, and the hub announces
// that block over BGP from the cluster's on-prem site.
import type { ClusterSettings } from '../../controlplane/api/messages.ts';
import { OWNED_BY_LABEL, OWNED_BY_VALUE, type KubeObject } from '../objects.ts';

export const METALLB_API_VERSION = 'metallb.io/v1beta1';
export const METALLB_NAMESPACE = 'metallb-system';
/** One pool per cluster, named for what it is; MetalLB's own pools keep their names. */
export const ADDRESS_POOL_NAME = 'causeway-loadbalancer';

export interface AddressPoolObject extends KubeObject {
  spec: { addresses: string[]; autoAssign: boolean };
}

/** The IPAddressPool the settings ask for; undefined when the cluster holds no block. */
export function desiredAddressPool(settings: ClusterSettings): AddressPoolObject | undefined {
  const lb = settings.loadBalancer;
  if (lb === undefined) return undefined;
  return {
    apiVersion: METALLB_API_VERSION,
    kind: 'IPAddressPool',
    metadata: {
      name: ADDRESS_POOL_NAME,
      namespace: METALLB_NAMESPACE,
      labels: { [OWNED_BY_LABEL]: OWNED_BY_VALUE },
      annotations: { 'causeway.dev/ippool': lb.pool },
    },
    spec: { addresses: [...lb.cidrs], autoAssign: true },
  };
}

export type AddressPoolAction =
  { readonly kind: 'apply'; readonly object: AddressPoolObject } | { readonly kind: 'delete'; readonly uid: string | undefined } | { readonly kind: 'none' };

/**
 * What to do given what is in the cluster: apply when absent or different, delete ours when the
 * block went, and never touch a pool of that name we do not own (someone else's MetalLB config).
 */
export function planAddressPool(settings: ClusterSettings, current: KubeObject | undefined): AddressPoolAction {
  const desired = desiredAddressPool(settings);
  const ours = current?.metadata.labels?.[OWNED_BY_LABEL] === OWNED_BY_VALUE;
  if (current !== undefined && !ours) return { kind: 'none' };
  if (desired === undefined) return current === undefined ? { kind: 'none' } : { kind: 'delete', uid: current.metadata.uid };
  const spec = current?.spec as { addresses?: unknown; autoAssign?: unknown } | undefined;
  const same = spec !== undefined && JSON.stringify(spec.addresses) === JSON.stringify(desired.spec.addresses) && spec.autoAssign === true;
  return same ? { kind: 'none' } : { kind: 'apply', object: desired };
}

/** Settings are complete each time: keep the newest (by the Cluster's registry revision), ignore older ones. */
export function newerSettings(held: ClusterSettings | undefined, incoming: ClusterSettings, cluster: string): boolean {
  return incoming.cluster === cluster && (held === undefined || incoming.revision >= held.revision);
}

/** How the last look at the pool ended, for the heartbeat's LoadBalancerPool condition. */
export type AddressPoolOutcome =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'none' }
  | { readonly kind: 'applied'; readonly cidrs: readonly string[] }
  | { readonly kind: 'not-installed'; readonly message: string }
  | { readonly kind: 'not-owned' }
  | { readonly kind: 'failed'; readonly message: string };

export const LoadBalancerPoolReason = {
  Applied: 'Applied',
  MetalLBNotInstalled: 'MetalLBNotInstalled',
  PoolNotOwned: 'PoolNotOwned',
  ApplyFailed: 'ApplyFailed',
} as const;

export const LOAD_BALANCER_POOL_CONDITION = 'LoadBalancerPool';

const MAX_MESSAGE = 1024;
const poolName = `${METALLB_NAMESPACE}/${ADDRESS_POOL_NAME}`;

/**
 * The heartbeat's LoadBalancerPool condition; none while the settings are not known yet and for a
 * cluster that holds no block (and has no pool of ours left), so clusters without MetalLB say nothing.
 */
export function addressPoolCondition(outcome: AddressPoolOutcome): { type: string; status: 'True' | 'False'; reason: string; message: string } | undefined {
  const c = (ok: boolean, reason: string, message: string) => ({
    type: LOAD_BALANCER_POOL_CONDITION,
    status: ok ? ('True' as const) : ('False' as const),
    reason,
    message: message.slice(0, MAX_MESSAGE),
  });
  switch (outcome.kind) {
    case 'unknown':
    case 'none':
      return undefined;
    case 'applied':
      return c(true, LoadBalancerPoolReason.Applied, `IPAddressPool ${poolName} holds ${outcome.cidrs.join(', ')}`);
    case 'not-installed':
      return c(
        false,
        LoadBalancerPoolReason.MetalLBNotInstalled,
        `the cluster serves no ${METALLB_API_VERSION} IPAddressPool (install MetalLB); retrying with backoff: ${outcome.message}`,
      );
    case 'not-owned':
      return c(
        false,
        LoadBalancerPoolReason.PoolNotOwned,
        `an IPAddressPool ${poolName} without the causeway.dev/owned-by label exists; Causeway leaves it alone (rename or delete it to let the agent write the cluster's block)`,
      );
    case 'failed':
      return c(false, LoadBalancerPoolReason.ApplyFailed, `writing IPAddressPool ${poolName} failed; retrying with backoff: ${outcome.message}`);
  }
}
