// HubClient over HTTPS with a CA it is told to trust (the hub serves a certificate its own CA
// signs). A local https server, not the hub: what is tested is the client's trust, with real
// certificates made by the openssl binary in a temp dir: a CA, a server certificate it signs for
// 127.0.0.1, and a second CA that signed nothing here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { OutcomeUnknownError, UnavailableError } from '../../controlplane/api/errors.ts';
import { API_PREFIX, HubClient } from '../../controlplane/cli/client.ts';
import { tempDir } from '../harness/servers.ts';

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Pki {
  readonly ca: string;
  readonly otherCa: string;
  readonly cert: string;
  readonly key: string;
}

function makePki(): Pki {
  const dir = tempDir('client-tls');
  const selfSignedCa = (name: string): void => {
    openssl(
      dir,
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2']
        .concat(['-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`])
        .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
    );
  };
  selfSignedCa('test-ca');
  selfSignedCa('other-ca');
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=hub', '-keyout', 'hub.key', '-out', 'hub.csr']);
  writeFileSync(join(dir, 'hub.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'hub.csr',
    '-CA',
    'test-ca.crt',
    '-CAkey',
    'test-ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'hub.ext',
    '-out',
    'hub.crt',
  ]);
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { ca: read('test-ca.crt'), otherCa: read('other-ca.crt'), cert: read('hub.crt'), key: read('hub.key') };
}

describe('HubClient trusts the CA it is given for an https hub (local https server, certificates from openssl)', function () {
  this.timeout(20_000);
  let pki: Pki;
  let server: Server;
  let url: string;
  /** Applies the server has read to the end. */
  const received: string[] = [];

  before(async () => {
    pki = makePki();
    server = createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.method === 'POST') received.push(body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            req.url === `${API_PREFIX}/services` ? { items: [{ name: 'db', namespace: 'default' }] } : { revision: 7, dryRun: false, changes: [] },
          ),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  });

  it('with the CA that signed the certificate, requests work (as PEM text or a Buffer)', async () => {
    const services = await new HubClient(url, 'token', { ca: pki.ca }).services();
    assert.deepEqual(services.items, [{ name: 'db', namespace: 'default' }]);
    const result = await new HubClient(url, 'token', { ca: Buffer.from(pki.ca) }).apply(
      [{ source: { file: 'a.yaml', document: 1 }, object: { kind: 'Network' } }],
      false,
    );
    assert.equal(result.revision, 7);
    assert.deepEqual(JSON.parse(received.at(-1) ?? ''), { documents: [{ source: { file: 'a.yaml', document: 1 }, object: { kind: 'Network' } }] });
  });

  for (const [what, ca] of [
    ['no CA (the system store does not know it)', undefined],
    ['another CA (only the given one is trusted)', 'other'],
  ] as const) {
    it(`with ${what}, a request is refused before anything is sent: "not trusted", naming --certificate-authority`, async () => {
      const before = received.length;
      const client = new HubClient(url, 'token', ca === undefined ? {} : { ca: pki.otherCa });
      const err = await client.apply([{ source: { file: 'a.yaml', document: 1 }, object: { kind: 'Network' } }], false).then(
        () => assert.fail('an untrusted certificate must be refused'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UnavailableError, `got ${String(err)}`);
      assert.ok(!(err instanceof OutcomeUnknownError));
      assert.match(err.message, /^cannot reach the hub at https:\/\/127\.0\.0\.1:\d+: its certificate is not trusted \([A-Z_]+\)/);
      assert.match(err.message, /--certificate-authority/);
      assert.equal(received.length, before, 'the server read no request');
    });
  }
});
