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
