// The demo's "clouds" and "fabric", each in a process of its own: the EC2 Query API TEST DOUBLE
// (test/harness/ec2-double.ts) seeded with journey 3's training VPC (a transit gateway to the
// on-prem site, route tables and security groups tagged for Causeway, and routes and rules that are
// not Causeway's), the Compute REST TEST DOUBLE (test/harness/compute-double.ts) seeded with its
// GCP project (the training network, a Cloud Router, Classic VPN tunnels to the site, and routes,
// firewalls and advertised ranges that are not Causeway's), and the on-prem site's fabric: a real gobgpd, which the hub's on-prem adapter
// drives, peering with a real BIRD 2 standing for the site's router (test/harness/fabric-main.ts).
// The hub reaches them through the real clients and its config file's endpoints, exactly as it
// would reach AWS or a site; the demo never imports a double (.dependency-cruiser.cjs).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ChildServer, freePort, portOpen } from '../embedded/child-server.ts';

const HARNESS = resolve(import.meta.dirname, '../../test/harness');
const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/providers');

/** The region the demo's AWS Network lives in and the GCP project it names (examples/00-networks.yaml). */
const AWS_REGION = 'us-east-1';
const GCP_PROJECT = 'ml-platform-prod';

/** The site's fabric router as the on-prem Network's `spec.onprem.peers` names it, and BIRD's socket for `birdc`. */
export interface DemoFabric {
  readonly birdSocket: string;
  readonly peer: { readonly address: string; readonly asn: number; readonly port: number };
  readonly gobgpApi: string;
}

export interface DemoProviders {
  readonly aws: { readonly endpoint: string; readonly region: string };
  readonly gcp: { readonly endpoint: string; readonly project: string };
  readonly bgp: DemoFabric;
  /** The hub's config file, naming the doubles' endpoints. */
  readonly configFile: string;
  /** What the hub process needs in its environment: the SDKs' default chains read credentials there. */
  readonly env: Readonly<Record<string, string>>;
  readonly stop: () => Promise<void>;
}

/** Starts every provider double the demo's Networks name, and writes the hub config that points at them. */
export async function startProviderDoubles(dataDir: string, signal: AbortSignal): Promise<DemoProviders> {
  const servers: ChildServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const ec2Port = await freePort();
    const ec2 = ChildServer.start({
      name: 'EC2 double',
      command: process.execPath,
      args: [join(HARNESS, 'ec2-double.ts'), '--fixture', join(FIXTURES, 'ec2-journey3.json'), '--port', String(ec2Port)],
      logFile: join(dataDir, 'ec2-double.log'),
      pidFile: join(dataDir, 'ec2-double.pid'),
    });
    servers.push(ec2);
    await ec2.waitReady(async () => signal.aborted || (await portOpen(ec2Port)), join(dataDir, 'ec2-double.log'));
    signal.throwIfAborted();
    const aws = { endpoint: `http://127.0.0.1:${ec2Port}`, region: AWS_REGION };

    const computePort = await freePort();
    const computeDouble = ChildServer.start({
      name: 'Compute double',
      command: process.execPath,
      args: [join(HARNESS, 'compute-double.ts'), '--seed', join(FIXTURES, 'compute-journey3.json'), '--port', String(computePort)],
      logFile: join(dataDir, 'compute-double.log'),
      pidFile: join(dataDir, 'compute-double.pid'),
    });
    servers.push(computeDouble);
    await computeDouble.waitReady(async () => signal.aborted || (await portOpen(computePort)), join(dataDir, 'compute-double.log'));
    signal.throwIfAborted();
    const gcp = { endpoint: `http://127.0.0.1:${computePort}`, project: GCP_PROJECT };

    const infoFile = join(dataDir, 'fabric.json');
    const fabric = ChildServer.start({
      name: 'on-prem fabric (gobgpd and BIRD)',
      command: process.execPath,
      args: [join(HARNESS, 'fabric-main.ts'), '--info', infoFile],
      logFile: join(dataDir, 'fabric.log'),
      pidFile: join(dataDir, 'fabric.pid'),
    });
    servers.push(fabric);
    await fabric.waitReady(() => Promise.resolve(signal.aborted || existsSync(infoFile)), join(dataDir, 'fabric.log'));
    signal.throwIfAborted();
    const info = JSON.parse(readFileSync(infoFile, 'utf8')) as { gobgpApi: string; birdSocket: string; birdAddress: string; birdPort: number; birdAsn: number };
    const bgp: DemoFabric = {
      birdSocket: info.birdSocket,
      peer: { address: info.birdAddress, asn: info.birdAsn, port: info.birdPort },
      gobgpApi: info.gobgpApi,
    };

    const configFile = join(dataDir, 'hub-config.yaml');
    const config = stringify({ providers: { aws, gcp: { endpoint: gcp.endpoint }, onprem: { gobgp: bgp.gobgpApi } } });
    writeFileSync(configFile, `# Written by causeway demo: the provider endpoints are the demo's test doubles and its fabric.\n${config}`, { mode: 0o600 });
    return {
      aws,
      gcp,
      bgp,
      configFile,
      // The doubles ignore signatures; the SDK still needs credentials to sign with.
      env: { AWS_ACCESS_KEY_ID: 'demo', AWS_SECRET_ACCESS_KEY: 'demo-secret', AWS_REGION },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
