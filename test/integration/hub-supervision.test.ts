// The hub supervises the servers it starts (issue 13 §2). Reproduction first: with the embedded
// etcd SIGKILLed the hub stayed up, /healthz 200, every call 503 "circuit breaker is open" until
// restarted by hand; with the embedded nats-server dead, /readyz stayed 200. Now: each is started
// again on the same address, /readyz names what is down while it is, /metrics counts the restarts,
// and the registry and agents' bus work again without anyone touching the hub.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { KINDS } from '../../controlplane/api/kinds.ts';
import { readFileSync } from 'node:fs';
import { network } from '../fixtures/resources.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

interface Readiness {
  status: number;
  message?: string;
  checks?: { name: string; ready: boolean; message: string }[];
}

async function readyz(hub: RunningHub): Promise<Readiness> {
  const res = await fetch(`${hub.url}/readyz`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { message?: string; checks?: Readiness['checks']; details?: { checks?: Readiness['checks'] } };
  return { status: res.status, ...(body.message !== undefined ? { message: body.message } : {}), checks: body.checks ?? body.details?.checks ?? [] };
}

function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('hub supervision of its embedded etcd and nats-server (real servers, kill -9)', function () {
  this.timeout(60_000);
  let hub: RunningHub;
  let client: HubClient;

  before(async () => {
    const dir = tempDir('hub-supervision');
    hub = await startHub({ listen: '127.0.0.1:0', dataDir: join(dir, 'data'), logger: pino({ level: 'silent' }) });
    onCleanup(() => hub.stop());
    client = new HubClient(hub.url, readFileSync(hub.adminTokenFile, 'utf8').trim());
    const ready = await readyz(hub);
    assert.equal(ready.status, 200);
    assert.deepEqual(
      ready.checks?.map((c) => [c.name, c.ready]),
      [
        ['etcd', true],
        ['nats', true],
        ['etcd-server', true],
        ['nats-server', true],
      ],
    );
  });

  after(async () => {
    await hub.stop();
  });

  it('starts a SIGKILLed etcd again on the same address; /readyz says so meanwhile, writes work after', async () => {
    const etcd = hub.embedded.etcd;
    assert.ok(etcd !== undefined);
    const before = etcd.server;
    const downSeen: string[] = [];
    await before.server.kill();
    await waitFor('etcd to be running again', async () => {
      const r = await readyz(hub);
      if (r.status === 503 && r.message !== undefined) downSeen.push(r.message);
      return r.status === 200 && etcd.restarts === 1 ? r : undefined;
    });
    assert.notEqual(etcd.server.server.pid, before.server.pid);
    assert.equal(etcd.server.url, before.url);
    const applied = await waitFor('an apply to succeed', () =>
      client.apply([{ source: { file: 'network.yaml', document: 1 }, object: network('after-etcd') }], false).catch(() => undefined),
    );
    assert.equal(applied.changes[0]?.action, 'created');
    assert.equal((await client.get(KINDS.Network, 'after-etcd')).metadata.name, 'after-etcd');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.equal(metric(metrics, 'causeway_embedded_server_restarts_total{server="etcd-server"}'), 1);
    assert.equal(metric(metrics, 'causeway_dependency_up{dependency="etcd-server"}'), 1);
    // The window may be shorter than one probe; when one fell inside it, it named the server.
    for (const m of downSeen) assert.match(m, /^not ready: .*etcd/);
  });

  it('starts a SIGKILLed nats-server again on its port, and /readyz is 503 until the hub is connected again', async () => {
    const nats = hub.embedded.nats;
    assert.ok(nats !== undefined);
    const before = nats.server;
    await before.server.kill();
    // Until the hub's own connection is back, /readyz is not 200 (it stayed 200 before this fix).
    const down = await readyz(hub);
    assert.equal(down.status, 503);
    assert.match(down.message ?? '', /^not ready: .*nats/);
    const up = await waitFor('nats to be back', async () => {
      const r = await readyz(hub);
      return r.status === 200 && nats.restarts === 1 ? r : undefined;
    });
    assert.ok(up.checks?.every((c) => c.ready));
    assert.equal(nats.server.url, before.url);
    assert.notEqual(nats.server.server.pid, before.server.pid);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.equal(metric(metrics, 'causeway_embedded_server_restarts_total{server="nats-server"}'), 1);
    assert.equal(metric(metrics, 'causeway_dependency_up{dependency="nats"}'), 1);
  });
});
