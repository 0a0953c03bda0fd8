// Each cluster's settings for its agent (messages.ts ClusterSettings: today its LoadBalancer block,
// which the agent gives MetalLB). Two halves:
//
// - answering `settings-request` on `causeway.v1.agent.<cluster>.settings`: any replica (a queue
//   group), from its watch-fed registry view, for the requesting cluster only — the one the
//   subject (so nats-server's permissions) names, like report ingestion;
// - publishing `cluster-settings` on `causeway.v1.cluster.<cluster>.settings` whenever what the
//   agent would apply changed (a new, changed or released block): a controller keyed by cluster,
//   leader only, with the term's signal. Each term starts from nothing published, so a new leader
//   tells every cluster that holds a block once (the agent ignores what it already has).
//
// The message is built by cluster-settings-plan.ts (pure).
import { clusterSettingsCodec, settingsRequestCodec, type ClusterSettings } from '../api/messages.ts';
import type { ClusterResource } from '../api/resources.ts';
import { ClusterSubjectKind, clusterSubject, parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { Controller } from '../kernel/controller.ts';
import { clusterSettings, settingsChanged } from './cluster-settings-plan.ts';

export interface ClusterSettingsDeps {
  readonly bus: Pick<Bus, 'publish'>;
  readonly cluster: (name: string) => ClusterResource | undefined;
  readonly clusters: () => Iterable<ClusterResource>;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

export class ClusterSettingsController {
  private readonly deps: ClusterSettingsDeps;
  private readonly controller: Controller<string>;
  /** What this term published per cluster (the leader's memory only: a new term publishes again). */
  private published = new Map<string, ClusterSettings>();

  constructor(deps: ClusterSettingsDeps) {
    this.deps = deps;
    this.controller = new Controller<string>({
      name: 'cluster-settings',
      concurrency: 4,
      reconcile: (name, signal) => {
        this.reconcile(name, signal);
        return Promise.resolve(undefined);
      },
      resync: () => [...deps.clusters()].map((c) => c.metadata.name),
      onError: (name, err) => {
        deps.warn({ cluster: name, err }, 'publishing cluster settings failed; retrying');
      },
    });
  }

  /** A Cluster was created, changed or deleted (status writes included: the block lives in status). */
  clusterChanged(name: string): void {
    this.controller.add(name);
  }

  /** Publishes settings until `signal` (the leadership term's) aborts. */
  lead(signal: AbortSignal): Promise<void> {
    this.published = new Map();
    return this.controller.run(signal);
  }

  /** A settings request: answered by whichever replica gets it (no reply for an unknown cluster: the agent retries). */
  handleRequest(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = settingsRequestCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.count('settings', `rejected_${decoded.reason.replace('-', '_')}`);
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected settings request');
      return;
    }
    const cluster = this.deps.cluster(decoded.value.cluster);
    if (cluster === undefined) {
      // Not "no block": that answer would make the agent delete its pool. A cluster this replica
      // does not know yet (or any more) gets no answer, and asks again.
      this.deps.count('settings', 'rejected_unknown_cluster');
      return;
    }
    this.deps.count('settings', 'ok');
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, clusterSettingsCodec.encode(clusterSettings(cluster)));
  }

  private reconcile(name: string, signal: AbortSignal): void {
    const cluster = this.deps.cluster(name);
    if (cluster === undefined) {
      this.published.delete(name);
      return;
    }
    const next = clusterSettings(cluster);
    if (signal.aborted || !settingsChanged(this.published.get(name), next)) return;
    this.deps.bus.publish(clusterSubject(name, ClusterSubjectKind.Settings), clusterSettingsCodec.encode(next));
    this.deps.count('settings', 'published');
    this.published.set(name, next);
  }
}
