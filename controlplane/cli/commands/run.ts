// The commands that run a program: the hub, the demo, and a cluster's agent.
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_LISTEN } from '../../hub/config.ts';
import { err, out, positive, waitForSignal } from '../common.ts';
import type { RunningDemo } from '../demo.ts';

export function addServerCommands(program: Command): void {
  program
    .command('hub')
    .description('run the hub: the registry API on etcd (embedded etcd and nats-server unless --etcd/--nats are given)')
    .option('--listen <host:port>', 'address to serve the API on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the admin token and embedded servers keep their data', DEFAULT_DATA_DIR)
    .option('--etcd <urls>', 'comma-separated etcd client URLs of an existing etcd cluster')
    .option('--nats <url>', 'URL of an existing NATS cluster')
    .option('--config <file>', 'hub config file (API tokens and their scopes)')
    .option(
      '--secret-key-file <file>',
      'keys that encrypt secrets in etcd (default <data-dir>/secrets.key, created on first start); replicas sharing an etcd share it',
    )
    .action(async (o: { listen: string; dataDir: string; etcd?: string; nats?: string; config?: string; secretKeyFile?: string }) => {
      // Loaded only when asked for: the other commands need none of the hub's libraries.
      const { startHub } = await import('../../hub/hub.ts');
      const hub = await startHub({
        listen: o.listen,
        dataDir: o.dataDir,
        etcd: o.etcd
          ?.split(',')
          .map((u) => u.trim())
          .filter((u) => u !== ''),
        nats: o.nats,
        configFile: o.config,
        secretKeyFile: o.secretKeyFile,
      });
      // One bug must not take the control plane down: log it, count it, go on (controllers retry their keys).
      process.on('unhandledRejection', (e) => {
        hub.uncaught('rejection', e);
      });
      process.on('uncaughtException', (e) => {
        hub.uncaught('exception', e);
      });
      err(`hub serving on ${hub.url}; admin token in ${hub.adminTokenFile}`);
      await waitForSignal(() => hub.stop());
    });

  program
    .command('demo')
    .description('start a hub on its embedded default, apply examples/, show the result and serve until Ctrl-C')
    .option('--listen <host:port>', 'address to serve the API on', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the demo hub keeps its data', DEFAULT_DATA_DIR)
    .action(async (o: { listen: string; dataDir: string }) => {
      // Listen for Ctrl-C before starting, so that one during start-up still stops what started.
      const started: { demo?: RunningDemo } = {};
      const stopped = waitForSignal(async () => {
        await started.demo?.stop();
      });
      const { runDemo } = await import('../demo.ts');
      started.demo = await runDemo(o, out);
      await stopped;
    });
}

export function addAgentCommand(program: Command): void {
  program
    .command('agent')
    .description("run a cluster's agent: report its ServiceExports to the hub, apply the imports the hub sends")
    .requiredOption('--cluster <name>', 'the cluster this agent serves (as registered)')
    .requiredOption('--nats <url>', 'NATS URL(s), comma-separated')
    .requiredOption('--creds <file>', 'the .creds file from `causeway cluster credentials NAME`')
    .option('--kubeconfig <path>', 'kubeconfig of the cluster (default: in-cluster config)')
    .option('--metrics-listen <host:port>', "serve the agent's Prometheus /metrics here; default off")
    .option(
      '--heartbeat-interval <ms>',
      "how often to heartbeat; keep it well under the cluster's spec.heartbeatTTLSeconds",
      (v) => positive(v, '--heartbeat-interval'),
      5000,
    )
    .action(async (o: { cluster: string; nats: string; creds: string; kubeconfig?: string; metricsListen?: string; heartbeatInterval: number }) => {
      const { runAgent } = await import('../../../cluster-agent/main.ts');
      const agent = await runAgent({
        cluster: o.cluster,
        natsUrl: o.nats,
        credsFile: o.creds,
        heartbeatIntervalMs: o.heartbeatInterval,
        ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
        ...(o.metricsListen !== undefined ? { metricsListen: o.metricsListen } : {}),
      });
      err(`agent for cluster ${o.cluster} running${agent.metricsUrl !== undefined ? `; metrics on ${agent.metricsUrl}` : ''}`);
      await waitForSignal(() => agent.stop());
      exitSoonIfHeld('agent');
    });
}

/**
 * After a stop that has closed everything it owns, a client library may still hold a handle
 * (the Kubernetes client's sockets to the API server, seen after the agent's stop): say what
 * is left, and exit after a grace second instead of running on. The timer is unref'd, so a
 * clean stop exits at once without it.
 */
function exitSoonIfHeld(what: string): void {
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'PipeWrap' && r !== 'TTYWrap');
    err(`${what} stopped; exiting although the process still holds ${left.join(', ') || 'timers'}`);
    process.exit(process.exitCode ?? 0);
  }, 1000).unref();
}
