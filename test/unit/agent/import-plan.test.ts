// Applying one service's imports (cluster-agent/planners/import-plan.ts), pure and synchronous:
// first writes look before they leap, matching objects (ours or a predecessor's) are not
// rewritten, foreign names are left alone, deletes only after a snapshot; and the conditions of
// the cluster's own ServiceExport.
import assert from 'node:assert/strict';
import { desiredImport } from '../../../cluster-agent/imports.ts';
import type { KubeObject } from '../../../cluster-agent/objects.ts';
import { refOf, refString } from '../../../cluster-agent/objects.ts';
import {
  fingerprint,
  planExportStatus,
  planServiceImport,
  unknownObjects,
  type ExportStatusInput,
  type ImportObservation,
  type KnownObject,
} from '../../../cluster-agent/planners/import-plan.ts';
import { imp } from './fake-hub.ts';

const KEY = 'apps/web';
const d = desiredImport(imp('web', 150));
const [slice0, slice1] = d.endpointSlices;
if (slice0 === undefined || slice1 === undefined) throw new Error('two slices expected');
const id = (o: KubeObject): string => refString(refOf(o));

function written(o: KubeObject, extra: Partial<KnownObject> = {}): [string, KnownObject] {
  return [id(o), { ref: refOf(o), key: KEY, uid: `uid-${o.metadata.name}`, hash: fingerprint(o), stored: undefined, ...extra }];
}
const adopted = (o: KubeObject): [string, KnownObject] => written(o, { hash: undefined, stored: { ...o, metadata: { ...o.metadata, uid: 'x' } } });
const foreign = (o: KubeObject): KubeObject => ({ ...o, metadata: { name: o.metadata.name, namespace: o.metadata.namespace, labels: {} } });
const stale: KubeObject = { ...slice0, metadata: { ...slice0.metadata, name: 'web-gone-ipv4-0' } };

function seen(known: [string, KnownObject][], live: [KubeObject, KubeObject | undefined][] = [], status: [string, string][] = []): ImportObservation {
  return { known: new Map(known), live: new Map(live.map(([o, l]) => [id(o), l])), statusApplied: new Map(status) };
}

const statusDone: [string, string] = [id(d.serviceImportStatus), fingerprint(d.serviceImportStatus.status)];

interface Case {
  readonly name: string;
  readonly desired: typeof d | undefined;
  readonly seen: ImportObservation;
  readonly snapshotApplied: boolean;
  /** op and object name, in order. */
  readonly want: [string, string][];
}

const cases: Case[] = [
  {
    name: 'nothing known, nothing live: the ServiceImport, its status, then each slice',
    desired: d,
    seen: seen(
      [],
      [
        [d.serviceImport, undefined],
        [slice0, undefined],
        [slice1, undefined],
      ],
    ),
    snapshotApplied: true,
    want: [
      ['apply', 'web'],
      ['apply-status', 'web'],
      ['apply', slice0.metadata.name],
      ['apply', slice1.metadata.name],
    ],
  },
  {
    name: 'everything as last written: nothing to do',
    desired: d,
    seen: seen([written(d.serviceImport), written(slice0), written(slice1)], [], [statusDone]),
    snapshotApplied: true,
    want: [],
  },
  {
    name: 'one slice changed since written: only that one',
    desired: d,
    seen: seen([written(d.serviceImport), written(slice0, { hash: 'older' }), written(slice1)], [], [statusDone]),
    snapshotApplied: true,
    want: [['apply', slice0.metadata.name]],
  },
  {
    name: "a predecessor's objects that match are adopted, not rewritten (status compared with the listed one)",
    desired: d,
    seen: seen([
      [id(d.serviceImport), { ...adopted(d.serviceImport)[1], stored: { ...d.serviceImport, status: d.serviceImportStatus.status } }],
      adopted(slice0),
      adopted(slice1),
    ]),
    snapshotApplied: false,
    want: [
      ['adopt', 'web'],
      ['adopt-status', 'web'],
      ['adopt', slice0.metadata.name],
      ['adopt', slice1.metadata.name],
    ],
  },
  {
    name: 'a live object of ours that already matches is adopted on first sight',
    desired: d,
    seen: seen([written(d.serviceImport), written(slice1)], [[slice0, { ...slice0, metadata: { ...slice0.metadata, uid: 'live' } }]], [statusDone]),
    snapshotApplied: true,
    want: [['adopt', slice0.metadata.name]],
  },
  {
    name: 'a foreign ServiceImport with the name is left alone, and so is its status',
    desired: d,
    seen: seen([written(slice0), written(slice1)], [[d.serviceImport, foreign(d.serviceImport)]]),
    snapshotApplied: true,
    want: [['skip-not-owned', 'web']],
  },
  {
    name: 'a known object no longer desired is deleted once a snapshot is applied',
    desired: d,
    seen: seen([written(d.serviceImport), written(slice0), written(slice1), written(stale)], [], [statusDone]),
    snapshotApplied: true,
    want: [['delete', 'web-gone-ipv4-0']],
  },
  {
    name: 'but never before a snapshot',
    desired: d,
    seen: seen([written(d.serviceImport), written(slice0), written(slice1), written(stale)], [], [statusDone]),
    snapshotApplied: false,
    want: [],
  },
  {
    name: 'a service no longer imported: endpoints first, the ServiceImport last',
    desired: undefined,
    seen: seen([written(d.serviceImport), written(slice1), written(slice0)]),
    snapshotApplied: true,
    want: [
      ['delete', slice0.metadata.name],
      ['delete', slice1.metadata.name],
      ['delete', 'web'],
    ],
  },
];

