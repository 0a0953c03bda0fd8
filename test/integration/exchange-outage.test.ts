// A NATS outage, or a hub start, withdraws nothing (issue 13 §1). Real hub, etcd and nats-server
// (the hub's embedded default, operator mode); real agents; one Kubernetes API double (test double
// of kube-apiserver) per simulated cluster. Clusters get spec.heartbeatTTLSeconds 5, agents beat
// every second. The consumers' imported EndpointSlices are sampled every 50 ms during each fault
// and for a TTL and more after it: the same endpoints, in the same objects (uids), throughout.
//
// - the hub's nats-server killed and kept down for longer than the TTL (its restarts by the hub
//   fail until then; the hub's connection is down: it hears nobody, so nobody expires, and for a
//   TTL after it returns), then brought back by the hub itself;
// - the nats-server frozen (SIGSTOP) for longer than the TTL: the hub's connection looks up but
//   every cluster falls silent at once, so nobody expires;
// - the hub stopped, every cluster written Available=False into etcd meanwhile (as an earlier hub
//   left it), and the hub started again: it must not act on a False it did not observe.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterResource } from '../../controlplane/api/resources.ts';
import { portOpen } from '../../controlplane/embedded/child-server.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { tempDir } from '../harness/servers.ts';
import {
  AWS,
  GCP,
  ONPREM,
  conditionOf,
  endpointSummary,
  exportedService,
  importedSlices,
  sampleWhile,
  startClusterSet,
  waitForEndpoints,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import { waitFor } from '../harness/wait.ts';

const TTL_SECONDS = 5;
/** Longer than the TTL: under the old liveness every cluster expired in this time. */
const OUTAGE_MS = (TTL_SECONDS + 3) * 1000;
/** A TTL and more after the fault: anything that would expire or be withdrawn would show. */
const WATCH_AFTER_MS = (TTL_SECONDS + 2) * 1000;
const NS = 'inference';
const SVC = 'llm-serving';
const ENDPOINTS = ['10.32.1.10', '10.32.1.11', '10.32.2.12'];

describe('a NATS outage or a hub start withdraws nothing (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(120_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;
  let gcp: SimulatedCluster;

  /** The consumers' imported endpoints and the uids of the objects holding them, as one string. */
  const sample = (): string =>
    JSON.stringify(
      [aws, gcp].map((c) => ({
        endpoints: endpointSummary(c, NS, SVC),
        uids: importedSlices(c, NS, SVC)
          .map((o) => String(o.metadata.uid))
          .sort(),
      })),
    );
  const assertNothingWithdrawn = (expected: string, samples: readonly string[], what: string): void => {
    const bad = samples.filter((s) => s !== expected);
    assert.deepEqual([...new Set(bad)], [], `${what}: ${bad.length} of ${samples.length} samples differ from ${expected}`);
  };
  const available = async (): Promise<Record<string, string | undefined>> =>
    Object.fromEntries((await set.getClusters()).map((c) => [c.metadata.name, conditionOf(c, 'Available')?.status]));
  const allAvailable = async (): Promise<true> => {
    const now = await available();
    if (Object.values(now).every((s) => s === 'True')) return true;
    throw new Error(JSON.stringify(now));
  };
  const hubLog = (): string => readFileSync(set.testHub.logFile, 'utf8');
  const natsFiles = (): { pidFile: string; configFile: string; logFile: string; port: number } => ({
    pidFile: join(set.testHub.dataDir, 'nats', 'nats.pid'),
    configFile: join(set.testHub.dataDir, 'nats', 'nats.conf'),
    logFile: join(set.testHub.dataDir, 'nats.log'),
    port: Number(new URL(set.natsUrl().replace(/^nats:/, 'http:')).port),
  });
  const natsPid = (): number => Number(readFileSync(natsFiles().pidFile, 'utf8').trim());

  before(async () => {
    set = await startClusterSet({ heartbeatTTLSeconds: TTL_SECONDS, heartbeatIntervalMs: 1000 });
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    gcp = set.cluster(GCP);
    for (const o of exportedService({ namespace: NS, name: SVC, endpoints: ENDPOINTS.map((ip) => ({ ip })) })) onprem.double.seed(o);
    await waitForEndpoints([aws, gcp], NS, SVC, ENDPOINTS);
    await waitFor('every cluster Available=True', allAvailable);
  });
  after(async () => {
    await set.stop();
  });

  it("the hub's nats-server killed and unable to start for longer than the TTL: nothing withdrawn, no cluster expired, it says why, and brings it back itself", async () => {
    const expected = sample();
    const statuses: Record<string, string | undefined>[] = [];
    const nats = set.testHub.hub.embedded.nats;
    assert.ok(nats !== undefined);
    const restarts = nats.restarts;
    // The hub starts a dead nats-server again at once (issue 13 §2): to keep it down past the TTL,
    // its restarts find a nats-server that refuses to start (first on PATH) until the outage ends.
    const fakeBin = tempDir('refusing-nats');
    writeFileSync(join(fakeBin, 'nats-server'), '#!/bin/sh\necho "nats-server: refusing to start (a simulated outage)" >&2\nexit 1\n', { mode: 0o755 });
    const realPath = process.env.PATH;
    const samples = await sampleWhile(
      sample,
      async () => {
        const { port } = natsFiles();
        process.env.PATH = `${fakeBin}:${realPath ?? ''}`;
        try {
          process.kill(-natsPid(), 'SIGKILL');
          await waitFor("the hub's nats-server to exit", async () => !(await portOpen(port)), 10_000);
          const until = Date.now() + OUTAGE_MS;
          await waitFor(
            'the outage to last past the TTL',
            async () => {
              statuses.push(await available());
              assert.equal(await portOpen(port), false, 'nats-server stays down during the outage');
              return Date.now() >= until;
            },
            OUTAGE_MS + 5000,
          );
        } finally {
          process.env.PATH = realPath;
        }
        // No human: the hub's next attempt (backoff at most 5 s) finds the real nats-server.
        await waitFor('the hub to bring its nats-server back', () => nats.state === 'running' && nats.restarts > restarts, 15_000);
      },
      { everyMs: 50, afterMs: WATCH_AFTER_MS },
    );
    assertNothingWithdrawn(expected, samples, 'nats-server down past the TTL');
    const expired = statuses.filter((s) => Object.values(s).some((v) => v !== 'True'));
    assert.deepEqual(expired, [], 'no cluster left Available=True during the outage');
    await waitFor('every cluster Available=True', allAvailable, 15_000);
    assert.match(hubLog(), /bus connection lost/);
    assert.match(hubLog(), /bus connection back/);
    assert.match(hubLog(), /nats-server did not start; retrying/);
    assert.match(hubLog(), /refusing to start \(a simulated outage\)/);
  });

  it('the nats-server frozen (SIGSTOP) for longer than the TTL: every cluster silent at once, nothing withdrawn, and it says so', async () => {
    const expected = sample();
    const pid = natsPid();
    const resume = (): void => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Already gone.
      }
    };
    const statuses: Record<string, string | undefined>[] = [];
    try {
      const samples = await sampleWhile(
        sample,
        async () => {
          process.kill(pid, 'SIGSTOP');
          const until = Date.now() + OUTAGE_MS;
          // Read the status from etcd through the hub's API: it does not go through NATS.
          await waitFor(
            'the freeze to last past the TTL',
            async () => {
              statuses.push(await available());
              return Date.now() >= until;
            },
            OUTAGE_MS + 5000,
          );
          resume();
        },
        { everyMs: 50, afterMs: WATCH_AFTER_MS },
      );
      assertNothingWithdrawn(expected, samples, 'nats-server frozen past the TTL');
    } finally {
      resume();
    }
    const expired = statuses.filter((s) => Object.values(s).some((v) => v !== 'True'));
    assert.deepEqual(expired, [], 'no cluster left Available=True during the freeze');
    assert.match(hubLog(), /most clusters went silent at once/);
    await waitFor('every cluster Available=True', allAvailable, 15_000);
  });

  it('a hub that starts on an etcd holding Available=False for every cluster withdraws nothing (same uids throughout), and marks them available', async () => {
    const expected = sample();
    const samples = await sampleWhile(
      sample,
      async () => {
        // The running hub stops (its nats-server with it); the agents keep their imports.
        await set.testHub.hub.stop();
        await writeUnavailable(set.etcdUrl, [AWS, GCP, ONPREM]);
        // restartHub stops the (already stopped) hub again and starts it on the same data dir, etcd and port.
        await set.restartHub();
      },
      { everyMs: 50, afterMs: WATCH_AFTER_MS },
    );
    assertNothingWithdrawn(expected, samples, 'hub start on a stale Available=False');
    await waitFor('every cluster Available=True', allAvailable, 15_000);
  });

  it('a cluster silent across a hub start still loses its endpoints one TTL after the start, and gets them back within seconds of returning', async () => {
    await onprem.stopAgent();
    await waitForEndpoints([aws, gcp], NS, SVC, [], (TTL_SECONDS + 10) * 1000);
    const startedAt = Date.now();
    await set.restartHub();
    // The new hub gives it a full TTL (its stored False is not this hub's word); then it must be
    // withdrawn again within a few seconds.
    const graceOver = startedAt + (TTL_SECONDS + 1) * 1000;
    await waitFor('a TTL since the hub started', () => Date.now() >= graceOver, (TTL_SECONDS + 5) * 1000);
    await waitForEndpoints([aws, gcp], NS, SVC, [], 5000);
    assert.equal((await available())[ONPREM], 'False');
    const samples = await sampleWhile(
      () => JSON.stringify([aws, gcp].map((c) => endpointSummary(c, NS, SVC))),
      () => Promise.resolve(),
      { everyMs: 50, afterMs: 2000 },
    );
    assert.deepEqual([...new Set(samples)], ['[[],[]]'], 'it stays withdrawn while silent');
    const returnedAt = Date.now();
    await onprem.startAgent();
    await waitForEndpoints([aws, gcp], NS, SVC, ENDPOINTS, 5000);
    const back = Date.now() - returnedAt;
    assert.ok(back <= 5000, `endpoints back ${back} ms after the agent returned`);
    await waitFor('every cluster Available=True', allAvailable, 15_000);
  });
});

/** Writes Available=False (HeartbeatExpired, as an earlier hub would) for `clusters`, straight into etcd. */
async function writeUnavailable(etcdUrl: string, clusters: readonly string[]): Promise<void> {
  const store = new EtcdStore({ endpoints: [etcdUrl] });
  try {
    const registry = new Registry(store);
    for (const name of clusters) {
      const written = await registry.updateStatus({ kind: 'Cluster', name }, (current) => {
        const c = current as ClusterResource;
        const conditions = (c.status?.conditions ?? []).filter((x) => x.type !== 'Available');
        return {
          ...c.status,
          conditions: [
            ...conditions,
            {
              type: 'Available',
              status: 'False',
              reason: 'HeartbeatExpired',
              message: 'no heartbeat for more than 5s; its endpoints are withdrawn',
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        };
      });
      assert.equal(conditionOf(written, 'Available')?.status, 'False', `${name} written Available=False`);
    }
  } finally {
    await store.close();
  }
}
