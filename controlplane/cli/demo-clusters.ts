// The demo's simulated clusters, each a separate process (test/harness/simulated-cluster-main.ts,
// the Kubernetes API test double) that the demo talks to over the Kubernetes REST API, as kubectl
// would: the demo is the only caller, and the product never imports the double (.dependency-cruiser.cjs).
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { UnavailableError } from '../api/errors.ts';
import { ChildServer } from '../embedded/child-server.ts';

const SIMULATED_CLUSTER_MAIN = resolve(import.meta.dirname, '../../test/harness/simulated-cluster-main.ts');

/** A Kubernetes object as the REST API returns it. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly [field: string]: unknown;
}

export interface SimulatedCluster {
  readonly name: string;
  readonly url: string;
  readonly kubeconfig: string;
  readonly pid: number | undefined;
  /** POST to a collection path, e.g. `/api/v1/namespaces/inference/services`. */
  create(path: string, object: KubeObject): Promise<KubeObject>;
  /** GET one object; undefined on 404. */
  get(path: string): Promise<KubeObject | undefined>;
  list(path: string): Promise<KubeObject[]>;
  /** Replaces an object's status through its status subresource, as its controller (a Pod's kubelet) would. */
  setStatus(path: string, status: unknown): Promise<KubeObject>;
  stop(): Promise<void>;
}

interface Kubeconfig {
  clusters: { cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users: { user: { token: string } }[];
}

export async function startSimulatedCluster(options: {
  name: string;
  dir: string;
  namespaces: readonly string[];
  signal: AbortSignal;
}): Promise<SimulatedCluster> {
  if (!existsSync(SIMULATED_CLUSTER_MAIN)) {
    throw new UnavailableError(`the demo's simulated clusters need the test harness (${SIMULATED_CLUSTER_MAIN}), which this install does not have`);
  }
  const kubeconfig = resolve(options.dir, 'kubeconfig');
  const logFile = resolve(options.dir, 'kube-api.log');
  const child = ChildServer.start({
    name: `simulated cluster ${options.name}`,
    command: process.execPath,
    args: [SIMULATED_CLUSTER_MAIN, '--name', options.name, '--kubeconfig', kubeconfig, ...options.namespaces.flatMap((ns) => ['--namespace', ns])],
    logFile,
    pidFile: resolve(options.dir, 'kube-api.pid'),
  });
  try {
    // The kubeconfig is renamed into place only once the API serves.
    await child.waitReady(() => Promise.resolve(options.signal.aborted || existsSync(kubeconfig)), logFile);
    options.signal.throwIfAborted();
  } catch (err) {
    await child.stop();
    throw err;
  }
  const config = parse(readFileSync(kubeconfig, 'utf8')) as Kubeconfig;
  const server = config.clusters[0]?.cluster.server ?? '';
  const caData = config.clusters[0]?.cluster['certificate-authority-data'];
  const ca = caData !== undefined ? Buffer.from(caData, 'base64').toString('utf8') : undefined;
  const token = config.users[0]?.user.token ?? '';
  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> =>
    rest({ url: new URL(path, server), method, token, ca, body, signal: options.signal });
  return {
    name: options.name,
    url: server,
    kubeconfig,
    pid: child.pid,
    create: async (path, object) => {
      const res = await call('POST', path, object);
      if (res.status >= 300) throw new UnavailableError(`${options.name}: POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as KubeObject;
    },
    get: async (path) => {
      const res = await call('GET', path);
      if (res.status === 404) return undefined;
      if (res.status >= 300) throw new UnavailableError(`${options.name}: GET ${path}: ${res.status}`);
      return res.body as KubeObject;
    },
    list: async (path) => {
      const res = await call('GET', path);
      if (res.status >= 300) throw new UnavailableError(`${options.name}: GET ${path}: ${res.status}`);
      return (res.body as { items?: KubeObject[] }).items ?? [];
    },
    setStatus: async (path, status) => {
      const current = await call('GET', path);
      if (current.status >= 300) throw new UnavailableError(`${options.name}: GET ${path}: ${current.status}`);
      const res = await call('PUT', `${path}/status`, { ...(current.body as KubeObject), status });
      if (res.status >= 300) throw new UnavailableError(`${options.name}: PUT ${path}/status: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as KubeObject;
    },
    stop: () => child.stop(),
  };
}

function rest(o: {
  url: URL;
  method: string;
  token: string;
  ca: string | undefined;
  body: unknown;
  signal: AbortSignal;
}): Promise<{ status: number; body: unknown }> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((done, fail) => {
    const req = request(
      o.url,
      {
        method: o.method,
        signal: o.signal,
        ...(o.ca !== undefined ? { ca: o.ca } : { rejectUnauthorized: false }),
        headers: {
          authorization: `Bearer ${o.token}`,
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            done({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) });
          } catch (err) {
            fail(new UnavailableError(`${o.method} ${o.url.pathname}: not JSON`, { cause: err }));
          }
        });
        res.on('error', fail);
      },
    );
    req.on('error', (err) => {
      fail(new UnavailableError(`${o.method} ${o.url.href}: ${err.message}`, { cause: err }));
    });
    req.end(payload);
  });
}
