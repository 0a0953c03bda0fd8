// The `causeway` command line: kubectl-like verbs against the hub, plus `hub` and `demo` to run
// one. Exit codes: 0 success, 1 rejected input, 2 usage error, 3 hub unreachable or not
// authorised.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { Command, CommanderError, Option } from 'commander';
import { CausewayError, formatProblem, InvalidInputError, NotFoundError } from '../api/errors.ts';
import { resolveKind, KINDS, type KindInfo } from '../api/kinds.ts';
import { ADMIN_TOKEN_FILE } from '../hub/config.ts';
import { DEFAULT_DATA_DIR, DEFAULT_LISTEN, startHub } from '../hub/hub.ts';
import { hashToken, newToken } from '../hub/auth.ts';
import { HubClient } from './client.ts';
import { runDemo, type RunningDemo } from './demo.ts';
import { readManifests } from './files.ts';
import { changeLine, describe, historyTable, printResource, printResources, printServices, unifiedDiff, type OutputFormat } from './print.ts';
import { stringify } from 'yaml';

export const ExitCode = { ok: 0, rejected: 1, usage: 2, unavailable: 3 } as const;

class UsageError extends Error {}

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const err = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

interface ClientOptions {
  server?: string;
  token?: string;
}

function client(cmd: Command): HubClient {
  const o = cmd.optsWithGlobals<ClientOptions>();
  const server = o.server ?? process.env.CAUSEWAY_SERVER ?? `http://${DEFAULT_LISTEN}`;
  let token = o.token ?? process.env.CAUSEWAY_TOKEN;
  const tokenFile = join(DEFAULT_DATA_DIR, ADMIN_TOKEN_FILE);
  if (token === undefined && existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
  return new HubClient(server, token);
}

function kindArg(word: string): KindInfo {
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

/** `get services`: the global services the hub derived from every cluster's exports. */
const SERVICE_WORDS = new Set(['services', 'service', 'svc', 'globalservices', 'globalservice']);

const outputOption = (): Option => new Option('-o, --output <format>', 'output format').choices(['table', 'wide', 'yaml', 'json']).default('table');
const fileOption = (): Option => new Option('-f, --filename <path...>', 'file, directory or - (stdin) with YAML/JSON manifests').makeOptionMandatory();

function waitForSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        err(`${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      err(`\n${signal}: stopping the hub and the servers it started ...`);
      void stop().finally(() => {
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export function buildProgram(): Command {
  const program = new Command('causeway')
    .description('Causeway: one registry of clusters, networks, services and policy across AWS, GCP and on-prem.')
    .option('--server <url>', `hub URL (env CAUSEWAY_SERVER; default http://${DEFAULT_LISTEN})`)
    .option('--token <token>', `bearer token (env CAUSEWAY_TOKEN; default ${DEFAULT_DATA_DIR}/${ADMIN_TOKEN_FILE} when present)`)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  program
    .command('hub')
    .description('run the hub: the registry API on etcd (embedded etcd and nats-server unless --etcd/--nats are given)')
    .option('--listen <host:port>', 'address to serve the API on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the admin token and embedded servers keep their data', DEFAULT_DATA_DIR)
    .option('--etcd <urls>', 'comma-separated etcd client URLs of an existing etcd cluster')
    .option('--nats <url>', 'URL of an existing NATS cluster')
    .option('--config <file>', 'hub config file (API tokens and their scopes)')
    .action(async (o: { listen: string; dataDir: string; etcd?: string; nats?: string; config?: string }) => {
      const hub = await startHub({
        listen: o.listen,
        dataDir: o.dataDir,
        etcd: o.etcd
          ?.split(',')
          .map((u) => u.trim())
          .filter((u) => u !== ''),
        nats: o.nats,
        configFile: o.config,
      });
      err(`hub serving on ${hub.url}; admin token in ${hub.adminTokenFile}`);
      await waitForSignal(() => hub.stop());
    });

  program
    .command('demo')
    .description('start a hub on its embedded default, apply examples/, show the result and serve until Ctrl-C')
    .option('--listen <host:port>', 'address to serve the API on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the demo hub keeps its data', DEFAULT_DATA_DIR)
    .action(async (o: { listen: string; dataDir: string }) => {
      // Listen for Ctrl-C before starting, so that one during start-up still stops what started.
      const started: { demo?: RunningDemo } = {};
      const stopped = waitForSignal(async () => {
        await started.demo?.stop();
      });
      started.demo = await runDemo(o, out);
      await stopped;
    });

  program
    .command('apply')
    .description('create or update the resources in files or directories, all or nothing')
    .addOption(fileOption())
    .option('-R, --recursive', 'read directories recursively', false)
    .option('--dry-run', 'validate and show what would change, write nothing', false)
    .action(async (o: { filename: string[]; recursive: boolean; dryRun: boolean }, cmd: Command) => {
      const docs = readManifests(o.filename, o.recursive, await stdinIfAsked(o.filename));
      const result = await client(cmd).apply(
        docs.map((d) => ({ source: d.source, object: d.object })),
        o.dryRun,
      );
      for (const c of result.changes) out(changeLine(c, o.dryRun));
      if (!o.dryRun && result.changes.some((c) => c.action !== 'unchanged')) err(`revision ${result.revision}`);
    });

  program
    .command('diff')
    .description('show what applying the files would change, as a unified diff')
    .addOption(fileOption())
    .option('-R, --recursive', 'read directories recursively', false)
    .action(async (o: { filename: string[]; recursive: boolean }, cmd: Command) => {
      const docs = readManifests(o.filename, o.recursive, await stdinIfAsked(o.filename));
      const { changes } = await client(cmd).diff(docs.map((d) => ({ source: d.source, object: d.object })));
      const changed = changes.filter((c) => c.action !== 'unchanged');
      for (const c of changed) out(unifiedDiff(c).trimEnd());
      if (changed.length === 0) err('no changes');
    });

  program
    .command('get')
    .description('list resources of a kind, or show one')
    .argument(
      '<kind>',
      'clusters, networks, ippools, externalservices, globalpolicies, or services (the derived global services); singular and short names work',
    )
    .argument('[name]', 'one object')
    .addOption(outputOption())
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)')
    .action(async (kind: string, name: string | undefined, o: { output: OutputFormat; namespace?: string }, cmd: Command) => {
      if (SERVICE_WORDS.has(kind.toLowerCase())) {
        const list = await client(cmd).services();
        const items = list.items.filter((s) => (name === undefined || s.name === name) && (o.namespace === undefined || s.namespace === o.namespace));
        if (name !== undefined && items.length === 0) throw new NotFoundError(`global service ${name} not found`);
        out(printServices(items, o.output));
        return;
      }
      const info = kindArg(kind);
      const c = client(cmd);
      if (name !== undefined) out(printResource(info, await c.get(info, name, o.namespace), o.output));
      else {
        const list = await c.list(info, o.namespace);
        out(printResources(info, list.items, o.output, list.metadata.resourceVersion));
      }
    });

  program
    .command('describe')
    .description('show one resource in detail: spec, status, conditions and its recent history')
    .argument('<kind>')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
    .action(async (kind: string, name: string, o: { namespace: string }, cmd: Command) => {
      const info = kindArg(kind);
      const c = client(cmd);
      const r = await c.get(info, name, o.namespace);
      const history = await c.history({ info, name, ...(info.namespaced ? { namespace: o.namespace } : {}), limit: 10 });
      out(describe(r, history.items));
    });

  program
    .command('delete')
    .description('delete one resource (refused while others reference it)')
    .argument('<kind>')
    .argument('<name>')
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
    .option('--dry-run', 'check only, delete nothing', false)
    .action(async (kind: string, name: string, o: { namespace: string; dryRun: boolean }, cmd: Command) => {
      const info = kindArg(kind);
      const res = await client(cmd).delete(info, name, o.namespace, o.dryRun);
      out(`${info.singular}/${info.namespaced ? `${o.namespace}/` : ''}${name} deleted${o.dryRun ? ' (dry run)' : ''}`);
      if (!o.dryRun) err(`revision ${res.details.revision}`);
    });

  program
    .command('history')
    .description('the audit history of the registry, newest first, or of one object')
    .argument('[kind]')
    .argument('[name]')
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
    .option('--limit <n>', 'at most this many entries', (v) => positive(v, '--limit'), 50)
    .addOption(outputOption().choices(['table', 'yaml', 'json']))
    .action(async (kind: string | undefined, name: string | undefined, o: { namespace: string; limit: number; output: OutputFormat }, cmd: Command) => {
      if (kind !== undefined && name === undefined) throw new UsageError('history of one object needs KIND and NAME');
      const info = kind !== undefined ? kindArg(kind) : undefined;
      const { items } = await client(cmd).history({
        ...(info !== undefined ? { info, ...(info.namespaced ? { namespace: o.namespace } : {}) } : {}),
        ...(name !== undefined ? { name } : {}),
        limit: o.limit,
      });
      if (o.output === 'json') out(JSON.stringify({ kind: 'History', items }, null, 2));
      else if (o.output === 'yaml') out(stringify({ kind: 'History', items }).trimEnd());
      else out(items.length === 0 ? 'No history.' : historyTable(items));
    });

  program
    .command('rollback')
    .description('restore every resource to how it was at a revision, by writing a new revision')
    .requiredOption('--to <revision>', 'registry revision (see `causeway history`)', (v) => positive(v, '--to'))
    .option('--dry-run', 'show what would change, write nothing', false)
    .action(async (o: { to: number; dryRun: boolean }, cmd: Command) => {
      const result = await client(cmd).rollback(o.to, o.dryRun);
      const changed = result.changes.filter((c) => c.action !== 'unchanged');
      for (const c of changed) out(changeLine(c, o.dryRun));
      if (changed.length === 0) out(`nothing to roll back: the registry already matches revision ${o.to}`);
      else if (!o.dryRun) err(`rolled back to revision ${o.to} as revision ${result.revision}`);
    });

  const cluster = program.command('cluster').description('cluster operations');
  cluster
    .command('credentials')
    .description("print the cluster agent's NATS credential (.creds); --rotate issues a new one and revokes the old")
    .argument('<name>', 'cluster name')
    .option('--rotate', 'issue a new credential and revoke the current one', false)
    .option('--output-file <file>', 'write the .creds file here (mode 0600) instead of stdout')
    .action(async (name: string, o: { rotate: boolean; outputFile?: string }, cmd: Command) => {
      const credential = await client(cmd).credentials(name, o.rotate);
      if (o.outputFile !== undefined) {
        writeFileSync(o.outputFile, credential.creds, { mode: 0o600 });
        err(`wrote ${o.outputFile} (user ${credential.publicKey}, issued ${credential.issuedAt})`);
      } else out(credential.creds.trimEnd());
    });

  program
    .command('agent')
    .description("run a cluster's agent: report its ServiceExports to the hub, apply the imports the hub sends")
    .requiredOption('--cluster <name>', 'the cluster this agent serves (as registered)')
    .requiredOption('--nats <url>', 'NATS URL(s), comma-separated')
    .requiredOption('--creds <file>', 'the .creds file from `causeway cluster credentials NAME`')
    .option('--kubeconfig <path>', 'kubeconfig of the cluster (default: in-cluster config)')
    .option(
      '--heartbeat-interval <ms>',
      "how often to heartbeat; keep it well under the cluster's spec.heartbeatTTLSeconds",
      (v) => positive(v, '--heartbeat-interval'),
      5000,
    )
    .action(async (o: { cluster: string; nats: string; creds: string; kubeconfig?: string; heartbeatInterval: number }) => {
      const { runAgent } = await import('../../cluster-agent/main.ts');
      const agent = await runAgent({
        cluster: o.cluster,
        natsUrl: o.nats,
        credsFile: o.creds,
        heartbeatIntervalMs: o.heartbeatInterval,
        ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
      });
      err(`agent for cluster ${o.cluster} running`);
      await waitForSignal(() => agent.stop());
    });

  const token = program.command('token').description('API tokens for the hub config file');
  token
    .command('create')
    .description('make a new token; prints it once, and the hub config entry holding only its hash')
    .argument('<name>', 'who the token is for, e.g. ml-team or platform-ci')
    .addOption(new Option('--role <role>', 'admin or team').choices(['admin', 'team']).default('team'))
    .option('--namespace <ns...>', 'team: namespaces it owns')
    .option('--cluster-selector <k=v,...>', 'team: labels of the clusters it may register and read')
    .action((name: string, o: { role: 'admin' | 'team'; namespace?: string[]; clusterSelector?: string }) => {
      const t = newToken();
      const matchLabels = Object.fromEntries(
        (o.clusterSelector ?? '')
          .split(',')
          .filter((s) => s !== '')
          .map((kv) => {
            const [k, v] = kv.split('=');
            if (k === undefined || v === undefined) throw new UsageError(`--cluster-selector: expected key=value pairs, got "${kv}"`);
            return [k, v];
          }),
      );
      err(`token for ${name} (shown once; hand it over securely):`);
      out(t);
      err('\nadd this to the hub config file (--config) under tokens:');
      err(
        stringify([
          {
            name,
            role: o.role,
            sha256: hashToken(t),
            ...(o.role === 'team' ? { namespaces: o.namespace ?? [] } : {}),
            ...(o.role === 'team' && Object.keys(matchLabels).length > 0 ? { clusterSelector: { matchLabels } } : {}),
          },
        ]).trimEnd(),
      );
    });

  return program;
}

async function stdinIfAsked(paths: readonly string[]): Promise<string> {
  return paths.includes('-') ? text(process.stdin) : '';
}

function positive(v: string, flag: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag}: expected a positive whole number (got "${v}")`);
  return Number(v);
}

export async function main(argv: readonly string[]): Promise<number> {
  // `causeway get ... | head`: the reader leaving early is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.ok;
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
    return ExitCode.usage;
  }
  if (e instanceof UsageError) {
    err(`error: ${e.message}`);
    return ExitCode.usage;
  }
  if (e instanceof InvalidInputError) {
    err(`error: ${e.problems.length === 1 ? 'rejected' : `rejected (${e.problems.length} problems)`}; nothing was changed`);
    for (const p of e.problems) err(`  ${formatProblem(p)}`);
    return ExitCode.rejected;
  }
  if (e instanceof CausewayError) {
    err(`error: ${e.message}`);
    switch (e.reason) {
      case 'Unauthorized':
      case 'Forbidden':
      case 'ServiceUnavailable':
        return ExitCode.unavailable;
      case 'Invalid':
      case 'NotFound':
      case 'Conflict':
      case 'AlreadyExists':
      case 'Expired':
        return ExitCode.rejected;
    }
  }
  err(`error: ${e instanceof Error ? e.message : String(e)}`);
  return ExitCode.rejected;
}
