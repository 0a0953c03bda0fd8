// Reporting exports (cluster-agent/planners/report-plan.ts), pure and synchronous: a full report
// in one message or in ordered parts under the byte budget; incremental reports carry only what
// changed since the last acknowledgement, removals only of what the hub holds.
import assert from 'node:assert/strict';
import { encodedSize, type ExportState } from '../../../controlplane/api/messages.ts';
import { fitExport, keysOf, planFullReport, planIncrementalReport, reportedForm } from '../../../cluster-agent/planners/report-plan.ts';

function exp(name: string, endpoints = 1): ExportState {
  return {
    namespace: 'apps',
    name,
    exportedAt: '2025-01-01T00:00:00.000Z',
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: Array.from({ length: endpoints }, (_, i) => ({ addresses: [`10.0.0.${i + 1}`], ready: true, serving: true, terminating: false })),
  };
}

const big = { maxBytes: 1_000_000, maxItems: 10_000 };
const shape = (bodies: ReturnType<typeof planFullReport>): unknown[] =>
  bodies.map((b) => [b.full, b.part?.index, b.part?.count, b.upserts.map((u) => u.name), b.removals.map((r) => r.name)]);

describe('agent planner: full reports (pure)', () => {
  it('one message without parts when it fits', () => {
    assert.deepEqual(shape(planFullReport([exp('a'), exp('b')], big)), [[true, undefined, undefined, ['a', 'b'], []]]);
  });
  it('an empty export set is still one (empty) full report: the hub removes everything', () => {
    assert.deepEqual(shape(planFullReport([], big)), [[true, undefined, undefined, [], []]]);
  });
  it('too large: ordered parts, each under the byte budget, naming every export once', () => {
    const states = Array.from({ length: 6 }, (_, i) => exp(`svc-${i}`));
    const maxBytes = encodedSize(states[0]) * 2 + 10;
    const bodies = planFullReport(states, { maxBytes, maxItems: 10_000 });
    assert.deepEqual(
      bodies.map((b) => [b.full, b.part?.index, b.part?.count]),
      [0, 1, 2].map((i) => [true, i, 3]),
    );
    for (const b of bodies) assert.ok(encodedSize(b.upserts) <= maxBytes);
    assert.deepEqual(
      bodies.flatMap((b) => b.upserts.map((u) => u.name)),
      states.map((s) => s.name),
    );
  });
  it('at most maxItems per part', () => {
    const bodies = planFullReport([exp('a'), exp('b'), exp('c')], { maxBytes: 1_000_000, maxItems: 2 });
    assert.deepEqual(shape(bodies), [
      [true, 0, 2, ['a', 'b'], []],
      [true, 1, 2, ['c'], []],
    ]);
  });
});

describe('agent planner: incremental reports (pure)', () => {
  const reported = new Map([
    ['apps/same', reportedForm(exp('same'))],
    ['apps/changed', reportedForm(exp('changed', 1))],
    ['apps/gone', reportedForm(exp('gone'))],
  ]);
  const rows: { name: string; current: [string, ExportState | undefined][]; want: unknown[] }[] = [
    { name: 'nothing changed: no report', current: [['apps/same', exp('same')]], want: [] },
    { name: 'a changed export is upserted', current: [['apps/changed', exp('changed', 2)]], want: [[false, undefined, undefined, ['changed'], []]] },
    { name: 'a new export is upserted', current: [['apps/new', exp('new')]], want: [[false, undefined, undefined, ['new'], []]] },
    { name: 'a reported export that went is removed', current: [['apps/gone', undefined]], want: [[false, undefined, undefined, [], ['gone']]] },
    { name: 'one never reported that went: nothing', current: [['apps/never', undefined]], want: [] },
    {
      name: 'removals first, then upserts, in one message',
      current: [
        ['apps/new', exp('new')],
        ['apps/gone', undefined],
        ['apps/same', exp('same')],
      ],
      want: [[false, undefined, undefined, ['new'], ['gone']]],
    },
  ];
  for (const r of rows) {
    it(r.name, () => {
      assert.deepEqual(shape(planIncrementalReport(new Map(r.current), reported, big)), r.want);
    });
  }
  it('splits under the byte budget, keeping order, and names the keys of each message', () => {
    const current = new Map(Array.from({ length: 5 }, (_, i): [string, ExportState] => [`apps/n${i}`, exp(`n${i}`, 3)]));
    const bodies = planIncrementalReport(current, new Map(), { maxBytes: encodedSize(exp('n0', 3)) * 2 + 5, maxItems: 10_000 });
    assert.deepEqual(
      bodies.map((b) => b.upserts.length),
      [2, 2, 1],
    );
    assert.deepEqual(bodies.flatMap(keysOf), [...current.keys()]);
  });
});

describe('agent planner: an export too large for one report (pure)', () => {
  const large: ExportState = {
    ...exp('big'),
    endpoints: Array.from({ length: 3000 }, (_, i) => ({
      addresses: [`10.1.${i >> 8}.${i & 255}`],
      ready: true,
      serving: true,
      terminating: false,
      nodeName: `node-${i}`,
      labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' },
    })),
  };

  it('keeps the endpoints that fit, in order, and counts the rest', () => {
    const budget = 64 * 1024;
    const { state: fitted, dropped } = fitExport(large, budget);
    assert.ok(encodedSize(fitted) <= budget);
    assert.ok(dropped > 0 && fitted.endpoints.length + dropped === large.endpoints.length);
    assert.deepEqual(fitted.endpoints, large.endpoints.slice(0, fitted.endpoints.length));
    assert.ok(encodedSize({ ...fitted, endpoints: large.endpoints.slice(0, fitted.endpoints.length + 1) }) > budget, 'as many as fit');
  });

  it('leaves an export that fits alone', () => {
    assert.deepEqual(fitExport(large, encodedSize(large)), { state: large, dropped: 0 });
  });
});
