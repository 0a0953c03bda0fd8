// Plain fakes of the ServiceController's ports for unit tests: a registry view, an export index, a
// VIP store and a bus that do nothing but what a test hands them.
import type { Logger } from 'pino';
import type { ClusterResource, IPPoolResource } from '../../../controlplane/api/resources.ts';
import type { Bus } from '../../../controlplane/bus/bus.ts';
import type { ExportChange, ExportIndex } from '../../../controlplane/hub/exports.ts';
import type { RegistryView, ResourceChange } from '../../../controlplane/hub/registry-view.ts';
import type { VipRegistry } from '../../../controlplane/ipam/vips.ts';

export const cluster = (name: string): ClusterResource => ({
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { name },
  spec: { provider: 'aws', region: 'us-east-1', network: 'n', podCIDRs: ['10.0.0.0/16'], serviceCIDRs: ['10.1.0.0/16'] },
});

export const noop = (): void => undefined;
export const silent = { warn: noop, debug: noop, info: noop, error: noop } as unknown as Logger;
export const vips = { list: () => Promise.resolve([]) } as unknown as VipRegistry;
export const bus = { publish: noop } as unknown as Bus;

export type RegistryListener = (changes: readonly ResourceChange[], revision: number) => void;
export type ExportListener = (changes: readonly ExportChange[], revision: number) => void;

/** A registry view of these clusters (and pools) and nothing else; `onChange` hands its listener to `listen`. */
export function viewListing(
  clusters: () => ClusterResource[],
  listen: (l: RegistryListener) => void = noop,
  pools: () => readonly IPPoolResource[] = () => [],
): RegistryView {
  return {
    clusters,
    networks: () => [],
    externalServices: () => [],
    pools,
    cluster: (name: string) => clusters().find((c) => c.metadata.name === name),
    onChange: listen,
  } as unknown as RegistryView;
}

/** An export index holding nothing at first; `onChange` hands its listener to `listen`. */
export function exportIndex(listen: (l: ExportListener) => void = noop): ExportIndex {
  return { all: () => new Map(), onChange: listen } as unknown as ExportIndex;
}
