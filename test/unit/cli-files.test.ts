// Reading manifests for apply and diff (issue 12 §2): symbolic links followed and loops named,
// oversized files refused by name, and one broken file does not hide the others' mistakes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { MAX_MANIFEST_BYTES, manifestFiles, readManifests } from '../../controlplane/cli/files.ts';

const NETWORK = 'apiVersion: causeway.dev/v1alpha1\nkind: Network\nmetadata: {name: n1}\nspec: {provider: onprem, onprem: {site: fra1, asn: 64512}}\n';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => `${p.file ?? ''}: ${p.field === '' ? '' : `${p.field}: `}${p.message}`);
    throw err;
  }
  assert.fail('expected the input to be refused');
}

describe('CLI manifests', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-files-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows a symbolic link to a manifest in a directory', () => {
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'net.yaml'), NETWORK);
    mkdirSync(join(dir, 'm'));
    symlinkSync(join(dir, 'elsewhere', 'net.yaml'), join(dir, 'm', 'linked.yaml'));
    assert.deepEqual(manifestFiles([join(dir, 'm')], false), [join(dir, 'm', 'linked.yaml')]);
  });

  it('names a loop of symbolic links as a loop, not as a missing file', () => {
    symlinkSync(join(dir, 'b.yaml'), join(dir, 'a.yaml'));
    symlinkSync(join(dir, 'a.yaml'), join(dir, 'b.yaml'));
    assert.deepEqual(
      problemsOf(() => manifestFiles([join(dir, 'a.yaml')], false)),
      [`${join(dir, 'a.yaml')}: a loop of symbolic links`],
    );
  });

  it('walks a directory linked back into itself once (-R), and says so', () => {
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'm', 'net.yaml'), NETWORK);
    symlinkSync(join(dir, 'm'), join(dir, 'm', 'again'));
    assert.deepEqual(
      problemsOf(() => manifestFiles([join(dir, 'm')], true)),
      [`${join(dir, 'm', 'again')}: a symbolic link back to ${join(dir, 'm')}, already read; skipped`],
    );
  });

  it('refuses a file larger than the limit by name, without reading it', () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, MAX_MANIFEST_BYTES + 1);
    const [p, ...rest] = problemsOf(() => readManifests([big], false));
    assert.deepEqual(rest, []);
    assert.match(p ?? '', new RegExp(`^${big}: 4.0 MiB is more than the 4 MiB a manifest may be`));
  });

  it('reports a parse error in one file and the validation errors of another together', () => {
    writeFileSync(join(dir, 'a-broken.yaml'), 'kind: [unclosed\n');
    writeFileSync(join(dir, 'b-invalid.yaml'), NETWORK.replace('provider: onprem', 'provider: azure'));
    const problems = problemsOf(() => readManifests([dir], false));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0] ?? '', /a-broken\.yaml: malformed YAML/);
    assert.match(problems[1] ?? '', /b-invalid\.yaml: spec\.provider: /);
  });
});
