// The `causeway` CLI as a user runs it: `node bin/causeway.js ...` as a child process, against the
// real hub (in-process, test/harness/hub.ts) on a real etcd. Asserts exit codes, what is printed,
// and the resulting registry state (read back through the CLI, or raw from etcd to prove that a
// refused or dry-run command wrote nothing).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Resource } from '../../controlplane/api/resources.ts';
import { buildProgram } from '../../controlplane/cli/program.ts';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { CAUSEWAY_BIN, causeway as runCauseway, causewayPipeline, EXAMPLES_DIR as EXAMPLES, runCommand, type CommandRun } from '../harness/cli.ts';
import { registrySnapshot, startTestHub, type TestHub } from '../harness/hub.ts';
import { tempDir } from '../harness/servers.ts';

let hub: TestHub;
let work: string;

/** `as: 'anonymous'` sets neither CAUSEWAY_SERVER nor CAUSEWAY_TOKEN; by default both name the test hub and its admin. */
function causeway(args: readonly string[], options: { input?: string; as?: 'admin' | 'anonymous' } = {}): Promise<CommandRun> {
  return runCauseway(args, {
    cwd: work,
    ...(options.as === 'anonymous' ? {} : { server: hub.url, token: hub.adminToken }),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

async function ok(args: readonly string[]): Promise<CommandRun> {
  const r = await causeway(args);
  assert.equal(r.code, 0, `causeway ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return r;
}

function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

/** A cluster manifest in a clusterset of its own, so its CIDRs collide with no other test's. */
function clusterYaml(name: string, labels: Record<string, string> = {}): string {
  return [
    'apiVersion: causeway.dev/v1alpha1',
    'kind: Cluster',
    'metadata:',
    `  name: ${name}`,
    `  labels: ${JSON.stringify(labels)}`,
    'spec:',
    '  provider: aws',
    '  region: us-east-1',
    '  network: aws-train-vpc',
    `  clusterSet: set-${name}`,
    '  podCIDRs: [172.16.0.0/16]',
    '  serviceCIDRs: [172.17.0.0/20]',
    '',
  ].join('\n');
}

async function clustersJson(): Promise<Resource[]> {
  const r = await ok(['get', 'clusters', '-o', 'json']);
  const list = JSON.parse(r.stdout) as { kind: string; items: Resource[] };
  assert.equal(list.kind, 'List');
  return list.items;
}

async function historyJson(): Promise<HistoryEntry[]> {
  return (JSON.parse((await ok(['history', '-o', 'json'])).stdout) as { items: HistoryEntry[] }).items;
}

/** Table rows split into cells (columns are padded with at least three spaces). */
function rows(table: string): string[][] {
  return table
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {3,}/));
}

/** The command paths of the program, e.g. ['get'], ['token', 'create']. */
function commandPaths(cmd: Command, prefix: readonly string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe('causeway CLI, end to end (real hub, real etcd)', function () {
  this.timeout(60_000);
  let firstApply: CommandRun;

  before(async () => {
    hub = await startTestHub();
    work = tempDir('cli');
    firstApply = await causeway(['apply', '-f', EXAMPLES]);
  });
  after(() => hub.stop());

  it('apply -f examples/ exits 0, says what it created, and a second apply finds everything unchanged', async () => {
    assert.equal(firstApply.code, 0, firstApply.stderr);
    const lines = firstApply.stdout.trimEnd().split('\n');
    for (const want of [
      'network/aws-train-vpc created',
      'network/gcp-train-vpc created',
      'network/onprem-fra created',
      'ippool/cluster-cidrs created',
      'ippool/clusterset-vips created',
      'ippool/onprem-inference-vips created',
      'cluster/aws-train created',
      'cluster/gcp-train created',
      'cluster/onprem-inference created',
      'externalservice/inference/feature-store created',
      'globalpolicy/inference/training-to-inference created',
      'globalpolicy/inference/deny-training-to-onprem created',
    ])
      assert.ok(lines.includes(want), `missing "${want}" in:\n${firstApply.stdout}`);
    assert.equal(lines.length, 12);
    assert.match(firstApply.stderr, /^revision \d+\n$/);

    const again = await ok(['apply', '-f', EXAMPLES]);
    assert.deepEqual(
      again.stdout.trimEnd().split('\n'),
      lines.map((l) => l.replace(/ created$/, ' unchanged')),
    );
    assert.equal(again.stderr, '');
  });

  it('get clusters prints a table of the three clusters, matching what -o json says', async () => {
    const r = await ok(['get', 'clusters']);
    const [head, ...body] = rows(r.stdout);
    assert.deepEqual(head, ['NAME', 'PROVIDER', 'REGION', 'NETWORK', 'POD CIDRS', 'SERVICE CIDRS', 'JOINED', 'AVAILABLE', 'SYNCED', 'AGE']);
    const byName = new Map(body.map((row) => [row[0], row]));
    const items = await clustersJson();
    assert.deepEqual([...byName.keys()].sort(), items.map((c) => c.metadata.name).sort());
    assert.deepEqual(byName.get('aws-train')?.slice(0, 9), [
      'aws-train',
      'aws',
      'us-east-1',
      'aws-train-vpc',
      '10.16.0.0/16',
      '10.17.0.0/20',
      'True',
      'Unknown',
      'Unknown',
    ]);
    assert.deepEqual(byName.get('onprem-inference')?.slice(0, 6), ['onprem-inference', 'onprem', 'fra1', 'onprem-fra', '10.32.0.0/16', '10.33.0.0/20']);
    // gcp-train's CIDRs are the ones the hub allocated, shown from its status.
    const gcp = items.find((c) => c.metadata.name === 'gcp-train');
    const allocated = gcp?.status?.allocated as { podCIDRs: string[]; serviceCIDRs: string[] } | undefined;
    assert.ok(allocated !== undefined);
    assert.deepEqual(byName.get('gcp-train')?.slice(0, 6), [
      'gcp-train',
      'gcp',
      'europe-west4',
      'gcp-train-vpc',
      allocated.podCIDRs.join(','),
      allocated.serviceCIDRs.join(','),
    ]);
  });

  it('get clusters -o json prints a List with the three items', async () => {
    const items = await clustersJson();
    assert.deepEqual(items.map((c) => c.metadata.name).sort(), ['aws-train', 'gcp-train', 'onprem-inference']);
    assert.deepEqual([...new Set(items.map((c) => `${c.apiVersion} ${c.kind}`))], ['causeway.dev/v1alpha1 Cluster']);
    assert.ok(items.every((c) => c.metadata.uid !== undefined && c.metadata.resourceVersion !== undefined));
  });

  it('get -o yaml round-trips through apply -f FILE, and get -o json through apply -f - (stdin), as unchanged', async () => {
    const yaml = await ok(['get', 'cluster', 'aws-train', '-o', 'yaml']);
    assert.match(yaml.stdout, /^apiVersion: causeway\.dev\/v1alpha1\nkind: Cluster\n/);
    const saved = file('aws-train.yaml', yaml.stdout);
    const before = await registrySnapshot(hub.etcdUrl);
    const fromFile = await ok(['apply', '-f', saved]);
    assert.equal(fromFile.stdout, 'cluster/aws-train unchanged\n');

    const piped = await causewayPipeline(['get clusters -o json', 'apply -f -'], { cwd: work, server: hub.url, token: hub.adminToken });
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(piped.stdout.trimEnd().split('\n').sort(), [
      'cluster/aws-train unchanged',
      'cluster/gcp-train unchanged',
      'cluster/onprem-inference unchanged',
    ]);
    // A writer slower than the CLI's start: apply -f - waits for stdin (a non-blocking pipe would
    // otherwise fail the read with EAGAIN).
    const slow = await runCommand('bash', ['-c', `set -o pipefail; { sleep 0.3; cat '${saved}'; } | '${process.execPath}' '${CAUSEWAY_BIN}' apply -f -`], {
      cwd: work,
      server: hub.url,
      token: hub.adminToken,
    });
    assert.equal(slow.code, 0, slow.stderr);
    assert.equal(slow.stdout, 'cluster/aws-train unchanged\n');
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
  });

  it('apply --dry-run says what it would do and writes nothing', async () => {
    const manifest = file('dry.yaml', clusterYaml('cli-dry'));
    const before = await registrySnapshot(hub.etcdUrl);
    const r = await ok(['apply', '--dry-run', '-f', manifest]);
    assert.equal(r.stdout, 'cluster/cli-dry created (dry run)\n');
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
    const get = await causeway(['get', 'cluster', 'cli-dry']);
    assert.equal(get.code, 1);
    assert.equal(get.stderr, 'error: Cluster/cli-dry not found\n');
  });

  it('diff -f shows a unified diff of an edited file, and "no changes" for an unedited one, writing nothing', async () => {
    const current = (await ok(['get', 'cluster', 'aws-train', '-o', 'yaml'])).stdout;
    const same = file('diff-same.yaml', current);
    assert.match(current, /^ {4}env: prod$/m);
    const edited = file('diff-edited.yaml', current.replace(/^ {4}env: prod$/m, '    env: staging'));
    const before = await registrySnapshot(hub.etcdUrl);
    const r = await ok(['diff', '-f', edited]);
    assert.match(r.stdout, /^--- live\/Cluster\/aws-train\n\+\+\+ declared\/Cluster\/aws-train\n@@ /m);
    assert.match(r.stdout, /^- {4}env: prod$/m);
    assert.match(r.stdout, /^\+ {4}env: staging$/m);
    assert.equal(r.stdout.split('\n').filter((l) => /^[-+][^-+]/.test(l)).length, 2, r.stdout);
    const none = await ok(['diff', '-f', same]);
    assert.equal(none.stdout, '');
    assert.equal(none.stderr, 'no changes\n');
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
  });

  it('exits 1 naming file, document and field for a bad manifest, and writes nothing (checked locally and by the hub)', async () => {
    const before = await registrySnapshot(hub.etcdUrl);
    const badCidr = file('bad-cidr.yaml', `${clusterYaml('cli-good')}---\n${clusterYaml('cli-bad').replace('172.16.0.0/16', '10.300.0.0/16')}`);
    const local = await causeway(['apply', '-f', badCidr]);
    assert.equal(local.code, 1);
    assert.equal(local.stdout, '');
    assert.equal(
      local.stderr,
      `error: rejected; nothing was changed\n  ${badCidr}: document 2 (Cluster cli-bad): spec.podCIDRs[0]: "10.300.0.0" is not an IPv4 or IPv6 address; expected a CIDR such as "10.0.0.0/16" (got "10.300.0.0/16")\n`,
    );

    // Valid on its own, refused by the hub: document 2 overlaps aws-train from examples/.
    const overlap = file(
      'overlap.yaml',
      `${clusterYaml('cli-good')}---\n${clusterYaml('cli-overlap').replace('172.16.0.0/16', '10.16.64.0/18').replace('clusterSet: set-cli-overlap', 'clusterSet: default')}`,
    );
    const remote = await causeway(['apply', '-f', overlap]);
    assert.equal(remote.code, 1);
    assert.match(remote.stderr, /^error: rejected; nothing was changed\n/);
    assert.ok(
      remote.stderr.includes(
        `  ${overlap}: document 2 (Cluster cli-overlap): spec.podCIDRs[0]: Cluster "cli-overlap" podCIDRs[0] 10.16.64.0/18 overlaps Cluster "aws-train" podCIDRs[0] 10.16.0.0/16`,
      ),
      remote.stderr,
    );
    assert.deepEqual(await registrySnapshot(hub.etcdUrl), before);
    assert.equal((await causeway(['get', 'cluster', 'cli-good'])).code, 1);
  });

  it('exits 2 for usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['apply'], /required option '-f, --filename <path\.\.\.>' not specified/],
      [['get', 'widgets'], /^error: unknown kind "widgets": expected one of clusters, networks, ippools, externalservices, globalpolicies$/m],
      [['get', 'clusters', '-o', 'xml'], /argument 'xml' is invalid/],
      [['history', 'cluster'], /^error: history of one object needs KIND and NAME$/m],
      [['rollback', '--to', 'yesterday'], /^error: --to: expected a positive whole number \(got "yesterday"\)$/m],
      // Refused while parsing, before the hub starts anything.
      [['hub', '--heap-growth', 'lots'], /^error: --heap-growth: expected a whole percentage from 0 to 300 such as 30 \(got "lots"\)$/m],
      [['hub', '--heap-growth', '301'], /^error: --heap-growth: expected a whole percentage from 0 to 300 such as 30 \(got "301"\)$/m],
    ];
    const runs = await Promise.all(cases.map(async ([args, message]) => ({ args, message, run: await causeway(args) })));
    for (const { args, message, run } of runs) {
      assert.equal(run.code, 2, `causeway ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  it('exits 3 when the hub is unreachable and when it refuses the token', async () => {
    const closed = await freePort();
    const unreachable = await causeway(['get', 'clusters', '--server', `http://127.0.0.1:${closed}`, '--token', hub.adminToken], { as: 'anonymous' });
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, new RegExp(`^error: cannot reach the hub at http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`));
    const badToken = await causeway(['get', 'clusters', '--server', hub.url, '--token', 'cw_wrong'], { as: 'anonymous' });
    assert.equal(badToken.code, 3);
    assert.equal(badToken.stderr, 'error: invalid token (the hub refused the token)\n');
    const noToken = await causeway(['apply', '-f', EXAMPLES, '--server', hub.url], { as: 'anonymous' });
    assert.equal(noToken.code, 3);
    assert.match(noToken.stderr, /missing bearer token: pass --token or set CAUSEWAY_TOKEN/);
  });

  it('history shows who changed what at which revision, for the registry and for one object', async () => {
    const revision = Number(/^revision (\d+)$/m.exec(firstApply.stderr)?.[1]);
    const r = await ok(['history']);
    const [head, ...body] = rows(r.stdout);
    assert.deepEqual(head, ['REVISION', 'TIME', 'ACTOR', 'OPERATION', 'CHANGES']);
    const entry = body.find((row) => row[0] === String(revision));
    assert.ok(entry !== undefined, r.stdout);
    assert.match(entry[1] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(entry.slice(2, 4), ['admin', 'apply']);
    assert.match(entry[4] ?? '', /created cluster\/aws-train/);
    const one = await ok(['history', 'cluster', 'gcp-train']);
    const oneRows = rows(one.stdout).slice(1);
    assert.deepEqual(
      oneRows.map((row) => [row[0], row[4]]),
      [[String(revision), 'created cluster/gcp-train']],
    );
  });

  it('rollback --to REV restores the registry as it was, as a new revision', async () => {
    const start = (await historyJson())[0]?.revision;
    assert.ok(start !== undefined);
    const v1 = await ok(['apply', '-f', file('rb-1.yaml', clusterYaml('cli-rb', { v: '1' }))]);
    const r1 = Number(/^revision (\d+)$/m.exec(v1.stderr)?.[1]);
    await ok(['apply', '-f', file('rb-2.yaml', clusterYaml('cli-rb', { v: '2' }))]);

    const back = await ok(['rollback', '--to', String(r1)]);
    assert.equal(back.stdout, 'cluster/cli-rb configured\n');
    assert.match(back.stderr, new RegExp(`^rolled back to revision ${r1} as revision \\d+\\n$`));
    const restored = JSON.parse((await ok(['get', 'cluster', 'cli-rb', '-o', 'json'])).stdout) as Resource;
    assert.deepEqual(restored.metadata.labels, { v: '1' });

    const gone = await ok(['rollback', '--to', String(start)]);
    assert.equal(gone.stdout, 'cluster/cli-rb deleted\n');
    assert.equal((await causeway(['get', 'cluster', 'cli-rb'])).code, 1);
    const noop = await ok(['rollback', '--to', String(start)]);
    assert.equal(noop.stdout, `nothing to roll back: the registry already matches revision ${start}\n`);
    const [latest] = await historyJson();
    assert.deepEqual([latest?.operation, latest?.rollbackTo, latest?.actor.name], ['rollback', start, 'admin']);
  });

  it('describe cluster onprem-inference shows its spec, conditions and history', async () => {
    const r = await ok(['describe', 'cluster', 'onprem-inference']);
    assert.match(r.stdout, /^Name: +onprem-inference$/m);
    assert.match(r.stdout, /^Kind: +Cluster$/m);
    assert.match(r.stdout, /^Spec:\n {2}provider: onprem\n/m);
    const conditions = /^Conditions:\n((?: {2}.*\n)+)/m.exec(r.stdout)?.[1];
    assert.ok(conditions !== undefined, r.stdout);
    const table = rows(
      conditions
        .split('\n')
        .map((l) => l.slice(2))
        .join('\n'),
    );
    assert.deepEqual(table[0], ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE']);
    assert.deepEqual(
      table.slice(1).map((row) => row.slice(0, 3)),
      [
        ['Joined', 'True', 'Registered'],
        ['Available', 'Unknown', 'AgentNeverConnected'],
        ['Synced', 'Unknown', 'AwaitingAgent'],
      ],
    );
    assert.match(r.stdout, /^History:\n {2}REVISION +TIME +ACTOR +OPERATION +CHANGES\n {2}\d+ +\S+ +admin +apply +created cluster\/onprem-inference$/m);
  });

  it('--help on every command exits 0 and prints its usage', async () => {
    const paths = [[], ...commandPaths(buildProgram())];
    assert.ok(paths.length >= 12, JSON.stringify(paths));
    const runs = await Promise.all(paths.map(async (p) => ({ p, run: await causeway([...p, '--help']) })));
    for (const { p, run } of runs) {
      assert.equal(run.code, 0, `causeway ${p.join(' ')} --help: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^Usage: causeway${p.map((w) => ` ${w}`).join('')} `));
    }
  });

  it('after the hub restarts on the same data dir and etcd, get clusters and history are the same', async () => {
    const clustersBefore = await clustersJson();
    const historyBefore = await historyJson();
    const tableBefore = rows((await ok(['get', 'clusters'])).stdout).map((row) => row.slice(0, 9));
    await hub.restart();
    // Same admin token (kept in the data dir), same state.
    assert.deepEqual(await clustersJson(), clustersBefore);
    assert.deepEqual(await historyJson(), historyBefore);
    assert.deepEqual(
      rows((await ok(['get', 'clusters'])).stdout).map((row) => row.slice(0, 9)),
      tableBefore,
    );
    assert.equal(readFileSync(join(hub.dataDir, 'admin.token'), 'utf8').trim(), hub.adminToken);
  });
});
