// etcd's disk for the "full disk" fault: a tmpfs of a fixed size mounted (as root) on the folder
// etcd keeps its data in, filled with one file until the kernel answers ENOSPC, then freed. The
// runner unmounts it at the end whatever happened, and on its process's exit as a last resort.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class TmpfsDisk {
  readonly dir: string;
  private readonly fillFile: string;
  private mounted = false;
  private readonly onExit = (): void => {
    this.unmountNow();
  };

  private constructor(dir: string) {
    this.dir = dir;
    this.fillFile = join(dir, 'chaos-fill');
  }

  static mount(dir: string, sizeMiB: number): TmpfsDisk {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir]);
    const disk = new TmpfsDisk(dir);
    disk.mounted = true;
    process.once('exit', disk.onExit);
    return disk;
  }

  /** Bytes free now. */
  free(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes one file until the disk is full; returns the bytes it took. */
  fill(): number {
    const fd = openSync(this.fillFile, 'a');
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    let written = 0;
    try {
      for (;;) {
        let n: number;
        try {
          n = writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
        written += n;
        if (n < chunk.length) {
          // The last partial chunk: what is left is smaller than 1 MiB; take it byte-wise.
          const small = Buffer.alloc(4096, 0x5a);
          for (;;) {
            try {
              const m = writeSync(fd, small);
              written += m;
              if (m === 0) break;
            } catch {
              break;
            }
          }
          break;
        }
      }
    } finally {
      closeSync(fd);
    }
    return written;
  }

  /** Removes the fill file: the space is back at once. */
  release(): void {
    rmSync(this.fillFile, { force: true });
  }

  unmount(): void {
    this.unmountNow();
    process.removeListener('exit', this.onExit);
  }

  private unmountNow(): void {
    if (!this.mounted) return;
    this.mounted = false;
    try {
      execFileSync('umount', [this.dir]);
    } catch {
      // Busy (a process still holds a file there): detach it now, the kernel frees it when released.
      try {
        execFileSync('umount', ['-l', this.dir]);
      } catch {
        // Not mounted any more.
      }
    }
  }
}
