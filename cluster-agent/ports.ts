// The two ports the agent's logic (agent.ts) runs against: its cluster's Kubernetes API and the
// hub's NATS subjects. Adapters: kube-cluster.ts and nats-transport.ts; in memory:
// memory-cluster.ts (benchmarks, unit tests). Every I/O call takes an AbortSignal.
import { NotFoundError } from '../controlplane/api/errors.ts';
import type {
  ClusterPolicyMessage,
  ClusterSettings,
  Heartbeat,
  ImportBatch,
  PolicyRequest,
  Report,
  ReportReply,
  ServiceKey,
  SettingsRequest,
  SyncRequest,
  Workloads,
} from '../controlplane/api/messages.ts';
import type { EndpointSliceObject, KubeObject, NamespaceObject, ObjectRef, PodObject, ServiceExportObject, ServiceObject } from './objects.ts';

/** What the Kubernetes side tells the agent; payloads are keys only (the agent re-reads the caches). */
export interface ClusterEvents {
  /** The ServiceExport, Service or one of the EndpointSlices of this service changed (or went). */
  exportChanged(key: ServiceKey): void;
  /** Routing-relevant labels of some node changed: exports with endpoints on it may differ. */
  nodesChanged(): void;
  /** A Namespace or Pod changed (or went): what the workloads report holds may differ. */
  workloadsChanged?(): void;
  /** Whether every watch is running; false while one is being restarted. */
  healthChanged(healthy: boolean, message: string): void;
}

export interface ClusterPort {
  /** Starts the watches; resolves once every cache has listed once. */
  start(events: ClusterEvents, signal: AbortSignal): Promise<void>;
  /** Cached reads, as plain JSON. */
  serviceExports(): ServiceExportObject[];
  serviceExport(key: ServiceKey): ServiceExportObject | undefined;
  service(key: ServiceKey): ServiceObject | undefined;
  /** The slices labelled `kubernetes.io/service-name=<name>` in the namespace, except ours. */
  endpointSlices(key: ServiceKey): EndpointSliceObject[];
  nodeLabels(nodeName: string): Readonly<Record<string, string>> | undefined;
  /** Every Namespace and every Pod (cached), for the workloads report; a port without them reports no workloads. */
  namespaces?(): NamespaceObject[];
  pods?(): PodObject[];

  /** A live read; undefined when absent; KindNotServedError when the cluster serves no such kind. */
  get(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined>;
  /** Server-side apply of the main resource with the agent's field manager, forced. */
  apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject>;
  /** Server-side apply of the status subresource, same manager; NotFoundError when absent. */
  applyStatus(object: KubeObject, signal: AbortSignal): Promise<KubeObject>;
  /** Deletes only the object with this uid (precondition); absent is success. */
  delete(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void>;
  /** Every ServiceImport and EndpointSlice carrying the ownership label (IPAddressPools are the settings controller's, read by name). */
  listOwned(signal: AbortSignal): Promise<KubeObject[]>;
  /**
   * Every object of every policy kind the cluster serves (NetworkPolicy, and the network-policy-api
   * kinds: objects.ts FORMAT_KINDS) carrying the ownership label: the policy controller's, kept
   * apart from the imports'. A port without it applies no policy.
   */
  listOwnedPolicies?(signal: AbortSignal): Promise<KubeObject[]>;
  stop(): Promise<void>;
}

/**
 * The API server serves no such kind at all (a 404 on the resource, not on an object): its CRD is
 * not installed, e.g. MetalLB's IPAddressPool on a cluster without MetalLB.
 */
export class KindNotServedError extends NotFoundError {}

export const ConnectionState = { Connected: 'connected', Disconnected: 'disconnected', Reconnected: 'reconnected' } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export interface TransportEvents {
  /** A validated ImportBatch for this cluster, pushed by the hub (or a later chunk of a sync reply). */
  imports(batch: ImportBatch): void;
  /** Validated ClusterSettings for this cluster, pushed by the hub when they change. */
  settings?(settings: ClusterSettings): void;
  /** A validated part of this cluster's compiled policy, pushed by the hub (ADR 0017). */
  policy?(policy: ClusterPolicyMessage): void;
  connection(state: ConnectionState): void;
}

export interface HubTransport {
  /** Connects (in the background: the agent serves its cluster without the hub) and subscribes. */
  start(events: TransportEvents, signal: AbortSignal): Promise<void>;
  connected(): boolean;
  /** Request/reply; rejects on timeout, no responder, or a malformed reply. */
  report(report: Report, signal: AbortSignal): Promise<ReportReply>;
  /** Fire and forget; dropped while disconnected. */
  heartbeat(heartbeat: Heartbeat): void;
  /**
   * Request/reply with one or more replies (the chunks of one batch); resolves with what arrived
   * on the reply subject. Chunks the hub publishes on the imports subject instead arrive through
   * `TransportEvents.imports`.
   */
  sync(request: SyncRequest, signal: AbortSignal): Promise<ImportBatch[]>;
  /** Request/reply: the cluster's settings; rejects on timeout, no responder, or a malformed reply. */
  settings(request: SettingsRequest, signal: AbortSignal): Promise<ClusterSettings>;
  /** Request/reply: the cluster's namespaces and pods (one part); rejects on timeout, no responder, or a malformed reply. */
  workloads?(workloads: Workloads, signal: AbortSignal): Promise<ReportReply>;
  /** Fire and forget: asks the hub's leader to send the cluster's policy snapshot (it arrives through TransportEvents.policy). */
  requestPolicy?(request: PolicyRequest): void;
  close(): Promise<void>;
}
