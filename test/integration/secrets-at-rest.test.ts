// Secrets at rest (issue 12 §4), against a real etcd and the hub's embedded nats-server: the NATS
// identity and agent credentials are stored as AES-256-GCM envelopes, so no seed is readable from
// etcd; a restart on the same data dir keeps issuing working credentials; a missing or wrong key
// file refuses the start and changes nothing; rotation re-seals on start; a clear-text identity
// written by an older hub is migrated in place.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import { credentialsKey, IDENTITY_KEY } from '../../controlplane/api/keys.ts';
import { CredentialStore, type AgentCredential } from '../../controlplane/hub/credentials.ts';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { createIdentityState, decodeJwt, identityPublicKeys, type IdentityState } from '../../controlplane/identity/nats-identity.ts';
import { newSecretKey, sealedKeyId } from '../../controlplane/identity/secret-box.ts';
import { readSecretKeyFile } from '../../controlplane/identity/secret-key-file.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { EXAMPLES_DIR } from '../harness/cli.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import { startTestEtcd, tempDir, type TestEtcd } from '../harness/servers.ts';

const API = '/apis/causeway.dev/v1alpha1';
const CLUSTER = 'aws-train';
/**
 * An nkey seed as NATS writes one: a whole 58-character base32 token, S and the role (Operator,
 * Account, User) first. Whole, because the history names user public keys (U and 55 characters),
 * and about 1 in 125 of those holds "SA", "SO" or "SU" followed by 50 more base32 characters.
 */
const ANY_SEED = /(?<![A-Z2-7])S[OAU][A-Z2-7]{56}(?![A-Z2-7])/;

async function launch(etcd: TestEtcd, dataDir: string, secretKeyFile?: string): Promise<RunningHub> {
  const hub = await startHub({ listen: '127.0.0.1:0', dataDir, etcd: [etcd.url], secretKeyFile, logger: pino({ level: 'silent' }) });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await hub.stop();
  };
  onCleanup(stop);
  return { ...hub, stop };
}

async function post(hub: RunningHub, path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
  const token = readFileSync(hub.adminTokenFile, 'utf8').trim();
  const res = await fetch(`${hub.url}${API}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: await res.json() };
}

async function applyExamples(hub: RunningHub): Promise<void> {
  const documents = readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(EXAMPLES_DIR, file), 'utf8')).map((d, i) => ({ source: { file, document: i + 1 }, object: d.toJS() as unknown })),
    );
  const res = await post(hub, '/apply', { documents });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

async function credential(hub: RunningHub, rotate = false): Promise<AgentCredential> {
  const res = await post(hub, `/clusters/${CLUSTER}/credentials${rotate ? '?rotate=true' : ''}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as AgentCredential;
}

/** The credential works: the hub's nats-server accepts it and lets it publish on its own subject. */
async function assertConnects(hub: RunningHub, c: AgentCredential): Promise<void> {
  const nc = await connect({
    servers: hub.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(c.creds)),
    inboxPrefix: `_INBOX_${CLUSTER}`,
    reconnect: false,
  });
  nc.publish(`causeway.v1.agent.${CLUSTER}.heartbeat`, '{}');
  await nc.flush();
  await nc.close();
}

async function raw(etcd: TestEtcd, key: string): Promise<{ value: string; modRevision: number }> {
  const store = new EtcdStore({ endpoints: [etcd.url] });
  try {
    const kv = await store.get(key);
    assert.ok(kv !== undefined, `${key} is in etcd`);
    return kv;
  } finally {
    await store.close();
  }
}

/** The identity as the hub sees it, opened with the key file (the test's only way to the seeds). */
async function openedIdentity(etcd: TestEtcd, keyFile: string): Promise<IdentityState> {
  const store = new EtcdStore({ endpoints: [etcd.url] });
  try {
    return await new CredentialStore(store, { secrets: readSecretKeyFile(keyFile) }).identity();
  } finally {
    await store.close();
  }
}

function seedsOf(identity: IdentityState, c: AgentCredential): string[] {
  const userSeed = ANY_SEED.exec(c.creds.split('USER NKEY SEED')[1] ?? '')?.[0];
  assert.ok(userSeed?.startsWith('SU') === true, 'the creds carry the user seed');
  return [identity.operatorSeed, identity.systemAccountSeed, identity.appAccountSeed, userSeed];
}

async function refusedStart(etcd: TestEtcd, dataDir: string, expected: RegExp, secretKeyFile?: string): Promise<void> {
  const before = await etcdSnapshot(etcd.url);
  await assert.rejects(launch(etcd, dataDir, secretKeyFile), (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, String(err));
    assert.match(err.message, expected);
    return true;
  });
  assert.deepEqual(await etcdSnapshot(etcd.url), before, 'a refused start writes nothing to etcd');
}

