// Issue 12 §2 and §3 at the HTTP edge, against the real hub and a real etcd: malformed and future
// resourceVersions are refused up front, writes without a precondition do not lose to each other,
// agent credentials are an audited admin operation, and a team token learns nothing of what it may
// not read (404 rather than 403, no other cluster's CIDRs, no other cluster in /services) and
// exports ExternalServices only inside its cluster selector. Every refusal is checked to write
// nothing (objects, history and head compared in etcd before and after).
import assert from 'node:assert/strict';
import type { Resource } from '../../controlplane/api/resources.ts';
import type { StatusBody } from '../../controlplane/hub/http/status.ts';
import { cluster, externalService } from '../fixtures/resources.ts';
import { HISTORY_PREFIX, OBJECTS_PREFIX } from '../../controlplane/api/keys.ts';
import { etcdSnapshot, registrySnapshot, startTestHub, type TestHub } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const API = '/apis/causeway.dev/v1alpha1';

interface Reply<T = unknown> {
  readonly status: number;
  readonly text: string;
  readonly body: T;
}

interface ApplyResult {
  kind: 'ApplyResult';
  revision: number;
  changes: { kind: string; name: string; action: string; after?: Resource }[];
}

let hub: TestHub;

async function call<T = unknown>(method: string, path: string, options: { token?: string; json?: unknown } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? hub.adminToken}` };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers,
    ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body: body as T };
}

function apply(objects: readonly unknown[], token?: string): Promise<Reply<ApplyResult>> {
  return call('POST', `${API}/apply`, {
    json: { documents: objects.map((object, i) => ({ source: { file: 'request.yaml', document: i + 1 }, object })) },
    ...(token !== undefined ? { token } : {}),
  });
}

async function applyOk(objects: readonly unknown[], token?: string): Promise<ApplyResult> {
  const res = await apply(objects, token);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Sends a request that must be refused with `status`, and proves it wrote nothing to the registry. */
async function refusedWithoutWrite(status: number, send: () => Promise<Reply>): Promise<StatusBody> {
  const before = await registrySnapshot(hub.etcdUrl);
  const res = await send();
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text}`);
  assert.deepEqual(await registrySnapshot(hub.etcdUrl), before, 'a refused request must write nothing');
  const body = res.body as StatusBody;
  assert.deepEqual([body.kind, body.status, body.code], ['Status', 'Failure', status]);
  return body;
}

function teamToken(name: string): string {
  const token = hub.tokens[name];
  assert.ok(token !== undefined, `no token for ${name}`);
  return token;
}

/** A cluster in a clusterset of its own, so that its CIDRs meet no other test's. */
function ownCluster(name: string, labels: Record<string, string>, pod = '172.16.0.0/16', service = '172.17.0.0/20'): Record<string, unknown> {
  return cluster(name, pod, service, { network: 'hh-net', provider: 'onprem', spec: { clusterSet: `set-${name}`, region: 'lab' }, labels });
}

const hhNetwork = {
  apiVersion: 'causeway.dev/v1alpha1',
  kind: 'Network',
  metadata: { name: 'hh-net' },
  spec: { provider: 'onprem', onprem: { site: 'lab', asn: 65010 } },
};

