// Hostile agent messages and agent credentials end to end (issue 4 §1 and §5): with a cluster's
// real credential on the hub's own bus subjects, malformed, oversized, wrong-cluster and invalid
// reports are each answered {ok:false}, counted in /metrics, and change nothing in etcd; rotating a
// cluster's credential or deleting the cluster revokes the old credential at the real nats-server.
// Real hub, etcd and nats-server (embedded, operator mode); real agents; one Kubernetes API double
// (test double of kube-apiserver) per simulated cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AuthorizationError, connect, credsAuthenticator, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { KINDS } from '../../controlplane/api/kinds.ts';
import { credentialsKey, EXPORTS_PREFIX, clusterExportsPrefix } from '../../controlplane/api/keys.ts';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type ExportState, type Report } from '../../controlplane/api/messages.ts';
import { agentInboxPrefix, AgentSubjectKind, agentSubject } from '../../controlplane/api/subjects.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { AWS, ONPREM, conditionOf, exportedService, startClusterSet, waitForEndpoints, type ClusterSet, type SimulatedCluster } from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const ENDPOINTS = ['10.32.1.10', '10.32.1.11'];

async function connectWith(set: ClusterSet, cluster: string, creds: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: set.natsUrl(),
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    inboxPrefix: agentInboxPrefix(cluster),
    name: `test-as-${cluster}`,
    reconnect: false,
  });
  onCleanup(() => nc.close());
  return nc;
}

/** True when connecting with `creds` fails because the server refused the credential. */
async function refused(set: ClusterSet, cluster: string, creds: string): Promise<boolean> {
  try {
    const nc = await connectWith(set, cluster, creds);
    await nc.close();
    return false;
  } catch (err) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      if (e instanceof AuthorizationError) return true;
    }
    throw err;
  }
}

/** causeway_agent_messages_total by `kind/result`. */
function agentMessageCounts(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const m = /^causeway_agent_messages_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = new Map([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x): [string, string] => [x[1] ?? '', x[2] ?? '']));
    out.set(`${labels.get('kind') ?? ''}/${labels.get('result') ?? ''}`, Number(m[2]));
  }
  return out;
}

async function exportsInEtcd(set: ClusterSet): Promise<Record<string, { value: string; modRevision: number }>> {
  const { keys } = await etcdSnapshot(set.etcdUrl);
  return Object.fromEntries(
    Object.entries(keys)
      .filter(([k]) => k.startsWith(EXPORTS_PREFIX))
      .map(([k, v]) => [k, { value: v.value, modRevision: v.modRevision }]),
  );
}

function exportState(ip: string): ExportState {
  return {
    namespace: 'inference',
    name: 'llm-serving',
    exportedAt: new Date().toISOString(),
    type: 'ClusterSetIP',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: [{ addresses: [ip], ready: true, serving: true, terminating: false }],
  };
}

function report(cluster: string, upserts: ExportState[]): Report & { upserts: ExportState[] } {
  return { v: PROTOCOL_VERSION, cluster, session: 'hostile-session-0001', seq: 1, full: true, upserts, removals: [] };
}

