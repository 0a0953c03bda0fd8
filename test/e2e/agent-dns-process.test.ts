// `causeway agent --dns-listen` as an operator starts it: a child process against a real hub
// (etcd, NATS) and a Kubernetes API TEST DOUBLE (not kube-apiserver). It says where it serves
// clusterset.local, dig gets answers there, and SIGTERM closes the port.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HubClient } from '../../controlplane/cli/client.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { EXAMPLES_DIR, startCauseway } from '../harness/cli.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';
import { startKubeApiDouble, type KubeApiDouble } from '../harness/kube-api-double.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);

async function dig(port: number, name: string, type: string): Promise<{ status: string; answers: string[] }> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), name, type, '+norecurse', '+time=1', '+tries=1', '+noall', '+comments', '+answer']);
  return {
    status: /status: ([A-Z]+)/.exec(stdout)?.[1] ?? stdout,
    answers: stdout
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(';'))
      .map((l) => l.trim().split(/\s+/).join(' ')),
  };
}

describe('causeway agent --dns-listen as a process (Kubernetes API test double)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let double: KubeApiDouble;

  before(async () => {
    hub = await startTestHub();
    const client = new HubClient(hub.url, hub.adminToken);
    await client.apply(
      readManifests([EXAMPLES_DIR], false).map((d) => ({ source: d.source, object: d.object })),
      false,
    );
    double = await startKubeApiDouble({ clusterName: 'aws-train', namespaces: ['default', 'kube-system', 'inference'] });
  });
  after(async () => {
    await double.stop();
    await hub.stop();
  });

  it('prints the address it picked for port 0, answers dig there (dns-version, NXDOMAIN once synced), and closes it on SIGTERM', async () => {
    const dir = tempDir('agent-dns-process');
    const kubeconfig = join(dir, 'kubeconfig');
    await double.writeKubeconfig(kubeconfig);
    const credsFile = join(dir, 'agent.creds');
    writeFileSync(credsFile, (await new HubClient(hub.url, hub.adminToken).credentials('aws-train', false)).creds, { mode: 0o600 });
    const agent = startCauseway(
      ['agent', '--cluster', 'aws-train', '--nats', hub.hub.natsUrl, '--creds', credsFile, '--kubeconfig', kubeconfig, '--dns-listen', '127.0.0.1:0'],
      { cwd: dir },
    );
    const port = await waitFor(
      'the agent to say where it serves DNS',
      () => {
        if (agent.hasExited()) throw new Error(`the agent exited: ${agent.stderr()}`);
        const m = /clusterset\.local DNS on 127\.0\.0\.1:(\d+)/.exec(agent.stderr());
        return m === null ? undefined : Number(m[1]);
      },
      30_000,
    );
    assert.ok(port > 0);
    assert.deepEqual(await dig(port, 'dns-version.clusterset.local', 'TXT'), {
      status: 'NOERROR',
      answers: ['dns-version.clusterset.local. 28800 IN TXT "1.0.0"'],
    });
    // SERVFAIL until its first snapshot is applied, then a name nobody exports is NXDOMAIN.
    await waitFor('NXDOMAIN for an unexported name', async () => (await dig(port, 'nobody.inference.svc.clusterset.local', 'A')).status === 'NXDOMAIN', 30_000);

    assert.deepEqual(await agent.stop('SIGTERM', 15_000), { code: 0, signal: null }, agent.stderr());
    // dig exits 9 when no server answers.
    await assert.rejects(dig(port, 'dns-version.clusterset.local', 'TXT'), (err: { code?: number }) => err.code === 9);
  });

  it('documents --dns-listen in its help as off by default', async () => {
    const help = startCauseway(['agent', '--help'], { cwd: tempDir('agent-dns-help') });
    await help.exited;
    assert.match(
      help.stdout().replace(/\s+/g, ' '),
      /--dns-listen <host:port> serve clusterset\.local for this cluster here, UDP and TCP \(the address CoreDNS forwards the zone to\); default off/,
    );
  });
});
