// The hub's HTTP API (issue 3) against the real hub and a real etcd: every bad input is refused
// with a clear Status and nothing written (the raw etcd keys and revision are compared before
// and after), team tokens stay in their scope, and the good paths (apply, dry run, diff, list,
// history, rollback, watch, probes, metrics, audit) leave the state they promise.
//
// One hub and one etcd serve the whole file; tests build on the examples/ clusterset applied in
// `before` and use their own object names, each cluster in a clusterset of its own so that CIDRs
// chosen by one test never collide with another's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem, type Problem } from '../../controlplane/api/errors.ts';
import { HISTORY_PREFIX, OBJECTS_PREFIX } from '../../controlplane/api/keys.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import type { StatusBody } from '../../controlplane/hub/http/status.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { cluster, externalService, network } from '../fixtures/resources.ts';
import { compactEtcd, etcdSnapshot, registrySnapshot, startTestHub, type EtcdSnapshot, type TestHub } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const API = '/apis/causeway.dev/v1alpha1';
const EXAMPLES = join(import.meta.dirname, '../../examples');

interface Reply<T = unknown> {
  readonly status: number;
  readonly text: string;
  readonly body: T;
}

interface ChangeView {
  kind: string;
  namespace?: string;
  name: string;
  action: string;
  before?: Resource;
  after?: Resource;
}

interface ApplyResult {
  kind: 'ApplyResult';
  revision: number;
  dryRun: boolean;
  changes: ChangeView[];
}

interface ListBody {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string };
  items: Resource[];
}

interface WatchEvent {
  type: string;
  /** A resource, or for type ERROR a Status. */
  object: Resource;
}

let hub: TestHub;

/** `token: null` sends no Authorization header; the default is the admin token. */
async function call<T = unknown>(
  method: string,
  path: string,
  options: { token?: string | null; json?: unknown; yaml?: string; raw?: { body: string; type: string } } = {},
): Promise<Reply<T>> {
  const token = options.token === undefined ? hub.adminToken : options.token;
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.raw !== undefined) {
    headers['content-type'] = options.raw.type;
    body = options.raw.body;
  }
  const res = await fetch(`${hub.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed as T };
}

function documents(objects: readonly unknown[]): { documents: { source: { file: string; document: number }; object: unknown }[] } {
  return { documents: objects.map((object, i) => ({ source: { file: 'request.yaml', document: i + 1 }, object })) };
}

function apply(objects: readonly unknown[], options: { token?: string; dryRun?: boolean } = {}): Promise<Reply<ApplyResult>> {
  return call('POST', `${API}/apply${options.dryRun === true ? '?dryRun=true' : ''}`, {
    json: documents(objects),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
}

async function applyOk(objects: readonly unknown[], token?: string): Promise<ApplyResult> {
  const res = await apply(objects, token !== undefined ? { token } : {});
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** A valid AWS cluster in a clusterset of its own, so its CIDRs conflict with no other test's. */
function ownCluster(name: string, labels?: Record<string, string>): Record<string, unknown> {
  return cluster(name, '172.16.0.0/16', '172.17.0.0/20', {
    network: 'aws-train-vpc',
    spec: { clusterSet: `set-${name}` },
    ...(labels !== undefined ? { labels } : {}),
  });
}

async function getCluster(name: string, token?: string): Promise<Reply<Resource>> {
  return call('GET', `${API}/clusters/${name}`, token !== undefined ? { token } : {});
}

/** A team's bearer token, by team name. */
function teamToken(name: 'gpu-team' | 'inference-team'): string {
  const token = hub.tokens[name];
  assert.ok(token !== undefined, `no token for ${name}`);
  return token;
}

/** The Status body of a refusal. */
function statusOf(reply: Reply): StatusBody {
  return reply.body as StatusBody;
}

/**
 * Sends a request that must be refused with `status`, and proves it wrote nothing: every key under
 * /causeway/v1/ (objects, history, head) and etcd's own revision are the same before and after.
 */
async function refusedWithoutWrite(status: number, send: () => Promise<Reply>): Promise<StatusBody> {
  const before = await registrySnapshot(hub.etcdUrl);
  const res = await send();
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text}`);
  const after = await registrySnapshot(hub.etcdUrl);
  assert.deepEqual(after, before, 'a refused request must write nothing');
  const body = res.body as StatusBody;
  assert.equal(body.kind, 'Status');
  assert.equal(body.status, 'Failure');
  assert.equal(body.code, status);
  return body;
}

function problemLines(status: StatusBody): string[] {
  return (status.details?.problems ?? []).map((p: Problem) => formatProblem(p));
}

function objectKeys(snapshot: Pick<EtcdSnapshot, 'keys'>): string[] {
  return Object.keys(snapshot.keys)
    .filter((k) => k.startsWith(OBJECTS_PREFIX))
    .sort();
}

