// What the harness's multi-replica topologies share (topology.ts: one etcd and one nats-server;
// scale-out.ts: an etcd cluster and a NATS cluster): a `causeway hub` replica process against that
// etcd and NATS with the shared secret key file, started and waited for until it serves; the
// examples' registry they apply; and which replica leads.
import { join, resolve } from 'node:path';
import type { Source } from '../../controlplane/api/validate.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { LEADER_ELECTION } from '../../controlplane/hub/agent-gateway.ts';
import type { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { startCauseway, type CausewayProcess } from './cli.ts';
import { waitFor } from './wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

export interface HubProcessOptions {
  readonly name: string;
  /** The process's working directory. */
  readonly work: string;
  readonly dataDir: string;
  /** host:port of its API. */
  readonly listen: string;
  /** Every member's and every node's URL: the hub's clients fail over between them. */
  readonly etcd: readonly string[];
  readonly nats: readonly string[];
  readonly secretKeyFile: string;
  /** --leader-lease in seconds; default the hub's. */
  readonly leaderLeaseSeconds?: number | undefined;
}

/** Starts the replica's `causeway hub` and waits until it answers /readyz 200 and its agent gateway listens. */
export async function startHubProcess(o: HubProcessOptions): Promise<CausewayProcess> {
  const args = [
    'hub',
    '--listen',
    o.listen,
    '--data-dir',
    o.dataDir,
    '--etcd',
    o.etcd.join(','),
    '--nats',
    o.nats.join(','),
    '--secret-key-file',
    o.secretKeyFile,
  ];
  if (o.leaderLeaseSeconds !== undefined) args.push('--leader-lease', `${o.leaderLeaseSeconds}s`);
  const child = startCauseway(args, { cwd: o.work });
  await waitFor(
    `${o.name} /readyz 200`,
    async () => {
      if (child.hasExited()) throw new Error(`${o.name} exited: ${child.stderr()}`);
      return (await fetch(`http://${o.listen}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status === 200;
    },
    30_000,
  );
  await waitFor(`${o.name} agent gateway`, () => child.stdout().includes('"msg":"agent gateway listening"'), 15_000);
  return child;
}

/** The examples' Networks, IPPools and Clusters, every Cluster with `heartbeatTTLSeconds`. */
export function exampleRegistry(heartbeatTTLSeconds: number): { source: Source; object: unknown }[] {
  return readManifests([join(EXAMPLES, '00-networks.yaml'), join(EXAMPLES, '10-pools.yaml'), join(EXAMPLES, '20-clusters.yaml')], false).map((d) => {
    const o = d.object as { kind?: string; spec?: Record<string, unknown> };
    return { source: d.source, object: o.kind === 'Cluster' ? { ...o, spec: { ...o.spec, heartbeatTTLSeconds } } : o };
  });
}

/** The replica whose candidate holds the hub's election now (read from etcd), if any. */
export async function electedReplica<R extends { readonly replicaId: string }>(store: EtcdStore, replicas: readonly R[]): Promise<R | undefined> {
  const { kvs } = await store.range(`election/${LEADER_ELECTION}/`);
  // etcd3's election: the oldest campaign key (lowest create revision) leads.
  const held = [...kvs].sort((a, b) => a.createRevision - b.createRevision)[0];
  return held === undefined ? undefined : replicas.find((r) => held.value.startsWith(`${r.replicaId}/`));
}
