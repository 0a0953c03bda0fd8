// Compiled policy to the agents (issue 10 §2; ADR 0017). The leader's policy controller compiles
// each cluster (policy-controller.ts); this publishes the result on the cluster's own subject,
// `causeway.v1.cluster.<cluster>.policy`, as a complete snapshot (in parts when large) whenever
// the objects changed, and again when the cluster's agent asks (`policy-request` on
// `causeway.v1.agent.<cluster>.policy`: at its start and after a reconnect). Only the leader
// publishes and answers: the snapshot is its compile, and its memory of the last good one.
//
// Snapshots are ordered by (term, seq): the term is the leadership term's election-key revision,
// which every later leader's exceeds, and seq counts this term's snapshots of the cluster. A
// refused compile is never a snapshot unless this term holds an earlier good one (whose objects
// the controller keeps): a new leader whose first compile of a cluster is refused publishes
// nothing, and the agent keeps what it applied rather than deleting it.
import { isDeepStrictEqual } from 'node:util';
import {
  PROTOCOL_VERSION,
  MAX_MESSAGE_BYTES,
  clusterPolicyCodec,
  encodedSize,
  policyRequestCodec,
  type ClusterPolicyMessage,
  type PolicyObject,
} from '../api/messages.ts';
import { packBySize } from '../api/pack.ts';
import { ClusterSubjectKind, clusterSubject, parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import type { CompiledObject } from '../policy/compile/index.ts';
import type { ClusterPolicy } from './policy-controller.ts';

export interface PolicyDeliveryDeps {
  readonly bus: Pick<Bus, 'publish'>;
  /** The current leadership term's number (the election key's mod revision); read when a term starts. */
  readonly term: () => number;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  /** Bytes per message part; default the protocol's limit less room for the envelope. */
  readonly maxPartBytes?: number;
}

/** What one cluster's agent was last sent in this term. */
interface Sent {
  readonly seq: number;
  readonly format: string;
  readonly objects: readonly PolicyObject[];
}

const ENVELOPE_BYTES = 1024;

/** The wire form of compiled objects (pure). */
export function policyObjects(objects: readonly CompiledObject[]): PolicyObject[] {
  return objects.map((o) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
      labels: { ...o.metadata.labels },
      annotations: { ...o.metadata.annotations },
    },
    specJson: JSON.stringify(o.spec ?? {}),
  }));
}

/** A snapshot as messages under `maxBytes` each: one part per message, every part of one (term, seq). */
export function snapshotParts(cluster: string, term: number, sent: Sent, maxBytes: number): ClusterPolicyMessage[] {
  const parts = packBySize(sent.objects, encodedSize, { maxBytes, baseBytes: ENVELOPE_BYTES });
  return parts.map((objects, index) => ({
    v: PROTOCOL_VERSION,
    cluster,
    term,
    seq: sent.seq,
    format: sent.format,
    ...(parts.length > 1 ? { part: { index, count: parts.length } } : {}),
    objects,
  }));
}

export class PolicyDelivery {
  private readonly deps: PolicyDeliveryDeps;
  private leading: { readonly term: number; readonly signal: AbortSignal } | undefined;
  /** This term's last snapshot per cluster (a new term starts from none and publishes each once). */
  private sent = new Map<string, Sent>();

  constructor(deps: PolicyDeliveryDeps) {
    this.deps = deps;
  }

  /** Publishes for the term whose signal this is; a new term forgets what the last one sent. */
  lead(signal: AbortSignal): Promise<void> {
    this.sent = new Map();
    const leading = { term: this.deps.term(), signal };
    this.leading = leading;
    return new Promise((resolve) => {
      const end = (): void => {
        if (this.leading === leading) this.leading = undefined;
        resolve();
      };
      if (signal.aborted) end();
      else signal.addEventListener('abort', end, { once: true });
    });
  }

  /** The policy controller compiled a cluster (leader only; called after every compile). */
  compiled(cluster: string, result: ClusterPolicy): void {
    const leading = this.leading;
    if (leading === undefined || leading.signal.aborted) return;
    const before = this.sent.get(cluster);
    // Refused with nothing good compiled this term: the agent keeps what it has.
    if (!result.current && before === undefined) return;
    const objects = policyObjects(result.objects);
    if (before !== undefined && before.format === result.format && isDeepStrictEqual(before.objects, objects)) return;
    const next: Sent = { seq: (before?.seq ?? 0) + 1, format: result.format, objects };
    this.sent.set(cluster, next);
    this.publish(cluster, leading.term, next, 'published');
  }

  /** A cluster is gone: nothing more is sent to it. */
  forget(cluster: string): void {
    this.sent.delete(cluster);
  }

  /** An agent asks for its snapshot: the leader sends it again on the cluster's subject (others ignore the request). */
  handleRequest(msg: BusMessage): void {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = policyRequestCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.count('policy', `rejected_${decoded.reason.replace('-', '_')}`);
      this.deps.warn({ cluster: from, reason: decoded.reason, error: decoded.message }, 'rejected policy request');
      return;
    }
    const leading = this.leading;
    if (leading === undefined || leading.signal.aborted) return;
    const sent = this.sent.get(decoded.value.cluster);
    // Not compiled yet this term (or only refused): no answer; the agent asks again.
    if (sent === undefined) {
      this.deps.count('policy', 'request_pending');
      return;
    }
    this.publish(decoded.value.cluster, leading.term, sent, 'resent');
  }

  private publish(cluster: string, term: number, sent: Sent, result: string): void {
    const subject = clusterSubject(cluster, ClusterSubjectKind.Policy);
    const parts = snapshotParts(cluster, term, sent, this.deps.maxPartBytes ?? MAX_MESSAGE_BYTES - ENVELOPE_BYTES);
    for (const p of parts) {
      const bytes = clusterPolicyCodec.encode(p);
      if (bytes.byteLength > MAX_MESSAGE_BYTES) {
        // One object larger than a message (the compiler bounds them; this is a guard, not a path).
        this.deps.warn({ cluster, bytes: bytes.byteLength }, 'a compiled policy object does not fit in a message; not sent');
        this.deps.count('policy', 'oversized');
        return;
      }
    }
    for (const p of parts) this.deps.bus.publish(subject, clusterPolicyCodec.encode(p));
    this.deps.count('policy', result);
  }
}
