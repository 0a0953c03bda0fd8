// Refusals that would describe objects the actor may not read (issue 12 §3): a problem across the
// set that involves such an object is rewritten about the actor's own object alone, e.g. "overlaps
// a range you may not see", without the other object's name or ranges.
import { cidrsOverlap } from '../api/cidr.ts';
import type { Problem } from '../api/errors.ts';
import type { Resource } from '../api/resources.ts';
import { effectiveCidrs, type SetProblem } from '../api/semantic.ts';
import type { Source } from '../api/validate.ts';

export function redactHidden(
  problems: readonly SetProblem[],
  objects: ReadonlyMap<string, Resource>,
  sources: ReadonlyMap<string, Source>,
  visible: (r: Resource) => boolean,
): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const { involves, ...problem } of problems) {
    const hidden = involves.map((ref) => objects.get(ref)).filter((r): r is Resource => r !== undefined && !visible(r));
    if (hidden.length === 0) {
      out.push(problem);
      continue;
    }
    const ownRef = involves.find((ref) => {
      const r = objects.get(ref);
      return r !== undefined && visible(r);
    });
    const own = ownRef === undefined ? undefined : objects.get(ownRef);
    if (own === undefined || ownRef === undefined) continue;
    for (const p of describeOwn(own, hidden, sources.get(ownRef) ?? {})) {
      const key = `${p.name ?? ''} ${p.field} ${p.message}`;
      if (!seen.has(key)) out.push(p);
      seen.add(key);
    }
  }
  return out;
}

/** The actor's side of a conflict with hidden objects: its own ranges that overlap theirs. */
function describeOwn(own: Resource, hidden: readonly Resource[], src: Source): Problem[] {
  const where = {
    ...(src.file !== undefined ? { file: src.file } : {}),
    ...(src.document !== undefined ? { document: src.document } : {}),
    kind: own.kind,
    name: own.metadata.namespace !== undefined ? `${own.metadata.namespace}/${own.metadata.name}` : own.metadata.name,
  };
  const at = (field: string): string => (src.path !== undefined ? `${src.path}.${field}` : field);
  const theirs = hidden.flatMap(rangesOf).map((c) => c.cidr);
  const problems = rangesOf(own)
    .filter((c) => theirs.some((t) => cidrsOverlap(c.cidr, t)))
    .map((c) => ({
      ...where,
      field: at(c.field),
      value: c.cidr,
      message: `${c.cidr} overlaps a range you may not see; pick another range or set spec.ipam to have the hub allocate one`,
    }));
  return problems.length > 0 ? problems : [{ ...where, field: '', message: 'conflicts with an object you may not see' }];
}

function rangesOf(r: Resource): { field: string; cidr: string }[] {
  if (r.kind === 'Cluster') {
    const { pod, service } = effectiveCidrs(r);
    return [...pod.map((cidr, i) => ({ field: `spec.podCIDRs[${i}]`, cidr })), ...service.map((cidr, i) => ({ field: `spec.serviceCIDRs[${i}]`, cidr }))];
  }
  if (r.kind === 'IPPool') return r.spec.cidrs.map((cidr, i) => ({ field: `spec.cidrs[${i}]`, cidr }));
  return [];
}
