// The encryption envelope of secrets at rest (controlplane/identity/secret-box.ts), the key file's
// parser, and the credential store's re-sealing, on the in-memory store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { IDENTITY_KEY } from '../../controlplane/api/keys.ts';
import { CredentialStore, sealedSecretKeyIds } from '../../controlplane/hub/credentials.ts';
import { createIdentityState } from '../../controlplane/identity/nats-identity.ts';
import { CLEAR_TEXT, isSealed, SecretBox, sealedKeyId, secretKeyId } from '../../controlplane/identity/secret-box.ts';
import { createSecretKeyFile, parseSecretKeyFile, readSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { tempDir } from '../harness/servers.ts';

const FILE = '/etc/causeway/secrets.key';
const key = (): Buffer => randomBytes(32);
const SECRET = JSON.stringify({ operatorSeed: 'SOAEXAMPLESEED', note: 'ünïcode' });
const CONTEXT = '/causeway/v1/identity/nats';

/** Flips one bit of the decoded envelope at `offset` bytes from its start (nonce 12, then ciphertext, tag last 16). */
function flip(value: string, offset: (length: number) => number): string {
  const cut = value.lastIndexOf(':') + 1;
  const data = Buffer.from(value.slice(cut), 'base64');
  const at = offset(data.length);
  data[at] = (data[at] ?? 0) ^ 0x01;
  return `${value.slice(0, cut)}${data.toString('base64')}`;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidInputError, String(err));
    return err.message;
  }
  assert.fail('expected a refusal');
}

describe('secret box: AES-256-GCM envelopes of secrets at rest', () => {
  it('round-trips, names the key in a versioned envelope and uses a fresh nonce per write', () => {
    const k = key();
    const box = new SecretBox([k], FILE);
    const a = box.seal(SECRET, CONTEXT);
    const b = box.seal(SECRET, CONTEXT);
    assert.match(a, /^causeway:enc:aesgcm:v1:[0-9a-f]{16}:[A-Za-z0-9+/]+=*$/);
    assert.equal(sealedKeyId(a), secretKeyId(k));
    assert.notEqual(a, b, 'two seals of one plaintext differ (random nonce)');
    assert.notEqual(a.slice(-60, -40), b.slice(-60, -40));
    assert.equal(box.open(a, CONTEXT), SECRET);
    assert.equal(box.open(b, CONTEXT), SECRET);
    assert.ok(!a.includes('SOAEXAMPLESEED'));
    assert.equal(box.stale(a), false);
  });

  it('refuses a value sealed with a key the file does not hold, naming the file and the key id', () => {
    const sealed = new SecretBox([key()], FILE).seal(SECRET, CONTEXT);
    const message = refusal(() => new SecretBox([key()], FILE).open(sealed, CONTEXT));
    assert.match(message, new RegExp(`^${FILE}: ${CONTEXT}: is encrypted with key ${sealedKeyId(sealed) ?? 'x'}, which this key file does not hold`));
    assert.match(message, /--secret-key-file/);
  });

  it('refuses tampered nonce, ciphertext or tag, and a value moved to another etcd key (GCM tag)', () => {
    const box = new SecretBox([key()], FILE);
    const sealed = box.seal(SECRET, CONTEXT);
    const cases: [string, string, string][] = [
      ['nonce', flip(sealed, () => 0), CONTEXT],
      ['ciphertext', flip(sealed, () => 14), CONTEXT],
      ['tag', flip(sealed, (n) => n - 1), CONTEXT],
      ['moved to another key', sealed, '/causeway/v1/credentials/a'],
    ];
    for (const [what, value, context] of cases) {
      assert.match(
        refusal(() => box.open(value, context)),
        /fails its authentication tag/,
        what,
      );
    }
    assert.match(
      refusal(() => box.open('causeway:enc:aesgcm:v1:0123456789abcdef:AAAA', CONTEXT)),
      /damaged encryption envelope/,
    );
    assert.match(
      refusal(() => box.open('causeway:enc:aesgcm:v9:x:y', CONTEXT)),
      /envelope this hub does not know/,
    );
  });

  it('opens values sealed with an older key after rotation, and reports them stale; clear text passes through', () => {
    const oldKey = key();
    const newKey = key();
    const before = new SecretBox([oldKey], FILE).seal(SECRET, CONTEXT);
    const rotated = new SecretBox([newKey, oldKey], FILE);
    assert.equal(rotated.open(before, CONTEXT), SECRET);
    assert.equal(rotated.stale(before), true);
    const after = rotated.seal(SECRET, CONTEXT);
    assert.equal(sealedKeyId(after), secretKeyId(newKey));
    assert.equal(rotated.stale(after), false);
    assert.equal(new SecretBox([newKey], FILE).open(after, CONTEXT), SECRET, 'the old key is no longer needed');
    assert.equal(rotated.open(SECRET, CONTEXT), SECRET);
    assert.equal(rotated.stale(SECRET), true);
    assert.match(
      refusal(() => CLEAR_TEXT.open(after, CONTEXT)),
      /is encrypted/,
    );
  });
});

