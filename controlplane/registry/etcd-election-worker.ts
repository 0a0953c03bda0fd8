// The body of the election worker (etcd-election.ts starts it): one etcd election campaign, with
// its lease, on a thread of its own with a client of its own, so that the lease's keepalives go
// out every third of its TTL whatever the hub's main thread is doing. The main thread beats into
// a shared buffer; once elected, a main thread silent for longer than the stall bound ends the
// term here (the lease is revoked, so a standby takes over at once): a hub stalled that long is
// not leading, and must not keep the lease from one that would.
import { parentPort, workerData } from 'node:worker_threads';
import { etcdClient } from './etcd-store.ts';
import type { ElectionEvent, ElectionWork } from './etcd-election.ts';

/** How often the worker looks at the main thread's beat. */
const CHECK_MS = 250;

const work = workerData as ElectionWork;
const port = parentPort;
if (port === null) throw new Error('etcd-election-worker.ts runs as a worker thread (etcd-election.ts starts it)');

const client = etcdClient(work.options);
const ns = work.options.namespace !== undefined ? client.namespace(work.options.namespace) : client;
const beats = new BigInt64Array(work.beat);
const campaign = ns.election(work.name, work.ttlSeconds).campaign(work.candidate);
let elected = false;
let ended = false;

/** Ends the campaign once: the lease revoked (a standby is elected at once), then the main thread told. */
async function end(event: ElectionEvent): Promise<void> {
  if (ended) return;
  ended = true;
  clearInterval(watch);
  await campaign.resign().catch(() => undefined);
  port?.postMessage(event);
  client.close();
  port?.close();
}

const watch = setInterval(() => {
  if (!elected) return;
  const silent = Date.now() - Number(Atomics.load(beats, 0));
  if (silent > work.stallBoundMs)
    void end({
      type: 'lost',
      message: `the hub's event loop was stalled for ${(silent / 1000).toFixed(1)} s (bound ${(work.stallBoundMs / 1000).toFixed(1)} s): term ended so that a standby leads`,
    });
}, CHECK_MS);

campaign.on('elected', () => {
  // The guard: the campaign's key (`election/<name>/<lease id>`, deleted with the lease) at its current revision.
  void (async () => {
    const full = await campaign.getCampaignKey();
    const key = `election/${work.name}/${full.slice(full.lastIndexOf('/') + 1)}`;
    const kv = (await ns.get(key).exec()).kvs[0];
    if (kv === undefined) throw new Error(`election ${work.name}: the term ended as it began`);
    elected = true;
    port.postMessage({ type: 'elected', key, modRevision: Number(kv.mod_revision) } satisfies ElectionEvent);
  })().catch((err: unknown) => {
    void end({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  });
});

campaign.on('error', (err: Error) => {
  void end(elected ? { type: 'lost', message: err.message } : { type: 'failed', message: `election ${work.name}: ${err.message}` });
});

// The one thing the main thread asks: resign.
port.on('message', () => {
  void end({ type: 'resigned' });
});
