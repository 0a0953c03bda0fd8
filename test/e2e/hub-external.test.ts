// `causeway hub --etcd URL --nats URL` as a process against a real etcd and a real nats-server it
// did not start (issue 12 §4: it logged "stopping" on SIGTERM and never exited, 4 of 4 tries).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { startCauseway } from '../harness/cli.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { startTestEtcd, tempDir, type TestEtcd } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

describe('causeway hub on an existing etcd and NATS, as a process', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let nats: TestNats;

  before(async () => {
    etcd = await startTestEtcd();
    // The NATS servers an operator runs trust the hub's operator: its identity lives in etcd.
    const store = new EtcdStore({ endpoints: [etcd.url] });
    const identity = await new CredentialStore(store).identity();
    await store.close();
    nats = await startTestNats({ identity });
  });
  after(async () => {
    await nats.stop();
    await etcd.stop();
  });

  it('serves, then exits 0 within the shutdown bound on SIGTERM, leaving the servers it did not start running', async () => {
    const work = tempDir('hub-external');
    const listen = `127.0.0.1:${await freePort()}`;
    const hub = startCauseway(['hub', '--listen', listen, '--data-dir', join(work, 'data'), '--etcd', etcd.url, '--nats', nats.url], { cwd: work });
    await waitFor(
      '/readyz 200',
      async () => {
        if (hub.hasExited()) throw new Error(`exited: ${hub.stderr()}`);
        return (await fetch(`http://${listen}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;
      },
      30_000,
    );
    const started = Date.now();
    const exit = await hub.stop('SIGTERM', 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, hub.stderr());
    assert.ok(Date.now() - started < 17_000, `exited after ${Date.now() - started} ms`);
    assert.equal((await fetch(`${etcd.url}/health`)).status, 200, 'the etcd it did not start still runs');
  });
});
