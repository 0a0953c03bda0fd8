// The cluster's compiled policy (issue 10 §2; ADR 0017), pure: from the hub's snapshot to the
// objects to server-side apply and the owned objects to delete. Like the imports: every object
// written carries the ownership label; only objects carrying it are ever changed or deleted; an
// object of a wanted name without it is someone else's and left alone; deletes come only from a
// complete snapshot (every part of one (term, seq)). Only the kinds of the snapshot's format are
// applied (objects.ts, FORMAT_KINDS: NetworkPolicy, and the tiered formats' cluster-scoped kinds
// with it); objects of other kinds are named in the condition, never half-applied.
import { policySpec, type ClusterPolicyMessage, type PolicyObject } from '../../controlplane/api/messages.ts';
import { FORMAT_KINDS, OWNED_BY_LABEL, OWNED_BY_VALUE, apiVersionOf, policyKind, type KubeObject, type PolicyKindName } from '../objects.ts';

/** A complete snapshot: every part's objects, in order, with the stamp they share. */
export interface PolicySnapshot {
  readonly term: number;
  readonly seq: number;
  readonly format: string;
  readonly objects: readonly PolicyObject[];
}

/** (term, seq) order: true when `b` is newer than `a`. */
export function newerSnapshot(a: { term: number; seq: number } | undefined, b: { term: number; seq: number }): boolean {
  return a === undefined || b.term > a.term || (b.term === a.term && b.seq > a.seq);
}

/**
 * Gathers parts until one (term, seq) is complete. Parts of an older stamp than the newest seen
 * are dropped; a newer stamp starts over.
 */
export class SnapshotAssembler {
  private stamp: { term: number; seq: number; count: number } | undefined;
  private parts = new Map<number, ClusterPolicyMessage>();

  /** The snapshot once this part completes one, else undefined. */
  add(part: ClusterPolicyMessage): PolicySnapshot | undefined {
    const count = part.part?.count ?? 1;
    const index = part.part?.index ?? 0;
    if (index >= count) return undefined;
    const s = this.stamp;
    const same = s !== undefined && s.term === part.term && s.seq === part.seq;
    if (s !== undefined && !same && !newerSnapshot(s, part)) return undefined;
    if (!same) {
      this.stamp = { term: part.term, seq: part.seq, count };
      this.parts = new Map();
    } else if (s.count !== count) return undefined;
    this.parts.set(index, part);
    if (this.parts.size < count) return undefined;
    const ordered = [...this.parts.entries()].sort(([a], [b]) => a - b).map(([, p]) => p);
    this.parts = new Map();
    return { term: part.term, seq: part.seq, format: part.format, objects: ordered.flatMap((p) => p.objects) };
  }
}

export interface DesiredPolicies {
  readonly objects: readonly KubeObject[];
  /** `kind namespace/name` of objects the agent does not apply (another format's kinds). */
  readonly unsupported: readonly string[];
}

/** The objects to apply: those of the snapshot's format's kinds, stamped with the ownership label. */
export function desiredPolicies(snapshot: PolicySnapshot): DesiredPolicies {
  const objects: KubeObject[] = [];
  const unsupported: string[] = [];
  const kinds: readonly PolicyKindName[] = FORMAT_KINDS[snapshot.format] ?? [];
  for (const o of snapshot.objects) {
    const where = `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const k = policyKind(o.kind);
    if (k === undefined || !kinds.includes(k.kind) || o.apiVersion !== apiVersionOf(k) || (o.metadata.namespace !== undefined) !== k.namespaced) {
      unsupported.push(`${o.apiVersion} ${o.kind} ${where}`);
      continue;
    }
    objects.push({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: {
        name: o.metadata.name,
        ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
        labels: { ...(o.metadata.labels ?? {}), [OWNED_BY_LABEL]: OWNED_BY_VALUE },
        annotations: { ...(o.metadata.annotations ?? {}) },
      },
      spec: policySpec(o),
    });
  }
  return { objects, unsupported };
}

const idOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function sameContent(live: KubeObject, want: KubeObject): boolean {
  const has = (have: Record<string, string> | undefined, need: Record<string, string> | undefined): boolean =>
    Object.entries(need ?? {}).every(([k, v]) => have?.[k] === v);
  return (
    JSON.stringify(live.spec) === JSON.stringify(want.spec) &&
    has(live.metadata.labels, want.metadata.labels) &&
    has(live.metadata.annotations, want.metadata.annotations)
  );
}

export interface PolicyActions {
  readonly apply: readonly KubeObject[];
  readonly delete: readonly { readonly namespace: string; readonly name: string; readonly uid: string | undefined }[];
  /** Wanted names held by objects without our label: left alone. */
  readonly notOwned: readonly string[];
}

/**
 * What makes the cluster match a complete snapshot, for one kind (objects of one kind are told
 * apart by namespace and name), given the owned objects of that kind it holds and
 * (for names it does not own) what a live read found: apply what is missing or differs, delete
 * owned objects the snapshot does not name.
 */
export function planPolicies(desired: readonly KubeObject[], owned: readonly KubeObject[], unowned: ReadonlySet<string>): PolicyActions {
  const live = new Map(owned.map((o) => [idOf(o), o]));
  const wanted = new Set(desired.map(idOf));
  const apply: KubeObject[] = [];
  const notOwned: string[] = [];
  for (const d of desired) {
    const id = idOf(d);
    if (unowned.has(id)) {
      notOwned.push(id);
      continue;
    }
    const l = live.get(id);
    if (l === undefined || !sameContent(l, d)) apply.push(d);
  }
  const remove = owned
    .filter((o) => !wanted.has(idOf(o)) && o.metadata.labels?.[OWNED_BY_LABEL] === OWNED_BY_VALUE)
    .map((o) => ({ namespace: o.metadata.namespace ?? '', name: o.metadata.name, uid: o.metadata.uid }));
  return { apply, delete: remove, notOwned };
}

export const NETWORK_POLICY_CONDITION = 'NetworkPolicyApplied';
export const NetworkPolicyReason = {
  Applied: 'Applied',
  AwaitingSnapshot: 'AwaitingSnapshot',
  ApplyFailed: 'ApplyFailed',
  NotOwned: 'PolicyNotOwned',
  UnsupportedFormat: 'UnsupportedFormat',
} as const;
