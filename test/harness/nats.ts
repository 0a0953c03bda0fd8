// A real nats-server in operator mode (full resolver, JetStream) for tests: a fresh identity, a
// free loopback port, a temp dir on tmpfs, and a stop registered with the cleanup hook so that no
// run leaves it behind. `restart` keeps the dir, so tests can prove what the resolver persisted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChildServer, freePort, portOpen } from '../../controlplane/embedded/child-server.ts';
import {
  appAccountJwt,
  createIdentityState,
  identityPublicKeys,
  issueHubUser,
  issueSystemUser,
  operatorJwt,
  systemAccountJwt,
  type IdentityState,
  type UserCredentials,
} from '../../controlplane/identity/nats-identity.ts';
import { renderNatsServerConfig } from '../../controlplane/identity/nats-server-config.ts';
import { onCleanup } from './cleanup.ts';
import { tempDir } from './servers.ts';

export interface TestNats {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly logFile: string;
  /** The identity the server trusts, as first loaded; revocations made later live with the caller. */
  readonly identity: IdentityState;
  readonly hub: UserCredentials;
  readonly system: UserCredentials;
  server(): ChildServer;
  /**
   * Stops the server and starts it again on the same port and dir, with the config re-rendered
   * from `identity` (as the hub does): a preload left at the first identity would, if issued in
   * the same second, replace the pushed account JWT and its revocations.
   */
  restart(options?: { readonly identity?: IdentityState }): Promise<void>;
  stop(): Promise<void>;
}

export interface TestNatsOptions {
  readonly identity?: IdentityState;
}

export async function startTestNats(options: TestNatsOptions = {}): Promise<TestNats> {
  const dir = tempDir('nats');
  const identity = options.identity ?? createIdentityState();
  const keys = identityPublicKeys(identity);
  const port = await freePort();
  const resolverDir = join(dir, 'jwt');
  mkdirSync(resolverDir, { recursive: true });
  const configFile = join(dir, 'nats.conf');
  const writeConfig = async (current: IdentityState): Promise<void> => {
    writeFileSync(
      configFile,
      renderNatsServerConfig({
        serverName: 'causeway_test',
        port,
        operatorJwt: await operatorJwt(current),
        systemAccount: keys.systemAccount,
        preload: {
          [keys.systemAccount]: await systemAccountJwt(current),
          [keys.appAccount]: await appAccountJwt(current),
        },
        resolverDir,
        jetStreamDir: join(dir, 'jetstream'),
        jetStreamMaxMemory: 64 * 1024 * 1024,
        jetStreamMaxFile: 256 * 1024 * 1024,
      }),
      { mode: 0o600 },
    );
  };
  await writeConfig(identity);
  const logFile = join(dir, 'nats.log');

  const launch = async (): Promise<ChildServer> => {
    const child = ChildServer.start({
      name: 'nats-server',
      command: 'nats-server',
      args: ['-c', configFile],
      logFile,
      pidFile: join(dir, 'nats.pid'),
    });
    await child.waitReady(() => portOpen(port), logFile);
    return child;
  };

  let current = await launch();
  const unregister = onCleanup(() => current.stop());
  const [hub, system] = await Promise.all([issueHubUser(identity), issueSystemUser(identity)]);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    logFile,
    identity,
    hub,
    system,
    server: () => current,
    restart: async (restartOptions = {}) => {
      await current.stop();
      await writeConfig(restartOptions.identity ?? identity);
      current = await launch();
    },
    stop: async () => {
      unregister();
      await current.stop();
    },
  };
}
