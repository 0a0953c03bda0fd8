// docs/benchmarks.svg: propagation p50 and p99 against cluster count, both on log scales, with
// the goals as dashed lines. Hand-written SVG, so the chart needs no library and no browser.
import type { PropagationRow } from './result.ts';

/** Propagation p50 and p99 (log scale) against cluster count (log scale), with the goals. */
export function svg(rows: readonly PropagationRow[]): string {
  const W = 640;
  const H = 400;
  const left = 70;
  const right = 150;
  const top = 40;
  const bottom = 60;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xs = rows.map((r) => r.clusters);
  const values = rows.flatMap((r) => [r.p50_ms, r.p99_ms]).filter((v) => Number.isFinite(v) && v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(1, ...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(1000, ...values)));
  const xMin = 10 ** Math.floor(Math.log10(Math.min(10, ...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(1000, ...xs)));
  const x = (v: number): number => left + ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw;
  const y = (v: number): number => top + ph - ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(
    `<text x="${left}" y="22" font-size="14" font-weight="bold">Propagation latency against cluster count (${rows.map((r) => `${r.changes_per_s}`).join('/')} changes/s)</text>`,
  );
  for (let v = xMin; v <= xMax; v *= 10) {
    out.push(`<line x1="${x(v)}" y1="${top}" x2="${x(v)}" y2="${top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x(v)}" y="${top + ph + 18}" text-anchor="middle">${v.toLocaleString('en-US')}</text>`);
  }
  for (let v = yMin; v <= yMax; v *= 10) {
    out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + pw}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toLocaleString('en-US')}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 18}" text-anchor="middle">clusters (log scale)</text>`);
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">milliseconds (log scale)</text>`);
  const goal = (v: number, label: string, colour: string): void => {
    out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + pw}" y2="${y(v)}" stroke="${colour}" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + pw + 6}" y="${y(v) + 4}" fill="${colour}">${label}</text>`);
  };
  goal(100, 'p50 goal 100 ms', '#1f77b4');
  goal(500, 'p99 goal 500 ms', '#d62728');
  const series = (key: 'p50_ms' | 'p99_ms', colour: string, label: string, dy: number): void => {
    const pts = rows.filter((r) => Number.isFinite(r[key])).map((r) => `${x(r.clusters).toFixed(1)},${y(r[key]).toFixed(1)}`);
    if (pts.length > 1) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const r of rows) {
      if (!Number.isFinite(r[key])) continue;
      out.push(`<circle cx="${x(r.clusters).toFixed(1)}" cy="${y(r[key]).toFixed(1)}" r="4" fill="${colour}"/>`);
      out.push(
        `<text x="${(x(r.clusters) + 6).toFixed(1)}" y="${(y(r[key]) + dy).toFixed(1)}" fill="${colour}">${r[key].toLocaleString('en-US', { maximumFractionDigits: 0 })}</text>`,
      );
    }
    out.push(`<text x="${left + pw + 6}" y="${top + (key === 'p50_ms' ? 12 : 28)}" fill="${colour}" font-weight="bold">${label}</text>`);
  };
  series('p50_ms', '#1f77b4', 'p50', 14);
  series('p99_ms', '#d62728', 'p99', -6);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
