// `causeway demo`: a hub on its embedded default (its own etcd and nats-server on loopback), the
// example clusterset applied through the real API, the result shown, then serving until Ctrl-C.
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { KINDS } from '../api/kinds.ts';
import { startHub, type RunningHub } from '../hub/hub.ts';
import { HubClient } from './client.ts';
import { readManifests } from './files.ts';
import { changeLine, printResources } from './print.ts';

export const EXAMPLES_DIR = resolve(import.meta.dirname, '../../examples');

export async function runDemo(options: { listen: string; dataDir: string }, out: (line: string) => void): Promise<RunningHub> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(dataDir, 'hub.log');
  // The terminal is for the demo's story; the hub's JSON logs go to a file.
  const logger = pino({ name: 'causeway-hub' }, pino.destination({ dest: logFile, mkdir: true, sync: false }));
  out(`Starting the hub with its embedded etcd and nats-server (data in ${relative(process.cwd(), dataDir) || '.'}) ...`);
  const hub = await startHub({ listen: options.listen, dataDir, logger });
  const token = (await import('node:fs')).readFileSync(hub.adminTokenFile, 'utf8').trim();
  const client = new HubClient(hub.url, token);

  out(`\nApplying ${relative(process.cwd(), EXAMPLES_DIR)}/ ...`);
  const docs = readManifests([EXAMPLES_DIR], false);
  const result = await client.apply(docs.map((d) => ({ source: { ...d.source, ...(d.source.file !== undefined ? { file: relative(process.cwd(), d.source.file) } : {}) }, object: d.object })), false);
  for (const c of result.changes) out(`  ${changeLine(c, false)}`);
  out(`  (registry revision ${result.revision})`);

  for (const info of [KINDS.Network, KINDS.IPPool, KINDS.Cluster]) {
    const list = await client.list(info);
    out(`\n$ causeway get ${info.plural}`);
    out(printResources(info, list.items, 'table'));
  }
  out('');
  out(`Hub:        ${hub.url}   (etcd ${hub.etcdUrls.join(',')}, nats ${hub.natsUrl})`);
  out(`Token file: ${relative(process.cwd(), hub.adminTokenFile)}   (the CLI reads it by default)`);
  out(`Hub logs:   ${relative(process.cwd(), logFile)}`);
  out('');
  out('Try, in another terminal:');
  out('  npx causeway get clusters -o yaml');
  out('  npx causeway describe cluster onprem-inference');
  out('  npx causeway history');
  out('');
  out('Serving until Ctrl-C.');
  return hub;
}
