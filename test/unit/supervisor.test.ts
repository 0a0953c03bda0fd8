// The hub's supervision of the servers it starts (issue 13 §2), on real child processes: a server
// that exits unasked is started again and counted; one that cannot be brought back within the
// bound makes the supervisor give up (the hub then exits non-zero); a stop is not an exit to
// restart from; a server that dies at start-up on a full disk says so, naming the directory.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildServer } from '../../controlplane/embedded/child-server.ts';
import { Supervisor, type SupervisorEvent } from '../../controlplane/embedded/supervisor.ts';

describe('supervisor of embedded servers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A "server" that runs until killed, started the way etcd and nats-server are. */
  const sleeper = (logFile: string): { server: ChildServer; stop: () => Promise<void> } => {
    const server = ChildServer.start({ name: 'sleeper', command: 'sh', args: ['-c', 'echo started; exec sleep 600'], logFile });
    return { server, stop: () => server.stop(1000) };
  };

  it('starts a server that was killed again, logging how it ended, and counts the restart', async () => {
    const logFile = join(dir, 'sleeper.log');
    const events: SupervisorEvent[] = [];
    let starts = 0;
    const sup = await Supervisor.start({
      name: 'sleeper',
      logFile,
      start: () => {
        starts++;
        return Promise.resolve(sleeper(logFile));
      },
      onEvent: (e) => events.push(e),
    });
    let restarts = 0;
    sup.onRestart(() => restarts++);
    const first = sup.server.server.pid;
    // Killed once it has spoken, so that its log has last words to quote.
    await until(() => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('started'));
    await sup.server.server.kill();
    await until(() => sup.state === 'running' && sup.server.server.pid !== first);
    assert.equal(starts, 2);
    assert.equal(restarts, 1);
    assert.equal(sup.restarts, 1);
    const exited = events.find((e) => e.kind === 'exited');
    assert.ok(exited?.kind === 'exited');
    assert.equal(exited.exit.signal, 'SIGKILL');
    assert.match(exited.logTail, /started/);
    assert.ok(events.some((e) => e.kind === 'restarted' && e.attempt === 1));
    await sup.stop();
    assert.equal(sup.state, 'stopped');
    assert.equal(sup.server.server.running, false);
    // Stopping is not an exit to restart from.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(starts, 2);
  });

  it('retries with backoff and gives up once the server stays down past the bound', async () => {
    const logFile = join(dir, 'sleeper.log');
    const events: SupervisorEvent[] = [];
    let starts = 0;
    const sup = await Supervisor.start({
      name: 'sleeper',
      logFile,
      backoff: { baseMs: 20, maxMs: 40 },
      giveUpAfterMs: 300,
      start: () => {
        starts++;
        return starts === 1 ? Promise.resolve(sleeper(logFile)) : Promise.reject(new Error('address already in use'));
      },
      onEvent: (e) => events.push(e),
    });
    await sup.server.server.kill();
    const reason = await sup.fatal;
    assert.equal(sup.state, 'failed');
    assert.match(reason.message, /^sleeper could not be started again within 0 s \(\d+ attempts\): address already in use$/);
    assert.ok(starts >= 4, `retried ${starts - 1} times`);
    assert.ok(events.filter((e) => e.kind === 'restart-failed').length >= 3);
    assert.ok(events.some((e) => e.kind === 'gave-up'));
    await sup.stop();
  });

  it('says "no space left on device in DIR" when a server dies of a full disk at start-up', async () => {
    const logFile = join(dir, 'etcd.log');
    const server = ChildServer.start({
      name: 'etcd',
      command: 'sh',
      // What etcd 3.4 prints when its WAL cannot be created on a full disk, then its exit.
      args: ['-c', 'echo "panic: open /data/member/wal/0.tmp: no space left on device" >&2; echo "goroutine 1 [running]:" >&2; exit 2'],
      logFile,
      dataDir: dir,
    });
    await assert.rejects(
      server.waitReady(() => Promise.resolve(false), logFile, 5000),
      (err: Error) => err.message === `etcd cannot start: no space left on device in ${dir} (free some and start again)`,
    );
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
