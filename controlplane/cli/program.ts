// The `causeway` command line: kubectl-like verbs against the hub, plus `hub`, `demo` and `agent`
// to run one. Exit codes: 0 success, 1 rejected input, 2 usage error, 3 hub unreachable, not
// authorised, or gone during a write whose outcome is unknown; 4 `plan` found changes pending. The commands live in commands/*.ts.
import { Command, CommanderError } from 'commander';
import { CausewayError, formatProblem, InvalidInputError } from '../api/errors.ts';
import { ADMIN_TOKEN_FILE, DEFAULT_DATA_DIR, DEFAULT_LISTEN } from '../hub/config.ts';
import { addClusterCommands, addTokenCommands } from './commands/access.ts';
import { FlowChanges, PolicyChangesPending } from './commands/policy.ts';
import { addRegistryCommands } from './commands/registry.ts';
import { addAgentCommand, addServerCommands } from './commands/run.ts';
import { ChangesPending, err, UsageError } from './common.ts';
import { WaitTimedOut } from './wait.ts';

export const ExitCode = { ok: 0, rejected: 1, usage: 2, unavailable: 3, pending: 4, flowChanges: 5, timedOut: 6 } as const;

export function buildProgram(): Command {
  const program = new Command('causeway')
    .description('Causeway: one registry of clusters, networks, services and policy across AWS, GCP and on-prem.')
    .option('--server <url>', `hub URL (env CAUSEWAY_SERVER; default the one in ${DEFAULT_DATA_DIR}/hub.url, or http://${DEFAULT_LISTEN})`)
    .option('--token <token>', `bearer token (env CAUSEWAY_TOKEN; default ${DEFAULT_DATA_DIR}/${ADMIN_TOKEN_FILE} when present)`)
    .option('--certificate-authority <file>', `CA certificate to trust for an https hub (env CAUSEWAY_CA; default ${DEFAULT_DATA_DIR}/ca.crt when present)`)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  // Registered in the order `--help` lists them.
  addServerCommands(program);
  addRegistryCommands(program);
  addClusterCommands(program);
  addAgentCommand(program);
  addTokenCommands(program);
  return program;
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
  if (e instanceof ChangesPending || e instanceof PolicyChangesPending) return ExitCode.pending;
  if (e instanceof FlowChanges) return ExitCode.flowChanges;
  if (e instanceof WaitTimedOut) {
    err(`error: ${e.message}`);
    return ExitCode.timedOut;
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
      case 'OutcomeUnknown':
        // A write that may or may not have been applied: the hub went away, the input was not refused.
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
