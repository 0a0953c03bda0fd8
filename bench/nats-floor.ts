// The NATS half of the floor: one publish → deliver between two connections on this machine's
// nats-server, with the hub's credential (the only file of the benchmark importing the client).
import { connectNats } from '../controlplane/bus/nats-connect.ts';
import { medianAfterWarmup } from './stats.ts';

/** Median milliseconds from publish on one connection to delivery on another. */
export async function natsPublishDeliverMs(servers: string, creds: string, samples = 300): Promise<number> {
  const pub = await connectNats({ servers, creds, name: 'bench-floor-pub' });
  const sub = await connectNats({ servers, creds, name: 'bench-floor-sub' });
  try {
    const subject = `bench.floor.${process.pid}`;
    const times: number[] = [];
    let waiting: ((t: number) => void) | undefined;
    sub.subscribe(subject, {
      callback: () => {
        waiting?.(performance.now());
      },
    });
    await sub.flush();
    const payload = new Uint8Array(256);
    for (let i = 0; i < samples; i++) {
      const delivered = new Promise<number>((resolve) => {
        waiting = resolve;
      });
      const t0 = performance.now();
      pub.publish(subject, payload);
      const t1 = await Promise.race([
        delivered,
        new Promise<number>((_, reject) =>
          setTimeout(() => {
            reject(new Error('NATS floor: no delivery within 2 s'));
          }, 2000),
        ),
      ]);
      times.push(t1 - t0);
    }
    return medianAfterWarmup(times);
  } finally {
    await pub.close();
    await sub.close();
  }
}
