// `causeway agent` as an operator starts it: a child process against a real hub (etcd, NATS) and a
// Kubernetes API TEST DOUBLE (not kube-apiserver), with --metrics-listen serving Prometheus text.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { EXAMPLES_DIR, startCauseway } from '../harness/cli.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';
import { startKubeApiDouble, type KubeApiDouble } from '../harness/kube-api-double.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

describe('causeway agent as a process (Kubernetes API test double)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let double: KubeApiDouble;

  before(async () => {
    hub = await startTestHub();
    const client = new HubClient(hub.url, hub.adminToken);
    const docs = readManifests([EXAMPLES_DIR], false);
    await client.apply(
      docs.map((d) => ({ source: d.source, object: d.object })),
      false,
    );
    double = await startKubeApiDouble({ clusterName: 'aws-train', namespaces: ['default', 'kube-system', 'inference'] });
  });

  after(async () => {
    await double.stop();
    await hub.stop();
  });

  it('with --metrics-listen serves /metrics with its counters until SIGTERM, then exits 0 and the port is closed', async () => {
    const dir = tempDir('agent-process');
    const kubeconfig = join(dir, 'kubeconfig');
    await double.writeKubeconfig(kubeconfig);
    const credsFile = join(dir, 'agent.creds');
    writeFileSync(credsFile, (await new HubClient(hub.url, hub.adminToken).credentials('aws-train', false)).creds, { mode: 0o600 });
    const listen = `127.0.0.1:${await freePort()}`;
    const agent = startCauseway(
      ['agent', '--cluster', 'aws-train', '--nats', hub.hub.natsUrl, '--creds', credsFile, '--kubeconfig', kubeconfig, '--metrics-listen', listen],
      { cwd: dir },
    );
    const body = await waitFor(
      `the agent's /metrics on ${listen}`,
      async () => {
        if (agent.hasExited()) throw new Error(`the agent exited: ${agent.stderr()}`);
        const res = await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(2000) });
        return res.status === 200 ? res.text() : undefined;
      },
      30_000,
    );
    assert.match(body, /^# TYPE causeway_agent_applied_revision gauge$/m);
    assert.match(body, /^causeway_agent_failing_services(\{[^}]*\})? 0$/m);
    assert.match(agent.stderr(), new RegExp(`metrics on http://${listen.replaceAll('.', '\\.')}/metrics`));

    assert.deepEqual(await agent.stop('SIGTERM', 15_000), { code: 0, signal: null }, agent.stderr());
    await assert.rejects(fetch(`http://${listen}/metrics`), TypeError);
  });

  it('documents --metrics-listen in its help as off by default', async () => {
    const help = startCauseway(['agent', '--help'], { cwd: tempDir('agent-help') });
    await help.exited;
    // Help wraps at 80 columns: compare with the whitespace collapsed.
    assert.match(help.stdout().replace(/\s+/g, ' '), /--metrics-listen <host:port> serve the agent's Prometheus \/metrics here; default off/);
  });
});
