// Agent credentials carry an expiry that nats-server enforces, and the hub renews them before it
// passes (issue 12 §4). Real etcd, hub and nats-server; a 6 s lifetime so that the test sees the
// whole cycle: an agent renews at two thirds (4 s) and is still connected after the first JWT
// expired; a client holding only the first JWT is cut off at its expiry; a rotated credential is
// refused renewal. Also: the account's connection limit and the agent's subscription limit are in
// the JWTs the server enforces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { jwtTimes, NatsHubTransport } from '../../cluster-agent/nats-transport.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { startHub, type RunningHub } from '../../controlplane/hub/hub.ts';
import { decodeJwt } from '../../controlplane/identity/nats-identity.ts';
import { agentInboxPrefix } from '../../controlplane/api/subjects.ts';
import { PROTOCOL_VERSION, renewReplyCodec, renewRequestCodec, type RenewReply } from '../../controlplane/api/messages.ts';
import { cluster, network } from '../fixtures/resources.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startTestEtcd, tempDir } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

const TTL_SECONDS = 6;

describe('agent credentials: expiry enforced by nats-server, renewed by the hub (real servers)', function () {
  this.timeout(60_000);
  let hub: RunningHub;
  let client: HubClient;

  before(async () => {
    const etcd = await startTestEtcd();
    hub = await startHub({
      listen: '127.0.0.1:0',
      dataDir: join(tempDir('renewal'), 'data'),
      etcd: [etcd.url],
      credentialTtlSeconds: TTL_SECONDS,
      logger: pino({ level: 'silent' }),
    });
    onCleanup(() => hub.stop());
    client = new HubClient(hub.url, readFileSync(hub.adminTokenFile, 'utf8').trim());
    const docs = [network('aws-vpc'), cluster('aws-1', '10.1.0.0/16', '10.101.0.0/16'), cluster('aws-2', '10.2.0.0/16', '10.102.0.0/16')];
    await client.apply(
      docs.map((object, i) => ({ source: { file: 'set.yaml', document: i + 1 }, object })),
      false,
    );
  });

  after(async () => {
    await hub.stop();
  });

  it('hands out the credentials of many clusters asked for at once (each appends to the audit history): none fails', async () => {
    const names = Array.from({ length: 32 }, (_, i) => `burst-${i}`);
    await client.apply(
      names.map((n, i) => ({ source: { file: 'burst.yaml', document: i + 1 }, object: cluster(n, `10.${64 + i}.0.0/16`, `10.${160 + i}.0.0/16`) })),
      false,
    );
    const results = await Promise.allSettled(names.map((n) => client.credentials(n, false)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${names[i] ?? '?'}: ${String(r.reason)}`] : []));
    assert.deepEqual(failed, []);
    const keys = results.map((r) => (r.status === 'fulfilled' ? decodeJwt(r.value.creds.split('\n').find((l) => l.startsWith('eyJ')) ?? '').sub : ''));
    assert.equal(new Set(keys).size, names.length);
  });

  it('issues JWTs that expire after the configured lifetime, with the agent subscription limit', async () => {
    const credential = await client.credentials('aws-1', false);
    const times = jwtTimes(credential.creds);
    assert.ok(times?.expiresAt !== undefined);
    assert.equal(times.expiresAt - times.issuedAt, TTL_SECONDS);
    const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(credential.creds)?.[1] ?? '';
    const claims = decodeJwt<{ subs?: number }>(jwt);
    assert.equal(claims.nats.subs, 32);
  });

  it('renews an agent before expiry: it reconnects with the new JWT and stays connected after the old one expired', async () => {
    const credential = await client.credentials('aws-1', false);
    const first = jwtTimes(credential.creds);
    assert.ok(first?.expiresAt !== undefined);
    const renewals: string[] = [];
    const errors: string[] = [];
    const transport = new NatsHubTransport({
      cluster: 'aws-1',
      servers: hub.natsUrl,
      creds: credential.creds,
      renewRetry: { baseMs: 200, maxMs: 500 },
      onRenewed: (creds) => renewals.push(creds),
      onError: (what, err) => errors.push(`${what}: ${String(err)}`),
    });
    const ac = new AbortController();
    onCleanup(() => transport.close());
    await transport.start({ imports: () => undefined, connection: () => undefined }, ac.signal);
    await waitFor('the agent to connect', () => transport.connected());
    await waitFor('a renewal', () => renewals.length > 0, 10_000);
    const renewed = jwtTimes(renewals[0] ?? '');
    assert.equal(renewed?.subject, first.subject, 'the same user key');
    assert.ok(renewed.expiresAt !== undefined && renewed.expiresAt > first.expiresAt, 'a later expiry');
    // Past the first JWT's expiry (plus the server's check interval), the agent is connected, on the new one.
    await new Promise((r) => setTimeout(r, Math.max(0, (first.expiresAt ?? 0) * 1000 - Date.now()) + 1500));
    await waitFor('the agent to be connected after the first expiry', () => transport.connected(), 5000);
    assert.equal(transport.currentCreds(), renewals.at(-1));
    // The stored credential is the renewed one: `cluster credentials` hands out the same key, renewed.
    const stored = jwtTimes((await client.credentials('aws-1', false)).creds);
    assert.equal(stored?.subject, first.subject);
    assert.ok(stored.expiresAt !== undefined && stored.expiresAt > first.expiresAt);
    const history = await client.history({ limit: 50 });
    assert.ok(history.items.some((h) => h.operation === 'renew-credentials' && h.credential?.cluster === 'aws-1'));
    ac.abort();
    await transport.close();
    assert.deepEqual(
      errors.filter((e) => /refused/.test(e)),
      [],
    );
  });

  it('lets nats-server cut off a connection whose JWT expired (no renewal)', async () => {
    const credential = await client.credentials('aws-2', false);
    const times = jwtTimes(credential.creds);
    assert.ok(times?.expiresAt !== undefined);
    const nc = await connect({
      servers: hub.natsUrl,
      authenticator: credsAuthenticator(new TextEncoder().encode(credential.creds)),
      inboxPrefix: agentInboxPrefix('aws-2'),
      reconnect: false,
    });
    const closed = await Promise.race([
      nc.closed().then(() => Date.now()),
      new Promise<number>((r) =>
        setTimeout(() => {
          r(-1);
        }, 15_000),
      ),
    ]);
    assert.ok(closed > 0, 'the server closed the connection');
    assert.ok(closed >= times.expiresAt * 1000 - 1000, `closed at ${new Date(closed).toISOString()}, expiry ${new Date(times.expiresAt * 1000).toISOString()}`);
  });

  it('refuses a renewal that names a rotated key, answering only for the current one', async () => {
    const old = await client.credentials('aws-2', true);
    const current = await client.credentials('aws-2', true);
    const nc = await connect({
      servers: hub.natsUrl,
      authenticator: credsAuthenticator(new TextEncoder().encode(current.creds)),
      inboxPrefix: agentInboxPrefix('aws-2'),
    });
    onCleanup(() => nc.close());
    const ask = async (publicKey: string): Promise<RenewReply> => {
      const request = renewRequestCodec.encode({ v: PROTOCOL_VERSION, cluster: 'aws-2', session: 'test-session-1', publicKey });
      const decoded = renewReplyCodec.decode((await nc.request('causeway.v1.agent.aws-2.renew', request, { timeout: 5000 })).data);
      assert.ok(decoded.ok);
      return decoded.value;
    };
    const refused = await ask(old.publicKey);
    assert.deepEqual(refused.ok ? undefined : refused.reason, 'rotated');
    const answered = await ask(current.publicKey);
    assert.ok(answered.ok);
    assert.equal(jwtTimes(`-----BEGIN NATS USER JWT-----\n${answered.jwt}\n------END NATS USER JWT------`)?.subject, current.publicKey);
    await nc.close();
  });
});
