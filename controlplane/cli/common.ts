// What every command shares: output, the hub client from the global options, kind and number
// arguments, the common options, and waiting for Ctrl-C.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { Option, type Command } from 'commander';
import { resolveKind, KINDS, type KindInfo } from '../api/kinds.ts';
import { ADMIN_TOKEN_FILE, DEFAULT_DATA_DIR, DEFAULT_LISTEN, HUB_URL_FILE } from '../hub/config.ts';
import { CA_CERT_FILE } from '../identity/tls-files.ts';
import { HubClient } from './client.ts';

/** A command line that cannot mean anything: exit code 2. */
export class UsageError extends Error {}

/** `causeway plan` found changes to make: printed already; the exit code says so (4). */
export class ChangesPending extends Error {}

/**
 * Registry data is written by many hands: a region of "\u001b[31m…" or a message with "\r" must
 * print as text, not drive the terminal. Control characters (C0 but tab and newline, DEL, C1) and
 * bidirectional overrides (Trojan Source) are shown escaped in everything meant to be read by a
 * person. `-o yaml|json` are data, written as they are (see `outData`): YAML prints a bidi override
 * in a plain scalar raw, and escaping it would change the value that `apply -f -` reads back.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export const out = (line: string): void => {
  process.stdout.write(`${terminalSafe(line)}\n`);
};
/** `-o yaml|json` output: exact, so that it round-trips through `apply` (both formats escape C0 themselves). */
export const outData = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
/** Output in `format`: data formats exactly, the human ones (tables) terminal-safe. */
export const outIn = (format: string, text: string): void => {
  if (format === 'yaml' || format === 'json') outData(text);
  else out(text);
};
export const err = (line: string): void => {
  process.stderr.write(`${terminalSafe(line)}\n`);
};

interface ClientOptions {
  server?: string;
  token?: string;
  certificateAuthority?: string;
}

/**
 * The hub client from the global options, the environment, and what a hub on this machine left in
 * the default data dir: the URL it serves (`hub.url`), its admin token and the CA it serves TLS
 * with (`ca.crt`), the way kubectl reads one kubeconfig.
 */
export function client(cmd: Command): HubClient {
  const o = cmd.optsWithGlobals<ClientOptions>();
  const server = o.server ?? process.env.CAUSEWAY_SERVER ?? savedHubUrl() ?? `http://${DEFAULT_LISTEN}`;
  let token = o.token ?? process.env.CAUSEWAY_TOKEN;
  const tokenFile = join(DEFAULT_DATA_DIR, ADMIN_TOKEN_FILE);
  if (token === undefined && existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
  const given = o.certificateAuthority ?? process.env.CAUSEWAY_CA;
  const local = join(DEFAULT_DATA_DIR, CA_CERT_FILE);
  const caFile = given ?? (existsSync(local) ? local : undefined);
  if (caFile === undefined || !server.startsWith('https:')) return new HubClient(server, token);
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new UsageError(`--certificate-authority: cannot read ${caFile} (${(e as Error).message})`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--certificate-authority: ${caFile} is not a PEM certificate`);
  return new HubClient(server, token, { ca });
}

function savedHubUrl(): string | undefined {
  try {
    const url = readFileSync(join(DEFAULT_DATA_DIR, HUB_URL_FILE), 'utf8').trim();
    return /^https?:\/\/\S+$/.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

export function kindArg(word: string): KindInfo {
  const info = resolveKind(word);
  if (info === undefined) {
    throw new UsageError(
      `unknown kind "${word}": expected one of ${Object.values(KINDS)
        .map((k) => k.plural)
        .join(', ')}`,
    );
  }
  return info;
}

export const outputOption = (): Option => new Option('-o, --output <format>', 'output format').choices(['table', 'wide', 'yaml', 'json']).default('table');
export const fileOption = (): Option => new Option('-f, --filename <path...>', 'file, directory or - (stdin) with YAML/JSON manifests').makeOptionMandatory();

/** How long shutdown may take before the process exits anyway, saying so. */
export const SHUTDOWN_DEADLINE_MS = 15_000;
/** After a clean stop, how long a leftover handle may keep the process alive before it exits anyway. */
const LINGER_MS = 2000;

/**
 * Resolves once SIGINT/SIGTERM arrived and `stop` finished. Shutdown is bounded: a stop that
 * takes longer than SHUTDOWN_DEADLINE_MS exits 1, and a process still held open by some handle
 * LINGER_MS after a clean stop exits 0, naming what held it, instead of hanging on.
 */
export function waitForSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        err(`${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      err(`\n${signal}: stopping the hub and the servers it started ...`);
      const deadline = setTimeout(() => {
        err(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000}s; exiting`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      void stop().finally(() => {
        clearTimeout(deadline);
        setTimeout(() => {
          err(`stopped; exiting although still open: ${process.getActiveResourcesInfo().join(', ')}`);
          process.exit(process.exitCode ?? 0);
        }, LINGER_MS).unref();
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function stdinIfAsked(paths: readonly string[]): Promise<string> {
  return paths.includes('-') ? text(process.stdin) : '';
}

export function positive(v: string, flag: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag}: expected a positive whole number (got "${v}")`);
  return Number(v);
}
