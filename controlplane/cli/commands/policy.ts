// `causeway explain` (can A reach B, and which layer and rule decides?) and `causeway plan -f`
// (which flows proposed manifests allow or deny, before they are applied). Both ask the hub,
// which runs the pure core on the registry; the CLI parses flags and prints.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseFlowQuery, type ExplanationView, type PolicyPlanView } from '../../api/read-model.ts';
import { API_PREFIX } from '../client.ts';
import { readManifests } from '../files.ts';
import { client, outIn, outputOption, stdinIfAsked, UsageError } from '../common.ts';
import { table, type OutputFormat } from '../print.ts';

/** `causeway plan -f` found flow changes: printed already; exit 5 (CI requires review). */
export class FlowChanges extends Error {}
/** `causeway plan -f` found changes without flow changes: exit 4. */
export class PolicyChangesPending extends Error {}

const FLAGS = { from: '--from', to: '--to', port: '--port' } as const;

export function addExplain(program: Command): void {
  program
    .command('explain')
    .description(
      'can a workload reach a service or another workload? the verdict and the chain: export/import, route, cloud firewall, policy (tier, name, rule)',
    )
    .option('--from <CLUSTER/NAMESPACE/LABELS>', 'the source workload, e.g. aws-train/ml-training/app=trainer')
    .option('--to <SERVICE|CLUSTER/NAMESPACE/LABELS>', 'a global service NAMESPACE/NAME (inference/llm-serving) or a workload')
    .option('--port <N[/PROTO]>', 'the destination port and protocol (TCP by default), e.g. 8000 or 53/UDP')
    .addOption(outputOption())
    .action(async (o: { from?: string; to?: string; port?: string; output: OutputFormat }, cmd: Command) => {
      const parsed = parseFlowQuery(o);
      if (!parsed.ok) throw new UsageError(`${FLAGS[parsed.field]}: ${parsed.message}`);
      const q = new URLSearchParams({ from: o.from ?? '', to: o.to ?? '', port: o.port ?? '' });
      const e = await client(cmd).request<ExplanationView>('GET', `${API_PREFIX}/explain?${q.toString()}`);
      outIn(o.output, printExplanation(e, o.output));
    });
}

export function printExplanation(e: ExplanationView, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(e, null, 2);
  if (format === 'yaml') return stringify(e);
  const lines = [
    `${e.from} → ${e.to} ${e.port}: ${e.verdict.toUpperCase()}`,
    table([['LAYER', 'RESULT', 'DETAIL'], ...e.chain.map((c) => [c.layer, c.result, c.detail])]),
  ];
  if (e.decidedBy !== undefined) lines.push(`decided by ${e.decidedBy.policy} (${e.decidedBy.tier} tier) rule ${String(e.decidedBy.rule)}`);
  if (e.deniedAt !== undefined) lines.push(`denied at the ${e.deniedAt} layer`);
  return lines.join('\n');
}

/** `causeway plan -f DIR`: the hub's POST /plan on the documents; exit 0, 4 or 5. */
export async function planFiles(cmd: Command, o: { filename: string[]; recursive: boolean; output: OutputFormat }): Promise<void> {
  const docs = readManifests(o.filename, o.recursive, await stdinIfAsked(o.filename));
  const plan = await client(cmd).request<PolicyPlanView>('POST', `${API_PREFIX}/plan`, {
    documents: docs.map((d) => ({ source: d.source, object: d.object })),
  });
  outIn(o.output, printPolicyPlan(plan, o.output));
  if (plan.exitCode === 5) throw new FlowChanges('flow changes');
  if (plan.exitCode === 4) throw new PolicyChangesPending('changes pending');
}

export function printPolicyPlan(plan: PolicyPlanView, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(plan, null, 2);
  if (format === 'yaml') return stringify(plan);
  const lines: string[] = [];
  for (const c of plan.changes) lines.push(`~ ${c}`);
  for (const item of plan.items) {
    lines.push('', `cluster ${item.metadata.name}:`);
    if (item.flows.length > 0) {
      lines.push(
        table([
          ['FROM', 'TO', 'PORT', 'NOW', 'AFTER', 'DECIDED BY'],
          ...item.flows.map((f) => [
            f.from,
            f.to,
            `${f.protocol} ${f.port === f.endPort ? f.port : `${f.port}-${f.endPort}`}`,
            f.before,
            f.after,
            f.decidedBy ?? '(nothing matched)',
          ]),
        ]),
      );
    }
    for (const x of item.objects) lines.push(`  ${x.change} ${x.kind} ${x.namespace === undefined ? '' : `${x.namespace}/`}${x.name}`);
    for (const p of item.problems) lines.push(`  ${p.severity} ${p.code}: ${p.message}`);
  }
  const flows = plan.items.reduce((n, i) => n + i.flows.length, 0);
  lines.push(
    '',
    plan.classification === 'flow-changes'
      ? `${flows} flow changes: review before applying (exit 5)`
      : plan.classification === 'no-flow-changes'
        ? 'changes, but no flow between known workloads changes (exit 4)'
        : 'nothing changes (exit 0)',
  );
  return lines.join('\n').replace(/^\n/, '');
}
