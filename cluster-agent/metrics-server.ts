// The agent's /metrics (Prometheus text format, prom-client), on an address chosen by the
// composition root: the AgentMetrics counters, the applied and held import revisions and the
// number of services failing to apply, plus Node's process metrics. One registry per agent (no
// global default), so that tests can run several agents in one process.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { InvalidInputError } from '../controlplane/api/errors.ts';
import type { AgentMetrics } from './telemetry.ts';

/** What the server reads on every scrape (the Agent). */
export interface AgentMetricsSource {
  readonly metrics: AgentMetrics;
  appliedRevision(): number;
  stateRevision(): number;
  failingServices(): ReadonlyMap<string, string>;
}

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9464/metrics */
  readonly url: string;
  close(): Promise<void>;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `HOST:PORT` (`[::1]:9464` for IPv6; an empty host listens on every interface; port 0 picks a free one). */
export function parseListen(value: string, field = 'metricsListen'): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !Number.isInteger(port) || port > 65_535) {
    throw new InvalidInputError([{ field, value, message: 'expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 (":9464" listens on every interface)' }]);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One registry with the agent's counters and gauges, read from `source` at scrape time. */
export function agentRegistry(source: AgentMetricsSource, cluster: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ cluster });
  collectDefaultMetrics({ register: registry, prefix: 'causeway_agent_' });
  for (const key of Object.keys(source.metrics) as (keyof AgentMetrics)[]) {
    new Counter({
      name: `causeway_agent_${snake(key)}_total`,
      help: `AgentMetrics.${key} since the agent started.`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(source.metrics[key]);
      },
    });
  }
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('causeway_agent_applied_revision', 'The import revision every service has been through (failing ones aside).', () => source.appliedRevision());
  gauge('causeway_agent_state_revision', 'The revision of the desired import state the agent holds.', () => source.stateRevision());
  gauge('causeway_agent_failing_services', 'Services whose last apply failed and that wait for their retry.', () => source.failingServices().size);
  return registry;
}

export async function startMetricsServer(registry: Registry, listen: ListenAddress): Promise<MetricsServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
