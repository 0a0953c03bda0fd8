// Real servers for tests: each on a free loopback port, in a fresh temp dir on tmpfs, stopped by
// the test (or, failing that, by the root hook).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EmbeddedEtcd } from '../../controlplane/embedded/etcd.ts';
import { onCleanup } from './cleanup.ts';

/** A temp dir on tmpfs when there is one (etcd 3.4 has no --unsafe-no-fsync). */
export function tempDir(prefix: string): string {
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, `causeway-${prefix}-`));
  onCleanup(() => {
    // CAUSEWAY_KEEP_TEST_DIRS=1 keeps them, with their logs, for a failure to be read afterwards.
    if (process.env['CAUSEWAY_KEEP_TEST_DIRS'] === '1') return Promise.resolve();
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  });
  return dir;
}

export interface TestEtcd extends EmbeddedEtcd {
  readonly dir: string;
}

export async function startTestEtcd(): Promise<TestEtcd> {
  const dir = tempDir('etcd');
  const etcd = await startEtcd({ dataDir: join(dir, 'etcd') });
  onCleanup(() => etcd.stop());
  return { ...etcd, dir };
}
