// `causeway hub --tls-san`: a name that cannot be in a certificate is refused, naming it, before
// the hub writes a CA or a certificate (it used to be signed into the leaf as given).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { checkTlsHosts, prepareHubTls } from '../../controlplane/hub/tls.ts';

describe('hub TLS options', () => {
  it('accepts DNS names, wildcards and IPv4/IPv6 addresses for --tls-san', () => {
    checkTlsHosts(['hub.example.com', '*.hubs.example.com', 'localhost', '192.0.2.10', '2001:db8::1']);
  });

  it('refuses anything else, each entry named, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-tls-options-'));
    try {
      await assert.rejects(
        prepareHubTls(dir, { apiHost: '0.0.0.0', natsHost: undefined, embeddedEtcd: true }, { tlsHosts: ['ok.example.com', 'bad name!', 'x'.repeat(64)] }),
        (err: unknown) => {
          assert.ok(err instanceof InvalidInputError);
          assert.deepEqual(
            err.problems.map((p) => [p.field, p.value]),
            [
              ['--tls-san', 'bad name!'],
              ['--tls-san', 'x'.repeat(64)],
            ],
          );
          return true;
        },
      );
      assert.equal(existsSync(join(dir, 'tls')), false, 'no CA written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
