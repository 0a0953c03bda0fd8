// Owns the life of one server process we start (etcd, nats-server, gobgpd, bird): spawned in a
// process group of its own so that stopping it stops everything it forked, with a pid file so
// that a hub killed with SIGKILL can clean up after itself on the next start.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync, statfsSync, writeFileSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../api/errors.ts';
import { Backoff } from '../kernel/backoff.ts';

export interface ChildServerOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr of the server go here. */
  readonly logFile: string;
  /** Written with the child's pid while it runs; a stale one is cleaned up by `killStale`. */
  readonly pidFile?: string;
  readonly cwd?: string;
  /** Variables added to this process's environment for the child (credentials of a provider double, say). */
  readonly env?: Readonly<Record<string, string>>;
  /** Where the server keeps its data: named when start-up fails for lack of space. */
  readonly dataDir?: string;
}

/** How a server process ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ChildServer {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<ChildExit>;
  private readonly pidFile: string | undefined;
  private readonly dataDir: string | undefined;
  private exitCode: number | null | undefined;

  private constructor(options: ChildServerOptions, child: ChildProcess, log: WriteStream) {
    this.name = options.name;
    this.child = child;
    this.pidFile = options.pidFile;
    this.dataDir = options.dataDir;
    // If we exit without stopping it (a second Ctrl-C, a crash), the server must not outlive us.
    trackRunning(this);
    // Exited once the process is gone and its last words are in the log file (its pipes closed and
    // the log flushed), so that whoever reports the exit can quote them; a grandchild holding the
    // pipes open delays that by at most a second.
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        untrackRunning(this);
        // Only our own pid file: a server started since on the same data dir has written its own.
        if (this.pidFile !== undefined && readPid(this.pidFile) === child.pid) rmSync(this.pidFile, { force: true });
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          clearTimeout(fallback);
          log.end(() => {
            this.exitCode = code ?? (signal === null ? null : -1);
            resolve({ code, signal });
          });
        };
        const fallback = setTimeout(finish, 1000);
        child.once('close', finish);
      });
    });
  }

  static start(options: ChildServerOptions): ChildServer {
    if (options.pidFile !== undefined) killStale(options.pidFile, options.command);
    if (options.dataDir !== undefined) assertSpace(options.name, options.dataDir);
    const log = createWriteStream(options.logFile, { flags: 'a' });
    const child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      ...(options.env !== undefined ? { env: { ...process.env, ...options.env } } : {}),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Both into one file, which neither may end: it is ended once the process has closed both.
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('error', () => undefined);
    if (child.pid !== undefined && options.pidFile !== undefined) {
      writeFileSync(options.pidFile, `${child.pid}\n`);
    }
    return new ChildServer(options, child, log);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves when the process has exited, however it ended. */
  whenExited(): Promise<ChildExit> {
    return this.exited;
  }

  get running(): boolean {
    return this.exitCode === undefined && this.child.pid !== undefined;
  }

  /** Sends a signal to the whole process group (SIGSTOP/SIGCONT for fault tests). */
  signal(sig: NodeJS.Signals): void {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, sig);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    // An unref'd timer: once the process has exited, nothing waits for the grace period to end.
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs, undefined, { ref: false }).then(() => true)]);
    if (timedOut) {
      this.signal('SIGKILL');
      await this.exited;
    }
  }

  /** SIGKILL at once (fault injection: a crash, not a shutdown). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.signal('SIGKILL');
    await this.exited;
  }

  /** Polls `ready` until it answers true; fails early with the log's tail if the process exits. */
  async waitReady(ready: () => Promise<boolean>, logFile: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const backoff = new Backoff({ baseMs: 20, maxMs: 250 });
    for (;;) {
      if (!this.running) {
        const last = await tailOf(logFile);
        // etcd's answer to a full disk is a Go panic; say what it means, and where.
        if (/no space left on device/i.test(last)) {
          throw new UnavailableError(`${this.name} cannot start: no space left on device in ${this.dataDir ?? 'its data dir'} (free some and start again)`);
        }
        throw new UnavailableError(`${this.name} exited during start-up (code ${String(this.exitCode)}): ${last}`);
      }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        throw new UnavailableError(`${this.name} was not ready within ${timeoutMs} ms: ${await tailOf(logFile)}`);
      }
      await sleep(backoff.next());
    }
  }
}

// One 'exit' listener for every server this process runs, not one each: a process running more than
// ten at once (a test run, the scale-out harness) passed Node's limit of ten listeners and warned.
const killedOnExit = new Set<ChildServer>();

function killAll(): void {
  for (const server of killedOnExit) server.signal('SIGKILL');
}

function trackRunning(server: ChildServer): void {
  if (killedOnExit.size === 0) process.once('exit', killAll);
  killedOnExit.add(server);
}

function untrackRunning(server: ChildServer): void {
  killedOnExit.delete(server);
  if (killedOnExit.size === 0) process.removeListener('exit', killAll);
}

/** Below this much free space a server cannot even write its first WAL segment or pid file. */
const MIN_FREE_BYTES = 4 * 1024 * 1024;

/** Refuses to start a server on a full disk with a message that says so (not a Go stack trace). */
function assertSpace(name: string, dir: string): void {
  let free: number;
  try {
    const fs = statfsSync(dir);
    free = fs.bavail * fs.bsize;
  } catch {
    return; // Not there yet: the server creates it, and says why if it cannot.
  }
  if (free < MIN_FREE_BYTES) {
    throw new UnavailableError(`${name} cannot start: no space left on device in ${dir} (${free} bytes free; free some and start again)`);
  }
}

function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** The last lines of a server's log, for messages about how it ended. */
export async function tailOf(file: string, lines = 8): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Kills a server left running by a previous process that died without stopping it. */
function killStale(pidFile: string, command: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    rmSync(pidFile, { force: true });
    return;
  }
  // Only ever kill the program we started: pids are reused.
  if (cmdline.split('\0')[0]?.endsWith(command.split('/').pop() ?? command) === true) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  rmSync(pidFile, { force: true });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  // Below the ephemeral range: a port the kernel hands out for listen(0) is also one it may hand
  // any outgoing connection as its local port before our server binds it (etcd failed "address
  // already in use" that way in CI). Ports under the range are only ever taken by a listener.
  const [low] = ephemeralRange();
  const floor = 10_000;
  if (low > floor + 1000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = floor + Math.floor(Math.random() * (low - floor));
      if (await bindable(port)) return port;
    }
  }
  return listenPort(0);
}

/** The kernel's range for outgoing connections' local ports (Linux's default when unreadable). */
function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a !== undefined && b !== undefined && Number.isInteger(a) && Number.isInteger(b)) return [a, b];
  } catch {
    // Not Linux, or no procfs.
  }
  return [32_768, 60_999];
}

async function bindable(port: number): Promise<boolean> {
  return listenPort(port).then(
    () => true,
    () => false,
  );
}

/** Listens on 127.0.0.1:`port` (0: any), closes, and says which port it was. */
function listenPort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** True once something accepts TCP connections on host:port. */
export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}
