// Cloud enforcement (issue 10 §2): which sources of one consuming cluster GlobalPolicy lets reach a
// global service on one port, as the cloud firewalls on the path (AWS security groups, GCP firewall
// rules) can say it. Those are allow-only rules over addresses, so the answer is one of three:
// the whole cluster (its pod CIDRs: every pod the hub knows is allowed, and so is a pod it does not
// know yet), the addresses of the pods that are allowed, or nothing (no opening at all). A cloud rule
// is a second line: it is never wider than the cluster's pod CIDRs, and narrower wherever policy
// says so; the compiled NetworkPolicies at the destination stay exact. Pure.
import { evaluate, prepare, type Prepared } from './evaluate.ts';
import type { Endpoint, Policy, Protocol, Workload, World } from './model.ts';

/** What may pass a cloud firewall from one cluster towards one service port. */
export type CloudSources = { readonly kind: 'cluster' } | { readonly kind: 'addresses'; readonly addresses: readonly string[] };

/** Answers per (consumer cluster, service, protocol, port), deciding pods of one namespace and label set once. */
export type CloudNarrowing = (
  consumer: string,
  service: { readonly namespace: string; readonly name: string },
  protocol: Protocol,
  port: number,
) => CloudSources;

/**
 * The narrowing for `policies` over `world`. A pod the hub has not heard of is judged as a pod of
 * its cluster in no known namespace and with no labels: what the rules on the cluster alone give
 * it. Unknown pods are then covered only by a whole-cluster answer, so they fail closed wherever
 * any known pod of the cluster is denied.
 */
export function cloudNarrowing(policies: readonly Policy[], world: World): CloudNarrowing {
  const prepared: Prepared = prepare(policies, world);
  const pods = new Map<string, Workload[]>();
  for (const w of world.workloads) {
    const list = pods.get(w.cluster) ?? [];
    list.push(w);
    pods.set(w.cluster, list);
  }
  const memo = new Map<string, CloudSources>();
  return (consumer, service, protocol, port) => {
    const key = `${consumer} ${service.namespace}/${service.name} ${protocol}/${port}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const decided = new Map<string, boolean>();
    const allowed = (from: Endpoint & { kind: 'workload' }): boolean => {
      const k = `${from.namespace} ${JSON.stringify(Object.entries(from.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
      let v = decided.get(k);
      if (v === undefined) {
        v = evaluate(prepared, world, { from, to: { kind: 'service', ...service }, protocol, port }).verdict === 'allowed';
        decided.set(k, v);
      }
      return v;
    };
    const mine = pods.get(consumer) ?? [];
    const addresses: string[] = [];
    let all = true;
    for (const w of mine) {
      if (allowed({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels })) addresses.push(...w.ips);
      else all = false;
    }
    const stranger = allowed({ kind: 'workload', cluster: consumer, namespace: '', labels: {} });
    const answer: CloudSources = all && stranger ? { kind: 'cluster' } : { kind: 'addresses', addresses: [...new Set(addresses)].sort() };
    memo.set(key, answer);
    return answer;
  };
}
