// The hub the HTTP properties run against: the harness's real hub (its own etcd and nats-server)
// with one team token, seeded with examples/ so that generated documents can reference real
// Networks and IPPools, and an etcd client of the test's own to read the registry directly.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { startTestHub } from '../harness/hub.ts';
import { API, TEAM, type HubUnderTest } from './properties/http.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples');

export interface FuzzHub {
  readonly target: HubUnderTest;
  stop(): Promise<void>;
}

export async function startFuzzHub(): Promise<FuzzHub> {
  const hub = await startTestHub({ teams: [TEAM] });
  const store = new EtcdStore({ endpoints: [hub.etcdUrl] });
  try {
    const teamToken = hub.tokens[TEAM.name];
    if (teamToken === undefined) throw new Error('the harness made no team token');
    const manifests = readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => readFileSync(join(EXAMPLES, f), 'utf8'))
      .join('\n---\n');
    const seeded = await fetch(`${hub.url}${API}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hub.adminToken}`, 'content-type': 'application/yaml' },
      body: manifests,
    });
    if (seeded.status !== 200) throw new Error(`seeding the fuzz hub with examples/ failed: ${seeded.status} ${await seeded.text()}`);
    return {
      target: { url: hub.url, adminToken: hub.adminToken, teamToken, store },
      stop: async () => {
        await store.close();
        await hub.stop();
      },
    };
  } catch (err) {
    await store.close();
    await hub.stop();
    throw err;
  }
}
