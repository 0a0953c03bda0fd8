// Issue "Reliability under faults" §3, as a user meets it: `causeway apply` while the hub dies.
// The real `causeway hub` process on its embedded etcd and nats-server is frozen (SIGSTOP), so
// that an apply's request waits in its socket, then killed (SIGKILL) with the request there: the
// CLI says the outcome is unknown (exit 3), not that it cannot reach the hub, and tells how to
// find out and that running the same apply again is safe. An apply against the dead hub is then
// "cannot reach the hub … is it running?" (exit 3 as well). After a restart on the same data dir
// the history shows what happened (nothing: the hub never read the request), and the same apply
// run again creates the cluster once.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { causeway, processCommand, readPidFile, startCauseway, type CausewayProcess } from '../harness/cli.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

/** Bytes waiting unread in the receive queues of sockets whose local port is `port` (from /proc/net/tcp). */
function unreadBytesOnPort(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let total = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, state, queues] = [fields[1], fields[3], fields[4]];
    // 01: ESTABLISHED (a connection the frozen hub has not accepted is one, in its listen queue).
    if (local?.endsWith(`:${hexPort}`) !== true || state !== '01' || queues === undefined) continue;
    total += parseInt(queues.split(':')[1] ?? '0', 16);
  }
  return total;
}

const MANIFEST = `apiVersion: causeway.dev/v1alpha1
kind: Network
metadata:
  name: aws-vpc
spec:
  provider: aws
  region: us-east-1
  aws:
    vpcId: vpc-0a1b2c3d4e5f67890
---
apiVersion: causeway.dev/v1alpha1
kind: Cluster
metadata:
  name: mid-apply
spec:
  provider: aws
  region: us-east-1
  network: aws-vpc
  podCIDRs: [10.8.0.0/16]
  serviceCIDRs: [172.28.0.0/16]
`;

describe('causeway apply while the hub process is killed (real causeway hub, etcd, nats-server)', function () {
  this.timeout(90_000);
  let work: string;
  let dataDir: string;
  let url: string;
  let listen: string;
  let hub: CausewayProcess | undefined;

  const pidFiles = (): string[] => [join(dataDir, 'etcd', 'etcd.pid'), join(dataDir, 'nats', 'nats.pid')];
  const start = async (): Promise<CausewayProcess> => {
    const proc = startCauseway(['hub', '--listen', listen, '--data-dir', dataDir], { cwd: work, pidFiles: pidFiles() });
    await waitFor(
      `${url}/readyz to answer 200`,
      async () => {
        if (proc.hasExited()) throw new Error(`the hub exited during start-up: ${proc.stderr()}`);
        return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
      },
      30_000,
    );
    return proc;
  };

  before(async () => {
    work = tempDir('cli-hub-killed');
    dataDir = join(work, 'hub-data');
    const port = await freePort();
    listen = `127.0.0.1:${port}`;
    url = `http://${listen}`;
    writeFileSync(join(work, 'mid-apply.yaml'), MANIFEST);
  });
  after(async () => {
    if (hub !== undefined && !hub.hasExited()) {
      process.kill(hub.pid, 'SIGCONT');
      await hub.stop('SIGTERM');
    }
    // The servers a SIGKILLed hub left behind are stopped by its restart; make sure.
    for (const pid of pidFiles().map(readPidFile)) {
      if (pid !== undefined && processCommand(pid) !== undefined) process.kill(pid, 'SIGKILL');
    }
  });

  it('a hub killed with the apply in its socket: exit 3, "the outcome is unknown", and the same apply again is safe', async () => {
    hub = await start();
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const cli = (args: readonly string[]) => causeway(args, { cwd: work, server: url, token, timeoutMs: 40_000 });
    const port = Number(new URL(url).port);

    process.kill(hub.pid, 'SIGSTOP');
    const applying = cli(['apply', '-f', 'mid-apply.yaml']);
    // The request has reached the hub's socket (its kernel took it; the hub is frozen, so unread).
    await waitFor('the apply request to wait in the frozen hub socket', () => unreadBytesOnPort(port) > 0, 15_000);
    const killedHub = hub;
    process.kill(killedHub.pid, 'SIGKILL');
    await killedHub.exited;
    const gone = await applying;
    assert.equal(gone.code, 3, gone.stderr);
    assert.doesNotMatch(gone.stderr, /cannot reach the hub/);
    assert.match(
      gone.stderr,
      /^error: the hub at http:\/\/127\.0\.0\.1:\d+ went away during the request \(ECONNRESET\); the change may have been applied: check `causeway history`/m,
    );
    assert.match(gone.stderr, /re-running the same `causeway apply` is safe \(apply is idempotent/);

    // Against the dead hub, nothing can be sent: a different message, the same exit code.
    const refused = await cli(['apply', '-f', 'mid-apply.yaml']);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /^error: cannot reach the hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\?/m);

    // What happened, as the message says to check it: the hub never read the request.
    hub = await start();
    const history = JSON.parse((await cli(['history', '-o', 'json'])).stdout) as { items: HistoryEntry[] };
    assert.equal(history.items.filter((e) => e.changes.some((c) => c.name === 'mid-apply')).length, 0);
    const again = await cli(['apply', '-f', 'mid-apply.yaml']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^cluster\/mid-apply created$/m);
    const twice = await cli(['apply', '-f', 'mid-apply.yaml']);
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stdout, /^cluster\/mid-apply unchanged$/m);
    const after = JSON.parse((await cli(['history', '-o', 'json'])).stdout) as { items: HistoryEntry[] };
    assert.equal(after.items.filter((e) => e.changes.some((c) => c.name === 'mid-apply' && c.action === 'created')).length, 1);
    const exit = await hub.stop('SIGTERM');
    assert.equal(exit.code, 0, hub.stderr());
  });
});
