// The chaos runner's table: one row per fault with what was measured, and under it the notes and
// every invariant that failed. The same rows as markdown for docs/reliability.md.
import { RECOVERY_BOUND_MS, RESTORE_BOUND_MS, WITHDRAW_BOUND_MS, type FaultResult } from './faults.ts';

const HEADERS = [
  'fault',
  'topology',
  `recovered (≤ ${RECOVERY_BOUND_MS / 1000} s)`,
  'withdrawn endpoints',
  'lost writes',
  'half-done applies',
  'applies ok/sent',
  'longest sample gap',
  'verdict',
];

function seconds(ms: number | undefined): string {
  return ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`;
}

function withdrawnCell(r: FaultResult): string {
  const wrong = r.withdrawn === 0 ? '0' : `${r.withdrawn} (${r.withdrawnSeconds.toFixed(1)} endpoint·s)`;
  if (r.fault !== 'agent-partition') return wrong;
  return `${wrong}; stale gone ${seconds(r.withdrawnMs)} (≤ ${WITHDRAW_BOUND_MS / 1000} s), back ${seconds(r.restoredMs)} (≤ ${RESTORE_BOUND_MS / 1000} s)`;
}

function row(r: FaultResult): string[] {
  return [
    r.fault,
    r.topology,
    seconds(r.recoveryMs),
    withdrawnCell(r),
    r.writesUnchecked ? `${r.lostWrites}+? (unchecked)` : String(r.lostWrites),
    String(r.halfDone),
    `${r.appliesAcknowledged}/${r.appliesAttempted}`,
    `${r.maxSampleGapMs} ms`,
    r.pass ? 'pass' : 'FAIL',
  ];
}

export function textTable(results: readonly FaultResult[]): string {
  const rows = [HEADERS, ...results.map(row)];
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...results.map((r) => line(row(r)))];
  for (const r of results) {
    for (const n of r.notes) out.push(`  ${r.fault}: ${n}`);
    for (const p of r.problems) out.push(`  ${r.fault}: FAIL: ${p}`);
  }
  return out.join('\n');
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function markdownReport(runs: readonly (readonly FaultResult[])[], stats: readonly (readonly string[])[], minutes: string): string {
  const out: string[] = [];
  for (const [i, results] of runs.entries()) {
    out.push(`Run ${i + 1} of ${runs.length}:`, '', `| ${HEADERS.join(' | ')} |`, `| ${HEADERS.map(() => '---').join(' | ')} |`);
    for (const r of results) out.push(`| ${row(r).map(cell).join(' | ')} |`);
    const notes = results.flatMap((r) => [...r.notes.map((n) => `- ${r.fault}: ${n}`), ...r.problems.map((p) => `- ${r.fault}: **FAIL**: ${p}`)]);
    if (notes.length > 0) out.push('', ...notes);
    for (const l of stats[i] ?? []) out.push(`- ${l.trim()}`);
    out.push('');
  }
  out.push(`${runs.length} run(s), ${minutes} min in all.`, '');
  return out.join('\n');
}
