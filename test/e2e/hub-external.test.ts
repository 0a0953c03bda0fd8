// `causeway hub --etcd URL --nats URL` as a process against a real etcd and a real nats-server it
// did not start (issue 12 §4: it logged "stopping" on SIGTERM and never exited, 4 of 4 tries).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { CredentialStore } from '../../controlplane/hub/credentials.ts';
import { createSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { startCauseway } from '../harness/cli.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { startTestEtcd, tempDir, type TestEtcd } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

describe('causeway hub on an existing etcd and NATS, as a process', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let nats: TestNats;
  /** Replicas on one etcd share the key that seals its secrets (docs/operations.md). */
  let keyFile: string;

  before(async () => {
    keyFile = join(tempDir('hub-external-keys'), 'secrets.key');
    createSecretKeyFile(keyFile);
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
    const hub = startCauseway(
      ['hub', '--listen', listen, '--data-dir', join(work, 'data'), '--etcd', etcd.url, '--nats', nats.url, '--secret-key-file', keyFile],
      { cwd: work },
    );
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

  // Reproduction (issue 13 §3): a follower replica stopped etcd and NATS on SIGTERM but never
  // exited (3 of 3, >70 s). Shutdown is bounded whether or not the hub leads.
  it('stops a follower replica on SIGTERM within the bound, while the leader serves on, then the leader', async () => {
    const start = async (name: string): Promise<{ hub: ReturnType<typeof startCauseway>; listen: string }> => {
      const work = tempDir(`hub-external-${name}`);
      const listen = `127.0.0.1:${await freePort()}`;
      const hub = startCauseway(
        ['hub', '--listen', listen, '--data-dir', join(work, 'data'), '--etcd', etcd.url, '--nats', nats.url, '--secret-key-file', keyFile],
        { cwd: work },
      );
      await waitFor(
        `${name} /readyz 200`,
        async () => {
          if (hub.hasExited()) throw new Error(`exited: ${hub.stderr()}`);
          return (await fetch(`http://${listen}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;
        },
        30_000,
      );
      return { hub, listen };
    };
    const leader = await start('leader');
    await waitFor('the first replica to lead', () => /"leader":true/.test(leader.hub.stdout()), 15_000);
    const follower = await start('follower');
    await waitFor('the second replica to follow', () => follower.hub.stdout().includes('"msg":"agent gateway listening"'), 15_000);
    assert.doesNotMatch(follower.hub.stdout(), /"leader":true/);
    for (const [who, replica] of [
      ['follower', follower],
      ['leader', leader],
    ] as const) {
      const started = Date.now();
      const exit = await replica.hub.stop('SIGTERM', 20_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${who}: ${replica.hub.stderr()}`);
      assert.ok(Date.now() - started < 17_000, `${who} exited after ${Date.now() - started} ms`);
      if (who === 'follower') assert.equal((await fetch(`http://${leader.listen}/readyz`)).status, 200, 'the leader serves on');
    }
  });
});