/** Reads a newline-delimited JSON watch stream until `done` says so or the stream ends. */
async function readWatch(res: Response, done: (events: readonly WatchEvent[]) => boolean, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const body = res.body;
  assert.ok(body !== null, 'a watch answers with a body');
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: WatchEvent[] = [];
  let buffer = '';
  const deadline = setTimeout(() => {
    void reader.cancel(new Error('watch read timed out'));
  }, timeoutMs);
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line !== '') events.push(JSON.parse(line) as WatchEvent);
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

function openWatch(path: string, token: string, signal: AbortSignal): Promise<Response> {
  return fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal });
}

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have: Record<string, string | undefined> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) if (l[1] !== undefined) have[l[1]] = l[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function scrape(): Promise<string> {
  const res = await fetch(`${hub.url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

async function history(token?: string): Promise<HistoryEntry[]> {
  const res = await call<{ kind: string; items: HistoryEntry[] }>('GET', `${API}/history`, token !== undefined ? { token } : {});
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.kind, 'History');
  return res.body.items;
}

describe('hub HTTP API (real hub, real etcd)', function () {
  this.timeout(30_000);
  let examples: ApplyResult;

  before(async () => {
    hub = await startTestHub({
      teams: [
        { name: 'gpu-team', namespaces: ['ml-training'], clusterSelector: { matchLabels: { gpu: 'true' } } },
        { name: 'inference-team', namespaces: ['inference'], clusterSelector: { matchLabels: { role: 'inference' } } },
      ],
    });
    const docs = readManifests([EXAMPLES], false);
    examples = await applyOk(docs.map((d) => d.object));
  });
  after(() => hub.stop());

  describe('apply, dry run, diff and reads', () => {
    it('applies examples/ and creates the aws, gcp and on-prem clusters, with hub-allocated CIDRs for gcp-train', async () => {
      const created = examples.changes
        .filter((c) => c.action === 'created')
        .map((c) => `${c.kind}/${c.namespace !== undefined ? `${c.namespace}/` : ''}${c.name}`);
      assert.equal(created.length, readManifests([EXAMPLES], false).length);
      const list = await call<ListBody>('GET', `${API}/clusters`);
      assert.equal(list.status, 200);
      const byName = new Map(list.body.items.map((c) => [c.metadata.name, c]));
      assert.deepEqual([...byName.keys()].sort(), ['aws-train', 'gcp-train', 'onprem-inference']);
      assert.deepEqual([...byName.values()].map((c) => (c.kind === 'Cluster' ? c.spec.provider : '')).sort(), ['aws', 'gcp', 'onprem']);
      for (const c of byName.values()) assert.equal(c.metadata.resourceVersion, String(examples.revision));
      const gcp = byName.get('gcp-train');
      const allocated = gcp?.status?.allocated as { pool: string; podCIDRs: string[]; serviceCIDRs: string[] } | undefined;
      assert.equal(allocated?.pool, 'cluster-cidrs');
      assert.match(allocated.podCIDRs[0] ?? '', /^10\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]+\.0\/16$/);
      assert.match(allocated.serviceCIDRs[0] ?? '', /\/20$/);
      // What was written is in etcd itself, under the key layout, with one history record.
      const snap = await registrySnapshot(hub.etcdUrl);
      assert.ok(objectKeys(snap).includes(`${OBJECTS_PREFIX}clusters/aws-train`));
      assert.ok(objectKeys(snap).includes(`${OBJECTS_PREFIX}externalservices/inference/feature-store`));
      const records = Object.entries(snap.keys).filter(([k]) => k.startsWith(HISTORY_PREFIX));
      assert.equal(records.length, 1);
      assert.equal(records[0]?.[1].createRevision, examples.revision);
      assert.equal(snap.head?.modRevision, examples.revision);
    });

    it('re-applying examples/ changes nothing and writes nothing', async () => {
      const before = await registrySnapshot(hub.etcdUrl);
      const again = await applyOk(readManifests([EXAMPLES], false).map((d) => d.object));
      assert.ok(
        again.changes.every((c) => c.action === 'unchanged'),
        JSON.stringify(again.changes.map((c) => c.action)),
      );
      assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
    });

    it('a dry run reports what would be created and writes nothing', async () => {
      const before = await registrySnapshot(hub.etcdUrl);
      const res = await apply([ownCluster('dry-one')], { dryRun: true });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.dryRun, true);
      assert.deepEqual(
        res.body.changes.map((c) => [c.kind, c.name, c.action]),
        [['Cluster', 'dry-one', 'created']],
      );
      assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
      assert.equal((await getCluster('dry-one')).status, 404);
    });

    it('diff shows the change a declaration would make, before and after, and writes nothing', async () => {
      const aws = readManifests([join(EXAMPLES, '20-clusters.yaml')], false).map((d) => d.object as Record<string, unknown>)[0];
      assert.ok(aws !== undefined);
      const edited = structuredClone(aws) as { metadata: { labels: Record<string, string> } };
      edited.metadata.labels.env = 'staging';
      const before = await registrySnapshot(hub.etcdUrl);
      const res = await call<{ kind: string; changes: ChangeView[] }>('POST', `${API}/diff`, { json: documents([edited]) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.kind, 'Diff');
      const [change] = res.body.changes;
      assert.equal(change?.action, 'updated');
      assert.equal(change.before?.metadata.labels?.env, 'prod');
      assert.equal(change.after?.metadata.labels?.env, 'staging');
      assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
      assert.equal((await getCluster('aws-train')).body.metadata.labels?.env, 'prod');
    });

    it('lists a kind as a List with items and the revision it was read at', async () => {
      const res = await call<ListBody>('GET', `${API}/networks`);
      assert.equal(res.status, 200);
      assert.equal(res.body.kind, 'List');
      assert.equal(res.body.apiVersion, 'causeway.dev/v1alpha1');
      assert.deepEqual(res.body.items.map((n) => n.metadata.name).sort(), ['aws-train-vpc', 'gcp-train-vpc', 'onprem-fra']);
      const read = Number(res.body.metadata.resourceVersion);
      assert.ok(read >= examples.revision && read <= (await etcdSnapshot(hub.etcdUrl)).revision, res.body.metadata.resourceVersion);
      const ns = await call<ListBody>('GET', `${API}/namespaces/inference/globalpolicies`);
      assert.deepEqual(ns.body.items.map((p) => p.metadata.name).sort(), ['deny-training-to-onprem', 'training-to-inference']);
    });

    it('shows a team token only the clusters its selector matches, and out-of-scope objects as absent (404)', async () => {
      const all = await call<ListBody>('GET', `${API}/clusters`);
      const mine = await call<ListBody>('GET', `${API}/clusters`, { token: teamToken('gpu-team') });
      assert.equal(mine.status, 200);
      const gpu = all.body.items
        .filter((c) => c.metadata.labels?.gpu === 'true')
        .map((c) => c.metadata.name)
        .sort();
      assert.deepEqual(mine.body.items.map((c) => c.metadata.name).sort(), gpu);
      assert.ok(gpu.includes('aws-train') && gpu.includes('gcp-train') && !gpu.includes('onprem-inference'));

      const hidden = await getCluster('onprem-inference', teamToken('gpu-team'));
      const absent = await getCluster('no-such-cluster', teamToken('gpu-team'));
      assert.equal(hidden.status, 404);
      assert.equal(statusOf(hidden).message, 'Cluster/onprem-inference not found');
      assert.equal(absent.status, 404);
      assert.equal(statusOf(absent).message, 'Cluster/no-such-cluster not found');
      assert.equal((await getCluster('onprem-inference', teamToken('inference-team'))).status, 200);
      // Namespaced kinds: only the team's own namespaces.
      const policies = await call<ListBody>('GET', `${API}/globalpolicies`, { token: teamToken('gpu-team') });
      assert.deepEqual(policies.body.items, []);
      const theirs = await call<ListBody>('GET', `${API}/globalpolicies`, { token: teamToken('inference-team') });
      assert.equal(theirs.body.items.length, 2);
    });
  });

  describe('refuses bad input with a clear error and writes nothing', () => {
    it('malformed YAML (application/yaml body): 422 with line and column', async () => {
      const status = await refusedWithoutWrite(422, () =>
        call('POST', `${API}/apply`, {
          yaml: 'apiVersion: causeway.dev/v1alpha1\nkind: Cluster\nmetadata: {name: broken\nspec: {}\n',
        }),
      );
      assert.equal(status.reason, 'Invalid');
      assert.match(status.message, /^request body: document 1: malformed YAML at line \d+, column \d+: /);
    });

    it('an unknown kind: 422 naming the field and suggesting the right kind', async () => {
      const obj = { ...ownCluster('kind-typo'), kind: 'Clustr' };
      const status = await refusedWithoutWrite(422, () => apply([obj]));
      assert.deepEqual(problemLines(status), ['request.yaml: document 1 (Clustr kind-typo): kind: unknown kind: did you mean "Cluster"? (got "Clustr")']);
    });

    it('an unknown apiVersion: 422 saying which one is expected', async () => {
      const status = await refusedWithoutWrite(422, () =>
        call('POST', `${API}/apply`, {
          yaml: 'apiVersion: causeway.dev/v1\nkind: Network\nmetadata: {name: net-v1}\nspec: {provider: onprem, onprem: {site: x, asn: 65000}}\n',
        }),
      );
      assert.deepEqual(problemLines(status), [
        'request body: document 1 (Network net-v1): apiVersion: expected "causeway.dev/v1alpha1" (got "causeway.dev/v1")',
      ]);
    });

    it('fields of the wrong type: 422 with every problem at its path', async () => {
      const obj = ownCluster('wrong-types') as { spec: Record<string, unknown> };
      obj.spec.podCIDRs = '172.16.0.0/16';
      obj.spec.heartbeatTTLSeconds = '30';
      const status = await refusedWithoutWrite(422, () => apply([obj]));
      const lines = problemLines(status);
      assert.ok(lines.includes('request.yaml: document 1 (Cluster wrong-types): spec.podCIDRs: expected array (got "172.16.0.0/16")'), lines.join('\n'));
      assert.ok(lines.includes('request.yaml: document 1 (Cluster wrong-types): spec.heartbeatTTLSeconds: expected number (got "30")'), lines.join('\n'));
    });

    it('overlapping CIDRs: 422 naming both clusters and both ranges', async () => {
      const obj = cluster('overlaps-aws', '10.16.128.0/17', '172.31.0.0/20', { network: 'aws-train-vpc' });
      const status = await refusedWithoutWrite(422, () => apply([obj]));
      assert.match(
        status.message,
        /Cluster "overlaps-aws" podCIDRs\[0\] 10\.16\.128\.0\/17 overlaps Cluster "aws-train" podCIDRs\[0\] 10\.16\.0\.0\/16 \(both in clusterset "default"\)/,
      );
      assert.match(problemLines(status)[0] ?? '', /^request\.yaml: document 1 \(Cluster overlaps-aws\): spec\.podCIDRs\[0\]: /);
    });

    it('a reference to a Network or IPPool that does not exist: 422 naming the missing one', async () => {
      const noNet = cluster('lost-net', '172.16.0.0/16', '172.17.0.0/20', { network: 'nope-vpc', spec: { clusterSet: 'set-lost-net' } });
      const s1 = await refusedWithoutWrite(422, () => apply([noNet]));
      assert.match(s1.message, /spec\.network: references Network "nope-vpc", which does not exist; known networks: aws-train-vpc, gcp-train-vpc, onprem-fra/);
      const noPool = cluster('lost-pool', undefined, undefined, {
        network: 'aws-train-vpc',
        spec: { clusterSet: 'set-lost-pool', ipam: { pool: 'nope-pool' } },
      });
      const s2 = await refusedWithoutWrite(422, () => apply([noPool]));
      assert.match(s2.message, /spec\.ipam\.pool: references IPPool "nope-pool", which does not exist/);
    });

    it('a multi-document apply with one bad document: 422 for that document, and none of the good ones written', async () => {
      const yaml = [
        'apiVersion: causeway.dev/v1alpha1\nkind: Network\nmetadata: {name: multi-net}\nspec: {provider: onprem, onprem: {site: lab, asn: 65001}}',
        'apiVersion: causeway.dev/v1alpha1\nkind: Cluster\nmetadata: {name: multi-good}\nspec: {provider: onprem, region: lab, network: multi-net, clusterSet: set-multi, podCIDRs: [172.20.0.0/16], serviceCIDRs: [172.21.0.0/20]}',
        'apiVersion: causeway.dev/v1alpha1\nkind: Cluster\nmetadata: {name: multi-bad}\nspec: {provider: onprem, region: lab, network: multi-net, clusterSet: set-multi2, podCIDRs: [10.300.0.0/16], serviceCIDRs: [172.23.0.0/20]}',
      ].join('\n---\n');
      const status = await refusedWithoutWrite(422, () => call('POST', `${API}/apply`, { yaml }));
      assert.deepEqual(problemLines(status), [
        'request body: document 3 (Cluster multi-bad): spec.podCIDRs[0]: "10.300.0.0" is not an IPv4 or IPv6 address; expected a CIDR such as "10.0.0.0/16" (got "10.300.0.0/16")',
      ]);
      assert.equal((await call('GET', `${API}/networks/multi-net`)).status, 404);
      assert.equal((await getCluster('multi-good')).status, 404);

      // Valid documents that only fail together (the third overlaps the second) are refused as a set too.
      const set = [
        network('multi-net2', 'onprem'),
        cluster('multi-a', '172.24.0.0/16', '172.25.0.0/20', { network: 'multi-net2', provider: 'onprem', spec: { clusterSet: 'set-m' } }),
        cluster('multi-b', '172.24.128.0/17', '172.26.0.0/20', { network: 'multi-net2', provider: 'onprem', spec: { clusterSet: 'set-m' } }),
      ];
      const s2 = await refusedWithoutWrite(422, () => apply(set));
      assert.match(
        problemLines(s2).join('\n'),
        /document 3 \(Cluster multi-b\): spec\.podCIDRs\[0\]: Cluster "multi-b" podCIDRs\[0\] 172\.24\.128\.0\/17 overlaps Cluster "multi-a"/,
      );
      assert.equal((await call('GET', `${API}/networks/multi-net2`)).status, 404);
    });

    it('a stale resourceVersion on PUT and on apply: 409 naming the current version', async () => {
      const v1 = await applyOk([ownCluster('stale-one', { step: 'one' })]);
      const v2 = await applyOk([ownCluster('stale-one', { step: 'two' })]);
      assert.ok(v2.revision > v1.revision);
      const stale = {
        ...ownCluster('stale-one', { step: 'three' }),
        metadata: { name: 'stale-one', labels: { step: 'three' }, resourceVersion: String(v1.revision) },
      };
      const put = await refusedWithoutWrite(409, () => call('PUT', `${API}/clusters/stale-one`, { json: stale }));
      assert.equal(put.reason, 'Conflict');
      assert.match(put.message, new RegExp(`Cluster/stale-one: metadata\\.resourceVersion ${v1.revision} is stale \\(current is ${v2.revision}\\)`));
      const applied = await refusedWithoutWrite(409, () => apply([stale]));
      assert.match(applied.message, new RegExp(`^request\\.yaml: document 1: Cluster/stale-one: metadata\\.resourceVersion ${v1.revision} is stale`));
      assert.equal((await getCluster('stale-one')).body.metadata.labels?.step, 'two');
      // With the current version the same PUT goes through.
      const fresh = await call<Resource>('PUT', `${API}/clusters/stale-one`, {
        json: { ...stale, metadata: { ...stale.metadata, resourceVersion: String(v2.revision) } },
      });
      assert.equal(fresh.status, 200, fresh.text);
      assert.equal(fresh.body.metadata.labels?.step, 'three');
    });

    it('no token and an invalid token: 401, for writes and reads alike', async () => {
      const none = await refusedWithoutWrite(401, () => call('POST', `${API}/apply`, { json: documents([ownCluster('anon')]), token: null }));
      assert.equal(none.reason, 'Unauthorized');
      assert.match(none.message, /missing bearer token/);
      const bad = await refusedWithoutWrite(401, () => call('POST', `${API}/apply`, { json: documents([ownCluster('anon')]), token: 'cw_not-a-real-token' }));
      assert.equal(bad.message, 'invalid token');
      assert.equal((await call('GET', `${API}/clusters`, { token: null })).status, 401);
      assert.equal((await call('GET', `${API}/clusters`, { token: 'cw_not-a-real-token' })).status, 401);
      assert.equal((await call('GET', `${API}/history`, { token: null })).status, 401);
    });

    describe('a team token out of its scope: 403', () => {
      const team = (): string => teamToken('gpu-team');

      it('creating a cluster its clusterSelector (gpu=true) does not match', async () => {
        const status = await refusedWithoutWrite(403, () => apply([ownCluster('team-cpu', { gpu: 'false' })], { token: team() }));
        assert.equal(status.reason, 'Forbidden');
        assert.equal(
          status.message,
          'token "gpu-team" (role team) may not create Cluster/team-cpu: its labels do not match the team\'s cluster selector gpu=true',
        );
      });

      it('relabelling its own cluster out of its selector', async () => {
        const mine = await applyOk([ownCluster('team-gpu', { gpu: 'true' })], team());
        assert.equal(mine.changes[0]?.action, 'created');
        const status = await refusedWithoutWrite(403, () => apply([ownCluster('team-gpu', { gpu: 'false' })], { token: team() }));
        assert.match(status.message, /may not update Cluster\/team-gpu: its labels do not match/);
      });

      it('writing a Network, or deleting one, without learning what references it', async () => {
        const status = await refusedWithoutWrite(403, () => apply([network('team-net')], { token: team() }));
        assert.match(status.message, /may not create Network\/team-net: only admins declare networks and IP pools/);
        // onprem-fra is still referenced by onprem-inference, a cluster this team cannot read:
        // the refusal is about the team's scope and names nothing else.
        const del = await refusedWithoutWrite(403, () => call('DELETE', `${API}/networks/onprem-fra`, { token: team() }));
        assert.equal(del.message, 'token "gpu-team" (role team) may not delete Network/onprem-fra: only admins declare networks and IP pools');
      });

      it('writing an ExternalService in a namespace not its own', async () => {
        const status = await refusedWithoutWrite(403, () => apply([externalService('inference', 'team-db', 'onprem-fra')], { token: team() }));
        assert.match(status.message, /may not create ExternalService\/inference\/team-db: namespace "inference" is not one of the team's \(ml-training\)/);
        // Through the namespaced create endpoint too.
        const created = await refusedWithoutWrite(403, () =>
          call('POST', `${API}/namespaces/inference/externalservices`, { json: externalService('inference', 'team-db', 'onprem-fra'), token: team() }),
        );
        assert.match(created.message, /namespace "inference" is not one of the team's/);
      });

      it('writing a platform-tier GlobalPolicy, even in its own namespace', async () => {
        const policy = {
          apiVersion: 'causeway.dev/v1alpha1',
          kind: 'GlobalPolicy',
          metadata: { name: 'team-platform', namespace: 'ml-training' },
          spec: { tier: 'platform', action: 'Allow', from: [{ namespaces: ['ml-training'] }], to: [{ cidrs: ['0.0.0.0/0'] }] },
        };
        const status = await refusedWithoutWrite(403, () => apply([policy], { token: team() }));
        assert.match(
          status.message,
          /may not create GlobalPolicy\/ml-training\/team-platform: teams write only tier "tenant" policies \(this one is "platform"\)/,
        );
        // The same policy at tier tenant is the team's to write.
        const tenant = await applyOk([{ ...policy, spec: { ...policy.spec, tier: 'tenant' } }], team());
        assert.equal(tenant.changes[0]?.action, 'created');
      });

      it('rolling back the registry (admins only)', async () => {
        const status = await refusedWithoutWrite(403, () => call('POST', `${API}/rollback`, { json: { toRevision: examples.revision }, token: team() }));
        assert.match(status.message, /may not roll back the registry: admins only/);
        // Refused as a team before its body is looked at: the answer says nothing about the body.
        const bad = await refusedWithoutWrite(403, () => call('POST', `${API}/rollback`, { json: { toRevision: 'one' }, token: team() }));
        assert.equal(bad.reason, 'Forbidden');
      });
    });

    it('a body larger than 1 MiB: 413', async () => {
      const yaml = `# ${'x'.repeat(1024 * 1024 + 16)}\napiVersion: causeway.dev/v1alpha1\nkind: Network\nmetadata: {name: huge}\nspec: {provider: onprem, onprem: {site: x, asn: 65000}}\n`;
      const status = await refusedWithoutWrite(413, () => call('POST', `${API}/apply`, { yaml }));
      assert.equal(status.reason, 'RequestEntityTooLarge');
      assert.match(status.message, /larger than 1048576 bytes \(1 MiB\)/);
    });

    it('an unsupported content type (415), a create of an existing object (409), and a delete of a Network still referenced (422)', async () => {
      const media = await refusedWithoutWrite(415, () => call('POST', `${API}/apply`, { raw: { body: '<apply/>', type: 'application/xml' } }));
      assert.equal(media.reason, 'UnsupportedMediaType');
      const again = await refusedWithoutWrite(409, () =>
        call('POST', `${API}/clusters`, { json: readManifests([join(EXAMPLES, '20-clusters.yaml')], false)[0]?.object }),
      );
      assert.equal(again.reason, 'AlreadyExists');
      assert.equal(again.message, 'Cluster/aws-train already exists');
      const del = await refusedWithoutWrite(422, () => call('DELETE', `${API}/networks/aws-train-vpc`));
      assert.match(
        del.message,
        /^Cluster aws-train: spec\.network: references Network "aws-train-vpc", which does not exist; known networks: gcp-train-vpc, onprem-fra/m,
      );
    });

    it('a body its route schema refuses: 422 Invalid naming the field, and a history limit that is not a number: 422 naming limit', async () => {
      const rollback = await refusedWithoutWrite(422, () => call('POST', `${API}/rollback`, { json: { toRevision: 'one' } }));
      assert.equal(rollback.reason, 'Invalid');
      assert.deepEqual(
        rollback.details?.problems?.map((p) => p.field),
        ['toRevision'],
      );
      const extra = await refusedWithoutWrite(422, () => call('POST', `${API}/rollback`, { json: { toRevision: 1, force: true } }));
      assert.deepEqual(
        extra.details?.problems?.map((p) => p.field),
        [''],
        'an unknown field is refused by the strict body schema',
      );
      const limit = await refusedWithoutWrite(422, () => call('GET', `${API}/history?limit=ten`));
      assert.deepEqual(limit.details?.problems, [{ field: 'limit', value: 'ten', message: 'expected a positive whole number' }]);
    });
  });

  describe('history, audit and rollback', () => {
    it('every accepted write leaves a history entry and an audit log record with its actor', async () => {
      const admin = hub.adminToken;
      const team = teamToken('gpu-team');
      const writes: { revision: number; actor: string; operation: string }[] = [];
      const created = await call<Resource>('POST', `${API}/clusters`, { json: ownCluster('audit-a', { gpu: 'true' }), token: team });
      assert.equal(created.status, 200, created.text);
      writes.push({ revision: Number(created.body.metadata.resourceVersion), actor: 'gpu-team', operation: 'create' });
      const updated = await call<Resource>('PUT', `${API}/clusters/audit-a`, { json: ownCluster('audit-a', { gpu: 'true', step: '2' }), token: admin });
      assert.equal(updated.status, 200, updated.text);
      writes.push({ revision: Number(updated.body.metadata.resourceVersion), actor: 'admin', operation: 'update' });
      const applied = await applyOk([ownCluster('audit-a', { gpu: 'true', step: '3' })], team);
      writes.push({ revision: applied.revision, actor: 'gpu-team', operation: 'apply' });
      const deleted = await call<StatusBody>('DELETE', `${API}/clusters/audit-a`, { token: team });
      assert.equal(deleted.status, 200, deleted.text);
      writes.push({ revision: deleted.body.details?.revision ?? 0, actor: 'gpu-team', operation: 'delete' });

      const entries = await history();
      for (const w of writes) {
        const e = entries.find((h) => h.revision === w.revision);
        assert.ok(e !== undefined, `no history entry at revision ${w.revision}`);
        assert.deepEqual([e.actor.name, e.operation, e.changes.map((c) => `${c.kind}/${c.name}`)], [w.actor, w.operation, ['Cluster/audit-a']]);
      }
      // Newest first, revisions strictly decreasing, each entry with a timestamp.
      assert.deepEqual(
        entries.map((e) => e.revision),
        [...entries.map((e) => e.revision)].sort((a, b) => b - a),
      );
      assert.ok(entries.every((e) => !Number.isNaN(Date.parse(e.time))));
      // The history of one object, and a team's view: only what its scope can read.
      const own = await call<{ items: HistoryEntry[] }>('GET', `${API}/history?kind=Cluster&name=audit-a`);
      assert.deepEqual(
        own.body.items.map((e) => e.operation),
        ['delete', 'apply', 'update', 'create'],
      );
      const teamView = await history(team);
      assert.ok(teamView.every((e) => e.changes.every((c) => c.kind !== 'Cluster' || c.name !== 'onprem-inference')));
      assert.ok(teamView.some((e) => e.revision === examples.revision));

      const audit = readFileSync(hub.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"audit":true'))
        .map((l) => JSON.parse(l) as { actor: string; operation: string; revision: number });
      for (const w of writes) {
        assert.ok(
          audit.some((a) => a.revision === w.revision && a.actor === w.actor && a.operation === w.operation),
          `no audit record for ${JSON.stringify(w)}`,
        );
      }
    });

    it('the examples apply is in the history with actor, operation, revision and every change', async () => {
      const entry = (await history()).find((e) => e.revision === examples.revision);
      assert.ok(entry !== undefined);
      assert.equal(entry.actor.name, 'admin');
      assert.equal(entry.actor.role, 'admin');
      assert.equal(entry.operation, 'apply');
      assert.deepEqual(entry.changes.map((c) => `${c.action} ${c.kind}/${c.name}`).sort(), examples.changes.map((c) => `created ${c.kind}/${c.name}`).sort());
    });

    it('rollback restores every object to a past revision as a new revision, touching nothing else', async () => {
      const base = await applyOk([ownCluster('rb-kept', { v: '1' })]);
      const others = (s: Pick<EtcdSnapshot, 'keys'>): Record<string, string> =>
        Object.fromEntries(
          Object.entries(s.keys)
            .filter(([k]) => k.startsWith(OBJECTS_PREFIX) && !k.includes('/rb-'))
            .map(([k, v]) => [k, v.value]),
        );
      const untouched = others(await registrySnapshot(hub.etcdUrl));
      await applyOk([ownCluster('rb-kept', { v: '2' })]);
      await applyOk([ownCluster('rb-added')]);
      assert.equal((await getCluster('rb-added')).status, 200);

      const res = await call<ApplyResult>('POST', `${API}/rollback`, { json: { toRevision: base.revision } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(
        res.body.changes
          .filter((c) => c.action !== 'unchanged')
          .map((c) => `${c.action} ${c.name}`)
          .sort(),
        ['deleted rb-added', 'updated rb-kept'],
      );
      const kept = await getCluster('rb-kept');
      assert.deepEqual(kept.body.metadata.labels, { v: '1' });
      assert.equal(kept.body.metadata.resourceVersion, String(res.body.revision));
      assert.equal((await getCluster('rb-added')).status, 404);
      assert.deepEqual(others(await registrySnapshot(hub.etcdUrl)), untouched);
      const [latest] = await history();
      assert.deepEqual([latest?.revision, latest?.operation, latest?.rollbackTo, latest?.actor.name], [res.body.revision, 'rollback', base.revision, 'admin']);
    });
  });

  describe('watch', () => {
    it('streams ADDED, MODIFIED and DELETED as newline-delimited JSON, in order, live and replayed from a resourceVersion', async () => {
      const from = (await etcdSnapshot(hub.etcdUrl)).revision;
      const ac = new AbortController();
      const live = await openWatch(`${API}/clusters?watch=true&resourceVersion=${from}`, hub.adminToken, ac.signal);
      assert.equal(live.status, 200);
      assert.match(live.headers.get('content-type') ?? '', /application\/json/);
      const liveEvents = readWatch(live, (ev) => ev.length >= 3);

      const added = await applyOk([ownCluster('watched', { gpu: 'true' })]);
      const modified = await applyOk([ownCluster('watched', { gpu: 'true', step: '2' })]);
      const deleted = await call<StatusBody>('DELETE', `${API}/clusters/watched`);
      assert.equal(deleted.status, 200);
      const want = [
        ['ADDED', 'watched', String(added.revision)],
        ['MODIFIED', 'watched', String(modified.revision)],
        ['DELETED', 'watched', String(deleted.body.details?.revision)],
      ];
      const got = await liveEvents;
      ac.abort();
      assert.deepEqual(
        got.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion]),
        want,
      );
      assert.equal(got[1]?.object.metadata.labels?.step, '2');

      // The same events again for a client resuming from `from`, e.g. after a dropped connection;
      // a team sees them too (gpu=true is in its scope), the inference team does not.
      const ac2 = new AbortController();
      const replay = await readWatch(
        await openWatch(`${API}/clusters?watch=true&resourceVersion=${from}`, teamToken('gpu-team'), ac2.signal),
        (ev) => ev.length >= 3,
      );
      ac2.abort();
      assert.deepEqual(
        replay.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion]),
        want,
      );
      const ac3 = new AbortController();
      const other = await openWatch(`${API}/clusters?watch=true&resourceVersion=${from}`, teamToken('inference-team'), ac3.signal);
      const otherEvents = readWatch(other, (ev) => ev.length >= 1);
      const marker = await applyOk([ownCluster('watched-inference', { role: 'inference' })]);
      const seen = await otherEvents;
      ac3.abort();
      assert.deepEqual(
        seen.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion]),
        [['ADDED', 'watched-inference', String(marker.revision)]],
      );
    });

    it('without a resourceVersion, starts with the current objects as ADDED', async () => {
      const ac = new AbortController();
      const res = await openWatch(`${API}/networks?watch=true`, hub.adminToken, ac.signal);
      const events = await readWatch(res, (ev) => ev.length >= 3);
      ac.abort();
      assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`).sort(), ['ADDED aws-train-vpc', 'ADDED gcp-train-vpc', 'ADDED onprem-fra']);
    });

    it('sends an ERROR event with code 410 to a watch from a revision etcd has compacted', async () => {
      const from = (await etcdSnapshot(hub.etcdUrl)).revision;
      await applyOk([ownCluster('compacted', { step: '1' })]);
      const last = await applyOk([ownCluster('compacted', { step: '2' })]);
      await compactEtcd(hub.etcdUrl, last.revision);
      const ac = new AbortController();
      const res = await openWatch(`${API}/clusters?watch=true&resourceVersion=${from}`, hub.adminToken, ac.signal);
      assert.equal(res.status, 200);
      const events = await readWatch(res, () => false);
      ac.abort();
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.equal(events[0]?.type, 'ERROR');
      const status = events[0].object as unknown as StatusBody;
      assert.deepEqual([status.kind, status.code, status.reason], ['Status', 410, 'Expired']);
      // Objects and history are keys, not old revisions: both survive compaction.
      assert.equal((await getCluster('compacted')).body.metadata.labels?.step, '2');
      assert.ok((await history()).some((e) => e.revision === examples.revision));
    });
  });

  describe('probes and metrics', () => {
    it('/healthz and /readyz answer 200 without a token', async () => {
      const health = await call<{ status: string }>('GET', '/healthz', { token: null });
      assert.deepEqual([health.status, health.body.status], [200, 'ok']);
      const ready = await call<{ status: string }>('GET', '/readyz', { token: null });
      assert.deepEqual([ready.status, ready.body.status], [200, 'ready']);
    });

    it('/metrics counts HTTP requests and registry writes by result, and the objects per kind', async () => {
      const before = await scrape();
      await applyOk([ownCluster('metered')]);
      await refusedWithoutWrite(422, () => apply([cluster('metered-overlap', '10.16.0.0/24', '172.31.0.0/20', { network: 'aws-train-vpc' })]));
      await refusedWithoutWrite(403, () => apply([network('metered-net')], { token: teamToken('gpu-team') }));
      await refusedWithoutWrite(409, () => call('POST', `${API}/clusters`, { json: ownCluster('metered') }));
      await apply([ownCluster('metered-dry')], { dryRun: true });
      await applyOk([ownCluster('metered')]);
      const after = await scrape();
      const delta = (name: string, labels: Record<string, string>): number => metric(after, name, labels) - metric(before, name, labels);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'apply', result: 'ok' }), 1);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'apply', result: 'invalid' }), 1);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'apply', result: 'forbidden' }), 1);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'create', result: 'conflict' }), 1);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'apply', result: 'dry_run' }), 1);
      assert.equal(delta('causeway_registry_writes_total', { operation: 'apply', result: 'noop' }), 1);
      const applyRoute = `${API}/apply`;
      assert.equal(delta('causeway_http_requests_total', { method: 'POST', route: applyRoute, code: '200' }), 3);
      assert.equal(delta('causeway_http_requests_total', { method: 'POST', route: applyRoute, code: '422' }), 1);
      assert.equal(delta('causeway_http_requests_total', { method: 'POST', route: applyRoute, code: '403' }), 1);
      const clusters = await call<ListBody>('GET', `${API}/clusters`);
      assert.equal(metric(after, 'causeway_registry_objects', { kind: 'Cluster' }), clusters.body.items.length);
      assert.equal(metric(after, 'causeway_etcd_up'), 1);
    });
  });
});

describe('hub readiness follows etcd (a hub with an etcd of its own)', function () {
  this.timeout(30_000);

  it('/readyz turns 503 once its etcd is stopped, while /healthz stays 200', async () => {
    const lone = await startTestHub();
    try {
      const ready = await fetch(`${lone.url}/readyz`);
      assert.equal(ready.status, 200);
      await lone.etcd.stop();
      const down = await waitFor('/readyz to answer 503', async () => {
        const res = await fetch(`${lone.url}/readyz`);
        return res.status === 503 ? ((await res.json()) as StatusBody) : undefined;
      });
      assert.equal(down.reason, 'ServiceUnavailable');
      assert.match(down.message, /^not ready: etcd: etcd is not answering/);
      assert.equal((await fetch(`${lone.url}/healthz`)).status, 200);
      const metrics = await fetch(`${lone.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(metric(await metrics.text(), 'causeway_etcd_up'), 0);
    } finally {
      await lone.stop();
    }
  });
});
