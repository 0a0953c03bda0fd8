// The chaos runner's own small client of one Kubernetes API double (a TEST DOUBLE of
// kube-apiserver, test/harness/kube-api-double.ts, run as its own process by
// test/harness/simulated-cluster-main.ts): HTTPS with the double's CA and bearer token from the
// kubeconfig it wrote, one kept-alive connection, JSON in and out. The runner creates the
// exporter's objects, churns its endpoints and samples the consumers' EndpointSlices with it,
// reading what any client of that cluster would read.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parse } from 'yaml';
import type { KubeObject } from '../harness/kube-api-double.ts';

interface Kubeconfig {
  clusters: { cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users: { user: { token: string } }[];
}

export class KubeClient {
  private readonly url: URL;
  private readonly token: string;
  private readonly agent: https.Agent;

  constructor(kubeconfigFile: string) {
    const kc = parse(readFileSync(kubeconfigFile, 'utf8')) as Kubeconfig;
    const cluster = kc.clusters[0]?.cluster;
    const token = kc.users[0]?.user.token;
    if (cluster === undefined || token === undefined) throw new Error(`${kubeconfigFile}: no cluster or user`);
    this.url = new URL(cluster.server);
    this.token = token;
    const ca = cluster['certificate-authority-data'];
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(ca !== undefined ? { ca: Buffer.from(ca, 'base64').toString('utf8') } : {}) });
  }

  create(path: string, object: KubeObject): Promise<KubeObject> {
    return this.request('POST', path, object, 'application/json');
  }

  mergePatch(path: string, patch: object): Promise<KubeObject> {
    return this.request('PATCH', path, patch, 'application/merge-patch+json');
  }

  async list(path: string, labelSelector?: string): Promise<KubeObject[]> {
    const q = labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    const res = await this.request<{ items: KubeObject[] }>('GET', `${path}${q}`);
    return res.items;
  }

  close(): void {
    this.agent.destroy();
  }

  request<T = KubeObject>(method: string, path: string, body?: unknown, contentType?: string, timeoutMs = 5000): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300) {
              reject(new Error(`${method} ${path}: HTTP ${res.statusCode ?? 0}: ${text.slice(0, 300)}`));
              return;
            }
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => {
        req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
}
