#!/usr/bin/env node
// The `causeway` command. Node >= 22.19 runs the TypeScript sources directly (type stripping,
// docs/adr/0001); on an older node it hands over to /usr/local/bin/node when that one is new enough.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  const newer = '/usr/local/bin/node';
  if (existsSync(newer) && process.execPath !== newer) {
    const r = spawnSync(newer, process.argv.slice(1), { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`causeway needs Node >= 22.19 (this is ${process.version}); run 'bash scripts/setup.sh' as root\n`);
  process.exit(2);
}
await import('../controlplane/cli/main.ts');