describe('hostile agent messages and agent credentials (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(60_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;

  before(async () => {
    set = await startClusterSet({ clusters: [AWS, ONPREM] });
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    for (const o of exportedService({ namespace: 'inference', name: 'llm-serving', endpoints: ENDPOINTS.map((ip) => ({ ip })) })) onprem.double.seed(o);
    for (const o of exportedService({ namespace: 'apps', name: 'trainer', endpoints: [{ ip: '10.16.3.1' }] })) aws.double.seed(o);
    await waitForEndpoints([aws], 'inference', 'llm-serving', ENDPOINTS);
    await waitForEndpoints([onprem], 'apps', 'trainer', ['10.16.3.1']);
  });
  after(async () => {
    await set.stop();
  });

  it("hostile reports on onprem-inference's own report subject, with its real credential, are refused, counted in /metrics and change nothing in etcd", async () => {
    const creds = readFileSync(onprem.credsFile, 'utf8');
    const nc = await connectWith(set, ONPREM, creds);
    const subject = agentSubject(ONPREM, AgentSubjectKind.Report);
    const exportsBefore = await exportsInEtcd(set);
    assert.equal(Object.keys(exportsBefore).length, 2, `both clusters' exports are stored: ${Object.keys(exportsBefore).join(', ')}`);
    const countsBefore = agentMessageCounts(await set.metrics());

    const padded = JSON.stringify({ ...report(ONPREM, [exportState('10.32.9.9')]), pad: 'x'.repeat(MAX_MESSAGE_BYTES + 10 * 1024) });
    const hostile: { what: string; body: string | Uint8Array; reason: string }[] = [
      { what: 'malformed JSON', body: '{"v":1,"cluster":"onprem-inference",', reason: 'malformed' },
      { what: 'an oversized payload', body: new TextEncoder().encode(padded), reason: 'oversized' },
      { what: 'a body claiming another cluster', body: JSON.stringify(report(AWS, [exportState('10.16.9.9')])), reason: 'wrong-cluster' },
      { what: 'an invalid IP address', body: JSON.stringify(report(ONPREM, [exportState('10.32.1.300')])), reason: 'invalid' },
      { what: 'a CIDR as an endpoint address', body: JSON.stringify(report(ONPREM, [exportState('10.32.0.0/16')])), reason: 'invalid' },
    ];
    for (const h of hostile) {
      const reply = await nc.request(subject, h.body, { timeout: 5000 });
      const body = reply.json<{ ok: boolean; reason?: string }>();
      assert.equal(body.ok, false, `${h.what}: ${JSON.stringify(body)}`);
      assert.equal(body.reason, h.reason, `${h.what}: ${JSON.stringify(body)}`);
    }
    // The server, not the hub, keeps onprem-inference off aws-train's subject.
    await assert.rejects(nc.request(agentSubject(AWS, AgentSubjectKind.Report), JSON.stringify(report(AWS, [])), { timeout: 5000 }), (err: unknown) => {
      for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return true;
      return false;
    });

    assert.deepEqual(await exportsInEtcd(set), exportsBefore, 'no export written, changed or deleted');
    const counts = agentMessageCounts(await set.metrics());
    const delta = (result: string): number => (counts.get(`report/${result}`) ?? 0) - (countsBefore.get(`report/${result}`) ?? 0);
    assert.deepEqual(
      {
        malformed: delta('rejected_malformed'),
        oversized: delta('rejected_oversized'),
        wrongCluster: delta('rejected_wrong_cluster'),
        invalid: delta('rejected_invalid'),
        ok: delta('ok'),
      },
      { malformed: 1, oversized: 1, wrongCluster: 1, invalid: 2, ok: 0 },
      'causeway_agent_messages_total{kind="report",result=~"rejected_.*"}',
    );
    // And the real exchange carries on untouched.
    await waitForEndpoints([aws], 'inference', 'llm-serving', ENDPOINTS);
    await waitForEndpoints([onprem], 'apps', 'trainer', ['10.16.3.1']);
  });

  it('rotating a credential revokes the old one at the nats-server, and deleting a cluster revokes its credential', async () => {
    const old = readFileSync(onprem.credsFile, 'utf8');
    assert.equal(await refused(set, ONPREM, old), false, 'the current credential connects');

    const rotated = await set.client.credentials(ONPREM, true);
    assert.notEqual(rotated.creds, old);
    await waitFor('the nats-server to refuse the old credential', () => refused(set, ONPREM, old), 5000);
    assert.equal(await refused(set, ONPREM, rotated.creds), false, 'the new credential connects');

    // The agent picks up the new credential and the exchange resumes.
    await onprem.fetchCredentials();
    assert.equal(readFileSync(onprem.credsFile, 'utf8'), rotated.creds, 'without --rotate the hub hands out the current credential');
    await onprem.restartAgent();
    await waitForEndpoints([aws], 'inference', 'llm-serving', ENDPOINTS);
    await waitFor(
      'onprem-inference Available=True with its new credential',
      async () =>
        conditionOf(
          (await set.getClusters()).find((c) => c.metadata.name === ONPREM),
          'Available',
        )?.status === 'True',
    );

    // Deleting a cluster revokes its credential and drops its exports.
    const awsCreds = readFileSync(aws.credsFile, 'utf8');
    assert.equal(await refused(set, AWS, awsCreds), false);
    await set.client.delete(KINDS.Cluster, AWS, undefined, false);
    await waitFor("the nats-server to refuse the deleted cluster's credential", () => refused(set, AWS, awsCreds), 5000);
    await waitFor("the deleted cluster's credential and exports to leave etcd", async () => {
      const { keys } = await etcdSnapshot(set.etcdUrl);
      return keys[credentialsKey(AWS)] === undefined && !Object.keys(keys).some((k) => k.startsWith(clusterExportsPrefix(AWS)));
    });
    await waitForEndpoints([onprem], 'apps', 'trainer', []);
  });
});
