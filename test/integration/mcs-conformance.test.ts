// The upstream MCS conformance suite (kubernetes-sigs/mcs-api conformance/) as behaviours of ours,
// one `it` per upstream case, named after it (docs/conformance.md maps every case to its test).
// Written from the suite's behaviours, not its code. Everything real but the Kubernetes API: the
// real hub with real etcd and its embedded nats-server, and three simulated clusters, each a
// Kubernetes API double (test double of kube-apiserver) serving the upstream MCS CRDs, with a real
// agent holding its own NATS credential. As upstream, the first cluster (onprem-inference) is the
// exporter and each case runs in a fresh namespace of its own; where a case wants a second
// exporting cluster it is aws-train, whose export is made only once the first one has been merged
// (so it is the younger). A Deployment and the EndpointSlice controller are stood in for by the
// Service's EndpointSlice, seeded as that controller writes it. ServiceExports are created and
// deleted through the real client, as the suite does. Assertions read the doubles' resulting state.
import assert from 'node:assert/strict';
import { isIpAddress } from '../../controlplane/api/cidr.ts';
import { vipKey } from '../../controlplane/api/keys.ts';
import {
  AWS,
  GCP,
  ONPREM,
  ENDPOINT_SLICES,
  Label,
  SERVICE_EXPORTS,
  conditionOf,
  sampleWhile,
  serviceImport,
  startClusterSet,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

const HELLO = 'hello';
const MCS_API = 'multicluster.x-k8s.io/v1alpha1';
/** The suite's hello Service: two ports, ClientIP affinity with a 10 s timeout. */
const HELLO_PORTS = [
  { name: 'tcp', port: 42, protocol: 'TCP' },
  { name: 'udp', port: 42, protocol: 'UDP' },
];
/** Pod addresses inside each exporting cluster's pod CIDR (examples/20-clusters.yaml). */
const POD_IPS: Readonly<Record<string, readonly string[]>> = { [ONPREM]: ['10.32.42.1', '10.32.42.2'], [AWS]: ['10.16.42.1'] };
/** How long a "consistently" check samples, where the suite uses 5 s. */
const CONSISTENTLY_MS = 2000;

interface Port {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
}

interface HelloSpec {
  readonly ports?: readonly Port[];
  readonly headless?: boolean;
  readonly externalName?: string;
  readonly sessionAffinity?: 'None' | 'ClientIP';
  readonly internalTrafficPolicy?: 'Cluster' | 'Local';
  readonly trafficDistribution?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface SpecOf {
  type?: string;
  ports?: Port[];
  ips?: string[];
  sessionAffinity?: string;
  sessionAffinityConfig?: unknown;
  internalTrafficPolicy?: string;
  trafficDistribution?: string;
}

const specOf = (o: KubeObject | undefined): SpecOf => o?.['spec'] ?? {};
const clustersOf = (o: KubeObject | undefined): string[] =>
  (((o?.['status'] ?? {}) as { clusters?: { cluster: string }[] }).clusters ?? []).map((c) => c.cluster).sort();
const labelOf = (o: KubeObject, key: string): string | undefined => o.metadata.labels?.[key];
const annotationOf = (o: KubeObject, key: string): string | undefined => o.metadata.annotations?.[key];
const byName = (ports: readonly Port[] | undefined): Port[] =>
  [...(ports ?? [])].map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })).sort((a, b) => a.name.localeCompare(b.name));

