// Issue "Reliability under faults" §3, deadlines: while etcd does not answer, every API call that
// needs it answers within the hub's request deadline with 503 "etcd is not answering", instead of
// hanging for as long as the client waits. A real hub with its default settings on a real etcd,
// which the test freezes (SIGSTOP: connections stay open, nothing answers) or kills (SIGKILL:
// connections refused) while the hub keeps running. A write refused as not applied must not have
// been applied, one answered "may have been applied" is either, and re-sending every write once
// etcd is back leaves each object applied exactly once.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { startEtcd } from '../../controlplane/embedded/etcd.ts';
import { DEFAULT_REQUEST_DEADLINE_MS } from '../../controlplane/hub/http/server.ts';
import type { StatusBody } from '../../controlplane/hub/http/status.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { cluster, network } from '../fixtures/resources.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';
import { tempDir, type TestEtcd } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const API = '/apis/causeway.dev/v1alpha1';
/** Two busy cores answering 120 requests at once: the answer may come a little after the deadline. */
const SLACK_MS = 1500;
/** How long the test waits for any answer: far past the deadline, so that a hang shows as one. */
const CLIENT_WAIT_MS = 25_000;

interface Answer {
  readonly label: string;
  readonly status: number;
  readonly ms: number;
  readonly body: StatusBody | undefined;
  readonly text: string;
}

async function call(hub: TestHub, label: string, method: string, path: string, options: { json?: unknown; token?: string } = {}): Promise<Answer> {
  const started = Date.now();
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? hub.adminToken}` };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${hub.url}${path}`, {
      method,
      headers,
      ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
      signal: AbortSignal.timeout(CLIENT_WAIT_MS),
    });
    const text = await res.text();
    let body: StatusBody | undefined;
    try {
      body = JSON.parse(text) as StatusBody;
    } catch {
      body = undefined;
    }
    return { label, status: res.status, ms: Date.now() - started, body, text };
  } catch (err) {
    return { label, status: 0, ms: Date.now() - started, body: undefined, text: `no answer: ${(err as Error).message}` };
  }
}

const documents = (...objects: unknown[]) => ({ documents: objects.map((object, i) => ({ source: { file: 'deadline.yaml', document: i + 1 }, object })) });

/** The clusters this test applies while etcd is out: one per write, so that each write's fate can be read back. */
const applied = (i: number) => frozen(`frozen-${i}`, i);

/** Cluster `name` with CIDRs of its own (the `n`th /24 of 10.0.0.0/12 and of 172.16.0.0/12). */
function frozen(name: string, n: number): Record<string, unknown> {
  const [a, b] = [Math.floor(n / 256), n % 256];
  return cluster(name, `10.${a}.${b}.0/24`, `172.${16 + a}.${b}.0/24`, { labels: { wave: 'frozen' } });
}
const steady = () => cluster('steady', '10.200.0.0/16', '172.31.0.0/16');

/** Every kind of call that needs etcd, `rounds` times over; `i` makes each write's object its own. */
function callsNeedingEtcd(hub: TestHub, rounds: number, base = 0): { writes: Map<string, number>; run: () => Promise<Answer>[] } {
  const writes = new Map<string, number>();
  const team = hub.tokens['blue'] ?? '';
  const makers: ((i: number) => Promise<Answer>)[] = [
    (i) => call(hub, `list clusters #${i}`, 'GET', `${API}/clusters`),
    (i) => call(hub, `get cluster #${i}`, 'GET', `${API}/clusters/steady`),
    (i) => call(hub, `list namespaced #${i}`, 'GET', `${API}/namespaces/default/externalservices`),
    (i) => call(hub, `history #${i}`, 'GET', `${API}/history`),
    (i) => call(hub, `watch start #${i}`, 'GET', `${API}/clusters?watch=true`),
    (i) => call(hub, `services as a team #${i}`, 'GET', `${API}/services`, { token: team }),
    (i) => call(hub, `diff #${i}`, 'POST', `${API}/diff`, { json: documents(applied(i)) }),
    (i) => call(hub, `dry-run apply #${i}`, 'POST', `${API}/apply?dryRun=true`, { json: documents(applied(i)) }),
    (i) => {
      writes.set(`apply #${i}`, i);
      return call(hub, `apply #${i}`, 'POST', `${API}/apply`, { json: documents(applied(i)) });
    },
    (i) => {
      writes.set(`create #${i}`, i + 1000);
      return call(hub, `create #${i}`, 'POST', `${API}/clusters`, { json: applied(i + 1000) });
    },
    (i) => call(hub, `delete #${i}`, 'DELETE', `${API}/clusters/never-there-${i}`),
    (i) => call(hub, `credentials #${i}`, 'POST', `${API}/clusters/steady/credentials`),
  ];
  return {
    writes,
    run: () => Array.from({ length: rounds }, (_, r) => makers.map((make, k) => make(base + r * makers.length + k))).flat(),
  };
}

