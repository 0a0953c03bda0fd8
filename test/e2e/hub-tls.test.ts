// `causeway hub` beyond loopback turns TLS on by itself (issue 12 §4): a real hub process on its
// embedded default with --listen and --nats-listen on 0.0.0.0. The API answers HTTPS only, with a
// certificate the data dir's CA signed for every address it serves; the CLI on the same machine
// trusts it from the data dir; NATS speaks TLS, which an agent verifies with --ca; the embedded etcd
// refuses any client without a certificate of that CA.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { NatsHubTransport } from '../../cluster-agent/nats-transport.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { causeway, EXAMPLES_DIR, startCauseway, type CausewayProcess } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

/** GET over https, trusting `ca`, presenting a client certificate when given one. */
function httpsGet(url: string, options: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ...options, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve(text);
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

describe('causeway hub beyond loopback: TLS by default (real hub process, etcd, nats-server)', function () {
  this.timeout(90_000);
  let work: string;
  let dataDir: string;
  let hub: CausewayProcess;
  let apiPort: number;
  let natsPort: number;
  let url: string;
  let ca: string;

  before(async () => {
    work = tempDir('hub-tls');
    // The CLI's default data dir, so that `causeway get` in `work` finds the URL, token and CA.
    dataDir = join(work, '.causeway');
    apiPort = await freePort();
    natsPort = await freePort();
    hub = startCauseway(['hub', '--listen', `0.0.0.0:${apiPort}`, '--nats-listen', `0.0.0.0:${natsPort}`, '--data-dir', dataDir], {
      cwd: work,
      pidFiles: [join(dataDir, 'etcd', 'etcd.pid'), join(dataDir, 'nats', 'nats.pid')],
    });
    url = await waitFor(
      'the hub to serve',
      async () => {
        if (hub.hasExited()) throw new Error(`exited: ${hub.stderr()}`);
        if (!existsSync(join(dataDir, 'hub.url')) || !existsSync(join(dataDir, 'ca.crt'))) return undefined;
        const u = readFileSync(join(dataDir, 'hub.url'), 'utf8').trim();
        return (await httpsGet(`${u}/readyz`, { ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8') }).catch(() => undefined))?.includes('ready') === true
          ? u
          : undefined;
      },
      45_000,
    );
    ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  });

  after(async () => {
    assert.deepEqual(await hub.stop('SIGTERM', 20_000), { code: 0, signal: null }, hub.stderr());
  });

  it('serves the API over HTTPS only, with a certificate its CA signed for each address it serves', async () => {
    assert.equal(url, `https://127.0.0.1:${apiPort}`);
    assert.equal(statSync(join(dataDir, 'tls', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'tls')).mode & 0o777, 0o700);
    assert.match(await httpsGet(`https://localhost:${apiPort}/readyz`, { ca }), /"status":"ready"/);
    const address = externalAddress();
    if (address !== undefined) assert.match(await httpsGet(`https://${address}:${apiPort}/readyz`, { ca }), /"status":"ready"/);
    await assert.rejects(fetch(`http://127.0.0.1:${apiPort}/readyz`), 'plain HTTP is not served');
    await assert.rejects(new HubClient(url, undefined).request('GET', '/readyz'), /not trusted.*--certificate-authority/);
  });

  it('is reached by the CLI on the same machine with no flags: URL, token and CA from the data dir', async () => {
    const applied = await causeway(['apply', '-f', EXAMPLES_DIR], { cwd: work });
    assert.equal(applied.code, 0, applied.stderr);
    const got = await causeway(['get', 'clusters', '-o', 'json'], { cwd: work });
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual((JSON.parse(got.stdout) as { items: { metadata: { name: string } }[] }).items.map((c) => c.metadata.name).sort(), [
      'aws-train',
      'gcp-train',
      'onprem-inference',
    ]);
  });

  it('serves NATS over TLS: an agent that trusts the CA connects, one that does not is refused', async () => {
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const credential = await new HubClient(url, token, { ca }).credentials('aws-train', false);
    const connectWith = async (caPem: string | undefined): Promise<{ connected: boolean; errors: string[] }> => {
      const errors: string[] = [];
      const transport = new NatsHubTransport({
        cluster: 'aws-train',
        servers: `tls://127.0.0.1:${natsPort}`,
        creds: credential.creds,
        ca: caPem,
        onError: (what, err) => errors.push(`${what}: ${String(err)}`),
      });
      onCleanup(() => transport.close());
      const ac = new AbortController();
      await transport.start({ imports: () => undefined, connection: () => undefined }, ac.signal);
      const connected = await waitFor('a connection', () => transport.connected() || undefined, 4000).catch(() => false);
      ac.abort();
      await transport.close();
      return { connected, errors };
    };
    assert.equal((await connectWith(ca)).connected, true);
    const refused = await connectWith(undefined);
    assert.equal(refused.connected, false);
    assert.match(refused.errors.join('\n'), /certificate/i);
  });

  it('runs its etcd over TLS and refuses a client without a certificate of its CA', async () => {
    const etcdUrl = /"etcd":\["(https:\/\/127\.0\.0\.1:\d+)"\]/.exec(hub.stdout())?.[1];
    assert.ok(etcdUrl !== undefined, 'the hub logs its etcd URL');
    const tls = join(dataDir, 'tls');
    await assert.rejects(httpsGet(`${etcdUrl}/health`, { ca: readFileSync(join(tls, 'ca.crt'), 'utf8') }), 'no client certificate: refused');
    const health = await httpsGet(`${etcdUrl}/health`, {
      ca: readFileSync(join(tls, 'ca.crt'), 'utf8'),
      cert: readFileSync(join(tls, 'etcd-client.crt'), 'utf8'),
      key: readFileSync(join(tls, 'etcd-client.key'), 'utf8'),
    });
    assert.match(health, /"health":"true"/);
  });
});
