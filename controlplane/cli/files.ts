// Reads manifests for apply and diff: files, directories (sorted, *.yaml|*.yml|*.json, recursive
// with -R, symbolic links followed, loops refused) and `-` for stdin; every problem in every file
// is reported together, parse errors in one file beside the validation errors of the others.
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, type Problem } from '../api/errors.ts';
import { parseYamlDocuments, validateDocuments, type RawDocument } from '../api/validate.ts';

const MANIFEST = /\.(ya?ml|json)$/i;

/** Far above any apply the hub takes (1 MiB per request), and small enough to parse at once. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** What stat says of a path, or the problem to report about it (following links). */
function statOf(path: string): Stats | Problem {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'no such file or directory'
        : code === 'ELOOP'
          ? 'a loop of symbolic links'
          : code === 'EACCES'
            ? 'permission denied'
            : `cannot read (${code ?? 'error'})`;
    return { file: path, field: '', message };
  }
}

export function manifestFiles(paths: readonly string[], recursive: boolean): string[] {
  const out: string[] = [];
  const problems: Problem[] = [];
  // Directories already walked, by real path: a link back up the tree is walked once.
  const walked = new Set<string>();
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (walked.has(real)) {
      problems.push({ file: dir, field: '', message: `a symbolic link back to ${real}, already read; skipped` });
      return;
    }
    walked.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, entry.name);
      const stat = entry.isSymbolicLink() ? statOf(full) : entry;
      if ('message' in stat) problems.push(stat);
      else if (stat.isDirectory() && recursive) walk(full);
      else if (stat.isFile() && MANIFEST.test(entry.name)) out.push(full);
    }
  };
  for (const p of paths) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    const stat = statOf(p);
    if ('message' in stat) {
      problems.push(stat);
    } else if (stat.isDirectory()) {
      const before = out.length;
      walk(p);
      if (out.length === before)
        problems.push({ file: p, field: '', message: `no *.yaml, *.yml or *.json files in this directory${recursive ? '' : ' (use -R for subdirectories)'}` });
    } else out.push(p);
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  return out;
}

function readManifest(file: string): string | Problem {
  const size = statSync(file).size;
  if (size > MAX_MANIFEST_BYTES) {
    return {
      file,
      field: '',
      message: `${(size / 1024 / 1024).toFixed(1)} MiB is more than the ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB a manifest may be; split it (the hub takes at most 1 MiB per apply)`,
    };
  }
  return readFileSync(file, 'utf8');
}

/**
 * Parses and validates every document locally, so mistakes are reported before any network call.
 * `-` stands for `stdin`, which the caller has read (asynchronously: a pipe may be slow to write).
 */
export function readManifests(paths: readonly string[], recursive: boolean, stdin = ''): RawDocument[] {
  const docs: RawDocument[] = [];
  const problems: Problem[] = [];
  for (const file of manifestFiles(paths, recursive)) {
    const text = file === '-' ? stdin : readManifest(file);
    if (typeof text !== 'string') {
      problems.push(text);
      continue;
    }
    const parsed = parseYamlDocuments(text, file === '-' ? '<stdin>' : file);
    if (parsed.ok) docs.push(...parsed.value);
    else problems.push(...parsed.problems);
  }
  if (docs.length === 0 && problems.length === 0) throw new InvalidInputError([{ file: paths.join(', '), field: '', message: 'no documents found' }]);
  // The documents that parsed are validated too: one broken file does not hide the others' mistakes.
  const valid = validateDocuments(docs);
  if (!valid.ok) problems.push(...valid.problems);
  if (problems.length > 0) throw new InvalidInputError(problems);
  return docs;
}
