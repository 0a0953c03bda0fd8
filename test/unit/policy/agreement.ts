// Checks compiled NetworkPolicies against the reference evaluator: every (source, local
// destination pod, protocol, port) of a world, under both readings of ipBlock for pod addresses.
import { evaluate, prepare } from '../../../controlplane/policy/evaluate.ts';
import type { CompiledObject } from '../../../controlplane/policy/compile/index.ts';
import { PROTOCOLS, type Endpoint, type Policy, type Protocol, type World } from '../../../controlplane/policy/model.ts';
import { npAllowsIngress, type NetworkPolicyObject, type NpSource } from './np-semantics.ts';

export interface Disagreement {
  readonly from: string;
  readonly to: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly reference: string;
  readonly compiled: string;
}

export function disagreements(
  policies: readonly Policy[],
  world: World,
  cluster: string,
  objects: readonly CompiledObject[],
  ports: readonly number[],
  externals: readonly string[],
): Disagreement[] {
  const nps = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicyObject[];
  const nsLabels = (c: string, n: string): Record<string, string> => ({ ...(world.namespaces.find((x) => x.cluster === c && x.name === n)?.labels ?? {}) });
  const sources: { endpoint: Endpoint; np: NpSource; name: string }[] = [];
  for (const w of world.workloads) {
    for (const ip of w.ips) {
      const endpoint: Endpoint = { kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip };
      const np: NpSource =
        w.cluster === cluster
          ? { kind: 'pod', namespace: w.namespace, namespaceLabels: nsLabels(w.cluster, w.namespace), labels: { ...w.labels }, ip }
          : { kind: 'address', ip };
      sources.push({ endpoint, np, name: `${w.cluster}/${w.namespace}/${JSON.stringify(w.labels)}@${ip}` });
    }
  }
  for (const ip of externals) sources.push({ endpoint: { kind: 'external', ip }, np: { kind: 'address', ip }, name: `external ${ip}` });
  const prepared = prepare(policies, world);
  const out: Disagreement[] = [];
  for (const dst of world.workloads.filter((w) => w.cluster === cluster)) {
    const to: Endpoint = { kind: 'workload', cluster, namespace: dst.namespace, labels: dst.labels, ip: dst.ips[0] };
    for (const s of sources) {
      for (const protocol of PROTOCOLS) {
        for (const port of ports) {
          const ref = evaluate(prepared, world, { from: s.endpoint, to, protocol, port }).verdict;
          for (const reading of [false, true]) {
            const got = npAllowsIngress(nps, { namespace: dst.namespace, labels: { ...dst.labels } }, s.np, protocol, port, reading) ? 'allowed' : 'denied';
            if (got !== ref) {
              out.push({
                from: s.name,
                to: `${cluster}/${dst.namespace}/${JSON.stringify(dst.labels)}`,
                protocol,
                port,
                reference: ref,
                compiled: `${got} (ipBlock matches pods: ${String(reading)})`,
              });
            }
          }
        }
      }
    }
  }
  return out;
}
