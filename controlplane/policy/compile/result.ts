// What every compiler returns: the objects for one cluster (any format's kinds, namespaced or
// cluster-scoped) or none and the problems that say why, plus the labels and annotations every
// compiled object carries and the small helpers the compilers share to report and sort.
import { ProblemCode, type Problem } from '../model.ts';

export const COMPILED_LABEL = 'causeway.dev/compiled-from';
export const COMPILED_VALUE = 'globalpolicy';
/** The policies whose rules shaped the object, `namespace/name` comma-separated. */
export const POLICIES_ANNOTATION = 'causeway.dev/policies';
/** Set by the API server on every Namespace (Kubernetes 1.21+): selecting namespaces by name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface CompiledObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    /** Absent for cluster-scoped kinds. */
    readonly namespace?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly spec: unknown;
}

export interface CompileResult {
  /** Sorted by kind, namespace and name; empty whenever a problem is an error (refused). */
  readonly objects: readonly CompiledObject[];
  readonly problems: readonly Problem[];
}

export function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.code}|${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A refusal for the whole cluster, naming the rule. */
export function inexpressible(cluster: string, message: string, policies: readonly string[] = [], rule?: number | 'default-deny'): Problem {
  return {
    severity: 'error',
    code: ProblemCode.Inexpressible,
    cluster,
    ...(policies.length > 0 ? { policies: [...new Set(policies)].sort() } : {}),
    ...(rule === undefined ? {} : { rule }),
    message,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Exact or refused: any error drops every object. Objects sorted by kind, namespace and name. */
export function finish(objects: readonly CompiledObject[], problems: readonly Problem[]): CompileResult {
  const all = dedupe(problems);
  if (all.some((p) => p.severity === 'error')) return { objects: [], problems: all };
  const sorted = [...objects].sort(
    (a, b) => compare(a.kind, b.kind) || compare(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || compare(a.metadata.name, b.metadata.name),
  );
  return { objects: sorted, problems: all };
}

/** The metadata every compiled object carries. */
export function compiledMetadata(name: string, policies: Iterable<string>, namespace?: string): CompiledObject['metadata'] {
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: { [COMPILED_LABEL]: COMPILED_VALUE },
    annotations: { [POLICIES_ANNOTATION]: [...new Set(policies)].sort().join(',') },
  };
}
