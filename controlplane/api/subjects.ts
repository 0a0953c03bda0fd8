// WARNING - STABLE API: changing these names breaks running agents and upgrades.
//
// Owns the NATS subject names the hub and the agents talk on, and the permission set an agent of
// one cluster gets in its user JWT. Pure data: the NATS server enforces these lists (the identity
// module signs them into each agent's credentials), and in-tree fakes can enforce the same lists
// with `subjectMatches`.
import { InvalidInputError } from './errors.ts';

/** Every Causeway subject starts with this; the version bumps only with a migration plan. */
export const SUBJECT_ROOT = 'causeway.v1';

/** What an agent sends to the hub, on `causeway.v1.agent.<cluster>.<kind>`. */
export const AgentSubjectKind = {
  Report: 'report',
  Heartbeat: 'heartbeat',
  Sync: 'sync',
  /** Asks for the credential's JWT to be signed again before it expires (messages.ts RenewRequest). */
  Renew: 'renew',
  /** Asks for the cluster's settings (messages.ts SettingsRequest → ClusterSettings), at start and resync. */
  Settings: 'settings',
  /** The cluster's namespaces and pods (messages.ts Workloads), complete, whenever they change. */
  Workloads: 'workloads',
  /** Asks for the cluster's compiled policy (messages.ts PolicyRequest), answered on the cluster's policy subject. */
  Policy: 'policy',
} as const;
export type AgentSubjectKind = (typeof AgentSubjectKind)[keyof typeof AgentSubjectKind];

/** What the hub sends to one cluster's agent, on `causeway.v1.cluster.<cluster>.<kind>`. */
export const ClusterSubjectKind = {
  /** Import batches (messages.ts ImportBatch): what the cluster must import, per revision. */
  Imports: 'imports',
  /** The cluster's settings (messages.ts ClusterSettings: its LoadBalancer block), whenever they change. */
  Settings: 'settings',
  /** The cluster's compiled policy (messages.ts ClusterPolicyMessage), whenever it changes and when asked. */
  Policy: 'policy',
} as const;
export type ClusterSubjectKind = (typeof ClusterSubjectKind)[keyof typeof ClusterSubjectKind];

/** The hub listens to every agent with this one wildcard. */
export const ALL_AGENT_SUBJECTS = `${SUBJECT_ROOT}.agent.*.>`;

const MAX_CLUSTER_NAME = 63;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Cluster names become one subject token, so they must hold no `.`, `*`, `>` or whitespace.
 * Kubernetes DNS-1123 labels never do, which is why we require one.
 */
/** True for what assertClusterName accepts: the one definition of a cluster token, for builders and parsers alike. */
export function isClusterName(cluster: string): boolean {
  return cluster.length > 0 && cluster.length <= MAX_CLUSTER_NAME && DNS1123_LABEL.test(cluster);
}

export function assertClusterName(cluster: string): void {
  let message: string | undefined;
  if (cluster.length === 0) message = 'cluster name is empty';
  else if (cluster.length > MAX_CLUSTER_NAME) message = `cluster name is ${cluster.length} characters; at most ${MAX_CLUSTER_NAME} are allowed`;
  else if (!DNS1123_LABEL.test(cluster)) {
    message = 'cluster name must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit (e.g. "aws-eu-1")';
  }
  if (message !== undefined) {
    throw new InvalidInputError([{ kind: 'Cluster', field: 'metadata.name', value: cluster, message }]);
  }
}

/** `causeway.v1.agent.<cluster>.<kind>`: an agent publishes here, the hub subscribes. */
export function agentSubject(cluster: string, kind: AgentSubjectKind): string {
  return `${agentSubjectPrefix(cluster)}.${kind}`;
}

/** `causeway.v1.agent.<cluster>.>`: everything one agent may publish. */
export function agentSubjects(cluster: string): string {
  return `${agentSubjectPrefix(cluster)}.>`;
}

/** `causeway.v1.cluster.<cluster>.<kind>`: the hub publishes here, that cluster's agent subscribes. */
export function clusterSubject(cluster: string, kind: ClusterSubjectKind): string {
  return `${clusterSubjectPrefix(cluster)}.${kind}`;
}

/** `causeway.v1.cluster.<cluster>.>`: everything one agent may subscribe to (besides its inbox). */
export function clusterSubjects(cluster: string): string {
  return `${clusterSubjectPrefix(cluster)}.>`;
}

/**
 * `_INBOX_<cluster>`: the agent's reply-inbox prefix (the client's `inboxPrefix` option). With the
 * default `_INBOX` every agent allowed to read its replies could read every other agent's.
 */
export function agentInboxPrefix(cluster: string): string {
  assertClusterName(cluster);
  return `_INBOX_${cluster}`;
}

/** Which cluster and kind an agent subject names; undefined for anything else. */
export function parseAgentSubject(subject: string): { readonly cluster: string; readonly kind: string } | undefined {
  const tokens = subject.split('.');
  if (tokens.length !== 5 || `${tokens[0]}.${tokens[1]}` !== SUBJECT_ROOT || tokens[2] !== 'agent') return undefined;
  const cluster = tokens[3];
  const kind = tokens[4];
  if (cluster === undefined || kind === undefined || kind === '' || !isClusterName(cluster)) return undefined;
  return { cluster, kind };
}

export interface SubjectPermission {
  readonly allow: readonly string[];
}

/** Lets a client publish one reply to the reply subject of each request it received. */
export interface ResponsePermission {
  readonly maxMessages: number;
  readonly ttlMs: number;
}

export interface SubjectPermissions {
  readonly pub: SubjectPermission;
  readonly sub: SubjectPermission;
  readonly resp: ResponsePermission;
}

// The server's own defaults for `allow_responses: true`: one reply, within two minutes.
const AGENT_RESPONSES: ResponsePermission = { maxMessages: 1, ttlMs: 120_000 };

/**
 * What an agent of `cluster` may do, and nothing else: publish its own agent subjects, subscribe
 * to its own cluster subjects and its own inbox, and answer requests. No JetStream API (`$JS.>`):
 * a user that may create consumers can point a push consumer's deliver subject at another
 * agent's subject and the server does not check it.
 */
export function agentPermissions(cluster: string): SubjectPermissions {
  return {
    pub: { allow: [agentSubjects(cluster)] },
    sub: { allow: [clusterSubjects(cluster), `${agentInboxPrefix(cluster)}.>`] },
    resp: AGENT_RESPONSES,
  };
}

/**
 * NATS subject matching: `*` matches one token, a trailing `>` one or more. For fakes and for
 * checks; the server is what enforces.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return i === p.length - 1 && s.length > i;
    const have = s[i];
    if (have === undefined || have === '') return false;
    if (token !== '*' && token !== have) return false;
  }
  return p.length === s.length;
}

function agentSubjectPrefix(cluster: string): string {
  assertClusterName(cluster);
  return `${SUBJECT_ROOT}.agent.${cluster}`;
}

function clusterSubjectPrefix(cluster: string): string {
  assertClusterName(cluster);
  return `${SUBJECT_ROOT}.cluster.${cluster}`;
}