function summary(answers: readonly Answer[]): string {
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  const bad = answers.filter((a) => a.status !== 503).slice(0, 5);
  return `${answers.length} calls, median ${ms[Math.floor(ms.length / 2)]} ms, slowest ${ms[ms.length - 1]} ms; ${bad.map((a) => `${a.label}: ${a.status} ${a.text.slice(0, 160)}`).join('; ')}`;
}

/** Every answer a 503 Status saying etcd is not answering, within the deadline. */
function assertAllHonest503(answers: readonly Answer[]): void {
  const late = answers.filter((a) => a.ms > DEFAULT_REQUEST_DEADLINE_MS + SLACK_MS);
  assert.deepEqual(
    late.map((a) => a.label),
    [],
    `every call answers within the ${DEFAULT_REQUEST_DEADLINE_MS} ms deadline: ${summary(answers)}`,
  );
  for (const a of answers) {
    assert.equal(a.status, 503, `${a.label}: ${a.text}`);
    assert.deepEqual([a.body?.kind, a.body?.status, a.body?.code], ['Status', 'Failure', 503], a.label);
    assert.match(a.body?.message ?? '', /etcd is not answering/, a.label);
    assert.ok(a.body?.reason === 'ServiceUnavailable' || a.body?.reason === 'OutcomeUnknown', `${a.label}: reason ${a.body?.reason}`);
  }
  // Reads cannot have changed anything: only a write may say its outcome is unknown.
  for (const a of answers.filter((x) => !/^(apply|create|delete|credentials) /.test(x.label))) {
    assert.equal(a.body?.reason, 'ServiceUnavailable', `${a.label} changes nothing, so its outcome is known: ${a.text}`);
  }
}

async function clusterNames(hub: TestHub): Promise<Set<string>> {
  const res = await call(hub, 'list', 'GET', `${API}/clusters`);
  assert.equal(res.status, 200, res.text);
  return new Set((JSON.parse(res.text) as { items: { metadata: { name: string } }[] }).items.map((c) => c.metadata.name));
}

/**
 * After the outage: a write refused as not applied was not applied; then every write is sent again
 * and each object ends up applied once, with one history entry however often it was sent.
 */
async function assertWritesSettle(hub: TestHub, answers: readonly Answer[], writes: ReadonlyMap<string, number>): Promise<void> {
  const present = await clusterNames(hub);
  const nameOf = (n: number) => `frozen-${n}`;
  for (const a of answers) {
    const n = writes.get(a.label);
    if (n !== undefined && a.body?.reason === 'ServiceUnavailable')
      assert.equal(present.has(nameOf(n)), false, `${a.label} was answered "not applied" but ${nameOf(n)} exists`);
  }
  for (const [label, n] of writes) {
    const name = nameOf(n);
    const res = await call(hub, `again: ${label}`, 'POST', `${API}/apply`, { json: documents(frozen(name, n)) });
    assert.equal(res.status, 200, res.text);
    const action = (JSON.parse(res.text) as { changes: { action: string }[] }).changes[0]?.action;
    assert.equal(action, present.has(name) ? 'unchanged' : 'created', `${label} re-sent`);
  }
  const after = await clusterNames(hub);
  for (const n of writes.values()) assert.ok(after.has(nameOf(n)), `${nameOf(n)} is applied`);
  const history = await call(hub, 'history', 'GET', `${API}/history`);
  const entries = (JSON.parse(history.text) as { items: HistoryEntry[] }).items;
  for (const name of [...writes.values()].map(nameOf)) {
    const created = entries.filter((e) => e.changes.some((c) => c.name === name && c.action === 'created'));
    assert.equal(created.length, 1, `${name} was created exactly once`);
  }
}

