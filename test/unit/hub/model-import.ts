// An import as the hub's service model builds it, for the delivery tests: keys in canonical
// (sorted) order, which hub/controllers/resume.ts relies on to digest an import from its plain JSON.
import type { ImportState } from '../../../controlplane/api/messages.ts';

export function modelImport(o: {
  readonly name: string;
  readonly namespace: string;
  readonly addresses: number;
  readonly ips: readonly string[];
}): ImportState {
  return {
    clusters: ['a'],
    endpoints: Array.from({ length: o.addresses }, (_, i) => ({
      addresses: [`10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      cluster: 'a',
      ready: true,
      serving: true,
      terminating: false,
    })),
    ips: [...o.ips],
    name: o.name,
    namespace: o.namespace,
    ports: [{ port: 80, protocol: 'TCP' }],
    sessionAffinity: 'None',
    type: 'ClusterSetIP',
  };
}
