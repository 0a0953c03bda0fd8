// `causeway cluster credentials --output-file` (issue 12 §4): 0600 even over an existing file,
// never through a symbolic link, and the old content replaced, not appended to.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { openSecretFile } from '../../controlplane/cli/secret-file.ts';

describe('secret files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'secret-file-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a new file 0600', () => {
    const file = join(dir, 'a.creds');
    openSecretFile(file, '--output-file')('SEED');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), 'SEED');
  });

  it('makes an existing 0644 file 0600 and replaces a longer old content', () => {
    const file = join(dir, 'b.creds');
    writeFileSync(file, 'an older and much longer credential text', { mode: 0o644 });
    openSecretFile(file, '--output-file')('NEW');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), 'NEW');
  });

  it('refuses a symbolic link, naming the flag, and leaves its target untouched', () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'untouched', { mode: 0o644 });
    const link = join(dir, 'c.creds');
    symlinkSync(target, link);
    assert.throws(
      () => openSecretFile(link, '--output-file'),
      (e: unknown) => e instanceof InvalidInputError && e.problems[0]?.field === '--output-file' && /symbolic link/.test(e.message),
    );
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
    assert.equal(statSync(target).mode & 0o777, 0o644);
  });
});
