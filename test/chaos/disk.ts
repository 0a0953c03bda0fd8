// etcd's disk for the "full disk" fault: a tmpfs of a fixed size mounted (as root) on the folder
// etcd keeps its data in, filled with one file until the kernel answers ENOSPC, then freed. The
// runner unmounts it at the end whatever happened, and on its process's exit as a last resort.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
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

  /** Writes one file until the disk is full; returns the bytes it took. Asynchronous: the runner's samplers go on meanwhile. */
  async fill(): Promise<number> {
    const file = await open(this.fillFile, 'a');
    let written = 0;
    try {
      // Down to single pages: the last bytes free are taken too.
      for (let size = 4 * 1024 * 1024; size >= 4096; size /= 4) {
        const chunk = Buffer.alloc(size, 0x5a);
        for (;;) {
          try {
            const { bytesWritten } = await file.write(chunk);
            written += bytesWritten;
            if (bytesWritten < chunk.length) break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
      }
    } finally {
      await file.close();
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
