// How the report writes numbers and tables: one way to say "not measured", one table layout.

export const fmt = (n: number | undefined | null, digits = 0): string => {
  // NaN is written to JSON as null: "not measured".
  if (typeof n !== 'number' || Number.isNaN(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};

export function table(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  if (head === undefined) return '';
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export const cores = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${fmt(v, 2)}`)
    .join(', ');
export const rss = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