describe('secret key file', () => {
  it('reads one base64 key per line, the first sealing, ignoring comments and blank lines', () => {
    const [a, b] = [key(), key()];
    const box = parseSecretKeyFile(`# comment\n\n${a.toString('base64')}\r\n  ${b.toString('base64')}  \n`, FILE);
    assert.deepEqual(box.keyIds, [secretKeyId(a), secretKeyId(b)]);
    assert.equal(box.primaryKeyId, secretKeyId(a));
  });

  it('refuses bad lines naming the file and line, never echoing a key', () => {
    const good = key().toString('base64');
    const table: [string, RegExp][] = [
      ['', /secrets\.key: holds no key/],
      ['# only a comment\n', /holds no key/],
      [`${good}\nnot-base64\n`, /secrets\.key: line 2: expected 32 random bytes in base64 \(44 characters.*got 10 characters/],
      [randomBytes(16).toString('base64'), /line 1: expected 32 random bytes/],
      [`${good}\n${good}\n`, /line 2: repeats the key on line 1/],
    ];
    for (const [text, expected] of table) {
      const message = refusal(() => parseSecretKeyFile(text, FILE));
      assert.match(message, expected, JSON.stringify(text));
      assert.ok(!message.includes(good));
    }
  });

  it('creates a 0600 file with one fresh key, never over an existing one, and says what to do when one is missing', () => {
    const dir = tempDir('secret-key');
    const file = join(dir, 'secrets.key');
    const created = createSecretKeyFile(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readSecretKeyFile(file).keyIds, created.keyIds);
    assert.throws(() => createSecretKeyFile(file), /EEXIST/);
    assert.match(
      refusal(() => readSecretKeyFile(join(dir, 'missing.key'))),
      /missing\.key: the hub's secret key file does not exist: copy the key file/,
    );
    writeFileSync(join(dir, 'bad.key'), 'x\n');
    assert.match(
      refusal(() => readSecretKeyFile(join(dir, 'bad.key'))),
      /bad\.key: line 1/,
    );
  });
});

describe('credential store: secrets sealed on write, re-sealed on start (in-memory store)', () => {
  it('writes the identity and credentials sealed, and re-seals clear text and older keys without changing them', async () => {
    const store = new MemoryStore();
    const legacy = createIdentityState();
    await store.txn([], [{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(legacy) }]);
    assert.deepEqual(await sealedSecretKeyIds(store), []);

    const oldKey = key();
    const first = new CredentialStore(store, { secrets: new SecretBox([oldKey], FILE) });
    assert.equal(await first.reseal(), 1);
    const sealed = await store.get(IDENTITY_KEY);
    assert.ok(sealed !== undefined && isSealed(sealed.value) && !sealed.value.includes(legacy.operatorSeed));
    assert.deepEqual(await sealedSecretKeyIds(store), [secretKeyId(oldKey)]);
    assert.deepEqual(await first.identity(), legacy);
    const credential = await first.issue('aws-1');
    assert.equal(await first.reseal(), 0, 'nothing is stale');

    const newKey = key();
    const rotated = new CredentialStore(store, { secrets: new SecretBox([newKey, oldKey], FILE) });
    assert.equal(await rotated.reseal(), 2, 'identity and credential re-sealed with the new key');
    assert.deepEqual(await sealedSecretKeyIds(store), [secretKeyId(newKey)]);
    const onlyNew = new CredentialStore(store, { secrets: new SecretBox([newKey], FILE) });
    assert.deepEqual(await onlyNew.identity(), legacy);
    assert.deepEqual(await onlyNew.issue('aws-1'), credential);
  });

  it('two replicas re-sealing one clear-text identity at once: one write wins, the other sees it done', async () => {
    const store = new MemoryStore();
    const legacy = createIdentityState();
    await store.txn([], [{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(legacy) }]);
    const box = new SecretBox([key()], FILE);
    const counts = await Promise.all([new CredentialStore(store, { secrets: box }).reseal(), new CredentialStore(store, { secrets: box }).reseal()]);
    assert.equal(counts[0] + counts[1], 1, `re-sealed ${counts.join(' + ')} times`);
    assert.deepEqual(await new CredentialStore(store, { secrets: box }).identity(), legacy);
    assert.equal(sealedKeyId((await store.get(IDENTITY_KEY))?.value ?? ''), box.primaryKeyId);
  });

  it('refuses to re-seal with a wrong key and writes nothing', async () => {
    const store = new MemoryStore();
    const owner = new CredentialStore(store, { secrets: new SecretBox([key()], FILE) });
    await owner.identity();
    await owner.issue('aws-1');
    const before = await store.range('/causeway/v1/');
    await assert.rejects(new CredentialStore(store, { secrets: new SecretBox([key()], FILE) }).reseal(), /which this key file does not hold/);
    assert.deepEqual(await store.range('/causeway/v1/'), before);
  });
});