describe('secrets at rest: the NATS identity and agent credentials encrypted in etcd (real etcd, nats-server)', function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  let dataDir: string;
  let keyFile: string;
  let hub: RunningHub;
  let issued: AgentCredential;

  before(async () => {
    etcd = await startTestEtcd();
    dataDir = join(tempDir('secrets'), 'data');
  });
  after(async () => {
    await hub.stop();
    await etcd.stop();
  });

  it('stores every secret sealed with the key of <data-dir>/secrets.key (0600): no seed is in any raw etcd value', async () => {
    hub = await launch(etcd, dataDir);
    keyFile = join(dataDir, 'secrets.key');
    assert.equal(hub.secretKeyFile, keyFile);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const keyId = readSecretKeyFile(keyFile).primaryKeyId;
    await applyExamples(hub);
    issued = await credential(hub);
    await assertConnects(hub, issued);

    for (const key of [IDENTITY_KEY, credentialsKey(CLUSTER)]) {
      const { value } = await raw(etcd, key);
      assert.ok(value.startsWith(`causeway:enc:aesgcm:v1:${keyId}:`), `${key} is an envelope: ${value.slice(0, 40)}`);
    }
    const seeds = seedsOf(await openedIdentity(etcd, keyFile), issued);
    const everything = await etcdSnapshot(etcd.url);
    for (const [key, { value }] of Object.entries(everything.keys)) {
      assert.doesNotMatch(value, ANY_SEED, `${key} holds no nkey seed`);
      for (const seed of seeds) assert.ok(!value.includes(seed), `${key} holds no seed`);
    }
  });

  it('starts again on the same data dir and hands out the same credential, which still connects', async () => {
    await hub.stop();
    hub = await launch(etcd, dataDir);
    const again = await credential(hub);
    assert.deepEqual(again, issued);
    await assertConnects(hub, again);
  });

  it('refuses to start without its key file while etcd holds sealed secrets, naming the file, creating no key and writing nothing', async () => {
    await hub.stop();
    const keyId = readSecretKeyFile(keyFile).primaryKeyId;
    renameSync(keyFile, `${keyFile}.moved`);
    await refusedStart(etcd, dataDir, new RegExp(`${keyFile}: does not exist, but etcd already holds secrets encrypted with key ${keyId}: restore this file`));
    assert.equal(existsSync(keyFile), false, 'no new key was created');
    const elsewhere = join(dataDir, 'nowhere.key');
    await refusedStart(etcd, dataDir, new RegExp(`${elsewhere}: the hub's secret key file does not exist`), elsewhere);
    renameSync(`${keyFile}.moved`, keyFile);
  });

  it('refuses a wrong key file, naming the file and the key it lacks, and leaves the file and etcd as they were', async () => {
    const wrong = join(dataDir, 'wrong.key');
    writeFileSync(wrong, `${newSecretKey()}\n`, { mode: 0o600 });
    const keyId = sealedKeyId((await raw(etcd, IDENTITY_KEY)).value) ?? '';
    await refusedStart(etcd, dataDir, new RegExp(`${wrong}: /causeway/v1/\\S+: is encrypted with key ${keyId}, which this key file does not hold`), wrong);
    writeFileSync(wrong, 'not a key\n');
    await refusedStart(etcd, dataDir, new RegExp(`${wrong}: line 1: expected 32 random bytes in base64`), wrong);
    assert.equal(readFileSync(wrong, 'utf8'), 'not a key\n');
  });

  it('rotates: a new first key re-seals every secret on start; once it has, the old key can go', async () => {
    const oldText = readFileSync(keyFile, 'utf8');
    const oldId = readSecretKeyFile(keyFile).primaryKeyId;
    const identityBefore = await raw(etcd, IDENTITY_KEY);
    writeFileSync(keyFile, `${newSecretKey()}\n${oldText}`);
    const newId = readSecretKeyFile(keyFile).primaryKeyId;
    assert.notEqual(newId, oldId);
    hub = await launch(etcd, dataDir);
    for (const key of [IDENTITY_KEY, credentialsKey(CLUSTER)]) assert.equal(sealedKeyId((await raw(etcd, key)).value), newId, `${key} re-sealed`);
    assert.ok((await raw(etcd, IDENTITY_KEY)).modRevision > identityBefore.modRevision);
    await hub.stop();

    writeFileSync(keyFile, `${readFileSync(keyFile, 'utf8').split('\n')[0] ?? ''}\n`);
    assert.deepEqual(readSecretKeyFile(keyFile).keyIds, [newId], 'the old key is gone from the file');
    hub = await launch(etcd, dataDir);
    const after = await credential(hub);
    assert.deepEqual(after, issued);
    await assertConnects(hub, after);
  });
});

describe('secrets at rest: migration of what an older hub wrote in clear (real etcd, nats-server)', function () {
  this.timeout(60_000);

  it('re-writes a clear-text identity sealed, with the same seeds, and serves with it', async () => {
    const etcd = await startTestEtcd();
    const legacy = createIdentityState();
    // What a hub before encryption at rest wrote. (Its agent credentials are re-sealed the same
    // way, test/unit/secret-box.test.ts; here the gateway would sweep one whose Cluster is absent.)
    const store = new EtcdStore({ endpoints: [etcd.url] });
    await store.txn([], [{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(legacy) }]);
    await store.close();
    const clearIdentity = await raw(etcd, IDENTITY_KEY);
    assert.ok(clearIdentity.value.includes(legacy.operatorSeed), 'the older hub stored the seed in clear');

    const dataDir = join(tempDir('secrets-migrate'), 'data');
    const hub = await launch(etcd, dataDir);
    const keyId = readSecretKeyFile(hub.secretKeyFile).primaryKeyId;
    const migrated = await raw(etcd, IDENTITY_KEY);
    assert.equal(sealedKeyId(migrated.value), keyId);
    assert.ok(migrated.modRevision > clearIdentity.modRevision);
    assert.deepEqual(await openedIdentity(etcd, hub.secretKeyFile), legacy, 'the same operator and accounts, now sealed');

    await applyExamples(hub);
    const c = await credential(hub);
    for (const seed of seedsOf(legacy, c)) {
      assert.ok(!migrated.value.includes(seed));
      assert.ok(!(await raw(etcd, credentialsKey(CLUSTER))).value.includes(seed));
    }
    // Signed by the legacy app account, which the embedded nats-server trusts through the migrated identity.
    assert.equal(decodeJwt(c.creds.split('\n')[1] ?? '').iss, identityPublicKeys(legacy).appAccount);
    await assertConnects(hub, c);
    await hub.stop();
    await etcd.stop();
  });
});
