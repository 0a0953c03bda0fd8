// The floor of propagation on this machine, measured in the same run: one etcd write (a put
// through EtcdStore, the product's adapter) plus one NATS publish → deliver.
import type { EtcdStore } from '../controlplane/registry/etcd-store.ts';
import { natsPublishDeliverMs } from './nats-floor.ts';
import { round } from './procs.ts';
import { medianAfterWarmup } from './stats.ts';

export interface Floor {
  readonly etcd_put_ms: number;
  readonly nats_publish_deliver_ms: number;
  readonly floor_ms: number;
}

export async function measureFloor(store: EtcdStore, natsUrl: string, hubCreds: string, samples = 300): Promise<Floor> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await store.txn([], [{ type: 'put', key: '/bench/floor', value: String(i) }]);
    times.push(performance.now() - t0);
  }
  const etcd = medianAfterWarmup(times);
  const nats = await natsPublishDeliverMs(natsUrl, hubCreds, samples);
  return { etcd_put_ms: round(etcd, 3), nats_publish_deliver_ms: round(nats, 3), floor_ms: round(etcd + nats, 3) };
}
