// View delivery, the decisions (ADR 0018): which messages bring one cluster's view in the stream
// from what it holds (`observed`: subject → digest of the value there, '' for a removal) to what
// the service model says (`changes`). Pure. A value already there is not written again, so a new
// leader that finds the stream as its predecessor left it writes nothing, and agents re-apply
// nothing.
import { parseServiceKey, type ExportStatus, type ImportState } from '../../api/messages.ts';
import { parseViewSubject } from '../../api/subjects.ts';
import { digestOf, importMessages, revisionMessage, statusMessages, type Digest, type ViewMessage } from '../../api/view-entries.ts';

/** One entry's value now: undefined means it must not be in the view. */
export type EntryChange =
  | { readonly kind: 'import'; readonly key: string; readonly value: ImportState | undefined }
  | { readonly kind: 'status'; readonly key: string; readonly value: ExportStatus | undefined };

export interface ViewWrites {
  /** Subject filters to purge before the messages (the parts of values whose part count changes). */
  readonly purges: readonly string[];
  /** In order; the revision message last, when anything else is written or the view has none yet. */
  readonly messages: readonly ViewMessage[];
}

/** Observed per cluster: subject → digest. */
export type ObservedView = Map<string, string>;

export function planViewWrites(
  cluster: string,
  changes: Iterable<EntryChange>,
  observed: ReadonlyMap<string, string>,
  revision: number,
  options: { readonly digest: Digest; readonly maxBytes?: number; readonly revisionObserved?: number | undefined },
): ViewWrites {
  const purges: string[] = [];
  const messages: ViewMessage[] = [];
  for (const change of changes) {
    const key = parseServiceKey(change.key);
    const entry =
      change.kind === 'import'
        ? importMessages(cluster, key, change.value, options.digest, options.maxBytes)
        : statusMessages(cluster, key, change.value, options.digest);
    const head = entry.at(-1);
    if (head === undefined) continue;
    const there = observed.get(head.subject);
    const want = digestOf(head.headers);
    // A removal of what is not there, or the value already there: nothing to write.
    if (there === want || (want === '' && there === undefined)) continue;
    // Stale parts of the old value would outlive it (parts have their own subjects).
    if (entry.length > 1 || observed.has(`${head.subject}.1`)) purges.push(`${head.subject}.*`);
    messages.push(...entry);
  }
  // A change that writes nothing for this view leaves its revision as it was: what was applied is still all of it.
  if (messages.length > 0 || options.revisionObserved === undefined) {
    messages.push(revisionMessage(cluster, revision));
  }
  return { purges, messages };
}

/**
 * Every entry of the view, for a full comparison (a new term, reachability changed): the model's
 * whole desired state, and a removal for every entry the stream holds that the model has not.
 */
export function fullViewChanges(
  desired: { readonly imports: readonly ImportState[]; readonly statuses: readonly ExportStatus[] },
  observed: ReadonlyMap<string, string>,
): EntryChange[] {
  const changes: EntryChange[] = [];
  const wanted = new Set<string>();
  for (const s of desired.imports) {
    const key = `${s.namespace}/${s.name}`;
    wanted.add(`import ${key}`);
    changes.push({ kind: 'import', key, value: s });
  }
  for (const s of desired.statuses) {
    const key = `${s.namespace}/${s.name}`;
    wanted.add(`status ${key}`);
    changes.push({ kind: 'status', key, value: s });
  }
  for (const [subject, digest] of observed) {
    if (digest === '') continue;
    const p = parseViewSubject(subject);
    if (p === undefined || p.kind === 'revision' || p.part !== 0) continue;
    const key = `${p.namespace}/${p.name}`;
    if (wanted.has(`${p.kind} ${key}`)) continue;
    changes.push(p.kind === 'import' ? { kind: 'import', key, value: undefined } : { kind: 'status', key, value: undefined });
  }
  return changes;
}

/** What a view holds after `writes` were stored: updates `observed` in place. */
export function applyViewWrites(observed: ObservedView, writes: ViewWrites): void {
  for (const filter of writes.purges) {
    const prefix = filter.slice(0, -1);
    for (const subject of [...observed.keys()]) if (subject.startsWith(prefix)) observed.delete(subject);
  }
  for (const m of writes.messages) observed.set(m.subject, digestOf(m.headers));
}
