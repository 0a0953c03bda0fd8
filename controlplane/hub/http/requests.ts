// What every route needs from a request: the principal, the kind a URL names, the object it
// refers to, flags and numbers from the query, and the declared resources in a body; and how a
// write result looks on the wire. Also the audit of writes: one log line and one counter each.
import { z } from 'zod';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../../api/errors.ts';
import { refString, type ObjectRef } from '../../api/keys.ts';
import { API_VERSION, KINDS, resolveKind, type KindInfo } from '../../api/kinds.ts';
import type { Resource } from '../../api/resources.ts';
import { expandList, parseYamlDocuments, validateDocuments, type RawDocument } from '../../api/validate.ts';
import type { ChangeResult, WriteResult } from '../../registry/registry.ts';
import { withTeamDefaults, type Principal } from '../auth.ts';
import { API_PREFIX, type HubServerDeps } from './app.ts';
import { resultLabel } from './status.ts';

/** A query parameter as fastify parses it; absent when not given. */
export const queryValue = z.string().optional();

export const dryRunQuery = z.object({ dryRun: queryValue });

export function principalOf(request: { principal?: Principal | undefined }): Principal {
  if (request.principal === undefined) throw new ForbiddenError('no principal');
  return request.principal;
}

export function kindOf(word: string): KindInfo {
  const info = resolveKind(word);
  if (info === undefined) {
    throw new NotFoundError(
      `the server has no resource type "${word}"; known: ${Object.values(KINDS)
        .map((k) => k.plural)
        .join(', ')}`,
    );
  }
  return info;
}

export function refFrom(plural: string, name: string, namespace: string | undefined): ObjectRef {
  const info = kindOf(plural);
  if (info.namespaced && namespace === undefined)
    throw new NotFoundError(`${info.kind} is namespaced: use ${API_PREFIX}/namespaces/NAMESPACE/${info.plural}/${name}`);
  if (!info.namespaced && namespace !== undefined) throw new NotFoundError(`${info.kind} is not namespaced`);
  return { kind: info.kind, name, ...(namespace !== undefined ? { namespace } : {}) };
}

/** `?dryRun`, `?dryRun=true`, `?dryRun=1` are set; absent, `false` and `0` are not. */
export function flag(value: string | undefined): boolean {
  return value !== undefined && value !== 'false' && value !== '0';
}

export function positiveInt(v: string, field: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) {
    throw new InvalidInputError([{ field, value: v, message: 'expected a positive whole number' }]);
  }
  return Number(v);
}

export function mismatch(expected: string, got: string | undefined): InvalidInputError {
  return new InvalidInputError([{ field: '', message: `the body must be ${expected}`, ...(got !== undefined ? { value: got } : {}) }]);
}

const applyBodySchema = z.strictObject({
  documents: z
    .array(
      z.strictObject({
        source: z.strictObject({ file: z.string().max(4096).optional(), document: z.int().min(1).optional(), path: z.string().max(256).optional() }).optional(),
        object: z.unknown(),
      }),
    )
    .max(5000),
});

/**
 * Apply and diff bodies: `{documents: [{source, object}]}` as JSON, or YAML text. Parsed by hand
 * rather than by a route schema: the body is one of two shapes by content type, and its problems
 * are reported per document and field, as `causeway apply` shows them.
 */
export function declaredFrom(body: unknown): { resource: Resource; source: RawDocument['source'] }[] {
  let docs: RawDocument[];
  if (typeof body === 'string') {
    const parsed = parseYamlDocuments(body, 'request body');
    if (!parsed.ok) throw new InvalidInputError(parsed.problems);
    docs = parsed.value;
  } else {
    const parsed = applyBodySchema.safeParse(body ?? null);
    if (!parsed.success) {
      throw new InvalidInputError([
        { field: 'documents', message: 'expected {"documents": [{"source": {...}, "object": {...}}, ...]} or a YAML body (Content-Type: application/yaml)' },
      ]);
    }
    docs = parsed.data.documents.flatMap((d, i) => expandList({ source: { document: i + 1, ...stripUndefined(d.source ?? {}) }, object: d.object }));
  }
  if (docs.length === 0) throw new InvalidInputError([{ field: '', message: 'no documents to apply' }]);
  const v = validateDocuments(docs);
  if (!v.ok) throw new InvalidInputError(v.problems);
  return v.value;
}

/** The declared resources as `principal` means them: a team's defaults filled in (auth.ts, withTeamDefaults). */
export function declaredFor(principal: Principal, body: unknown): { resource: Resource; source: RawDocument['source'] }[] {
  return declaredFrom(body).map((d) => ({ ...d, resource: withTeamDefaults(principal, d.resource) }));
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export function resultView(result: WriteResult): Record<string, unknown> {
  return { apiVersion: API_VERSION, kind: 'ApplyResult', revision: result.revision, dryRun: result.dryRun, changes: result.changes.map(changeView) };
}

export function changeView(c: ChangeResult): Record<string, unknown> {
  return {
    kind: c.ref.kind,
    ...(c.ref.namespace !== undefined ? { namespace: c.ref.namespace } : {}),
    name: c.ref.name,
    action: c.action,
    ...(c.before !== undefined ? { before: c.before } : {}),
    ...(c.after !== undefined ? { after: c.after } : {}),
  };
}

/** Runs one registry write, counts its outcome, and writes the audit line when it changed anything. */
export async function audited(
  deps: Pick<HubServerDeps, 'metrics' | 'logger'>,
  operation: string,
  principal: Principal,
  dryRun: boolean,
  run: () => Promise<WriteResult>,
): Promise<WriteResult> {
  let result: WriteResult;
  try {
    result = await Promise.resolve().then(run);
  } catch (err) {
    deps.metrics.registryWrites.inc({ operation, result: resultLabel(err) });
    throw err;
  }
  const written = result.changes.filter((c) => c.action !== 'unchanged');
  deps.metrics.registryWrites.inc({ operation, result: dryRun ? 'dry_run' : written.length === 0 ? 'noop' : 'ok' });
  if (!dryRun && written.length > 0) {
    deps.logger.info(
      {
        audit: true,
        actor: principal.name,
        role: principal.role,
        operation,
        revision: result.revision,
        objects: written.map((c) => `${c.action} ${refString(c.ref)}`),
      },
      'registry changed',
    );
  }
  return result;
}
