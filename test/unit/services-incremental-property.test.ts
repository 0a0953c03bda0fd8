// The incremental service model against a fresh build, on random registries and random change
// sequences (fast-check): the memos it keeps between changes (each view class's import digest,
// each consumer's list of services it might see) must never show what a fresh build of the same
// registry would not, and the deltas it hands out must bring every consumer to that same state.
// A snapshot against what an agent holds keeps exactly the imports held as they are.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { importDigest } from '../../controlplane/api/import-digest.ts';
import type { ExportState, ImportState } from '../../controlplane/api/messages.ts';
import type { ClusterResource, NetworkResource } from '../../controlplane/api/resources.ts';
import { applyChanges, type ModelChange } from '../../controlplane/services/changes.ts';
import { buildModel, type ServicesModel } from '../../controlplane/services/model.ts';
import { importsFor, snapshotFor, warmSnapshot } from '../../controlplane/services/views.ts';

const T0 = '2026-01-01T00:00:00Z';
const CLUSTERS = ['c0', 'c1', 'c2', 'c3', 'c4'];
const SERVICES = ['s0', 's1', 's2', 's3'];

interface Place {
  readonly network: 'net-a' | 'net-b';
  readonly provider: 'aws' | 'gcp';
  readonly region: 'r1' | 'r2';
  readonly tier: 'x' | 'y';
  readonly available: boolean;
}

function clusterOf(name: string, p: Place): ClusterResource {
  return {
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name, labels: { tier: p.tier } },
    spec: { provider: p.provider, region: p.region, network: p.network, podCIDRs: ['10.0.0.0/16'], serviceCIDRs: ['10.1.0.0/16'] },
    status: {
      conditions: [
        {
          type: 'Available',
          status: p.available ? 'True' : 'False',
          reason: p.available ? 'Heartbeating' : 'HeartbeatExpired',
          message: '',
          lastTransitionTime: T0,
        },
      ],
    },
  };
}

function networksOf(linked: boolean): NetworkResource[] {
  const net = (name: string, to: string | undefined): NetworkResource => ({
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Network',
    metadata: { name },
    spec: { provider: 'aws', region: 'r1', aws: { vpcId: 'vpc-0a1b2c3d4e5f67890' }, links: to === undefined ? [] : [{ to, type: 'vpn' }] },
  });
  return [net('net-a', linked ? 'net-b' : undefined), net('net-b', undefined)];
}

const place: fc.Arbitrary<Place> = fc.record({
  network: fc.constantFrom('net-a', 'net-b'),
  provider: fc.constantFrom('aws', 'gcp'),
  region: fc.constantFrom('r1', 'r2'),
  tier: fc.constantFrom('x', 'y'),
  available: fc.boolean(),
});

const exportState = (name: string): fc.Arbitrary<ExportState> =>
  fc
    .record({
      minute: fc.integer({ min: 0, max: 3 }),
      type: fc.constantFrom('ClusterSetIP' as const, 'Headless' as const),
      port: fc.constantFrom(80, 8000),
      exportTo: fc.constantFrom(undefined, 'x', 'y'),
      endpoints: fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { maxLength: 3 }),
    })
    .map((o) => ({
      namespace: 'ns',
      name,
      exportedAt: new Date(Date.parse(T0) + o.minute * 60_000).toISOString(),
      type: o.type,
      ports: [{ name: 'http', port: o.port, protocol: 'TCP' as const }],
      sessionAffinity: 'None' as const,
      ...(o.exportTo !== undefined ? { exportTo: { matchLabels: { tier: o.exportTo } } } : {}),
      endpoints: o.endpoints.map((n) => ({ addresses: [`10.0.0.${n}`], ready: true, serving: true, terminating: false })),
    }));

/** One change to the registry, in the test's own terms. */
type Step =
  | { readonly kind: 'export'; readonly cluster: string; readonly service: string; readonly state: ExportState | undefined }
  | { readonly kind: 'vip'; readonly service: string; readonly vip: string | undefined }
  | { readonly kind: 'cluster'; readonly cluster: string; readonly place: Place | undefined }
  | { readonly kind: 'networks'; readonly linked: boolean }
  /**
   * Reads a consumer's snapshot between changes, against what it holds (the import digests its
   * deltas left it with): fills the memos a later change must invalidate.
   */
  | { readonly kind: 'read'; readonly cluster: string };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({ cluster: fc.constantFrom(...CLUSTERS), service: fc.constantFrom(...SERVICES) })
      .chain(({ cluster, service }) =>
        fc.option(exportState(service), { freq: 4 }).map((state) => ({ kind: 'export' as const, cluster, service, state: state ?? undefined })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('vip' as const),
      service: fc.constantFrom(...SERVICES),
      vip: fc.constantFrom(undefined, '10.96.0.7', '10.96.0.8'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('cluster' as const),
      cluster: fc.constantFrom(...CLUSTERS),
      place: fc.option(place, { freq: 5 }).map((p) => p ?? undefined),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('networks' as const), linked: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), cluster: fc.constantFrom(...CLUSTERS) }) },
);

/** The registry as plain data: what a fresh build is made from. */
interface Truth {
  places: Map<string, Place>;
  exports: Map<string, Map<string, ExportState>>;
  vips: Map<string, string>;
  linked: boolean;
}

