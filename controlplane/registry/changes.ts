// The vocabulary of a registry write: who writes, in which mode, what each change did, and the
// history record it leaves. Shared by the registry, its planner, the HTTP edge and the CLI.
import type { Kind } from '../api/kinds.ts';
import type { ObjectRef } from '../api/keys.ts';
import type { Resource } from '../api/resources.ts';
import type { Source } from '../api/validate.ts';
import type { SerialQueue } from '../kernel/async.ts';

export interface Actor {
  readonly name: string;
  readonly role: string;
  /** A team's namespaces (the hub's Principal carries them): what its tenant policies may select. */
  readonly namespaces?: readonly string[];
}

export const WriteMode = { apply: 'apply', create: 'create', update: 'update' } as const;
export type WriteMode = (typeof WriteMode)[keyof typeof WriteMode];

export const Action = { created: 'created', updated: 'updated', deleted: 'deleted', unchanged: 'unchanged' } as const;
export type Action = (typeof Action)[keyof typeof Action];

export interface Declared {
  readonly resource: Resource;
  readonly source?: Source;
}

export interface ChangeResult {
  readonly ref: ObjectRef;
  readonly action: Action;
  readonly before?: Resource | undefined;
  readonly after?: Resource | undefined;
}

export interface WriteResult {
  /** The revision the change was written at; the current revision for a dry run or no-op. */
  readonly revision: number;
  readonly dryRun: boolean;
  readonly changes: readonly ChangeResult[];
}

export interface HistoryChange {
  readonly kind: Kind;
  readonly namespace?: string;
  readonly name: string;
  readonly action: Action;
  readonly before?: Resource;
  readonly after?: Resource;
}

export interface HistoryEntry {
  readonly revision: number;
  readonly seq: number;
  readonly time: string;
  readonly actor: Actor;
  readonly operation: 'apply' | 'create' | 'update' | 'delete' | 'rollback' | CredentialOperation;
  readonly rollbackTo?: number;
  /** Empty for a credential hand-out: it declares nothing, so a rollback passes over it. */
  readonly changes: readonly HistoryChange[];
  /** For a credential operation: whose, and which user key (never the seed or the .creds). */
  readonly credential?: { readonly cluster: string; readonly publicKey: string };
}

/** An agent credential created, handed out again, or replaced (the old key revoked). */
export type CredentialOperation = 'issue-credentials' | 'get-credentials' | 'rotate-credentials' | 'renew-credentials';

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Resource;
}

export interface WriteOptions {
  readonly dryRun?: boolean;
  /** Called for every change that would be written, before writing; throws to refuse all. */
  readonly authorize?: (change: ChangeResult) => void;
  /**
   * Whether the actor may read an object (all, when not given). What it may not read is absent
   * to it, and refusals say nothing about it.
   */
  readonly visible?: (r: Resource) => boolean;
}

export interface RegistryOptions {
  readonly now?: () => Date;
  readonly newUid?: () => string;
  /** Attempts when another writer moved the head between our read and our write. */
  readonly maxAttempts?: number;
  /** How long a block released by a deleted cluster stays out of use; default 10 minutes. */
  readonly blockQuarantineMs?: number;
  /**
   * The queue this process's writers of the audit history share (declarations here, credential
   * hand-outs in the hub's CredentialStore): each compares the history's head, so writers racing
   * in one process would only make each other retry. Default: the registry's own.
   */
  readonly historyWrites?: SerialQueue;
}
