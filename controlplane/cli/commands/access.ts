// Access: a cluster agent's NATS credential, and API tokens for the hub config file.
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { hashToken, newToken } from '../../hub/auth.ts';
import { client, err, out, UsageError } from '../common.ts';
import { openSecretFile } from '../secret-file.ts';

export function addClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('cluster operations');
  cluster
    .command('credentials')
    .description("print the cluster agent's NATS credential (.creds); --rotate issues a new one and revokes the old")
    .argument('<name>', 'cluster name')
    .option('--rotate', 'issue a new credential and revoke the current one', false)
    .option('--output-file <file>', 'write the .creds file here (mode 0600) instead of stdout')
    .action(async (name: string, o: { rotate: boolean; outputFile?: string }, cmd: Command) => {
      // The file first: a rotation must not revoke the old credential and then fail to write the new one.
      const write = o.outputFile === undefined ? undefined : openSecretFile(o.outputFile, '--output-file');
      const credential = await client(cmd).credentials(name, o.rotate);
      if (write !== undefined) {
        write(credential.creds);
        err(`wrote ${o.outputFile ?? ''} (user ${credential.publicKey}, issued ${credential.issuedAt})`);
      } else out(credential.creds.trimEnd());
    });
}

export function addTokenCommands(program: Command): void {
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
}
