// Per-cluster NATS credentials against a real nats-server in operator mode: every refusal here is
// the server's, not ours. Cluster a's agent may use its own subjects and nothing of cluster b's;
// no agent reaches the JetStream API; a revoked credential is cut off and stays refused, even
// across a server restart (the full resolver persists the account JWT).
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { fromSeed } from '@nats-io/nkeys';
import {
  AuthorizationError,
  PermissionViolationError,
  connect,
  credsAuthenticator as referenceCredsAuthenticator,
  type Msg,
  type NatsConnection,
  type Status,
} from '@nats-io/transport-node';
import {
  ALL_AGENT_SUBJECTS,
  AgentSubjectKind,
  ClusterSubjectKind,
  agentSubject,
  agentSubjects,
  clusterSubject,
  clusterSubjects,
} from '../../controlplane/api/subjects.ts';
import { NatsAccountPusher } from '../../controlplane/bus/nats-account-push.ts';
import { AUTH_TIMEOUT_SECONDS } from '../../controlplane/identity/nats-server-config.ts';
import {
  appAccountJwt,
  createIdentityState,
  credsAuthenticator,
  decodeJwt,
  formatCreds,
  issueAgentUser,
  revokeUsers,
  systemAccountJwt,
  type IdentityState,
  type UserCredentials,
} from '../../controlplane/identity/nats-identity.ts';
import { keyPairFromSeed } from '../../controlplane/identity/nkeys.ts';
import { ConflictError, InvalidInputError } from '../../controlplane/api/errors.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';
import { waitFor } from '../harness/wait.ts';

interface Client {
  readonly nc: NatsConnection;
  readonly statuses: Status[];
}

describe('NATS identity: what nkeys.js would sign, node:crypto signs', () => {
  it('derives the same public keys and byte-identical signatures as @nats-io/nkeys', async () => {
    const state = createIdentityState();
    const agent = await issueAgentUser(state, 'a');
    const payload = new TextEncoder().encode('nonce-1234');
    for (const seed of [state.operatorSeed, state.systemAccountSeed, state.appAccountSeed, agent.seed]) {
      const reference = fromSeed(new TextEncoder().encode(seed));
      const ours = keyPairFromSeed(seed);
      assert.equal(ours.getPublicKey(), reference.getPublicKey());
      assert.deepEqual(Buffer.from(ours.sign(payload)), Buffer.from(reference.sign(payload)));
      assert.ok(reference.verify(payload, ours.sign(payload)));
      assert.deepEqual(ours.getPrivateKey(), reference.getPrivateKey());
    }
  });

  it("presents what nats.js's credsAuthenticator presents for a .creds text, follows a renewed one, and names a broken one", async () => {
    const state = createIdentityState();
    const first = await issueAgentUser(state, 'a');
    const renewed = await issueAgentUser(state, 'a');
    let current = first.creds;
    const ours = credsAuthenticator(() => current);
    const reference = referenceCredsAuthenticator(() => new TextEncoder().encode(current));
    for (const nonce of ['nonce-1234', 'Zm9vYmFy-_x', undefined]) {
      assert.deepEqual(ours(nonce), { sig: '', ...reference(nonce) });
    }
    current = renewed.creds;
    assert.deepEqual(ours('nonce-5678'), reference('nonce-5678'));
    assert.equal(ours('n').jwt, renewed.jwt);
    current = first.creds.replace(/-----BEGIN NATS USER JWT-----[\s\S]*------END NATS USER JWT------/, '');
    assert.throws(
      () => ours('n'),
      (err: unknown) => err instanceof InvalidInputError && /NATS user JWT/.test(err.message),
    );
  });

  it('renders the standard .creds text and signs the agent JWT with its exact permissions', async () => {
    const state = createIdentityState();
    const agent = await issueAgentUser(state, 'aws-1', { expiresAt: 4_000_000_000 });
    assert.match(
      agent.creds,
      /^-----BEGIN NATS USER JWT-----\n[\w-]+\.[\w-]+\.[\w-]+\n------END NATS USER JWT------\n[\s\S]*-----BEGIN USER NKEY SEED-----\nSU[A-Z2-7]+\n------END USER NKEY SEED------\n$/,
    );
    assert.equal(agent.creds, formatCreds(agent.jwt, agent.seed));
    assert.equal(agent.inboxPrefix, '_INBOX_aws-1');
    const claims = decodeJwt<Record<string, unknown>>(agent.jwt);
    assert.equal(claims.sub, agent.publicKey);
    assert.equal(claims.exp, 4_000_000_000);
    assert.deepEqual(claims.nats['pub'], { allow: ['causeway.v1.agent.aws-1.>'] });
    assert.deepEqual(claims.nats['sub'], { allow: ['causeway.v1.cluster.aws-1.>', '_INBOX_aws-1.>'] });
    assert.deepEqual(claims.nats['resp'], { max: 1, ttl: 120_000_000_000 });
    assert.equal(claims.nats['subs'], 32);
  });

  it('limits connections per account in the JWTs the server enforces, and renews a user with its own key', async () => {
    const state = createIdentityState();
    const app = decodeJwt<{ limits?: { conn?: number } }>(await appAccountJwt(state));
    const sys = decodeJwt<{ limits?: { conn?: number } }>(await systemAccountJwt(state));
    assert.equal(app.nats.limits?.conn, 20_000);
    assert.equal(sys.nats.limits?.conn, 64);
    const first = await issueAgentUser(state, 'aws-1', { expiresAt: 4_000_000_000 });
    const renewed = await issueAgentUser(state, 'aws-1', { expiresAt: 4_000_000_100, seed: first.seed });
    assert.equal(renewed.publicKey, first.publicKey);
    assert.equal(decodeJwt(renewed.jwt).exp, 4_000_000_100);
  });

  it('carries the full revocation map in every app account JWT and only ever widens it', async () => {
    const state = createIdentityState();
    const [u1, u2] = await Promise.all([issueAgentUser(state, 'a'), issueAgentUser(state, 'b')]);
    const first = await revokeUsers(state, [u1.publicKey], 1000);
    const second = await revokeUsers(first.state, [u2.publicKey, u1.publicKey], 900);
    assert.deepEqual(second.state.revocations, { [u1.publicKey]: 1000, [u2.publicKey]: 900 });
    const claims = decodeJwt<{ revocations?: Record<string, number> }>(second.appAccountJwt);
    assert.deepEqual(claims.nats.revocations, { [u1.publicKey]: 1000, [u2.publicKey]: 900 });
    assert.deepEqual(state.revocations, {}, 'the input state is not mutated');
    await assert.rejects(revokeUsers(state, ['not-a-key']), /not a user public key/);
  });
});

