// HTTP properties against a real hub (real etcd and nats-server, started by test/harness/):
// hostile and valid bodies POSTed and PUT to apply, diff and the resource routes, with the admin
// token and with a team token:
// - never a 5xx, and the hub still answers /healthz after every request;
// - a refusal is a Status with a reason and a message (and each problem it lists has one);
// - no write from a refused request, a dry run or a diff: the registry (every declared object
//   without its status, the write head, the next history record) is the same before and after;
// - a team token writes only objects in its own namespaces;
// - an accepted apply moves the head exactly when it reports a change;
// - an accepted object, read back and printed as `causeway get -o yaml` prints it, applies again
//   as "unchanged".
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { HEAD_KEY, historyKey, OBJECTS_PREFIX, parseObjectKey } from '../../../controlplane/api/keys.ts';
import { KINDS, type Kind } from '../../../controlplane/api/kinds.ts';
import type { Resource } from '../../../controlplane/api/resources.ts';
import { printResource } from '../../../controlplane/cli/print.ts';
import type { EtcdStore } from '../../../controlplane/registry/etcd-store.ts';
import { garbageDocument, mutatedDocument, overlappingClusters, validDocument, type DocContext } from '../arbitraries/documents.ts';
import { overlappingCidrs } from '../arbitraries/primitives.ts';
import { hostileYaml, validYaml } from '../arbitraries/yaml.ts';
import { InvalidWriteError, Outcome, property, ServerError, type FuzzProperty } from '../property.ts';

export const API = '/apis/causeway.dev/v1alpha1';

/** The hub under test, and an etcd client of the test's own to read the registry behind its back. */
export interface HubUnderTest {
  readonly url: string;
  readonly adminToken: string;
  readonly teamToken: string;
  readonly store: EtcdStore;
}

/** What the hub was seeded with (examples/), for documents whose references resolve. */
export const SEEDED: DocContext = {
  networks: [
    { name: 'aws-train-vpc', provider: 'aws' },
    { name: 'gcp-train-vpc', provider: 'gcp' },
    { name: 'onprem-fra', provider: 'onprem' },
  ],
  pools: ['cluster-cidrs'],
  namespaces: ['team-a', 'default', 'inference'],
  pooledNames: true,
};

/** The team token's scope (the suite configures the hub with it). */
export const TEAM = { name: 'team-a', namespaces: ['team-a'], clusterSelector: { matchLabels: { team: 'a' } } } as const;

type Who = 'admin' | 'team';

export interface HttpRequest {
  readonly method: 'POST' | 'PUT';
  readonly path: string;
  readonly who: Who;
  readonly contentType: string;
  readonly body: string;
  /** Dry runs and diffs must write nothing even when accepted. */
  readonly readOnly: boolean;
}

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly body: unknown;
}