describe('MCS conformance (kubernetes-sigs/mcs-api conformance/): real hub, etcd, nats-server and agents; Kubernetes API doubles', function () {
  this.timeout(60_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;
  let all: SimulatedCluster[];
  let namespaces = 0;

  before(async () => {
    set = await startClusterSet();
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    all = [onprem, aws, set.cluster(GCP)];
  });
  after(async () => {
    await set.stop();
  });

  // ---- what the suite's test driver does --------------------------------------------------------

  /** A fresh namespace in every cluster, as the suite's driver makes one per case. */
  function freshNamespace(): string {
    const ns = `mcs-conformance-${++namespaces}`;
    for (const c of all) c.double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    return ns;
  }

  /** The hello Service in cluster `c` with the EndpointSlice its controller would write. */
  function deployHello(c: SimulatedCluster, ns: string, s: HelloSpec = {}, name = HELLO): void {
    const ports = s.ports ?? HELLO_PORTS;
    const affinity = s.sessionAffinity ?? 'ClientIP';
    c.double.seed({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns, labels: s.labels ?? { app: name }, ...(s.annotations !== undefined ? { annotations: s.annotations } : {}) },
      spec:
        s.externalName !== undefined
          ? { type: 'ExternalName', externalName: s.externalName }
          : {
              selector: { app: name },
              ...(s.headless === true ? { clusterIP: 'None' } : {}),
              ports: ports.map((p) => ({ ...p, targetPort: p.port })),
              sessionAffinity: affinity,
              ...(affinity === 'ClientIP' ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } } } : {}),
              ...(s.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: s.internalTrafficPolicy } : {}),
              ...(s.trafficDistribution !== undefined ? { trafficDistribution: s.trafficDistribution } : {}),
            },
    });
    if (s.externalName !== undefined) return;
    c.double.seed({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-x7k2p`,
        namespace: ns,
        labels: { 'kubernetes.io/service-name': name, [Label.ManagedBy]: 'endpointslice-controller.k8s.io' },
      },
      addressType: 'IPv4',
      ports,
      endpoints: (POD_IPS[c.name] ?? []).map((ip, i) => ({
        addresses: [ip],
        conditions: { ready: true, serving: true, terminating: false },
        ...(s.headless === true ? { hostname: `${name}-${i}` } : {}),
      })),
    });
  }

  /** Creates the ServiceExport through the real client, as the suite's MCS client does. */
  async function createServiceExport(
    c: SimulatedCluster,
    ns: string,
    spec?: { exportedLabels?: object; exportedAnnotations?: object },
    name = HELLO,
  ): Promise<void> {
    await c.kube.create({
      apiVersion: MCS_API,
      kind: 'ServiceExport',
      metadata: { name, namespace: ns },
      ...(spec !== undefined ? { spec } : {}),
    });
  }

  async function deleteServiceExport(c: SimulatedCluster, ns: string): Promise<void> {
    const se: KubeObject = { apiVersion: MCS_API, kind: 'ServiceExport', metadata: { name: HELLO, namespace: ns } };
    await c.kube.delete(se);
  }

  async function awaitServiceImport(c: SimulatedCluster, ns: string, verify: (si: KubeObject) => void = () => undefined): Promise<KubeObject> {
    return waitFor(`the ServiceImport ${ns}/${HELLO} in ${c.name}`, () => {
      const si = serviceImport(c, ns, HELLO);
      if (si === undefined) throw new Error('there is none');
      verify(si);
      return si;
    });
  }

  async function awaitNoServiceImport(c: SimulatedCluster, ns: string): Promise<void> {
    await waitFor(`no ServiceImport ${ns}/${HELLO} in ${c.name}`, () => serviceImport(c, ns, HELLO) === undefined);
  }

  async function awaitServiceExportCondition(c: SimulatedCluster, ns: string, type: string, status: string): Promise<{ reason: string; message: string }> {
    return waitFor(`${type}=${status} on the ServiceExport in ${c.name}`, () => {
      const cond = conditionOf(c.double.get(SERVICE_EXPORTS, ns, HELLO), type);
      if (cond?.status !== status) throw new Error(`it is ${JSON.stringify(cond)}`);
      return cond;
    });
  }

  /** Exports hello from onprem-inference, then from aws-train once the first export is merged (so the second is younger). */
  async function exportFromTwoClusters(ns: string, second: HelloSpec, spec1?: object, spec2?: object): Promise<void> {
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns, spec1);
    await awaitServiceImport(aws, ns);
    deployHello(aws, ns, second);
    await createServiceExport(aws, ns, spec2);
  }

  /** MCS EndpointSlices of hello: carrying both MCS labels. */
  const mcsSlices = (c: SimulatedCluster, ns: string): KubeObject[] =>
    c.double.list(ENDPOINT_SLICES, ns).filter((s) => labelOf(s, Label.ServiceName) === HELLO && labelOf(s, Label.SourceCluster) !== undefined);

  // ---- service_import.go --------------------------------------------------------------------------

  it("[service_import] A ServiceImport should only exist as long as there's at least one exporting cluster", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    await awaitServiceImport(onprem, ns);
    deployHello(aws, ns);
    await createServiceExport(aws, ns);
    await awaitServiceImport(onprem, ns, (si) => {
      assert.deepEqual(clustersOf(si), [AWS, ONPREM].sort());
    });

    const present = await sampleWhile(
      () => all.every((c) => serviceImport(c, ns, HELLO) !== undefined),
      async () => {
        await deleteServiceExport(onprem, ns);
        // The hub has merged the unexport once every import is backed by aws-train alone.
        for (const c of all)
          await awaitServiceImport(c, ns, (si) => {
            assert.deepEqual(clustersOf(si), [AWS]);
          });
      },
      { afterMs: CONSISTENTLY_MS },
    );
    assert.ok(
      present.every((p) => p),
      'the ServiceImport existed in every cluster all along while aws-train still exported the service',
    );

    await deleteServiceExport(aws, ns);
    for (const c of all) await awaitNoServiceImport(c, ns);
  });

  it('[service_import] Only labels and annotations specified as exported in the ServiceExport should be propagated to the ServiceImport', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { labels: { app: HELLO, 'service-label': 'true' }, annotations: { 'service-annotation': 'true' } });
    await createServiceExport(onprem, ns, { exportedLabels: { 'dummy-label': 'true' }, exportedAnnotations: { 'dummy-annotation': 'true' } });
    for (const c of all) {
      const si = await awaitServiceImport(c, ns, (s) => {
        assert.equal(labelOf(s, 'dummy-label'), 'true');
      });
      assert.equal(annotationOf(si, 'dummy-annotation'), 'true', `annotation in ${c.name}`);
      for (const k of ['app', 'service-label']) assert.equal(labelOf(si, k), undefined, `the Service's label ${k} stays behind (${c.name})`);
      assert.equal(annotationOf(si, 'service-annotation'), undefined, `the Service's annotation stays behind (${c.name})`);
    }
  });

  it('[service_import] A service exported on two clusters with conflicting annotations and labels should apply the conflict resolution policy and report a Conflict condition on each ServiceExport', async () => {
    const ns = freshNamespace();
    await exportFromTwoClusters(
      ns,
      {},
      { exportedLabels: { 'dummy-label': 'true' }, exportedAnnotations: { 'dummy-annotation': 'true' } },
      { exportedLabels: { 'dummy-label2': 'true' }, exportedAnnotations: { 'dummy-annotation2': 'true' } },
    );
    for (const c of [onprem, aws]) {
      const cond = await awaitServiceExportCondition(c, ns, 'Conflict', 'True');
      assert.match(cond.reason, /LabelsConflict/, `${c.name}: ${cond.reason}`);
      assert.match(cond.reason, /AnnotationsConflict/, `${c.name}: ${cond.reason}`);
    }
    for (const c of all) {
      const si = await awaitServiceImport(c, ns, (s) => {
        assert.deepEqual(clustersOf(s), [AWS, ONPREM].sort());
      });
      assert.equal(labelOf(si, 'dummy-label'), 'true', `the oldest export's label (${c.name})`);
      assert.equal(annotationOf(si, 'dummy-annotation'), 'true', `the oldest export's annotation (${c.name})`);
      assert.equal(labelOf(si, 'dummy-label2'), undefined, `not the younger export's label (${c.name})`);
      assert.equal(annotationOf(si, 'dummy-annotation2'), undefined, `not the younger export's annotation (${c.name})`);
    }
  });

  it("[service_import] Exporting a ClusterIP service should create a ServiceImport of type ClusterSetIP in the service's namespace in each cluster. Unexporting should delete the ServiceImport", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    await awaitServiceExportCondition(onprem, ns, 'Valid', 'True');
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).type, 'ClusterSetIP');
      });
    await deleteServiceExport(onprem, ns);
    for (const c of all) await awaitNoServiceImport(c, ns);
  });

  it("[service_import] The SessionAffinity for a ClusterSetIP ServiceImport should match the exported service's SessionAffinity", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    const svc = specOf(onprem.double.get('services', ns, HELLO));
    assert.deepEqual(svc.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10 } }, 'the Service as the cluster stores it');
    for (const c of all) {
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).sessionAffinity, svc.sessionAffinity);
        assert.deepEqual(specOf(si).sessionAffinityConfig, svc.sessionAffinityConfig);
      });
    }
  });

  it("[service_import] The InternalTrafficPolicy for a ClusterSetIP ServiceImport should match the exported service's InternalTrafficPolicy", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { internalTrafficPolicy: 'Cluster' });
    await createServiceExport(onprem, ns);
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).internalTrafficPolicy, 'Cluster');
      });
    // Carried from the Service, not a default of ours: a change follows.
    await onprem.mergePatch({ apiVersion: 'v1', kind: 'Service', metadata: { name: HELLO, namespace: ns }, spec: { internalTrafficPolicy: 'Local' } });
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).internalTrafficPolicy, 'Local');
      });
  });

  it("[service_import] The TrafficDistribution for a ClusterSetIP ServiceImport should match the exported service's TrafficDistribution", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { trafficDistribution: 'PreferClose' });
    await createServiceExport(onprem, ns);
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).trafficDistribution, 'PreferClose');
      });
  });

  it('[service_import] An IP should be allocated for a ClusterSetIP ServiceImport', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    const vips = new Set<string>();
    for (const c of all) {
      const si = await awaitServiceImport(c, ns, (s) => {
        assert.equal(specOf(s).ips?.length, 1);
      });
      const ip = specOf(si).ips?.[0] ?? '';
      assert.ok(isIpAddress(ip), `"${ip}" is a valid IP (${c.name})`);
      vips.add(ip);
    }
    assert.equal(vips.size, 1, 'one clusterset IP, the same in every cluster');
  });

  it('[service_import] The ports for a ClusterSetIP ServiceImport should match those of the exported service', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.deepEqual(byName(specOf(si).ports), byName(HELLO_PORTS));
      });
  });

  it('[service_import] A ClusterIP service exported on two clusters should expose the union of the constituent service ports and raise a conflict', async () => {
    const ns = freshNamespace();
    const second = [HELLO_PORTS[0] as Port, { name: 'stcp', port: 142, protocol: 'SCTP' }];
    await exportFromTwoClusters(ns, { ports: second });
    for (const c of [onprem, aws]) {
      const cond = await awaitServiceExportCondition(c, ns, 'Conflict', 'True');
      assert.equal(cond.reason, 'PortConflict', c.name);
    }
    for (const c of all) {
      await awaitServiceImport(c, ns, (si) => {
        assert.deepEqual(clustersOf(si), [AWS, ONPREM].sort());
        assert.deepEqual(byName(specOf(si).ports), byName([...HELLO_PORTS, ...second.slice(1)]));
      });
      // Traffic to a port reaches only the clusters that expose it (KEP-1645): each cluster's slices carry its own ports.
      // The slices are applied after the ServiceImport: wait for them rather than read them once.
      const portsFrom = (source: string): Port[] =>
        byName(mcsSlices(c, ns).find((s) => labelOf(s, Label.SourceCluster) === source)?.['ports'] as Port[] | undefined);
      const same = (a: Port[], b: Port[]): boolean => JSON.stringify(a) === JSON.stringify(b);
      await waitFor(
        `both exporters' slices with their ports in ${c.name}`,
        () => same(portsFrom(ONPREM), byName(HELLO_PORTS)) && same(portsFrom(AWS), byName(second)),
      ).catch(() => undefined);
      assert.deepEqual(portsFrom(ONPREM), byName(HELLO_PORTS), `${c.name}: onprem-inference's slice`);
      assert.deepEqual(portsFrom(AWS), byName(second), `${c.name}: aws-train's slice`);
    }
  });

  it('[service_import] A ClusterIP service exported on two clusters with conflicting ports should apply the conflict resolution policy and report a Conflict condition on each ServiceExport', async () => {
    const ns = freshNamespace();
    await exportFromTwoClusters(ns, { ports: [{ name: 'tcp', port: 43, protocol: 'TCP' }] });
    for (const c of [onprem, aws]) {
      const cond = await awaitServiceExportCondition(c, ns, 'Conflict', 'True');
      assert.equal(cond.reason, 'PortConflict', c.name);
      assert.match(cond.message, /onprem-inference/, `the condition names the winner (${c.name}): ${cond.message}`);
    }
    for (const c of all) {
      await awaitServiceImport(c, ns, (si) => {
        assert.deepEqual(clustersOf(si), [AWS, ONPREM].sort());
        assert.deepEqual(byName(specOf(si).ports), byName(HELLO_PORTS), 'the oldest export wins the port name');
      });
    }
  });

  it("[service_import] Exporting a headless service should create a ServiceImport of type Headless in the service's namespace in each cluster. Unexporting should delete the ServiceImport", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { headless: true });
    await createServiceExport(onprem, ns);
    for (const c of all)
      await awaitServiceImport(c, ns, (si) => {
        assert.equal(specOf(si).type, 'Headless');
      });
    await deleteServiceExport(onprem, ns);
    for (const c of all) await awaitNoServiceImport(c, ns);
  });

  it('[service_import] No clusterset IP should be allocated for a Headless ServiceImport', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { headless: true });
    await createServiceExport(onprem, ns);
    for (const c of all) await awaitServiceImport(c, ns);
    const samples = await sampleWhile(
      () => all.map((c) => specOf(serviceImport(c, ns, HELLO)).ips ?? []),
      () => Promise.resolve(),
      { everyMs: 200, afterMs: CONSISTENTLY_MS },
    );
    assert.ok(
      samples.every((s) => s.every((ips) => ips.length === 0)),
      `no IP in any sample: ${JSON.stringify(samples.find((s) => s.some((ips) => ips.length > 0)))}`,
    );
    const stored = (await etcdSnapshot(set.etcdUrl)).keys[vipKey(ns, HELLO)];
    assert.equal(stored, undefined, 'the hub holds no clusterset IP for it in etcd');
  });

  it('[service_import] Exporting an ExternalName service should set ServiceExport Valid condition to False', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns, { externalName: 'example.com' });
    await createServiceExport(onprem, ns);
    const valid = await awaitServiceExportCondition(onprem, ns, 'Valid', 'False');
    assert.match(valid.message, /ExternalName/);
    const seen = await sampleWhile(
      () => all.some((c) => serviceImport(c, ns, HELLO) !== undefined),
      () => Promise.resolve(),
      {
        everyMs: 200,
        afterMs: CONSISTENTLY_MS,
      },
    );
    assert.ok(
      seen.every((s) => !s),
      'no ServiceImport in any cluster',
    );
    assert.equal(
      (await set.client.services()).items.find((s) => s.namespace === ns),
      undefined,
      'the hub never merged it',
    );
  });

  it('[service_import] A service exported on two clusters with conflicting headlessness should apply the conflict resolution policy and report a Conflict condition on the ServiceExport', async () => {
    const ns = freshNamespace();
    await exportFromTwoClusters(ns, { headless: true });
    for (const c of [onprem, aws]) {
      const cond = await awaitServiceExportCondition(c, ns, 'Conflict', 'True');
      assert.match(cond.reason, /TypeConflict/, c.name);
    }
    for (const c of all) {
      await awaitServiceImport(c, ns, (si) => {
        assert.deepEqual(clustersOf(si), [AWS, ONPREM].sort());
        assert.equal(specOf(si).type, 'ClusterSetIP');
      });
    }
  });

  // ---- endpoint_slice.go --------------------------------------------------------------------------

  it("[endpoint_slice] Exporting a service should create an MCS EndpointSlice in the service's namespace in each cluster with the required MCS labels. Unexporting should delete the EndpointSlice.", async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    await createServiceExport(onprem, ns);
    const names = new Map<string, string[]>();
    for (const c of all) {
      const slices = await waitFor(`an IPv4 MCS EndpointSlice with endpoints in ${c.name}`, () => {
        const found = mcsSlices(c, ns).filter((s) => s['addressType'] === 'IPv4' && ((s['endpoints'] as unknown[] | undefined) ?? []).length > 0);
        return found.length > 0 ? found : undefined;
      });
      for (const s of slices) {
        const labels = s.metadata.labels ?? {};
        assert.equal(labels[Label.ServiceName], HELLO);
        assert.equal(labels[Label.SourceCluster], ONPREM);
        assert.ok(labels[Label.ManagedBy] !== undefined, 'managed-by is set');
        assert.notEqual(labels[Label.ManagedBy], 'endpointslice-controller.k8s.io', "managed-by is not the EndpointSlice controller's");
      }
      names.set(
        c.name,
        slices.map((s) => s.metadata.name),
      );
    }
    await deleteServiceExport(onprem, ns);
    for (const c of all) {
      await waitFor(`the MCS EndpointSlices deleted in ${c.name}`, () =>
        (names.get(c.name) ?? []).every((name) => c.double.get(ENDPOINT_SLICES, ns, name) === undefined),
      );
    }
  });

  // ---- clusterip_service_dns.go (what the control plane decides; the DNS answers are agent-dns.test.ts') --

  it('[clusterip_service_dns] DNS lookups of the <service>.<ns>.svc.cluster.local domain for a ClusterIP service should only resolve local services (control plane: imports leave the local Service and its EndpointSlices alone)', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    deployHello(aws, ns);
    const localService = aws.double.get('services', ns, HELLO);
    await createServiceExport(onprem, ns);
    await awaitServiceImport(aws, ns, (si) => {
      assert.deepEqual(clustersOf(si), [ONPREM]);
    });
    assert.deepEqual(aws.double.get('services', ns, HELLO), localService, "aws-train's own Service is untouched");
    const local = aws.double.list(ENDPOINT_SLICES, ns).filter((s) => labelOf(s, 'kubernetes.io/service-name') === HELLO);
    assert.deepEqual(
      local.map((s) => s.metadata.name),
      [`${HELLO}-x7k2p`],
      'kube-dns and kube-proxy see only the local slice under kubernetes.io/service-name',
    );
    assert.deepEqual(
      (local[0]?.['endpoints'] as { addresses: string[] }[]).flatMap((e) => e.addresses),
      POD_IPS[AWS],
    );
  });

  // ---- connectivity.go (no data plane here: what Causeway decides about it) ----------------------

  it('[connectivity] Connectivity to remote services with no exported service should be inaccessible (control plane only: nothing of an unexported Service is imported; no traffic can be sent here)', async () => {
    const ns = freshNamespace();
    deployHello(onprem, ns);
    // A service exported after hello was created: once it is imported everywhere, the agent has reported since.
    deployHello(onprem, ns, {}, 'marker');
    await createServiceExport(onprem, ns, undefined, 'marker');
    for (const c of all) await waitFor(`the marker's ServiceImport in ${c.name}`, () => serviceImport(c, ns, 'marker') !== undefined);
    for (const c of all) {
      assert.equal(serviceImport(c, ns, HELLO), undefined, `no ServiceImport in ${c.name}`);
      assert.deepEqual(mcsSlices(c, ns), [], `no MCS EndpointSlice in ${c.name}`);
    }
    assert.equal(
      (await set.client.services()).items.find((s) => s.namespace === ns && s.name === HELLO),
      undefined,
      'the hub knows no such service',
    );
  });
});