function fresh(t: Truth): ServicesModel {
  return buildModel(
    {
      clusters: [...t.places].map(([name, p]) => clusterOf(name, p)),
      networks: networksOf(t.linked),
      exports: t.exports,
      externalServices: [],
      vips: t.vips,
    },
    { now: T0 },
  );
}

function toChange(s: Exclude<Step, { kind: 'read' }>): ModelChange {
  switch (s.kind) {
    case 'export':
      return { kind: 'export', cluster: s.cluster, namespace: 'ns', name: s.service, state: s.state };
    case 'vip':
      return { kind: 'vip', namespace: 'ns', name: s.service, vip: s.vip };
    case 'cluster':
      return { kind: 'cluster', name: s.cluster, resource: s.place === undefined ? undefined : clusterOf(s.cluster, s.place) };
    case 'networks':
      return { kind: 'networks', networks: networksOf(s.linked) };
  }
}

function record(t: Truth, s: Exclude<Step, { kind: 'read' }>): void {
  switch (s.kind) {
    case 'export': {
      const of = t.exports.get(s.cluster) ?? new Map<string, ExportState>();
      if (s.state === undefined) of.delete(`ns/${s.service}`);
      else of.set(`ns/${s.service}`, s.state);
      if (of.size === 0) t.exports.delete(s.cluster);
      else t.exports.set(s.cluster, of);
      break;
    }
    case 'vip':
      if (s.vip === undefined) t.vips.delete(`ns/${s.service}`);
      else t.vips.set(`ns/${s.service}`, s.vip);
      break;
    case 'cluster':
      if (s.place === undefined) t.places.delete(s.cluster);
      else t.places.set(s.cluster, s.place);
      break;
    case 'networks':
      t.linked = s.linked;
      break;
  }
}

const digestsOf = (m: ReadonlyMap<string, ImportState> | undefined): Map<string, string> => new Map([...(m ?? [])].map(([k, v]) => [k, importDigest(v)]));

const sorted = (m: ReadonlyMap<string, ImportState>): ImportState[] => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);

describe('incremental service model against a fresh build (property)', () => {
  it('after any batches of changes, with snapshots read between them, every consumer imports what a fresh build gives it, by snapshot and by deltas', () => {
    fc.assert(
      fc.property(
        fc.array(place, { minLength: CLUSTERS.length, maxLength: CLUSTERS.length }),
        fc.array(fc.array(step, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        (places, batches) => {
          const truth: Truth = { places: new Map(CLUSTERS.map((c, i) => [c, places[i] as Place])), exports: new Map(), vips: new Map(), linked: false };
          const model = fresh(truth);
          // What each consumer holds, kept by the deltas (and resyncs) the model hands out.
          const held = new Map(CLUSTERS.map((c) => [c, new Map(importsFor(model, c).map((i) => [`${i.namespace}/${i.name}`, i]))]));
          for (const batch of batches) {
            const changes: ModelChange[] = [];
            for (const s of batch) {
              if (s.kind === 'read') {
                snapshotFor(model, s.cluster, digestsOf(held.get(s.cluster)));
                // A standby warms the same memos ahead (another consumer's, so both fill them).
                warmSnapshot(model, CLUSTERS[(CLUSTERS.indexOf(s.cluster) + 1) % CLUSTERS.length] ?? s.cluster);
              } else {
                changes.push(toChange(s));
                record(truth, s);
              }
            }
            if (changes.length === 0) continue;
            const result = applyChanges(model, changes, { now: T0 });
            const reference = fresh(truth);
            for (const c of CLUSTERS) {
              const want = importsFor(reference, c);
              assert.deepEqual(importsFor(model, c), want, `${c}'s snapshot`);
              // Against what another agent holds (this one's imports before the change): keeps
              // what it holds as the fresh build has it, sends the rest whole.
              const before = snapshotFor(model, c, digestsOf(held.get(c)));
              const holdsAsIs = (i: ImportState): boolean =>
                held.get(c)?.get(`${i.namespace}/${i.name}`) !== undefined &&
                importDigest(held.get(c)?.get(`${i.namespace}/${i.name}`) as ImportState) === importDigest(i);
              assert.deepEqual(
                before.upserts,
                want.filter((i) => !holdsAsIs(i)),
                `${c}'s snapshot, what it lacks`,
              );
              assert.deepEqual(
                before.kept.map((k) => k.name),
                want.filter(holdsAsIs).map((i) => i.name),
                `${c}'s snapshot, what it keeps`,
              );
              assert.deepEqual(snapshotFor(model, c), { upserts: want, kept: [] }, `${c}'s snapshot, holding nothing`);
              const mine = held.get(c) ?? new Map<string, ImportState>();
              if (result.resync) {
                mine.clear();
                for (const i of importsFor(model, c)) mine.set(`${i.namespace}/${i.name}`, i);
              }
              for (const d of result.imports) {
                if (d.consumer !== c) continue;
                if (d.next === undefined) mine.delete(d.key);
                else mine.set(d.key, d.next);
              }
              held.set(c, mine);
              assert.deepEqual(sorted(mine), want, `${c}'s imports as its deltas left them`);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
