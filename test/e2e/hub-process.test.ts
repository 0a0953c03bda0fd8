// `causeway hub` and `causeway demo` as a user starts them: child processes on their embedded
// default (each starts its own etcd and nats-server under its data dir). Proves readiness, the
// 0600 admin token, a clean stop on SIGTERM/SIGINT that leaves no etcd or nats-server behind (even
// with a watch stream open), that state survives a restart on the same data dir, and that a start
// without the key file of the secrets it sealed in etcd is refused with the file named.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import type { Resource } from '../../controlplane/api/resources.ts';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { causeway, EXAMPLES_DIR, processCommand, readPidFile, runCommand, startCauseway, type CausewayProcess } from '../harness/cli.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

interface Servers {
  readonly etcd: number;
  readonly nats: number;
}

function pidFiles(dataDir: string): [string, string] {
  return [join(dataDir, 'etcd', 'etcd.pid'), join(dataDir, 'nats', 'nats.pid')];
}

/** The pids of the etcd and nats-server the command started, checked to be those programs. */
function servers(dataDir: string): Servers {
  const [etcdFile, natsFile] = pidFiles(dataDir);
  const etcd = readPidFile(etcdFile);
  const nats = readPidFile(natsFile);
  assert.ok(etcd !== undefined && nats !== undefined, 'both pid files are written');
  assert.match(processCommand(etcd) ?? '<not running>', /(^|\/)etcd$/);
  assert.match(processCommand(nats) ?? '<not running>', /(^|\/)nats-server$/);
  return { etcd, nats };
}

/** GET over https, trusting `ca` only. */
function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve(text);
        });
      })
      .on('error', reject);
  });
}

async function assertNoOrphans(s: Servers, dataDir: string): Promise<void> {
  await waitFor('etcd and nats-server to be gone', () => processCommand(s.etcd) === undefined && processCommand(s.nats) === undefined, 5000);
  for (const f of pidFiles(dataDir)) assert.equal(existsSync(f), false, `${f} is removed on a clean stop`);
}

/** Polls until `url` answers 200, failing at once if the process exits first. */
async function waitReady(proc: CausewayProcess, url: string): Promise<void> {
  await waitFor(
    `${url} to answer 200`,
    async () => {
      if (proc.hasExited()) throw new Error(`exited during start-up: ${proc.stderr()}`);
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return res.status === 200;
    },
    30_000,
  ).catch((err: unknown) => {
    throw proc.hasExited() ? new Error(`causeway exited during start-up:\n${proc.stderr()}`) : err;
  });
}

