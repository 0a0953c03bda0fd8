// What an agent may report (issue 12 §3), pure: special addresses and addresses outside the
// cluster's ranges are refused and counted, duplicates dropped, and the export time is the hub's.
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type ExportState, type Report } from '../../../controlplane/api/messages.ts';
import { checkReport, EndpointRefusal, type ReportContext } from '../../../controlplane/hub/report-checks.ts';

function exportOf(name: string, addresses: string[][], exportedAt = '1970-01-01T00:00:00Z'): ExportState {
  return {
    namespace: 'apps',
    name,
    exportedAt,
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    sessionAffinity: 'None',
    endpoints: addresses.map((a) => ({ addresses: a, ready: true, serving: true, terminating: false })),
  };
}

function report(...upserts: ExportState[]): Report {
  return { v: PROTOCOL_VERSION, cluster: 'east', session: 'session-1234', seq: 1, full: false, upserts, removals: [] };
}

const ctx: ReportContext = { ranges: ['10.16.0.0/16', 'fd00:16::/64'], exportedAt: () => undefined, now: '2026-12-01T10:00:00.000Z' };

describe('report checks (pure)', () => {
  const cases: [string, string[][], ReportContext, string[][], [EndpointRefusal, number][]][] = [
    ['keeps addresses inside the pod CIDRs', [['10.16.0.5'], ['fd00:16::5']], ctx, [['10.16.0.5'], ['fd00:16::5']], []],
    [
      'refuses loopback, unspecified, the metadata address, multicast, broadcast and IPv6 link-local',
      [['127.0.0.1'], ['0.0.0.0'], ['169.254.169.254'], ['224.0.0.5'], ['255.255.255.255'], ['::1'], ['fe80::1'], ['10.16.0.7']],
      ctx,
      [['10.16.0.7']],
      [[EndpointRefusal.Special, 7]],
    ],
    ['refuses addresses outside the cluster’s ranges', [['10.99.0.1'], ['10.16.0.1']], ctx, [['10.16.0.1']], [[EndpointRefusal.OutsideCluster, 1]]],
    [
      'widens the ranges only as declared (endpointCIDRs are part of `ranges`)',
      [['192.168.7.9']],
      { ...ctx, ranges: [...(ctx.ranges ?? []), '192.168.7.0/24'] },
      [['192.168.7.9']],
      [],
    ],
    ['refuses nothing for range while the cluster declares none', [['10.99.0.1']], { ...ctx, ranges: undefined }, [['10.99.0.1']], []],
    [
      '5,000 copies of one address become one endpoint',
      Array.from({ length: 5000 }, () => ['10.16.0.9']),
      ctx,
      [['10.16.0.9']],
      [[EndpointRefusal.Duplicate, 4999]],
    ],
    ['drops only the bad address of a dual-stack endpoint', [['10.16.0.3', 'fe80::3']], ctx, [['10.16.0.3']], [[EndpointRefusal.Special, 1]]],
  ];
  for (const [name, input, context, kept, refused] of cases) {
    it(name, () => {
      const checked = checkReport(report(exportOf('s', input)), context);
      assert.deepEqual(
        checked.report.upserts[0]?.endpoints.map((e) => e.addresses),
        kept,
      );
      assert.deepEqual([...checked.refused], refused);
    });
  }

  it('takes the export time from the hub: its first sight, never the report (a forged 1970 does not win a conflict)', () => {
    const fresh = checkReport(report(exportOf('new', [['10.16.0.1']], '1970-01-01T00:00:00Z')), ctx);
    assert.equal(fresh.report.upserts[0]?.exportedAt, '2026-12-01T10:00:00.000Z');
    const known = checkReport(report(exportOf('old', [['10.16.0.1']], '1970-01-01T00:00:00Z')), {
      ...ctx,
      exportedAt: (s) => (s === 'apps/old' ? '2026-11-01T08:00:00.000Z' : undefined),
    });
    assert.equal(known.report.upserts[0]?.exportedAt, '2026-11-01T08:00:00.000Z');
  });
});
