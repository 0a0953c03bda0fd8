// The demo's on-prem fabric as a process of its own: a real gobgpd (Debian's, the one Causeway's
// on-prem adapter drives through its gRPC API) and a real BIRD 2 standing for the site's fabric
// router (bgp.ts). Neither is a double; what is the demo's own is only their configuration: gobgpd
// runs the site's AS with no neighbor (the hub adds BIRD as its peer, from the Network's
// spec.onprem.peers), BIRD imports everything and holds static routes of its own.
//
//   node test/harness/fabric-main.ts --info FILE [--asn 64512] [--peer-asn 64600]
//
// Once both serve, it writes FILE, atomically: {"gobgpApi", "birdSocket", "birdAddress",
// "birdPort", "birdAsn"}. It runs until SIGTERM or SIGINT and stops both (and their temp dirs).
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startBird, startGobgpd } from './bgp.ts';
import { cleanupAll } from './cleanup.ts';

const { values } = parseArgs({ options: { info: { type: 'string' }, asn: { type: 'string' }, 'peer-asn': { type: 'string' } } });
if (values.info === undefined) {
  process.stderr.write('fabric-main: --info FILE is required\n');
  process.exit(2);
}
const asn = Number(values.asn ?? 64512);
const peerAsn = Number(values['peer-asn'] ?? 64600);
const gobgpd = await startGobgpd({ global: { asn, routerId: '192.0.2.10' } });
const bird = await startBird({ neighborPort: gobgpd.bgpPort, neighborAsn: asn, asn: peerAsn });
const info = { gobgpApi: gobgpd.apiAddress, birdSocket: bird.socket, birdAddress: '127.0.0.1', birdPort: bird.port, birdAsn: bird.asn };
const partial = `${values.info}.partial`;
await writeFile(partial, `${JSON.stringify(info)}\n`, { mode: 0o644 });
await rename(partial, values.info);
process.stdout.write(`${JSON.stringify({ ...info, note: 'real gobgpd and BIRD 2 on loopback (the demo fabric)' })}\n`);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  void Promise.allSettled([bird.close(), gobgpd.close()])
    .then(() => cleanupAll())
    .then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
