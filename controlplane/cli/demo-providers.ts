// The demo's "clouds" and "fabric": the EC2 Query API TEST DOUBLE (test/harness/ec2-double.ts), each
// in a process of its own, seeded with journey 3's training VPC (a transit gateway to the on-prem
// site, route tables and security groups tagged for Causeway, and routes and rules that are not
// Causeway's). The hub reaches them through the real SDK clients and its config file's endpoints,
// exactly as it would reach AWS; the demo never imports a double (.dependency-cruiser.cjs).
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ChildServer, freePort } from '../embedded/child-server.ts';

const HARNESS = resolve(import.meta.dirname, '../../test/harness');
const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/providers');

/** The region the demo's AWS Network lives in (examples/00-networks.yaml). */
const AWS_REGION = 'us-east-1';

export interface DemoProviders {
  readonly aws: { readonly endpoint: string; readonly region: string };
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
    await ec2.waitReady(async () => signal.aborted || (await listening(ec2Port)), join(dataDir, 'ec2-double.log'));
    signal.throwIfAborted();
    const aws = { endpoint: `http://127.0.0.1:${ec2Port}`, region: AWS_REGION };
    const configFile = join(dataDir, 'hub-config.yaml');
    writeFileSync(configFile, `# Written by causeway demo: the provider endpoints are the demo's test doubles.\n${stringify({ providers: { aws } })}`, {
      mode: 0o600,
    });
    return {
      aws,
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

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => {
      res(false);
    });
  });
}