describe('API calls while etcd does not answer get 503 "etcd is not answering" within the deadline (real hub, real etcd)', function () {
  this.timeout(120_000);

  it('etcd frozen (SIGSTOP): 120 calls at once, then 24 more, all answered within the deadline; every write settles once etcd is back', async () => {
    const hub = await startTestHub({ teams: [{ name: 'blue', namespaces: ['blue'] }] });
    try {
      const setup = await call(hub, 'setup', 'POST', `${API}/apply`, { json: documents(network('aws-vpc'), steady()) });
      assert.equal(setup.status, 200, setup.text);

      hub.etcd.server.signal('SIGSTOP');
      let answers: Answer[];
      let calls: ReturnType<typeof callsNeedingEtcd>;
      try {
        calls = callsNeedingEtcd(hub, 10);
        answers = await Promise.all(calls.run());
        assertAllHonest503(answers);
        // By now the etcd client has given up for a while (its circuit breaker is open): answers come
        // at once, and say the same thing rather than "circuit breaker is open".
        const more = callsNeedingEtcd(hub, 2, 500);
        const second = await Promise.all(more.run());
        assertAllHonest503(second);
        for (const [label, n] of more.writes) calls.writes.set(label, n);
        answers = [...answers, ...second];
        // What needs no etcd still answers.
        assert.equal((await call(hub, 'healthz', 'GET', '/healthz')).status, 200);
        assert.equal((await call(hub, 'whoami', 'GET', `${API}/whoami`)).status, 200);
      } finally {
        hub.etcd.server.signal('SIGCONT');
      }
      await waitFor('the hub to answer from etcd again', async () => (await call(hub, 'list', 'GET', `${API}/clusters`)).status === 200, 20_000);
      await assertWritesSettle(hub, answers, calls.writes);
    } finally {
      await hub.stop();
    }
  });

  it('etcd killed (SIGKILL): calls are answered 503 "etcd is not answering" at once; after a restart on the same data dir writes work again', async () => {
    const dir = tempDir('etcd-killed');
    const ports = { clientPort: await freePort(), peerPort: await freePort() };
    const start = async (): Promise<TestEtcd> => {
      const e = await startEtcd({ dataDir: join(dir, 'etcd'), ...ports });
      onCleanup(() => e.stop());
      return { ...e, dir };
    };
    let etcd = await start();
    const hub = await startTestHub({ etcd, teams: [{ name: 'blue', namespaces: ['blue'] }] });
    try {
      const setup = await call(hub, 'setup', 'POST', `${API}/apply`, { json: documents(network('aws-vpc'), steady()) });
      assert.equal(setup.status, 200, setup.text);
      await etcd.server.kill();
      const calls = callsNeedingEtcd(hub, 4);
      const answers = await Promise.all(calls.run());
      assertAllHonest503(answers);
      // Refused connections carry nothing: every write is known not to have been applied.
      for (const a of answers) {
        assert.equal(a.body?.reason, 'ServiceUnavailable', `${a.label}: ${a.text}`);
        // Refused, or (for what the breaker held back right after the kill) the connection that dropped.
        assert.match(
          a.body.message,
          // (or, for calls the breaker held back before any failure of its own was seen, that it holds them)
          /^etcd is not answering: (cannot connect \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)|the connection failed \([^)]+\)|it failed repeatedly; after repeated failures the hub holds its calls)/,
          `${a.label}: ${a.text}`,
        );
      }
      etcd = await start();
      await waitFor('the hub to answer from etcd again', async () => (await call(hub, 'list', 'GET', `${API}/clusters`)).status === 200, 20_000);
      await assertWritesSettle(hub, answers, calls.writes);
    } finally {
      await hub.stop();
      await etcd.stop();
    }
  });
});
