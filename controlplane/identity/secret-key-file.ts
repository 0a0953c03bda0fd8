// The file that holds the keys of the SecretBox, outside etcd: one base64 AES-256 key per line,
// the first encrypting, every one decrypting (so rotation is "add a line on top, restart, remove the
// old line"); blank lines and `#` comments are ignored. Created 0600 on a hub's first start.
import { readFileSync, writeFileSync } from 'node:fs';
import { InvalidInputError, type Problem } from '../api/errors.ts';
import { newSecretKey, SecretBox } from './secret-box.ts';

/** Under the data dir unless `causeway hub --secret-key-file` names another. */
export const SECRET_KEY_FILE = 'secrets.key';

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
const HOW_TO_MAKE = 'e.g. from `openssl rand -base64 32`';

/** Parses a key file's text; every problem names the file and line, never a key. */
export function parseSecretKeyFile(text: string, file: string): SecretBox {
  const problems: Problem[] = [];
  const keys: Buffer[] = [];
  const seen = new Map<string, number>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const field = `line ${i + 1}`;
    if (!BASE64_KEY.test(line)) {
      problems.push({ file, field, message: `expected 32 random bytes in base64 (44 characters, ${HOW_TO_MAKE}), got ${line.length} characters` });
      continue;
    }
    const first = seen.get(line);
    if (first !== undefined) {
      problems.push({ file, field, message: `repeats the key on line ${first}; remove one` });
      continue;
    }
    seen.set(line, i + 1);
    keys.push(Buffer.from(line, 'base64'));
  }
  if (problems.length === 0 && keys.length === 0) problems.push({ file, field: '', message: `holds no key; put one base64 key per line (${HOW_TO_MAKE})` });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return new SecretBox(keys, file);
}

export function readSecretKeyFile(file: string): SecretBox {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist: copy the key file of the hubs that share this etcd, or, for a new clusterset, create one (`openssl rand -base64 32 > FILE; chmod 600 FILE`)'
        : code === 'EACCES'
          ? 'is not readable by this user'
          : (err as Error).message;
    throw new InvalidInputError([{ file, field: '', message: `the hub's secret key file ${why}` }], { cause: err });
  }
  return parseSecretKeyFile(text, file);
}

/** Writes a fresh one-key file (0600, never over an existing file) and returns its box. */
export function createSecretKeyFile(file: string): SecretBox {
  const text = [
    '# Causeway hub secret keys (AES-256-GCM, base64): they encrypt the NATS identity and agent credentials in etcd.',
    '# The first key encrypts; every key decrypts. Back this file up apart from etcd; see docs/security.md to rotate.',
    newSecretKey(),
    '',
  ].join('\n');
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  return parseSecretKeyFile(text, file);
}
