// The kubectl-like verbs against the hub's registry: apply, diff, get, describe, delete, history
// and rollback.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { NotFoundError, UnavailableError } from '../../api/errors.ts';
import type { OutputFormat } from '../print.ts';
import { changeLine, describe, historyTable, printPlan, printPools, printResource, printResources, printRoutes, printServices, unifiedDiff } from '../print.ts';
import { readManifests } from '../files.ts';
import { waitForConvergence, waitTimeout } from '../wait.ts';
import { addExplain, planFiles } from './policy.ts';
import { ChangesPending, client, err, fileOption, kindArg, out, outData, outIn, outputOption, positive, stdinIfAsked, UsageError } from '../common.ts';

/** `get services`: the global services the hub derived from every cluster's exports. */
const SERVICE_WORDS = new Set(['services', 'service', 'svc', 'globalservices', 'globalservice']);
/** `get routes`: the route plan per domain (Network). */
const ROUTE_WORDS = new Set(['routes', 'route']);
/** `get pools` is how full each IPPool is; `get ippools` lists the IPPool resources themselves. */
const POOL_WORDS = new Set(['pools', 'pool']);

export function addRegistryCommands(program: Command): void {
  addApply(program);
  addDiff(program);
  addGet(program);
  addPlan(program);
  addExplain(program);
  addDescribe(program);
  addDelete(program);
  addHistory(program);
  addRollback(program);
}

function addApply(program: Command): void {
  program
    .command('apply')
    .description('create or update the resources in files or directories, all or nothing')
    .addOption(fileOption())
    .option('-R, --recursive', 'read directories recursively', false)
    .option('--dry-run', 'validate and show what would change, write nothing', false)
    .option('--wait', 'then wait until every cluster has applied the new revision, showing each cluster (exit 6 at the timeout)', false)
    .option('--timeout <duration>', 'how long --wait waits, such as 30s or 2m', '60s')
    .action(async (o: { filename: string[]; recursive: boolean; dryRun: boolean; wait: boolean; timeout: string }, cmd: Command) => {
      let timeoutMs: number;
      try {
        timeoutMs = waitTimeout(o.timeout);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (o.wait && o.dryRun) throw new UsageError('--wait waits for an apply; with --dry-run nothing is applied');
      const docs = readManifests(o.filename, o.recursive, await stdinIfAsked(o.filename));
      const hub = client(cmd);
      const result = await hub.apply(
        docs.map((d) => ({ source: d.source, object: d.object })),
        o.dryRun,
      );
      for (const c of result.changes) out(changeLine(c, o.dryRun));
      if (!o.dryRun && result.changes.some((c) => c.action !== 'unchanged')) err(`revision ${result.revision}`);
      if (o.wait) {
        await waitForConvergence(hub, {
          revision: result.revision,
          timeoutMs,
          write: (text) => process.stderr.write(text),
          tty: process.stderr.isTTY,
        });
      }
    });
}

function addDiff(program: Command): void {
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
}

function addGet(program: Command): void {
  program
    .command('get')
    .description('list resources of a kind, or show one')
    .argument(
      '<kind>',
      'clusters, networks, ippools, externalservices, globalpolicies, services (the derived global services), routes (the route plan per network) or pools (how full each IPPool is: size, used, free, holders); singular and short names work',
    )
    .argument('[name]', 'one object')
    .addOption(outputOption())
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)')
    .action(async (kind: string, name: string | undefined, o: { output: OutputFormat; namespace?: string }, cmd: Command) => {
      if (SERVICE_WORDS.has(kind.toLowerCase())) {
        const list = await client(cmd).services();
        const items = list.items.filter((s) => (name === undefined || s.name === name) && (o.namespace === undefined || s.namespace === o.namespace));
        if (name !== undefined && items.length === 0) throw new NotFoundError(`global service ${name} not found`);
        outIn(o.output, printServices(items, o.output));
        return;
      }
      if (ROUTE_WORDS.has(kind.toLowerCase())) {
        const items = (await client(cmd).routes()).items.filter((d) => name === undefined || d.metadata.name === name);
        if (name !== undefined && items.length === 0) throw new NotFoundError(`network ${name} not found`);
        outIn(o.output, printRoutes(items, o.output));
        return;
      }
      if (POOL_WORDS.has(kind.toLowerCase())) {
        const items = (await client(cmd).pools()).items.filter((p) => name === undefined || p.metadata.name === name);
        if (name !== undefined && items.length === 0) throw new NotFoundError(`IPPool ${name} not found`);
        outIn(o.output, printPools(items, o.output));
        return;
      }
      const info = kindArg(kind);
      const c = client(cmd);
      if (name !== undefined) outIn(o.output, printResource(info, await c.get(info, name, o.namespace), o.output));
      else {
        const list = await c.list(info, o.namespace);
        outIn(o.output, printResources(info, list.items, o.output, list.metadata.resourceVersion));
      }
    });
}

function addPlan(program: Command): void {
  program
    .command('plan')
    .description(
      'show what applying the route plan would change in each network (create, replace, delete, unchanged), changing nothing; exit 4 when changes are pending, 3 when a provider could not be asked',
    )
    .option(
      '-f, --filename <path...>',
      'plan these proposed manifests instead: the flows they allow or deny and the compiled objects they change (exit 0 nothing, 4 changes, 5 flow changes)',
    )
    .option('-R, --recursive', 'with -f: read directories recursively', false)
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat; filename?: string[]; recursive: boolean }, cmd: Command) => {
      if (o.filename !== undefined) {
        await planFiles(cmd, { filename: o.filename, recursive: o.recursive, output: o.output });
        return;
      }
      const { items } = await client(cmd).plan();
      outIn(o.output, printPlan(items, o.output));
      // A domain whose provider could not be asked has an unknown plan: never "nothing to change".
      const unplanned = items.filter((d) => !d.planned);
      if (unplanned.length > 0) {
        const why = unplanned.map(
          (d) => `${d.metadata.name} (${d.conditions.find((c) => c.type === 'Degraded' && c.status === 'True')?.message ?? 'the provider did not answer'})`,
        );
        throw new UnavailableError(`could not plan ${why.join('; ')}`);
      }
      if (items.some((d) => d.changes.length > 0)) throw new ChangesPending('changes pending');
    });
}

function addDescribe(program: Command): void {
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
}

function addDelete(program: Command): void {
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
}

function addHistory(program: Command): void {
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
      if (o.output === 'json') outData(JSON.stringify({ kind: 'History', items }, null, 2));
      else if (o.output === 'yaml') outData(stringify({ kind: 'History', items }).trimEnd());
      else out(items.length === 0 ? 'No history.' : historyTable(items));
    });
}

function addRollback(program: Command): void {
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
}
