// The hub's own CA (issue 12 §4, TLS everywhere): made once under the data dir, never replaced,
// leaves issued again only when they must be (new host, other CA, near expiry), keys 0600, and
// certificates a real TLS handshake accepts for the names they carry and refuses for others.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { certificateFacts } from '../../controlplane/identity/pki.ts';
import { LocalCertificateAuthority, type IssuedLeaf } from '../../controlplane/identity/tls-files.ts';

const DAY_MS = 86_400_000;

describe('the hub CA and its certificates', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tls-files-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the CA on first open (key 0600 under tls/) and keeps it after', async () => {
    const first = await LocalCertificateAuthority.open(dir);
    assert.equal(first.caFile, join(dir, 'tls', 'ca.crt'));
    assert.equal(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'tls')).mode & 0o777, 0o700);
    assert.equal(certificateFacts(first.certificate).isCa, true);
    const again = await LocalCertificateAuthority.open(dir);
    assert.equal(again.certificate, first.certificate);
  });

  it('refuses half a CA, naming the missing file, and writes nothing', async () => {
    await LocalCertificateAuthority.open(dir);
    const cert = readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8');
    unlinkSync(join(dir, 'tls', 'ca.key'));
    await assert.rejects(LocalCertificateAuthority.open(dir), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.equal(err.problems[0]?.file, join(dir, 'tls', 'ca.key'));
      assert.match(err.problems[0].message, /is missing but .*ca\.crt exists/);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8'), cert);
  });

  it('issues a leaf once, and again only for a new host, another CA or a near expiry', async () => {
    const ca = await LocalCertificateAuthority.open(dir);
    const spec = { name: 'api', commonName: 'causeway-hub', hosts: ['localhost', '127.0.0.1'], usage: 'server' as const };
    const first = await ca.leaf(spec);
    assert.equal(first.issued, true);
    assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
    assert.equal((await ca.leaf(spec)).issued, false);
    const wider = await ca.leaf({ ...spec, hosts: [...spec.hosts, 'hub.example.com', '::1'] });
    assert.equal(wider.issued, true);
    assert.deepEqual(certificateFacts(readFileSync(wider.certFile, 'utf8')).hosts.slice(0, 3), ['localhost', '127.0.0.1', 'hub.example.com']);
    // 30 days before the 365-day leaf expires, it is renewed.
    assert.equal((await ca.leaf(spec, new Date(Date.now() + 300 * DAY_MS))).issued, false);
    assert.equal((await ca.leaf(spec, new Date(Date.now() + 340 * DAY_MS))).issued, true);
    // A leaf of another CA (the data dir's CA was replaced by hand) is replaced too.
    const other = mkdtempSync(join(tmpdir(), 'tls-files-other-'));
    try {
      const otherLeaf = await (await LocalCertificateAuthority.open(other)).leaf(spec);
      rmSync(join(dir, 'tls', 'api.crt'));
      rmSync(join(dir, 'tls', 'api.key'));

      copyFileSync(otherLeaf.certFile, join(dir, 'tls', 'api.crt'));
      copyFileSync(otherLeaf.keyFile, join(dir, 'tls', 'api.key'));
      assert.equal((await ca.leaf(spec)).issued, true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('makes certificates a TLS client verifies for their hosts only, and client certificates a server verifies', async () => {
    const ca = await LocalCertificateAuthority.open(dir);
    const server = await ca.leaf({ name: 'srv', commonName: 'srv', hosts: ['localhost', '127.0.0.1'], usage: 'server' });
    const client = await ca.leaf({ name: 'cli', commonName: 'hub', hosts: [], usage: 'client' });
    assert.equal(await handshake(server, client, '127.0.0.1'), 'ok');
    assert.equal(await handshake(server, client, 'localhost'), 'ok');
    assert.match(await handshake(server, client, 'hub.example.com'), /ERR_TLS_CERT_ALTNAME_INVALID/);
    // A client certificate is not a server certificate.
    assert.match(await handshake(client, client, '127.0.0.1'), /INVALID_PURPOSE|unsuitable certificate purpose/i);
  });
});

/** One real handshake on loopback, the server asking for a client certificate; "ok" or the error code. */
async function handshake(server: IssuedLeaf, client: IssuedLeaf, servername: string): Promise<string> {
  const read = (f: string): string => readFileSync(f, 'utf8');
  const srv = tls.createServer(
    { cert: read(server.certFile), key: read(server.keyFile), ca: read(server.caFile), requestCert: true, rejectUnauthorized: true },
    (s) => {
      s.end('hello');
    },
  );
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        ca: read(client.caFile),
        cert: read(client.certFile),
        key: read(client.keyFile),
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
      });
      socket.once('secureConnect', () => {
        socket.end();
        resolve('ok');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        resolve(`${err.code ?? ''} ${err.message}`);
      });
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}
