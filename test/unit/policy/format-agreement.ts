// Checks one cluster's compiled output of a format against the reference evaluator, read by the
// test's own evaluator of that format (a FormatReader): every (source, local destination pod,
// protocol, port) at ingress — for a local source with its egress towards the pod —, every local
// pod's egress to external addresses as the evaluator decides, and egress to other clusters' pods
// left to their ingress. Used for the Calico and Cilium formats (tiered-agreement.ts is the same
// check for the network-policy-api formats).
import { evaluate, prepare } from '../../../controlplane/policy/evaluate.ts';
import type { CompiledObject } from '../../../controlplane/policy/compile/index.ts';
import { PROTOCOLS, type Endpoint, type Policy, type World } from '../../../controlplane/policy/model.ts';
import type { Disagreement } from './agreement.ts';
import type { Destination, Outcome, Pod, PolicyApiObject, Source } from './anp-evaluator.ts';

export interface FormatReader {
  /** Throws on an object the format's API server would refuse. */
  readonly validate: (objects: readonly PolicyApiObject[]) => void;
  readonly ingress: (objects: readonly PolicyApiObject[], dst: Pod, src: Source, protocol: string, port: number) => Outcome;
  readonly egress: (objects: readonly PolicyApiObject[], src: Pod, dst: Destination, protocol: string, port: number) => Outcome;
}

export function formatDisagreements(
  reader: FormatReader,
  policies: readonly Policy[],
  world: World,
  cluster: string,
  objects: readonly CompiledObject[],
  ports: readonly number[],
  externals: readonly string[],
): Disagreement[] {
  const objs = objects as unknown as PolicyApiObject[];
  reader.validate(objs);
  const nsLabels = (c: string, n: string): Record<string, string> => ({ ...(world.namespaces.find((x) => x.cluster === c && x.name === n)?.labels ?? {}) });
  const sources: { endpoint: Endpoint; src: Source; name: string }[] = [];
  const localPods: { endpoint: Endpoint; pod: Pod; name: string }[] = [];
  for (const w of world.workloads) {
    for (const ip of w.ips) {
      const endpoint: Endpoint = { kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip };
      const name = `${w.cluster}/${w.namespace}/${JSON.stringify(w.labels)}@${ip}`;
      if (w.cluster === cluster) {
        const pod: Pod = { namespace: w.namespace, namespaceLabels: nsLabels(w.cluster, w.namespace), labels: { ...w.labels }, ip };
        localPods.push({ endpoint, pod, name });
        sources.push({ endpoint, src: { kind: 'pod', pod }, name });
      } else sources.push({ endpoint, src: { kind: 'address', ip }, name });
    }
  }
  for (const ip of externals) sources.push({ endpoint: { kind: 'external', ip }, src: { kind: 'address', ip }, name: `external ${ip}` });
  const prepared = prepare(policies, world);
  const out: Disagreement[] = [];
  for (const dst of localPods) {
    for (const s of sources) {
      for (const protocol of PROTOCOLS) {
        for (const port of ports) {
          const ref = evaluate(prepared, world, { from: s.endpoint, to: dst.endpoint, protocol, port }).verdict;
          const egress = s.src.kind === 'pod' ? reader.egress(objs, s.src.pod, { kind: 'pod', pod: dst.pod }, protocol, port) : 'allowed';
          const got = egress === 'allowed' ? reader.ingress(objs, dst.pod, s.src, protocol, port) : egress;
          if (got !== ref) out.push({ from: s.name, to: dst.name, protocol, port, reference: ref, compiled: got });
        }
      }
    }
  }
  for (const src of localPods) {
    for (const s of sources) {
      if (s.src.kind !== 'address') continue;
      for (const protocol of PROTOCOLS) {
        for (const port of ports) {
          const got = reader.egress(objs, src.pod, { kind: 'address', ip: s.src.ip }, protocol, port);
          const ref = s.endpoint.kind === 'external' ? evaluate(prepared, world, { from: src.endpoint, to: s.endpoint, protocol, port }).verdict : 'allowed';
          if (got !== ref) out.push({ from: src.name, to: `${s.name} (egress)`, protocol, port, reference: ref, compiled: got });
        }
      }
    }
  }
  return out;
}