async function send(h: HubUnderTest, method: string, path: string, who: Who, body?: { type: string; text: string }): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${who === 'admin' ? h.adminToken : h.teamToken}` };
  if (body !== undefined) headers['content-type'] = body.type;
  let res: Response;
  try {
    res = await fetch(`${h.url}${path}`, { method, headers, ...(body !== undefined ? { body: body.text } : {}), signal: AbortSignal.timeout(20_000) });
  } catch (err) {
    throw new ServerError(`${method} ${path}: no answer: ${String(err)}`, { cause: err });
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.status >= 500) throw new ServerError(`${method} ${path} answered ${res.status}: ${text.slice(0, 2000)}`);
  return { status: res.status, text, body: parsed };
}

async function assertHealthy(h: HubUnderTest): Promise<void> {
  let status: number;
  try {
    status = (await fetch(`${h.url}/healthz`, { signal: AbortSignal.timeout(5000) })).status;
  } catch (err) {
    throw new ServerError(`/healthz does not answer: ${String(err)}`, { cause: err });
  }
  if (status !== 200) throw new ServerError(`/healthz answered ${status}`);
}

/** What a write may change: declared objects (status aside: controllers write it), the head and the history after it. */
interface RegistryState {
  readonly head: { readonly value: string; readonly modRevision: number } | undefined;
  readonly nextHistory: boolean;
  readonly objects: ReadonlyMap<string, string>;
}

async function registryState(store: EtcdStore): Promise<RegistryState> {
  const head = await store.get(HEAD_KEY);
  const seq = head === undefined ? 0 : (JSON.parse(head.value) as { seq: number }).seq;
  const next = await store.get(historyKey(seq + 1));
  const { kvs } = await store.range(OBJECTS_PREFIX);
  const objects = new Map(
    kvs.map((kv) => {
      const { status: _status, ...declared } = JSON.parse(kv.value) as Record<string, unknown>;
      return [kv.key, JSON.stringify(declared)];
    }),
  );
  return { head: head === undefined ? undefined : { value: head.value, modRevision: head.modRevision }, nextHistory: next !== undefined, objects };
}

/** The objects whose declared parts differ between two states. */
function changedObjects(a: RegistryState, b: RegistryState): string[] {
  return [...new Set([...a.objects.keys(), ...b.objects.keys()])].filter((k) => a.objects.get(k) !== b.objects.get(k));
}

function changed(a: RegistryState, b: RegistryState): string | undefined {
  if (!isDeepStrictEqual(a.head, b.head)) return `the write head moved: ${JSON.stringify(a.head)} → ${JSON.stringify(b.head)}`;
  if (b.nextHistory) return 'a history record was written after the head';
  const objects = changedObjects(a, b);
  return objects.length > 0 ? `${objects.join(', ')} changed` : undefined;
}

function assertStatusBody(reply: Reply, what: string): void {
  const s = reply.body as
    { kind?: unknown; reason?: unknown; message?: unknown; details?: { problems?: { field?: unknown; message?: unknown }[] } } | undefined;
  assert.ok(typeof s?.message === 'string' && s.message.trim() !== '', `${what}: refusal ${reply.status} without a reason: ${reply.text.slice(0, 500)}`);
  assert.ok(s.kind === 'Status', `${what}: refusal ${reply.status} is not a Status: ${reply.text.slice(0, 500)}`);
  assert.ok(typeof s.reason === 'string' && s.reason !== '', `${what}: refusal without a reason: ${reply.text.slice(0, 500)}`);
  for (const p of s.details?.problems ?? []) {
    assert.ok(
      typeof p.field === 'string' && typeof p.message === 'string' && p.message !== '',
      `${what}: a problem without a field or reason: ${JSON.stringify(p)}`,
    );
  }
}

/** Sends one request and checks every invariant of the module header; what it did, as an Outcome. */
export async function checkRequest(h: HubUnderTest, req: HttpRequest): Promise<Outcome> {
  const what = `${req.who} ${req.method} ${req.path} (${req.contentType}, ${req.body.length} bytes)`;
  const before = await registryState(h.store);
  const reply = await send(h, req.method, req.path, req.who, { type: req.contentType, text: req.body });
  await assertHealthy(h);
  const after = await registryState(h.store);
  const diff = changed(before, after);
  if (reply.status >= 400) {
    if (diff !== undefined) throw new InvalidWriteError(`${what} was refused (${reply.status}) but wrote: ${diff}`);
    assertStatusBody(reply, what);
    return Outcome.refused;
  }
  if (req.readOnly && diff !== undefined) throw new InvalidWriteError(`${what} is read-only but wrote: ${diff}`);
  if (req.who === 'team') {
    const mine: readonly string[] = TEAM.namespaces;
    const outside = changedObjects(before, after).filter((k) => !mine.includes(parseObjectKey(k)?.namespace ?? ''));
    if (outside.length > 0) throw new InvalidWriteError(`${what}: a team token of ${TEAM.namespaces.join(', ')} wrote ${outside.join(', ')}`);
  }
  const changes = (reply.body as { changes?: { action: string }[] } | undefined)?.changes;
  if (!req.readOnly && req.path.startsWith(`${API}/apply`) && changes !== undefined) {
    const changing = changes.some((c) => c.action !== 'unchanged');
    assert.equal(
      diff !== undefined,
      changing,
      `${what}: reported changes ${JSON.stringify(changes.map((c) => c.action))} but the registry ${diff ?? 'did not change'}`,
    );
  }
  return Outcome.accepted;
}

// ---- requests --------------------------------------------------------------------------------

const who = fc.constantFrom<Who>('admin', 'admin', 'team');
const json = (v: unknown): string => JSON.stringify(v);
const documents = (objects: readonly unknown[]): string =>
  json({ documents: objects.map((object, i) => ({ source: { file: 'fuzz.yaml', document: i + 1 }, object })) });

const anyDocument: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: validDocument(SEEDED), weight: 3 },
  { arbitrary: mutatedDocument(SEEDED).map((m) => m.object), weight: 4 },
  { arbitrary: garbageDocument, weight: 1 },
);

/** Bodies that are not what any route expects: bad JSON, deep nesting, over the body limit, odd media types. */
const rawBody: fc.Arbitrary<{ type: string; text: string }> = fc.oneof(
  fc
    .constantFrom('', '{', 'null', '[]', '"x"', '{"documents": 5}', '{"documents": [{"object": 1, "extra": 2}]}', '{"__proto__": {"admin": true}}')
    .map((text) => ({ type: 'application/json', text })),
  // Deep nesting (16 to 131,072 levels) as a whole document, under spec and in mappings; built as
  // text, since JSON.stringify itself overflows on these.
  fc.integer({ min: 4, max: 17 }).map((k) => ({ type: 'application/json', text: `{"documents":[{"object":${'['.repeat(2 ** k)}${']'.repeat(2 ** k)}}]}` })),
  fc
    .integer({ min: 4, max: 17 })
    .map((k) => ({ type: 'application/json', text: `{"documents":[{"object":{"kind":"Cluster","spec":${'['.repeat(2 ** k)}${']'.repeat(2 ** k)}}}]}` })),
  fc
    .integer({ min: 4, max: 17 })
    .map((k) => ({ type: 'application/json', text: `{"documents":[{"object":${'{"a":'.repeat(2 ** k)}1${'}'.repeat(2 ** k)}}]}` })),
  fc
    .integer({ min: 0, max: 4096 })
    .map((extra) => ({ type: 'application/json', text: documents([{ kind: 'Cluster', pad: 'x'.repeat(1024 * 1024 + extra) }]) })),
  fc
    .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json; charset=latin1', 'multipart/form-data')
    .map((type) => ({ type, text: 'a=b' })),
  fc.string({ maxLength: 200 }).map((text) => ({ type: 'application/json', text })),
);

const applyBody: fc.Arbitrary<{ type: string; text: string }> = fc.oneof(
  { arbitrary: fc.array(anyDocument, { minLength: 1, maxLength: 3 }).map((ds) => ({ type: 'application/json', text: documents(ds) })), weight: 5 },
  {
    arbitrary: overlappingCidrs.chain((pair) => overlappingClusters(SEEDED, pair)).map((ds) => ({ type: 'application/json', text: documents(ds) })),
    weight: 1,
  },
  { arbitrary: validYaml(SEEDED).map((text) => ({ type: 'application/yaml', text })), weight: 2 },
  { arbitrary: hostileYaml(SEEDED).map((text) => ({ type: 'application/yaml', text })), weight: 2 },
  { arbitrary: rawBody, weight: 2 },
);

/** fast-check prints counterexamples whole: a megabyte body would drown the report. */
function summarised(req: HttpRequest): HttpRequest {
  const shown = req.body.length > 600 ? `${req.body.slice(0, 300)}…(${req.body.length} bytes)…${req.body.slice(-100)}` : req.body;
  Object.defineProperty(req, fc.toStringMethod, { value: () => JSON.stringify({ ...req, body: shown }), enumerable: false });
  return req;
}

/** POST /apply (or a dry run of it) and POST /diff. */
export const applyRequest: fc.Arbitrary<HttpRequest> = fc
  .tuple(fc.constantFrom('apply', 'apply?dryRun=true', 'diff'), who, applyBody)
  .map(([route, w, body]) =>
    summarised({ method: 'POST', path: `${API}/${route}`, who: w, contentType: body.type, body: body.text, readOnly: route !== 'apply' }),
  );

function pathOf(kind: Kind, name: string, namespace: string | undefined, member: boolean): string {
  const info = KINDS[kind];
  const collection = info.namespaced ? `${API}/namespaces/${encodeURIComponent(namespace ?? 'default')}/${info.plural}` : `${API}/${info.plural}`;
  return member ? `${collection}/${encodeURIComponent(name)}` : collection;
}

/** POST to a collection and PUT to a member, the URL usually matching the body, sometimes not. */
export const resourceRequest: fc.Arbitrary<HttpRequest> = fc
  .tuple(
    anyDocument,
    fc.constantFrom<HttpRequest['method']>('POST', 'PUT'),
    who,
    fc.boolean(),
    fc.option(
      fc.tuple(
        fc.constantFrom<Kind>('Cluster', 'Network', 'IPPool', 'ExternalService', 'GlobalPolicy'),
        fc.constantFrom('fz-cluster-0', 'other', '..', 'a%2Fb', 'x'.repeat(300)),
      ),
      { freq: 4 },
    ),
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: rawBody, weight: 1 }),
  )
  .map(([doc, method, w, dryRun, wrongUrl, raw]) => {
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    const kind = typeof d.kind === 'string' && d.kind in KINDS ? (d.kind as Kind) : 'Cluster';
    const name = typeof d.metadata?.name === 'string' ? d.metadata.name : 'unnamed';
    const namespace = typeof d.metadata?.namespace === 'string' ? d.metadata.namespace : undefined;
    const path = wrongUrl === null ? pathOf(kind, name, namespace, method === 'PUT') : pathOf(wrongUrl[0], wrongUrl[1], 'team-a', method === 'PUT');
    return summarised({
      method,
      path: `${path}${dryRun ? '?dryRun=true' : ''}`,
      who: w,
      contentType: raw?.type ?? 'application/json',
      body: raw?.text ?? json(doc),
      readOnly: dryRun,
    });
  });

/**
 * A team's own kinds (ExternalService, GlobalPolicy) in its namespace and in others', and the
 * platform's kinds, valid or changed at one field, applied or created with the team's token.
 */
export const teamRequest: fc.Arbitrary<HttpRequest> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.oneof(validDocument({ ...SEEDED, namespaces: TEAM.namespaces }), validDocument(SEEDED)), weight: 3 },
      { arbitrary: mutatedDocument({ ...SEEDED, namespaces: TEAM.namespaces }).map((m) => m.object), weight: 1 },
    ),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([doc, viaApply, dryRun]) => {
    const d = doc as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    const kind = typeof d.kind === 'string' && d.kind in KINDS ? (d.kind as Kind) : 'ExternalService';
    const namespace = typeof d.metadata?.namespace === 'string' ? d.metadata.namespace : undefined;
    const path = viaApply ? `${API}/apply` : pathOf(kind, '', namespace, false);
    return summarised({
      method: 'POST',
      path: `${path}${dryRun ? '?dryRun=true' : ''}`,
      who: 'team',
      contentType: 'application/json',
      body: viaApply ? documents([doc]) : json(doc),
      readOnly: dryRun,
    });
  });

// ---- properties ------------------------------------------------------------------------------

export function httpProperties(hub: () => HubUnderTest): FuzzProperty[] {
  const requests = (name: string, arbitrary: fc.Arbitrary<HttpRequest>, runs: number, weight: number): FuzzProperty =>
    property({ name, tier: 'http', runs, weight, mustSee: [Outcome.accepted, Outcome.refused], arbitrary, check: (req) => checkRequest(hub(), req) });
  return [
    requests('http: apply, dry run and diff bodies: no 5xx, no write when refused', applyRequest, 150, 5),
    requests('http: POST and PUT bodies: no 5xx, no write when refused', resourceRequest, 150, 4),
    requests('http: a team token writes only in its own namespaces', teamRequest, 80, 2),
    property({
      name: 'http: an accepted object, printed by get -o yaml, applies as unchanged',
      tier: 'http',
      runs: 60,
      weight: 1,
      mustSee: [Outcome.accepted],
      arbitrary: validDocument(SEEDED),
      check: (doc) => roundTripThroughHub(hub(), doc),
    }),
  ];
}

async function roundTripThroughHub(h: HubUnderTest, doc: Record<string, unknown>): Promise<Outcome> {
  const first = await checkRequest(h, {
    method: 'POST',
    path: `${API}/apply`,
    who: 'admin',
    contentType: 'application/json',
    body: documents([doc]),
    readOnly: false,
  });
  if (first === Outcome.refused) return first;
  const kind = doc.kind as Kind;
  const meta = doc.metadata as { name: string; namespace?: string };
  // A controller may write the object's status between the read and the apply (a new
  // resourceVersion, so a 409): read again, a bounded number of times.
  for (let attempt = 1; ; attempt++) {
    const got = await send(h, 'GET', pathOf(kind, meta.name, meta.namespace, true), 'admin');
    assert.equal(got.status, 200, `GET of an accepted ${kind}/${meta.name}: ${got.text}`);
    const yaml = printResource(KINDS[kind], got.body as Resource, 'yaml');
    const again = await send(h, 'POST', `${API}/apply`, 'admin', { type: 'application/yaml', text: yaml });
    if (again.status === 409 && attempt < 5) continue;
    assert.equal(again.status, 200, `get -o yaml of ${kind}/${meta.name} does not apply: ${again.text}\n${yaml}`);
    const actions = (again.body as { changes: { action: string }[] }).changes.map((c) => c.action);
    assert.deepEqual(actions, ['unchanged'], `get -o yaml of ${kind}/${meta.name} applied as ${actions.join(', ')}:\n${yaml}`);
    return Outcome.accepted;
  }
}
