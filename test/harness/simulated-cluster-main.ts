// One simulated cluster as its own process: the Kubernetes API TEST DOUBLE (kube-api-double.ts),
// not kube-apiserver. `causeway demo` spawns one per example cluster, so that the product's import
// graph holds nothing under test/ (.dependency-cruiser.cjs, rule product-not-test).
//
//   node test/harness/simulated-cluster-main.ts --name NAME --kubeconfig FILE
//        [--namespace NS ...] [--port N] [--token T] [--no-tls]
//
// Once it serves, it writes the kubeconfig (server URL, CA, bearer token) to FILE, atomically: a
// reader that finds the file can connect. It runs until SIGTERM or SIGINT.
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startKubeApiDouble } from './kube-api-double.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', multiple: true },
    port: { type: 'string' },
    token: { type: 'string' },
    'no-tls': { type: 'boolean' },
  },
});
if (values.kubeconfig === undefined) {
  process.stderr.write('simulated-cluster-main: --kubeconfig FILE is required\n');
  process.exit(2);
}
const double = await startKubeApiDouble({
  ...(values.name !== undefined ? { clusterName: values.name } : {}),
  ...(values.namespace !== undefined ? { namespaces: values.namespace } : {}),
  ...(values.port !== undefined ? { port: Number(values.port) } : {}),
  ...(values.token !== undefined ? { token: values.token } : {}),
  tls: values['no-tls'] !== true,
});
const partial = `${values.kubeconfig}.partial`;
await writeFile(partial, double.kubeconfigYaml(), { mode: 0o600 });
await rename(partial, values.kubeconfig);
process.stdout.write(
  `${JSON.stringify({ url: double.url, kubeconfig: values.kubeconfig, note: 'Kubernetes API double (test double, not kube-apiserver)' })}\n`,
);

const shutdown = (): void => {
  void double.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
