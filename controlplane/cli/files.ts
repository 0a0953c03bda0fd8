// Reads manifests for apply and diff: files, directories (sorted, *.yaml|*.yml|*.json, recursive
// with -R) and `-` for stdin; every problem in every file is reported together.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, type Problem } from '../api/errors.ts';
import { parseYamlDocuments, validateDocuments, type RawDocument } from '../api/validate.ts';

const MANIFEST = /\.(ya?ml|json)$/i;

export function manifestFiles(paths: readonly string[], recursive: boolean): string[] {
  const out: string[] = [];
  const problems: Problem[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, entry.name);
      if (entry.isDirectory() && recursive) walk(full, depth + 1);
      else if (entry.isFile() && MANIFEST.test(entry.name)) out.push(full);
    }
  };
  for (const p of paths) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      problems.push({ file: p, field: '', message: 'no such file or directory' });
      continue;
    }
    if (isDir) {
      const before = out.length;
      walk(p, 0);
      if (out.length === before)
        problems.push({ file: p, field: '', message: `no *.yaml, *.yml or *.json files in this directory${recursive ? '' : ' (use -R for subdirectories)'}` });
    } else out.push(p);
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  return out;
}

/**
 * Parses and validates every document locally, so mistakes are reported before any network call.
 * `-` stands for `stdin`, which the caller has read (asynchronously: a pipe may be slow to write).
 */
export function readManifests(paths: readonly string[], recursive: boolean, stdin = ''): RawDocument[] {
  const docs: RawDocument[] = [];
  const problems: Problem[] = [];
  for (const file of manifestFiles(paths, recursive)) {
    const text = file === '-' ? stdin : readFileSync(file, 'utf8');
    const parsed = parseYamlDocuments(text, file === '-' ? '<stdin>' : file);
    if (parsed.ok) docs.push(...parsed.value);
    else problems.push(...parsed.problems);
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  if (docs.length === 0) throw new InvalidInputError([{ file: paths.join(', '), field: '', message: 'no documents found' }]);
  const valid = validateDocuments(docs);
  if (!valid.ok) throw new InvalidInputError(valid.problems);
  return docs;
}
