// The ComputeApi port's firewall rules: every rule of the network read, and Causeway's allow rules
// inserted, replaced whole and deleted.
import type { ComputeApi, FirewallGcp, FirewallPermission, FirewallSpec } from './compute-api.ts';
import { lastSegment, strings, type ComputeCalls } from './compute-calls.ts';
import type { IFirewall } from './compute-sdk.ts';

export function firewallCalls(
  calls: ComputeCalls,
): Pick<ComputeApi, 'listFirewalls' | 'getFirewall' | 'insertFirewall' | 'replaceFirewall' | 'deleteFirewall'> {
  return {
    listFirewalls: (project, networkSelfLink, signal) =>
      calls
        .pages(`listing the firewall rules of ${lastSegment(networkSelfLink)} in project ${project}`, signal, (c, pageToken, o) =>
          c.firewalls.list({ project, ...calls.networkPage(networkSelfLink, pageToken) }, o),
        )
        .then((items) => items.map(firewall)),

    getFirewall: (project, name, signal) =>
      calls.read(`reading firewall rule ${name} of project ${project}`, signal, async (c, o) =>
        firewall((await c.firewalls.get({ project, firewall: name }, o))[0]),
      ),

    insertFirewall: (project, rule, signal) =>
      calls.mutate(`inserting firewall rule ${rule.name} in project ${project}`, signal, undefined, (c, o) =>
        c.firewalls.insert({ project, firewallResource: firewallResource(rule) }, o),
      ),

    // PUT, not PATCH: the client leaves empty lists out of a request, so a merge patch cannot clear
    // target tags someone added to Causeway's rule; a rule that is wholly Causeway's is replaced whole.
    replaceFirewall: (project, rule, signal) =>
      calls.mutate(`replacing firewall rule ${rule.name} in project ${project}`, signal, undefined, (c, o) =>
        c.firewalls.update({ project, firewall: rule.name, firewallResource: firewallResource(rule) }, o),
      ),

    deleteFirewall: (project, name, signal) =>
      calls.mutate(`deleting firewall rule ${name} in project ${project}`, signal, undefined, (c, o) => c.firewalls.delete({ project, firewall: name }, o)),
  };
}

function permissions(list: readonly { IPProtocol?: string | null; ports?: (string | null)[] | null }[] | null | undefined): FirewallPermission[] {
  return (list ?? []).map((a) => ({ protocol: (a.IPProtocol ?? '').toLowerCase(), ports: strings(a.ports) }));
}

function firewall(f: IFirewall): FirewallGcp {
  return {
    name: f.name ?? '',
    network: f.network ?? '',
    direction: f.direction === 'EGRESS' ? 'EGRESS' : 'INGRESS',
    priority: f.priority ?? 1000,
    sourceRanges: strings(f.sourceRanges),
    destinationRanges: strings(f.destinationRanges),
    allowed: permissions(f.allowed),
    denied: permissions(f.denied),
    description: f.description ?? '',
    disabled: f.disabled === true,
    sourceTags: strings(f.sourceTags),
    targetTags: strings(f.targetTags),
    sourceServiceAccounts: strings(f.sourceServiceAccounts),
    targetServiceAccounts: strings(f.targetServiceAccounts),
  };
}

function firewallResource(rule: FirewallSpec): IFirewall {
  return {
    name: rule.name,
    network: rule.network,
    direction: rule.direction,
    priority: rule.priority,
    sourceRanges: [...rule.sourceRanges],
    destinationRanges: [...rule.destinationRanges],
    allowed: rule.allowed.map((a) => ({ IPProtocol: a.protocol, ...(a.ports.length > 0 ? { ports: [...a.ports] } : {}) })),
    description: rule.description,
    disabled: false,
  };
}