describe('NATS identity: per-cluster credentials enforced by nats-server', function () {
  this.timeout(30_000);
  let nats: TestNats;
  let identity: IdentityState;
  let hub: Client;
  let agentA: Client;
  let agentB: Client;
  let credsA: UserCredentials;
  const clients: NatsConnection[] = [];

  async function connectAs(user: UserCredentials, options: { reconnect?: boolean } = {}): Promise<Client> {
    const nc = await connect({
      servers: nats.url,
      authenticator: referenceCredsAuthenticator(new TextEncoder().encode(user.creds)),
      name: user.name,
      ...(user.inboxPrefix === undefined ? {} : { inboxPrefix: user.inboxPrefix }),
      reconnect: options.reconnect ?? true,
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    clients.push(nc);
    const statuses: Status[] = [];
    void (async () => {
      for await (const s of nc.status()) statuses.push(s);
    })();
    return { nc, statuses };
  }

  function collect(nc: NatsConnection, subject: string): Msg[] {
    const got: Msg[] = [];
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) got.push(msg);
      },
    });
    return got;
  }

  function permissionErrors(client: Client, operation: 'publish' | 'subscription'): PermissionViolationError[] {
    return client.statuses.flatMap((s) =>
      s.type === 'error' && s.error instanceof PermissionViolationError && s.error.operation === operation ? [s.error] : [],
    );
  }

  /** Resolves with what a subscription closed with: the server's refusal, or undefined. */
  async function refusal(nc: NatsConnection, subject: string): Promise<unknown> {
    const sub = nc.subscribe(subject);
    let result: { value: unknown } | undefined;
    void sub.closed.then((value) => {
      result = { value };
    });
    await nc.flush();
    // The server answers a SUB before the PING of the flush, so the answer is here or on its way.
    return (await waitFor(`the server to answer the subscription to ${subject}`, () => result, 3000)).value;
  }

  before(async () => {
    nats = await startTestNats();
    identity = nats.identity;
    credsA = await issueAgentUser(identity, 'a');
    hub = await connectAs(nats.hub);
    agentA = await connectAs(credsA);
    agentB = await connectAs(await issueAgentUser(identity, 'b'));
  });

  after(async () => {
    for (const nc of clients.reverse()) if (!nc.isClosed()) await nc.close();
    await nats.stop();
  });

  it("lets cluster a's agent publish and subscribe on its own subjects, with the hub on the other end", async () => {
    const atHub = collect(hub.nc, ALL_AGENT_SUBJECTS);
    const atA = collect(agentA.nc, clusterSubjects('a'));
    await Promise.all([hub.nc.flush(), agentA.nc.flush()]);

    agentA.nc.publish(agentSubject('a', AgentSubjectKind.Report), 'report-from-a');
    hub.nc.publish(clusterSubject('a', ClusterSubjectKind.Imports), 'desired-for-a');

    const report = await waitFor('the hub to receive a report', () => atHub.find((m) => m.string() === 'report-from-a'));
    assert.equal(report.subject, 'causeway.v1.agent.a.report');
    const desired = await waitFor('agent a to receive its desired state', () => atA.find((m) => m.string() === 'desired-for-a'));
    assert.equal(desired.subject, 'causeway.v1.cluster.a.imports');
    assert.deepEqual(permissionErrors(agentA, 'publish'), []);
  });

  it('lets an agent answer the hub (resp) and get answers on its own inbox', async () => {
    const heartbeat = agentSubject('a', AgentSubjectKind.Heartbeat);
    const ask = clusterSubject('a', ClusterSubjectKind.Imports);
    const hubSub = hub.nc.subscribe(heartbeat, {
      callback: (_e, m) => {
        m.respond(`ack:${m.string()}`);
      },
    });
    const agentSub = agentA.nc.subscribe(ask, {
      callback: (_e, m) => {
        m.respond(`a-has:${m.string()}`);
      },
    });
    await Promise.all([hub.nc.flush(), agentA.nc.flush()]);

    // The hub's reply subject is not in a's pub.allow: only `resp` lets a answer it.
    const fromAgent = await hub.nc.request(ask, 'rev-7', { timeout: 5000 });
    assert.equal(fromAgent.string(), 'a-has:rev-7');
    // a's reply comes back on _INBOX_a.*, the only inbox it may read.
    const fromHub = await agentA.nc.request(heartbeat, 'beat-1', { timeout: 5000 });
    assert.equal(fromHub.string(), 'ack:beat-1');
    assert.match(fromHub.subject, /^_INBOX_a\./);
    hubSub.unsubscribe();
    agentSub.unsubscribe();
  });

  const forbiddenSubscriptions = [
    clusterSubjects('b'),
    clusterSubject('b', ClusterSubjectKind.Imports),
    'causeway.v1.cluster.*.>',
    agentSubjects('b'),
    '_INBOX_b.>',
    '_INBOX.>',
    '>',
    '$JS.API.>',
  ];
  for (const subject of forbiddenSubscriptions) {
    it(`refuses cluster a's agent a subscription to ${subject}`, async () => {
      const closedWith = await refusal(agentA.nc, subject);
      assert.ok(closedWith instanceof PermissionViolationError, `expected a permission violation, got ${String(closedWith)}`);
      assert.equal(closedWith.operation, 'subscription');
      assert.equal(closedWith.subject, subject);
      assert.ok(!agentA.nc.isClosed(), 'a refused subscription does not cost the connection');
    });
  }

  it("keeps b's replies from a: b's request round-trips while a's subscription to _INBOX_b.> is refused", async () => {
    const closedWith = await refusal(agentA.nc, '_INBOX_b.>');
    assert.ok(closedWith instanceof PermissionViolationError);
    const hubSub = hub.nc.subscribe(agentSubject('b', AgentSubjectKind.Report), {
      callback: (_e, m) => {
        m.respond('secret-for-b');
      },
    });
    await hub.nc.flush();
    const reply = await agentB.nc.request(agentSubject('b', AgentSubjectKind.Report), 'hello', { timeout: 5000 });
    assert.equal(reply.string(), 'secret-for-b');
    assert.match(reply.subject, /^_INBOX_b\./);
    hubSub.unsubscribe();
  });

  it("drops a's publish on b's agent subject: a permission violation on a's status, nothing at the hub", async () => {
    const atHub = collect(hub.nc, ALL_AGENT_SUBJECTS);
    await hub.nc.flush();
    const forged = agentSubject('b', AgentSubjectKind.Report);
    agentA.nc.publish(forged, 'forged-by-a');
    // The server keeps one connection's messages in order: once the marker is in, the forged
    // message would have arrived before it.
    agentA.nc.publish(agentSubject('a', AgentSubjectKind.Report), 'marker-after-forgery');

    const violation = await waitFor('a permission violation on a', () => permissionErrors(agentA, 'publish').find((e) => e.subject === forged));
    assert.match(violation.message, /permissions violation/i);
    await waitFor('the marker at the hub', () => atHub.some((m) => m.string() === 'marker-after-forgery'));
    assert.deepEqual(
      atHub.filter((m) => m.subject === forged).map((m) => m.string()),
      [],
    );
    assert.ok(!agentA.nc.isClosed());
  });

  it("refuses a's JetStream API requests, so it cannot point a consumer at b's subject", async () => {
    const stream = 'CW_IDENTITY_TEST';
    const created = (
      await hub.nc.request(
        `$JS.API.STREAM.CREATE.${stream}`,
        JSON.stringify({ name: stream, subjects: ['causeway.test.events.>'], storage: 'memory', num_replicas: 1 }),
        { timeout: 5000 },
      )
    ).json<{ error?: unknown; config?: { name: string } }>();
    assert.equal(created.error, undefined);
    assert.equal(created.config?.name, stream);

    const createConsumer = JSON.stringify({
      stream_name: stream,
      config: { deliver_subject: clusterSubject('b', ClusterSubjectKind.Imports), ack_policy: 'none', deliver_policy: 'all' },
    });
    await assert.rejects(agentA.nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, createConsumer, { timeout: 5000 }), (err: unknown) =>
      hasPermissionViolation(err, `$JS.API.CONSUMER.CREATE.${stream}`),
    );
    await assert.rejects(agentA.nc.request('$JS.API.INFO', '', { timeout: 5000 }), (err: unknown) => hasPermissionViolation(err, '$JS.API.INFO'));

    const info = async (): Promise<number> =>
      (await hub.nc.request(`$JS.API.STREAM.INFO.${stream}`, '', { timeout: 5000 })).json<{ state: { consumer_count: number } }>().state.consumer_count;
    assert.equal(await info(), 0, "a's consumer was not created");

    // Control: the same request from a user with JetStream access is well-formed and succeeds,
    // and the server does not check the deliver subject: this is the pitfall the denial prevents.
    const control = (await hub.nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, createConsumer, { timeout: 5000 })).json<{
      error?: unknown;
      config?: { deliver_subject?: string };
    }>();
    assert.equal(control.error, undefined);
    assert.equal(control.config?.deliver_subject, 'causeway.v1.cluster.b.imports');
    assert.equal(await info(), 1);
    const deleted = (await hub.nc.request(`$JS.API.STREAM.DELETE.${stream}`, '', { timeout: 5000 })).json<{ success?: boolean }>();
    assert.equal(deleted.success, true);
  });

  it('cuts off a revoked credential at once, refuses it on reconnect, and keeps refusing after a restart', async () => {
    const pusher = await NatsAccountPusher.connect({ servers: nats.url, systemUserCreds: nats.system.creds });
    try {
      const credsC = await issueAgentUser(identity, 'c');
      const credsD = await issueAgentUser(identity, 'd');
      const c = await connectAs(credsC);
      const atHub = collect(hub.nc, agentSubjects('c'));
      await hub.nc.flush();
      c.nc.publish(agentSubject('c', AgentSubjectKind.Report), 'c-before');
      await waitFor('c to reach the hub before revocation', () => atHub.some((m) => m.string() === 'c-before'));

      const revoked = await revokeUsers(identity, [credsC.publicKey]);
      identity = revoked.state;
      const result = await pusher.push(revoked.appAccountJwt);
      assert.equal(result.code, 200);
      assert.equal(result.account, decodeJwt(revoked.appAccountJwt).sub);

      await waitFor('the server to disconnect the revoked user', () => c.statuses.some((s) => s.type === 'disconnect'));
      await waitFor('the client to give up after the server refused its reconnects', () => c.nc.isClosed());
      const errors = c.statuses.flatMap((s) => (s.type === 'error' ? [s.error] : []));
      assert.match(errors[0]?.message ?? '', /User Authentication Revoked/, 'the server said why it cut c off');
      assert.ok(errors.slice(1).length > 0 && errors.slice(1).every((e) => e instanceof AuthorizationError), 'reconnects were refused');
      await assert.rejects(connectAs(credsC, { reconnect: false }), (err: unknown) => hasAuthorizationError(err));

      // Others are untouched: a still talks to the hub.
      const atHubFromA = collect(hub.nc, agentSubjects('a'));
      await hub.nc.flush();
      agentA.nc.publish(agentSubject('a', AgentSubjectKind.Report), 'a-after-revocation');
      await waitFor('a to still reach the hub', () => atHubFromA.some((m) => m.string() === 'a-after-revocation'));

      // A second revocation carries the first one too; the resolver keeps it across a restart.
      const revokedD = await revokeUsers(identity, [credsD.publicKey]);
      identity = revokedD.state;
      assert.equal((await pusher.push(revokedD.appAccountJwt)).code, 200);
      await pusher.close();
      await nats.restart({ identity });
      await assert.rejects(connectAs(credsC, { reconnect: false }), (err: unknown) => hasAuthorizationError(err));
      await assert.rejects(connectAs(credsD, { reconnect: false }), (err: unknown) => hasAuthorizationError(err));
      const fresh = await connectAs(await issueAgentUser(identity, 'c'), { reconnect: false });
      await fresh.nc.flush();
      assert.ok(!fresh.nc.isClosed(), 'a newly issued credential for the same cluster works');
      // The app account JWT in force still has JetStream: the revocation push kept its limits.
      const js: unknown = await fresh.nc.request('$JS.API.INFO', '', { timeout: 5000 }).catch((err: unknown) => err);
      assert.ok(hasPermissionViolation(js, '$JS.API.INFO'), 'agents still have no JetStream API');
      const hubAgain = await connectAs(nats.hub, { reconnect: false });
      const jsInfo = (await hubAgain.nc.request('$JS.API.INFO', '', { timeout: 5000 })).json<{ error?: unknown; limits?: unknown }>();
      assert.equal(jsInfo.error, undefined);
    } finally {
      await pusher.close();
    }
  });

  it(`gives a client ${AUTH_TIMEOUT_SECONDS} s to authenticate, not nats-server's default 2 s: an agent reconnecting late on a busy machine is not refused`, async function () {
    this.timeout(15_000);
    // A client that connects and never authenticates: the server's own timer ends it.
    const started = performance.now();
    const { said, closedAfterMs } = await new Promise<{ said: string; closedAfterMs: number }>((resolve, reject) => {
      let said = '';
      const socket = createConnection({ host: '127.0.0.1', port: nats.port });
      socket.on('data', (d) => (said += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => {
        resolve({ said, closedAfterMs: performance.now() - started });
      });
    });
    assert.match(said, /-ERR 'Authentication Timeout'/);
    assert.ok(closedAfterMs >= AUTH_TIMEOUT_SECONDS * 1000 - 250, `refused after ${Math.round(closedAfterMs)} ms`);
  });

  it('refuses to push a JWT that is not signed', async () => {
    const pusher = await NatsAccountPusher.connect({ servers: nats.url, systemUserCreds: nats.system.creds });
    try {
      const jwt = await appAccountJwt(identity);
      const [head, body] = jwt.split('.');
      await assert.rejects(pusher.push(`${head ?? ''}.${body ?? ''}.AAAA`), /not a valid signed JWT/);
    } finally {
      await pusher.close();
    }
  });

  it('refuses to push an account JWT older than the last one it pushed (the server would apply it)', async () => {
    const pusher = await NatsAccountPusher.connect({ servers: nats.url, systemUserCreds: nats.system.creds });
    try {
      const current = await appAccountJwt(identity);
      assert.equal((await pusher.push(current)).code, 200);
      // The same account, validly signed by the operator, but issued a minute earlier.
      const [head = '', body = ''] = current.split('.');
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { iat: number };
      const olderBody = Buffer.from(JSON.stringify({ ...claims, iat: claims.iat - 60 })).toString('base64url');
      const signature = keyPairFromSeed(identity.operatorSeed).sign(new TextEncoder().encode(`${head}.${olderBody}`));
      const older = `${head}.${olderBody}.${Buffer.from(signature).toString('base64url')}`;
      assert.equal(decodeJwt(older).iat, claims.iat - 60);
      await assert.rejects(pusher.push(older), (err: unknown) => err instanceof ConflictError && /before the one already pushed/.test(err.message));
    } finally {
      await pusher.close();
    }
  });
});

function hasPermissionViolation(err: unknown, subject: string): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof PermissionViolationError) return e.subject === subject;
  }
  return false;
}

function hasAuthorizationError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof AuthorizationError) return /authorization violation/i.test(e.message);
  }
  return false;
}