describe('agent planner: planServiceImport (pure)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const ops = planServiceImport(c.desired, c.seen, { snapshotApplied: c.snapshotApplied });
      assert.deepEqual(
        ops.map((o) => [o.op, o.id.split('/').at(-1)]),
        c.want,
      );
    });
  }

  it('asks for live reads of exactly the desired names it never wrote', () => {
    const refs = unknownObjects(d, new Map([written(d.serviceImport)]));
    assert.deepEqual(
      refs.map((r) => r.name),
      [slice0.metadata.name, slice1.metadata.name],
    );
    assert.deepEqual(unknownObjects(undefined, new Map()), []);
  });

  it('remembers the uid of what it deletes, so that only that object goes', () => {
    const [op] = planServiceImport(undefined, seen([written(slice0)]), { snapshotApplied: true });
    assert.deepEqual(op, { op: 'delete', id: id(slice0), ref: refOf(slice0), uid: `uid-${slice0.metadata.name}` });
  });
});

describe('agent planner: planExportStatus (pure)', () => {
  const se = { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: 'apps' } };
  const ready = { type: 'Ready', status: 'True' as const, reason: 'Exported', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
  const base: ExportStatusInput = {
    namespace: 'apps',
    name: 'web',
    serviceExport: se,
    problem: undefined,
    hub: undefined,
    applied: undefined,
    now: '2025-05-05T00:00:00Z',
  };
  const rows: { name: string; input: ExportStatusInput; want: string }[] = [
    { name: 'no ServiceExport, nothing written: nothing', input: { ...base, serviceExport: undefined }, want: 'none' },
    { name: 'ServiceExport gone after we wrote on it: forget', input: { ...base, serviceExport: undefined, applied: 'x' }, want: 'forget' },
    { name: 'no problem and no word from the hub: nothing', input: base, want: 'none' },
    { name: "the hub's conditions: apply", input: { ...base, hub: [ready] }, want: 'apply' },
    {
      name: 'the same already written: nothing',
      input: { ...base, hub: [ready], applied: fingerprint([ready]) },
      want: 'none',
    },
    {
      name: 'already on the live object: remember',
      input: { ...base, hub: [ready], serviceExport: { ...se, status: { conditions: [ready] } } },
      want: 'remember',
    },
    {
      name: 'a local problem: apply Valid=False',
      input: { ...base, hub: [ready], problem: { reason: 'ServiceNotFound', message: 'no Service' } },
      want: 'apply',
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      assert.equal(planExportStatus(r.input).op, r.want);
    });
  }
  it('writes Valid=False with the local reason, stamped now', () => {
    const plan = planExportStatus({ ...base, problem: { reason: 'ServiceNotFound', message: 'no Service' } });
    assert.equal(plan.op, 'apply');
    assert.deepEqual(plan.object.status, {
      conditions: [{ type: 'Valid', status: 'False', reason: 'ServiceNotFound', message: 'no Service', lastTransitionTime: '2025-05-05T00:00:00Z' }],
    });
  });
});
