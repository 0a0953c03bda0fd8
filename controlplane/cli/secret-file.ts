// Files that hold secrets (agent credentials): mode 0600 whether the file is new or already there,
// and never through a symbolic link (a link planted at the path would send the seed elsewhere).
import { closeSync, constants, fchmodSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { InvalidInputError } from '../api/errors.ts';

/**
 * Opens `path` for a secret before the secret exists (so that a path that cannot be written is
 * refused before, say, a credential is rotated), and returns the function that writes it.
 */
export function openSecretFile(path: string, flag: string): (text: string) => void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ELOOP' ? `${path} is a symbolic link; refusing to write a secret through it` : `cannot write ${path} (${code ?? 'error'})`;
    throw new InvalidInputError([{ field: flag, message, value: path }], { cause: err });
  }
  // An existing file keeps its mode on open: make it 0600 before anything secret is in it.
  fchmodSync(fd, 0o600);
  return (text) => {
    try {
      ftruncateSync(fd, 0);
      const data = Buffer.from(text);
      let offset = 0;
      while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset, offset);
    } finally {
      closeSync(fd);
    }
  };
}
