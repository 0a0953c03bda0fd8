// The `causeway` command as a user runs it: `node bin/causeway.js ...` as a child process, with an
// environment free of the caller's own CAUSEWAY_* settings. Short commands are awaited to their
// exit; long-running ones (`hub`, `demo`) are started with `startCauseway` and stopped by signal,
// or, failing that, by the cleanup hook, which also kills the etcd and nats-server they started
// (by the pids in their pid files) should the command itself have to be killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from './cleanup.ts';
import { tempDir } from './servers.ts';

export const REPO_ROOT = join(import.meta.dirname, '../..');
export const CAUSEWAY_BIN = join(REPO_ROOT, 'bin/causeway.js');
export const EXAMPLES_DIR = join(REPO_ROOT, 'examples');

export interface CommandRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly cwd: string;
  /** Sets CAUSEWAY_SERVER; unset otherwise. */
  readonly server?: string;
  /** Sets CAUSEWAY_TOKEN; unset otherwise. */
  readonly token?: string;
  /** Written to stdin (which is closed either way). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

let compileCache: string | undefined;

/**
 * The caller's environment without its CAUSEWAY_* settings. Node's on-disk compile cache is shared
 * by the commands of one run: each starts in half the time, running the very same code.
 */
export function commandEnv(options: { server?: string; token?: string }): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('CAUSEWAY_')) Reflect.deleteProperty(env, k);
  compileCache ??= tempDir('node-compile-cache');
  env.NODE_COMPILE_CACHE = compileCache;
  if (options.server !== undefined) env.CAUSEWAY_SERVER = options.server;
  if (options.token !== undefined) env.CAUSEWAY_TOKEN = options.token;
  return env;
}

/** Runs a program to its exit (killed after `timeoutMs`), collecting its output. */
export function runCommand(command: string, args: readonly string[], options: CommandOptions): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: commandEnv(options),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** `causeway ARGS...` to its exit. */
export function causeway(args: readonly string[], options: CommandOptions): Promise<CommandRun> {
  return runCommand(process.execPath, [CAUSEWAY_BIN, ...args], options);
}

/** A shell pipeline of causeway commands, as typed: `causeway A | causeway B` (exit code of the first failing one). */
export function causewayPipeline(commands: readonly string[], options: CommandOptions): Promise<CommandRun> {
  const cw = `'${process.execPath}' '${CAUSEWAY_BIN}'`;
  return runCommand('bash', ['-c', `set -o pipefail; ${commands.map((c) => `${cw} ${c}`).join(' | ')}`], options);
}

export interface CausewayProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** Sends `signal` and waits (at most `timeoutMs`) for the exit. */
  stop(signal: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a long-running `causeway` command (hub, demo). `pidFiles` are those of the servers it will
 * start: if the command has to be killed at clean-up, those are killed too.
 */
export function startCauseway(
  args: readonly string[],
  options: { cwd: string; pidFiles?: readonly string[]; env?: Readonly<Record<string, string>> },
): CausewayProcess {
  const child = spawn(process.execPath, [CAUSEWAY_BIN, ...args], { cwd: options.cwd, env: commandEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start causeway ${args.join(' ')}`);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const stop = async (signal: NodeJS.Signals, timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (!done) child.kill(signal);
    // Unreferenced: a process that exits in time leaves no timer holding the test run open.
    const timer = sleep(timeoutMs, 'timeout' as const, { ref: false });
    const result = await Promise.race([exited, timer]);
    if (result === 'timeout') throw new Error(`causeway ${args.join(' ')} did not exit within ${timeoutMs} ms of ${signal}; stderr:\n${stderr}`);
    return result;
  };
  const unregister = onCleanup(async () => {
    const pids = (options.pidFiles ?? []).map(readPidFile).filter((p): p is number => p !== undefined);
    if (!done) {
      await stop('SIGTERM', 15_000).catch(async () => {
        child.kill('SIGKILL');
        await exited;
      });
    }
    for (const pid of pids) killIfRunning(pid);
  });
  void exited.then(() => {
    if ((options.pidFiles ?? []).length === 0) unregister();
  });
  return { child, pid: child.pid, stdout: () => stdout, stderr: () => stderr, exited, hasExited: () => done, stop };
}

export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The program a live pid runs (its argv[0]), undefined when no such process is running. */
export function processCommand(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its exit status is left for its parent to collect.
    if (/^\d+ \(.*\) Z /.test(stat)) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return undefined;
  }
}

function killIfRunning(pid: number): void {
  const command = processCommand(pid);
  // Only the servers the hub starts: a pid may have been reused by anything else.
  if (command === undefined || !/(^|\/)(etcd|nats-server)$/.test(command)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}
