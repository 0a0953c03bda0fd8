// When the route plan's inputs may have changed, for the agent gateway: which registry changes
// can change them (and the address overlaps), and a watcher that compares the inputs, coalesced,
// and asks every reconciled Network to plan again only when they did change.
import type { Resource } from '../api/resources.ts';
import type { NetworkController } from './controllers/network-controller.ts';
import type { RegistryIntentSource } from './providers.ts';
import type { ResourceChange } from './registry-view.ts';

type IntentSourceNow = Pick<RegistryIntentSource, 'now'>;

/** The kinds a route plan is made of (with the exports). */
const PLAN_KINDS = new Set(['Network', 'Cluster', 'IPPool', 'ExternalService']);

/**
 * Whether a registry change can change a route plan's inputs: a resource of a plan kind came, went,
 * or changed its labels, spec, allocations (a Cluster's allocated CIDRs are in its status) or the
 * prefixes a provider observed (a Network's status.observedPrefixes, which overlaps are checked
 * against too). A status write of conditions only — liveness after heartbeats, a Network's own
 * reconcile result — cannot: at 1,000 clusters those came several times a second, and each made the watcher build and
 * compare every input (every export), which held the hub's event loop for hundreds of milliseconds.
 */
export function changesPlanInputs(c: ResourceChange): boolean {
  if (!PLAN_KINDS.has(c.kind)) return false;
  if (c.before === undefined || c.after === undefined) return true;
  const planned = (r: Resource): string => {
    const status = r.status as { allocated?: unknown; observedPrefixes?: unknown } | undefined;
    return JSON.stringify([r.metadata.labels ?? null, r.spec, status?.allocated ?? null, status?.observedPrefixes ?? null]);
  };
  return planned(c.before) !== planned(c.after);
}

/**
 * How long changes of the plan's inputs gather before they are compared: building them reads every
 * export, so doing it on each flush of endpoint churn cost the hub a third of a core at 100
 * clusters (bench profile); provider reconciles are not on the exchange's latency path.
 */
const PLAN_INPUTS_COALESCE_MS = 500;

/**
 * Called on every change of a plan's inputs: adds every reconciled Network when what they plan from
 * changed. Status writes (the controller's own echoes, heartbeats) and endpoint churn change no
 * input, so they reconcile nothing. A hub with no such Network compares nothing.
 */
export function planInputsWatcher({ intents, networks }: { readonly intents: IntentSourceNow; readonly networks: NetworkController }): () => void {
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    timer = undefined;
    if (networks.keys().length === 0) return;
    const now = JSON.stringify(intents.now());
    if (now === last) return;
    last = now;
    networks.changedAll();
  };
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(check, PLAN_INPUTS_COALESCE_MS);
    timer.unref();
  };
}
