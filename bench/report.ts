// Writes a run's results: the JSON of the run (bench-results/), the latest at docs/benchmarks.json,
// docs/benchmarks.md (markdown.ts, with the analysis kept in bench/analysis.md) and
// docs/benchmarks.svg (chart.ts).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { svg } from './chart.ts';
import { markdown } from './markdown.ts';
import type { BenchResult } from './result.ts';

export function writeReports(r: BenchResult, root: string, runFile: string): string {
  mkdirSync(dirname(runFile), { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  writeFileSync(runFile, json);
  const docs = join(root, 'docs');
  writeFileSync(join(docs, 'benchmarks.json'), json);
  const analysisFile = join(root, 'bench', 'analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
  writeFileSync(join(docs, 'benchmarks.md'), `${markdown(r, analysis)}\n`);
  writeFileSync(join(docs, 'benchmarks.svg'), svg(r.propagation));
  return runFile;
}