describe('hub hardening at the HTTP edge (issue 12 §2, §3; real hub, real etcd)', function () {
  this.timeout(60_000);

  before(async () => {
    hub = await startTestHub({
      teams: [
        { name: 'gpu-team', namespaces: ['ml-training'], clusterSelector: { matchLabels: { gpu: 'true' } } },
        { name: 'inference-team', namespaces: ['inference'], clusterSelector: { matchLabels: { role: 'inference' } } },
      ],
    });
    await applyOk([hhNetwork]);
    // The leader reconciles on-prem Networks (no gobgpd here): let its one status write land before
    // any test snapshots etcd to prove a refused request wrote nothing.
    await waitFor('the Network reconciled once', async () => {
      const res = await fetch(`${hub.url}${API}/networks/hh-net`, { headers: { authorization: `Bearer ${hub.adminToken}` } });
      const n = (await res.json()) as { status?: { conditions?: { type: string }[] } };
      return n.status?.conditions?.some((c) => c.type === 'Degraded') === true;
    });
  });
  after(() => hub.stop());

  describe('the router’s own refusals (found by fuzzing)', () => {
    it('a path segment longer than any name is a 414 Status, and writes nothing; a long but possible name is judged as a name', async () => {
      const body = await refusedWithoutWrite(414, () => call('PUT', `${API}/clusters/${'x'.repeat(254)}`, { json: {} }));
      assert.equal(body.reason, 'RequestURITooLong');
      assert.match(body.message, /longer than 253 characters/);
      const get = await call('GET', `${API}/clusters/${'x'.repeat(254)}`);
      assert.deepEqual([get.status, (get.body as StatusBody).kind], [414, 'Status']);
      const possible = await call('GET', `${API}/clusters/${'x'.repeat(120)}`);
      assert.equal(possible.status, 404, possible.text);
    });
  });

  describe('resourceVersion parameters', () => {
    for (const bad of ['abc', '-1', '0', '1.5', '1e3', '', '99999999999999999999']) {
      it(`DELETE ?resourceVersion=${JSON.stringify(bad)}: 400 naming resourceVersion and a positive integer, nothing deleted`, async () => {
        await applyOk([ownCluster('rv-target', { gpu: 'true' })]);
        const status = await refusedWithoutWrite(400, () => call('DELETE', `${API}/clusters/rv-target?resourceVersion=${encodeURIComponent(bad)}`));
        assert.equal(status.reason, 'BadRequest');
        assert.deepEqual(
          status.details?.problems?.map((p) => [p.field, p.value]),
          [['resourceVersion', bad]],
        );
        assert.match(status.message, /^resourceVersion: expected a positive integer/);
        assert.equal((await call('GET', `${API}/clusters/rv-target`)).status, 200);
      });
    }

    it('DELETE with the current resourceVersion deletes, and with a stale one still answers 409', async () => {
      const v1 = await applyOk([ownCluster('rv-del', { step: '1' })]);
      await applyOk([ownCluster('rv-del', { step: '2' })]);
      const stale = await refusedWithoutWrite(409, () => call('DELETE', `${API}/clusters/rv-del?resourceVersion=${v1.revision}`));
      assert.equal(stale.reason, 'Conflict');
      const current = (await call<Resource>('GET', `${API}/clusters/rv-del`)).body.metadata.resourceVersion;
      assert.equal((await call('DELETE', `${API}/clusters/rv-del?resourceVersion=${current}`)).status, 200);
      assert.equal((await call('GET', `${API}/clusters/rv-del`)).status, 404);
    });

    it('a watch from a malformed resourceVersion: 400 naming it', async () => {
      const res = await call('GET', `${API}/clusters?watch=true&resourceVersion=abc`);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(
        (res.body as StatusBody).details?.problems?.map((p) => p.field),
        ['resourceVersion'],
      );
    });

    it('a list with a malformed resourceVersion: 400 naming it; "0" and "" still mean any', async () => {
      const res = await call('GET', `${API}/clusters?resourceVersion=-3`);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(
        (res.body as StatusBody).details?.problems?.map((p) => [p.field, p.value]),
        [['resourceVersion', '-3']],
      );
      for (const any of ['0', '']) assert.equal((await call('GET', `${API}/clusters?resourceVersion=${any}`)).status, 200);
    });

    it('a watch from a future resourceVersion: 400 at once, saying which revision the registry is at', async () => {
      const now = (await etcdSnapshot(hub.etcdUrl)).revision;
      const res = await call('GET', `${API}/clusters?watch=true&resourceVersion=${now + 1000}`);
      assert.equal(res.status, 400, res.text);
      const status = res.body as StatusBody;
      assert.equal(status.reason, 'BadRequest');
      const [problem] = status.details?.problems ?? [];
      assert.equal(problem?.field, 'resourceVersion');
      const at = /is in the future: the registry is at revision (\d+)/.exec(status.message);
      assert.ok(at !== null, status.message);
      assert.ok(Number(at[1]) >= now && Number(at[1]) < now + 1000, status.message);
    });

    it('a watch from the current revision is still accepted and streams the next change', async () => {
      const now = (await etcdSnapshot(hub.etcdUrl)).revision;
      const ac = new AbortController();
      const res = await fetch(`${hub.url}${API}/clusters?watch=true&resourceVersion=${now}`, {
        headers: { authorization: `Bearer ${hub.adminToken}` },
        signal: ac.signal,
      });
      assert.equal(res.status, 200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const written = await applyOk([ownCluster('rv-watched', {})]);
      let text = '';
      const deadline = Date.now() + 10_000;
      while (!text.includes('\n') || text.trim() === '') {
        assert.ok(Date.now() < deadline, 'no event within 10 s');
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      ac.abort();
      const event = JSON.parse(text.trim().split('\n')[0] ?? '') as { type: string; object: Resource };
      assert.deepEqual([event.type, event.object.metadata.name, event.object.metadata.resourceVersion], ['ADDED', 'rv-watched', String(written.revision)]);
    });
  });

  describe('concurrent writes', () => {
    it('20 concurrent applies without a resourceVersion to different objects all succeed, and history holds 20 writes', async () => {
      const before = await registrySnapshot(hub.etcdUrl);
      const historyBefore = Object.keys(before.keys).filter((k) => k.startsWith(HISTORY_PREFIX)).length;
      const names = Array.from({ length: 20 }, (_, i) => `conc-${i}`);
      const replies = await Promise.all(names.map((n) => apply([ownCluster(n, { batch: 'concurrent' })])));
      assert.deepEqual(
        replies.map((r) => r.status),
        names.map(() => 200),
        replies.map((r) => r.text).join('\n'),
      );
      const after = await registrySnapshot(hub.etcdUrl);
      const records = Object.entries(after.keys)
        .filter(([k]) => k.startsWith(HISTORY_PREFIX))
        .map(([, v]) => JSON.parse(v.value) as { changes: { name: string; action: string }[] });
      assert.equal(records.length - historyBefore, 20);
      assert.deepEqual(
        records
          .slice(historyBefore)
          .flatMap((r) => r.changes.map((c) => `${c.action} ${c.name}`))
          .sort(),
        names.map((n) => `created ${n}`).sort(),
      );
      // Every write is at a revision of its own, and every object is stored.
      assert.equal(new Set(replies.map((r) => r.body.revision)).size, 20);
      for (const n of names) assert.ok(after.keys[`${OBJECTS_PREFIX}clusters/${n}`] !== undefined, n);
    });

    it('two concurrent writes with the same resourceVersion: one wins, the other gets 409 stale', async () => {
      const base = await applyOk([ownCluster('conc-rv', { step: '0' })]);
      const rv = String(base.revision);
      const withVersion = (step: string): Record<string, unknown> => {
        const obj = ownCluster('conc-rv', { step });
        return { ...obj, metadata: { ...(obj.metadata as object), resourceVersion: rv } };
      };
      const replies = await Promise.all([apply([withVersion('a')]), apply([withVersion('b')])]);
      assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409], replies.map((r) => r.text).join('\n'));
      const loser = replies.find((r) => r.status === 409);
      assert.match((loser?.body as unknown as StatusBody).message, /metadata\.resourceVersion \d+ is stale/);
    });
  });

  describe('agent credentials: admins only, every hand-out in the history', () => {
    interface CredentialEntry {
      revision: number;
      actor: { name: string; role: string };
      operation: string;
      credential?: { cluster: string; publicKey: string };
      changes: unknown[];
    }
    const credentialEntries = async (token?: string, query = ''): Promise<CredentialEntry[]> => {
      const res = await call<{ items: CredentialEntry[] }>('GET', `${API}/history${query}`, token !== undefined ? { token } : {});
      assert.equal(res.status, 200, res.text);
      return res.body.items.filter((e) => e.operation.endsWith('-credentials'));
    };

    it("a team token is refused the same way for its own cluster, another team's and one that does not exist, writing nothing", async () => {
      await applyOk([ownCluster('cred-gpu', { gpu: 'true' }), ownCluster('cred-other', { role: 'inference' }, '172.18.0.0/16', '172.19.0.0/20')]);
      const team = teamToken('gpu-team');
      const messages: string[] = [];
      for (const name of ['cred-gpu', 'cred-other', 'cred-nowhere']) {
        const status = await refusedWithoutWrite(403, () => call('POST', `${API}/clusters/${name}/credentials`, { token: team }));
        assert.equal(status.reason, 'Forbidden');
        messages.push(status.message);
      }
      assert.deepEqual(messages, Array(3).fill('token "gpu-team" (role team) may not fetch agent credentials: admins only'));
      const rotate = await refusedWithoutWrite(403, () => call('POST', `${API}/clusters/cred-gpu/credentials?rotate=true`, { token: team }));
      assert.equal(rotate.message, messages[0]);
      assert.deepEqual(await credentialEntries(), []);
    });

    it('issuing, handing out again and rotating are each a history entry with actor, cluster and revision, never the secret', async () => {
      await applyOk([ownCluster('cred-audit', {}, '172.20.0.0/16', '172.21.0.0/20')]);
      type Credential = { cluster: string; publicKey: string; creds: string };
      const first = await call<Credential>('POST', `${API}/clusters/cred-audit/credentials`);
      assert.equal(first.status, 200, first.text);
      const again = await call<Credential>('POST', `${API}/clusters/cred-audit/credentials`);
      assert.equal(again.body.publicKey, first.body.publicKey);
      const rotated = await call<Credential>('POST', `${API}/clusters/cred-audit/credentials?rotate=true`);
      assert.equal(rotated.status, 200, rotated.text);
      assert.notEqual(rotated.body.publicKey, first.body.publicKey);

      const entries = (await credentialEntries()).filter((e) => e.credential?.cluster === 'cred-audit');
      assert.deepEqual(
        entries.map((e) => [e.operation, e.actor.name, e.actor.role, e.credential?.publicKey]),
        [
          ['rotate-credentials', 'admin', 'admin', rotated.body.publicKey],
          ['get-credentials', 'admin', 'admin', first.body.publicKey],
          ['issue-credentials', 'admin', 'admin', first.body.publicKey],
        ],
      );
      assert.ok(entries.every((e) => e.revision > 0 && e.changes.length === 0));
      assert.equal(new Set(entries.map((e) => e.revision)).size, 3);
      // The seed is in the .creds text; no history record holds it, or any part of the .creds.
      const seed = /\b(SU[A-Z2-7]{50,})\b/.exec(first.body.creds)?.[1];
      assert.ok(seed !== undefined, 'a .creds file holds a user seed');
      const raw = JSON.stringify((await registrySnapshot(hub.etcdUrl)).keys);
      for (const c of [first.body.creds, rotated.body.creds]) {
        const s = /\b(SU[A-Z2-7]{50,})\b/.exec(c)?.[1] ?? '';
        assert.ok(!raw.includes(s), 'a user seed is in the history');
      }
      // The history of the cluster includes them; a team's history never shows them.
      assert.equal((await credentialEntries(undefined, '?kind=Cluster&name=cred-audit')).length, 3);
      assert.deepEqual(await credentialEntries(teamToken('gpu-team')), []);
    });
  });

  describe('a team learns nothing of what it may not read', () => {
    before(async () => {
      await applyOk([ownCluster('hidden-inf', { role: 'inference' }, '172.22.0.0/16', '172.23.0.0/20'), externalService('inference', 'hidden-db', 'hh-net')]);
    });

    // Each pair: the request on an object that exists outside the team's scope, and on one that does not exist.
    const pairs: { what: string; method: string; hidden: string; absent: string; body?: (name: string) => unknown }[] = [
      { what: 'DELETE of a cluster', method: 'DELETE', hidden: `${API}/clusters/hidden-inf`, absent: `${API}/clusters/never-was` },
      {
        what: 'PUT of a cluster',
        method: 'PUT',
        hidden: `${API}/clusters/hidden-inf`,
        absent: `${API}/clusters/never-was`,
        body: (name) => ownCluster(name, { gpu: 'true' }, '172.24.0.0/16', '172.25.0.0/20'),
      },
      {
        what: "DELETE of an ExternalService in another team's namespace",
        method: 'DELETE',
        hidden: `${API}/namespaces/inference/externalservices/hidden-db`,
        absent: `${API}/namespaces/inference/externalservices/never-was`,
      },
      {
        what: "PUT of an ExternalService in another team's namespace",
        method: 'PUT',
        hidden: `${API}/namespaces/inference/externalservices/hidden-db`,
        absent: `${API}/namespaces/inference/externalservices/never-was`,
        body: (name) => externalService('inference', name, 'hh-net'),
      },
      {
        what: 'GET of a cluster',
        method: 'GET',
        hidden: `${API}/clusters/hidden-inf`,
        absent: `${API}/clusters/never-was`,
      },
    ];
    for (const p of pairs) {
      it(`${p.what}: the same 404 whether it exists or not, writing nothing`, async () => {
        const token = teamToken('gpu-team');
        const send = (path: string) => () => {
          const name = path.split('/').pop() ?? '';
          return call(p.method, path, { token, ...(p.body !== undefined ? { json: p.body(name) } : {}) });
        };
        const hidden = await refusedWithoutWrite(404, send(p.hidden));
        const absent = await refusedWithoutWrite(404, send(p.absent));
        assert.equal(hidden.message.replace('hidden-inf', 'X').replace('hidden-db', 'X'), absent.message.replace(/never-was/g, 'X'));
      });
    }

    it("an apply of an ExternalService in another team's namespace: the same 403 whether it exists or not", async () => {
      const token = teamToken('gpu-team');
      const hidden = await refusedWithoutWrite(403, () => apply([externalService('inference', 'hidden-db', 'hh-net')], token));
      const absent = await refusedWithoutWrite(403, () => apply([externalService('inference', 'never-was', 'hh-net')], token));
      assert.equal(hidden.message.replace('hidden-db', 'X'), absent.message.replace('never-was', 'X'));
    });

    for (const [order, mine, theirs] of [
      ['below', '10.50.0.0/16', '10.50.128.0/17'],
      ['above', '10.60.128.0/17', '10.60.0.0/16'],
    ] as const) {
      it(`an overlap with a cluster the team may not see (its range ${order} the other): "overlaps a range you may not see", naming nothing of the other`, async () => {
        await applyOk([
          cluster(`ovl-hidden-${order}`, theirs, '172.30.0.0/20', {
            network: 'hh-net',
            provider: 'onprem',
            spec: { clusterSet: `set-ovl-${order}`, region: 'lab' },
            labels: { role: 'inference' },
          }),
        ]);
        const mineObj = cluster(`ovl-mine-${order}`, mine, '172.31.0.0/20', {
          network: 'hh-net',
          provider: 'onprem',
          spec: { clusterSet: `set-ovl-${order}`, region: 'lab' },
          labels: { gpu: 'true' },
        });
        const status = await refusedWithoutWrite(422, () => apply([mineObj], teamToken('gpu-team')));
        assert.deepEqual(
          status.details?.problems?.map((p) => [p.kind, p.name, p.field, p.value]),
          [['Cluster', `ovl-mine-${order}`, 'spec.podCIDRs[0]', mine]],
        );
        assert.match(status.message, new RegExp(`spec\\.podCIDRs\\[0\\]: ${mine.replace(/[./]/g, '\\$&')} overlaps a range you may not see`));
        const text = JSON.stringify(status);
        assert.ok(!text.includes(`ovl-hidden-${order}`) && !text.includes(theirs), text);
        // An admin is told which cluster and range it is.
        const adminView = await refusedWithoutWrite(422, () => apply([mineObj]));
        assert.ok(adminView.message.includes(`ovl-hidden-${order}`) && adminView.message.includes(theirs), adminView.message);
      });
    }
  });

  describe("a team's ExternalService exports only inside the team's cluster selector", () => {
    const es = (name: string, exportTo?: unknown): Record<string, unknown> => {
      const base = externalService('ml-training', name, 'hh-net') as { spec: Record<string, unknown> };
      return { ...base, spec: { ...base.spec, ...(exportTo !== undefined ? { exportTo } : {}) } };
    };
    const stored = async (name: string): Promise<Resource> => {
      const res = await call<Resource>('GET', `${API}/namespaces/ml-training/externalservices/${name}`);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };

    for (const [what, selector] of [
      ["another team's clusters", { matchLabels: { role: 'inference' } }],
      ['every cluster (an empty selector)', {}],
      ['a wider selector (gpu in (true,false))', { matchExpressions: [{ key: 'gpu', operator: 'In', values: ['true', 'false'] }] }],
      ['the selector without its own term', { matchLabels: { zone: 'a' } }],
    ] as const) {
      it(`exportTo ${what}: 403 naming spec.exportTo.clusterSelector, nothing written, by apply and by POST`, async () => {
        const token = teamToken('gpu-team');
        const status = await refusedWithoutWrite(403, () => apply([es('es-wide', { clusterSelector: selector })], token));
        assert.match(
          status.message,
          /^token "gpu-team" \(role team\) may not create ExternalService\/ml-training\/es-wide: spec\.exportTo\.clusterSelector .* reaches beyond the team's cluster selector gpu=true/,
        );
        const posted = await refusedWithoutWrite(403, () =>
          call('POST', `${API}/namespaces/ml-training/externalservices`, { json: es('es-wide', { clusterSelector: selector }), token }),
        );
        assert.equal(posted.message, status.message);
      });
    }

    it('exportTo inside the selector (gpu=true and zone=a) is written as given', async () => {
      const selector = { matchLabels: { gpu: 'true', zone: 'a' } };
      await applyOk([es('es-narrow', { clusterSelector: selector })], teamToken('gpu-team'));
      const r = await stored('es-narrow');
      assert.deepEqual(r.kind === 'ExternalService' ? r.spec.exportTo : undefined, { clusterSelector: selector });
    });

    it("without exportTo, a team's ExternalService is exported to the team's selector, and re-applying it changes nothing", async () => {
      const token = teamToken('gpu-team');
      await applyOk([es('es-default')], token);
      const r = await stored('es-default');
      assert.deepEqual(r.kind === 'ExternalService' ? r.spec.exportTo : undefined, { clusterSelector: { matchLabels: { gpu: 'true' } } });
      const again = await applyOk([es('es-default')], token);
      assert.deepEqual(
        again.changes.map((c) => c.action),
        ['unchanged'],
      );
      // An admin's declaration without exportTo is left as written (every cluster).
      await applyOk([es('es-admin')]);
      const a = await stored('es-admin');
      assert.equal(a.kind === 'ExternalService' ? a.spec.exportTo : 'not an ExternalService', undefined);
    });

    it('a team may still delete its ExternalService that an admin exported more widely', async () => {
      await applyOk([es('es-wide-admin', { clusterSelector: {} })]);
      assert.equal((await call('DELETE', `${API}/namespaces/ml-training/externalservices/es-wide-admin`, { token: teamToken('gpu-team') })).status, 200);
    });
  });
});