describe('causeway hub as a process, on its embedded etcd and nats-server', function () {
  this.timeout(60_000);
  let work: string;
  let dataDir: string;
  let listen: string;
  let url: string;
  let hub: CausewayProcess;
  let token: string;
  let clustersBefore: Resource[];
  let historyBefore: HistoryEntry[];

  const start = async (): Promise<CausewayProcess> => {
    const proc = startCauseway(['hub', '--listen', listen, '--data-dir', dataDir], { cwd: work, pidFiles: pidFiles(dataDir) });
    await waitReady(proc, `${url}/readyz`);
    return proc;
  };
  const cli = (args: readonly string[]): ReturnType<typeof causeway> => causeway(args, { cwd: work, server: url, token });

  before(async () => {
    work = tempDir('hub-process');
    dataDir = join(work, 'hub-data');
    listen = `127.0.0.1:${await freePort()}`;
    url = `http://${listen}`;
  });

  it('starts, answers /readyz, and writes <data-dir>/admin.token and <data-dir>/secrets.key with mode 0600', async () => {
    hub = await start();
    const file = join(dataDir, 'admin.token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'secrets.key')).mode & 0o777, 0o600);
    token = readFileSync(file, 'utf8').trim();
    assert.match(token, /^cw_[A-Za-z0-9_-]{43}$/);
    assert.match(hub.stderr(), new RegExp(`hub serving on ${url.replace(/\./g, '\\.')}; admin token in ${resolve(file).replace(/\./g, '\\.')}`));
    // The heap growth it runs with (--heap-growth, default 30 %), said where an operator reads its start.
    assert.match(hub.stdout(), /"heapGrowthPercent":30[,}].*"msg":"hub serving"/);
    // The token is what the hub accepts, and nothing else is.
    assert.equal((await fetch(`${url}/apis/causeway.dev/v1alpha1/clusters`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${url}/apis/causeway.dev/v1alpha1/clusters`, { headers: { authorization: 'Bearer cw_other' } })).status, 401);
  });

  it('takes examples/ through the CLI', async () => {
    const applied = await cli(['apply', '-f', EXAMPLES_DIR]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^cluster\/aws-train created$/m);
    const list = await cli(['get', 'clusters', '-o', 'json']);
    clustersBefore = (JSON.parse(list.stdout) as { items: Resource[] }).items;
    assert.deepEqual(clustersBefore.map((c) => c.metadata.name).sort(), ['aws-train', 'gcp-train', 'onprem-inference']);
    historyBefore = (JSON.parse((await cli(['history', '-o', 'json'])).stdout) as { items: HistoryEntry[] }).items;
    assert.equal(historyBefore[0]?.actor.name, 'admin');
  });

  it('stops on SIGTERM with exit 0, even with a watch open, leaving no etcd or nats-server behind', async () => {
    const s = servers(dataDir);
    // A client watching the registry must not hold the shutdown open.
    const watch = await fetch(`${url}/apis/causeway.dev/v1alpha1/clusters?watch=true`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(watch.status, 200);
    const reader = watch.body?.getReader();
    const exit = await hub.stop('SIGTERM', 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, hub.stderr());
    assert.match(hub.stderr(), /SIGTERM: stopping the hub and the servers it started/);
    await reader?.cancel().catch(() => undefined);
    await assertNoOrphans(s, dataDir);
    await assert.rejects(fetch(`${url}/healthz`), TypeError);
  });

  it('refuses to start without the key file of the secrets in its etcd: exit 1, the file named, no trace, no new key, no orphans', async () => {
    const keyFile = resolve(dataDir, 'secrets.key');
    renameSync(keyFile, `${keyFile}.moved`);
    try {
      const proc = startCauseway(['hub', '--listen', listen, '--data-dir', dataDir], { cwd: work, pidFiles: pidFiles(dataDir) });
      const exit = await proc.exited;
      assert.deepEqual(exit, { code: 1, signal: null }, proc.stderr());
      assert.match(proc.stderr(), /^error: rejected; nothing was changed$/m);
      assert.ok(proc.stderr().includes(`  ${keyFile}: does not exist, but etcd already holds secrets encrypted with key `), proc.stderr());
      assert.doesNotMatch(proc.stderr(), /^\s+at /m, 'no stack trace');
      assert.equal(existsSync(keyFile), false, 'no new key was created');
      for (const f of pidFiles(dataDir)) assert.equal(existsSync(f), false, `${f}: the etcd it started is stopped`);
    } finally {
      renameSync(`${keyFile}.moved`, keyFile);
    }
  });

  it('starts again on the same data dir with the same clusters, history and admin token, and stops again cleanly', async () => {
    hub = await start();
    const list = await cli(['get', 'clusters', '-o', 'json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { items: Resource[] }).items, clustersBefore);
    assert.deepEqual((JSON.parse((await cli(['history', '-o', 'json'])).stdout) as { items: HistoryEntry[] }).items, historyBefore);
    const s = servers(dataDir);
    assert.deepEqual(await hub.stop('SIGTERM', 15_000), { code: 0, signal: null }, hub.stderr());
    await assertNoOrphans(s, dataDir);
  });

  // Reproduction (issue 13 §2): the next start after a kill -9 restored etcd with the dead hub's
  // 10 s lease and led only 10.7-11.1 s after it was ready, and agents' syncs got no reply meanwhile.
  it("leads within 2 s of being ready after a kill -9: it ends its dead self's term instead of waiting out the lease", async () => {
    const first = await start();
    await waitFor('the first hub to lead', () => /"leader":true/.test(first.stdout()), 15_000);
    const orphans = servers(dataDir);
    first.child.kill('SIGKILL');
    await first.exited;
    hub = await start();
    const ready = Date.now();
    await waitFor('the new hub to lead', () => /"leader":true/.test(hub.stdout()), 10_000);
    const leadsAfterMs = Date.now() - ready;
    assert.ok(leadsAfterMs < 2000, `led ${leadsAfterMs} ms after it was ready`);
    assert.match(hub.stdout(), /ended this replica's previous term/);
    // The servers the dead hub left behind were replaced, not joined.
    assert.equal(processCommand(orphans.etcd), undefined);
    assert.equal(processCommand(orphans.nats), undefined);
    const s = servers(dataDir);
    assert.deepEqual(await hub.stop('SIGTERM', 15_000), { code: 0, signal: null }, hub.stderr());
    await assertNoOrphans(s, dataDir);
  });
});

describe('causeway demo as a process', function () {
  this.timeout(120_000);

  it('applies examples/ over TLS, prints the clusters and the token file, survives a kill -9 of its hub, serves until SIGINT, exits 0 with no orphans', async () => {
    const work = tempDir('demo');
    const dataDir = join(work, 'demo-data');
    const listen = `127.0.0.1:${await freePort()}`;
    const demo = startCauseway(['demo', '--listen', listen, '--data-dir', dataDir], { cwd: work, pidFiles: [...pidFiles(dataDir), join(dataDir, 'hub.pid')] });
    await waitFor(
      'the demo to say "Serving until Ctrl-C."',
      () => {
        if (demo.hasExited()) throw new Error(`the demo exited:\n${demo.stderr()}`);
        return demo.stdout().includes('Serving until Ctrl-C.');
      },
      60_000,
    ).catch((err: unknown) => {
      throw demo.hasExited() ? new Error(`the demo exited:\n${demo.stdout()}\n${demo.stderr()}`) : err;
    });
    const out = demo.stdout();

    assert.match(out, /^ {2}cluster\/aws-train created$/m);
    const table = /^\$ causeway get clusters\n((?:.+\n)+)/m.exec(out)?.[1] ?? '';
    const names = table
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(names.sort(), ['aws-train', 'gcp-train', 'onprem-inference'], out);
    const tokenFile = /^Token file: (\S+)/m.exec(out)?.[1];
    assert.equal(tokenFile, join('demo-data', 'admin.token'));
    assert.equal(statSync(join(work, tokenFile)).mode & 0o777, 0o600);
    // Over TLS with its own CA: https only, verified against demo-data/ca.crt.
    const hubUrl = /^Hub: +(https:\/\/\S+)/m.exec(out)?.[1];
    assert.equal(hubUrl, `https://${listen}`);
    const caFile = /^CA: +(\S+)/m.exec(out)?.[1] ?? '';
    assert.equal(caFile, join('demo-data', 'ca.crt'));
    const ca = readFileSync(join(work, caFile), 'utf8');
    const probe = new HubClient(hubUrl, undefined, { ca });
    assert.deepEqual(await probe.request('GET', '/readyz').then((r) => (r as { status: string }).status), 'ready');
    await assert.rejects(fetch(`http://${listen}/readyz`), 'no plain HTTP');
    await assert.rejects(new HubClient(hubUrl, undefined).request('GET', '/readyz'), /not trusted/);
    assert.match(readFileSync(join(dataDir, 'clusters', 'aws-train', 'agent.log'), 'utf8'), /tls:\/\/127\.0\.0\.1:\d+/);
    // aws-train's agent answers the service's clusterset.local name with its ClusterSetIP (issue 14 §3).
    const vip = /^llm-serving\.inference\.svc\.clusterset\.local\. +\d+ +IN +A +(\S+)$/m.exec(out)?.[1];
    assert.match(vip ?? '', /^10\.255\.\d+\.\d+$/, out);
    const demoJson = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as {
      hub: string;
      clusters: Record<string, { kubeconfig: string; dns: string }>;
      aws?: { endpoint: string; region: string };
      gcp?: { endpoint: string; project: string };
      bgp?: { birdSocket: string; gobgpApi: string };
    };
    assert.equal(demoJson.hub, hubUrl);
    assert.deepEqual(Object.keys(demoJson.clusters).sort(), ['aws-train', 'gcp-train', 'onprem-inference']);
    // The hub programmed the EC2 double (issue 9 §7): `causeway plan` finds nothing left to change.
    assert.match(demoJson.aws?.endpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(out, /every provider domain matches the plan/, out);
    const plan = await causeway(
      ['plan', '-o', 'json', '--server', hubUrl, '--token', readFileSync(join(work, tokenFile), 'utf8').trim(), '--certificate-authority', caFile],
      { cwd: work },
    );
    assert.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout) as { items: { metadata: { name: string }; changes: unknown[]; unchanged: { routes: number; rules: number } }[] };
    const aws = planned.items.find((d) => d.metadata.name === 'aws-train-vpc');
    assert.ok(aws !== undefined, plan.stdout);
    assert.deepEqual(aws.changes, []);
    assert.ok(aws.unchanged.routes > 0 && aws.unchanged.rules > 0, plan.stdout);
    // And the Compute double: custom routes via the VPN tunnel, firewall rules, the Cloud Router's advertised range.
    assert.match(demoJson.gcp?.endpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(demoJson.gcp?.project, 'ml-platform-prod');
    const gcp = planned.items.find((d) => d.metadata.name === 'gcp-train-vpc');
    assert.ok(gcp !== undefined && gcp.changes.length === 0 && gcp.unchanged.routes > 0 && gcp.unchanged.rules > 0, plan.stdout);
    // Journey 3's policy (issue 10): the trainers may reach llm-serving on 8000, the web pod may not, nor port 22.
    assert.match(
      out,
      /aws-train\/ml-training\/app=trainer → inference\/llm-serving 8000\/TCP: ALLOWED\n(?:.*\n)*?decided by inference\/training-to-inference \(platform tier\) rule 0/,
      out,
    );
    assert.match(out, /aws-train\/default\/app=web → inference\/llm-serving 8000\/TCP: DENIED/, out);
    assert.match(out, /aws-train\/ml-training\/app=trainer → inference\/llm-serving 22\/TCP: DENIED/, out);
    assert.match(out, /the NetworkPolicies its agent applied:\nNAMESPACE +NAME +FROM\ninference +causeway-/, out);
    // The same policy narrows the cloud firewalls (issue 10 §2): on 8000 only the trainer pods pass
    // aws-train's and gcp-train's rules (10.16.1.10 and .11, summarised), never the web pod or a whole pod CIDR.
    assert.match(out, /aws-train-vpc +firewall egress +TCP\/8000 +10\.16\.1\.10\/31 -> /, out);
    assert.match(out, /gcp-train-vpc +firewall egress +TCP\/8000 +10\.64\.1\.10\/32 -> /, out);
    assert.doesNotMatch(out, /firewall \w+ +TCP\/8000 +[^\n]*10\.16\.0\.0\/16/, out);
    // BIRD, the site's fabric router, learned the on-prem pod CIDR, the LoadBalancer pool and the clusterset VIP pool.
    const bird = await runCommand('birdc', ['-s', demoJson.bgp?.birdSocket ?? '', 'show', 'route'], { cwd: work });
    for (const prefix of ['10.32.0.0/16', '10.40.0.0/24', '10.255.0.0/16'])
      assert.match(bird.stdout, new RegExp(`^${prefix.replaceAll('.', '\\.')} .*\\[causeway `, 'm'), bird.stdout);
    const dig = await runCommand(
      'dig',
      ['+short', '@127.0.0.1', '-p', demoJson.clusters['aws-train']?.dns.split(':')[1] ?? '', 'llm-serving.inference.svc.clusterset.local'],
      { cwd: work },
    );
    assert.equal(dig.stdout.trim(), vip, dig.stderr);

    // The hub is its own process: kill -9 it, start it again as the demo says, and the agents come back to it.
    const hubPid = Number(/^Hub: .*\(pid (\d+);/m.exec(out)?.[1]);
    assert.ok(Number.isInteger(hubPid) && hubPid > 1);
    process.kill(hubPid, 'SIGKILL');
    // As a user would paste it: VAR=value ... npx causeway hub ... (the SDKs read the doubles' credentials from the environment).
    const [vars, command] = await waitFor(
      'the demo to say how to start the hub again',
      () => {
        const m = /start it again with:\n {2}((?:[A-Z_]+=\S+ )*)npx causeway (.+)\n/.exec(demo.stdout());
        return m === null ? undefined : ([m[1] ?? '', m[2] ?? ''] as const);
      },
      10_000,
    );
    assert.match(vars, /AWS_ACCESS_KEY_ID=/);
    assert.equal(demo.hasExited(), false, 'the demo and its clusters go on');
    const env = Object.fromEntries(
      vars
        .trim()
        .split(' ')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const again = startCauseway(command.split(' '), { cwd: work, pidFiles: pidFiles(dataDir), env });
    await waitFor(
      'the restarted hub to answer /readyz',
      () =>
        probe.request('GET', '/readyz').then(
          () => true,
          () => {
            if (again.hasExited()) throw new Error(`the restarted hub exited:\n${again.stderr()}`);
            return false;
          },
        ),
      30_000,
    );
    // Heartbeats counted by the restarted hub come from agents that reconnected to its nats-server.
    const heartbeats = async (): Promise<number> => {
      const metrics = await httpsText(`${hubUrl}/metrics`, ca).catch(() => '');
      return Number(/causeway_agent_messages_total\{kind="heartbeat",result="ok"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    };
    await waitFor('the agents to heartbeat to the restarted hub', async () => (await heartbeats()) >= 3, 30_000);
    const token = readFileSync(join(work, tokenFile), 'utf8').trim();
    const llm = (await new HubClient(hubUrl, token, { ca }).services()).items.find((svc) => svc.name === 'llm-serving');
    assert.equal(llm?.endpoints, 3, 'the exported service is served by the restarted hub');

    const s = servers(dataDir);
    assert.deepEqual(await demo.stop('SIGINT', 30_000), { code: 0, signal: null }, demo.stderr());
    assert.match(demo.stderr(), /SIGINT: stopping/);
    assert.deepEqual(await again.stop('SIGTERM', 15_000), { code: 0, signal: null }, again.stderr());
    await assertNoOrphans(s, dataDir);
  });
});
