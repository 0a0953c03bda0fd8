// Per-process resource readings from /proc (Linux): resident memory and CPU time, so that the
// hub, etcd, nats-server and each worker are measured on their own.
import { readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_S = 100;

export function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / CLOCK_TICKS_PER_S, total: total / CLOCK_TICKS_PER_S };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
}

/** CPU-use over an interval for a set of named processes. */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  private startedAt = 0;
  private machineStart = { busy: 0, total: 0 };
  private readonly pids: () => ReadonlyMap<string, number | undefined>;

  constructor(pids: () => ReadonlyMap<string, number | undefined>) {
    this.pids = pids;
  }

  begin(): void {
    this.start.clear();
    this.startedAt = performance.now();
    this.machineStart = machineCpu();
    for (const [name, pid] of this.pids()) {
      const s = cpuSeconds(pid);
      if (s !== undefined) this.start.set(name, s);
    }
  }

  /** Cores used on average since begin(), by process name. */
  end(): Record<string, number> {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of this.pids()) {
      const before = this.start.get(name);
      const after = cpuSeconds(pid);
      if (before !== undefined && after !== undefined && seconds > 0) out[name] = round((after - before) / seconds, 2);
    }
    // Whatever else ran on the machine meanwhile (other users' processes compete for the same cores).
    const m = machineCpu();
    const ours = Object.values(out).reduce((a, b) => a + b, 0);
    if (seconds > 0) out.other_processes = round(Math.max(0, (m.busy - this.machineStart.busy) / seconds - ours), 2);
    return out;
  }
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Bytes as megabytes (2^20), one decimal; unknown (a process gone) reads 0. */
export function mb(bytes: number | undefined): number {
  return round((bytes ?? 0) / 2 ** 20, 1);
}

/** Every value of a record rounded (the per-worker timings as reported). */
export function roundValues(values: Record<string, number>, digits = 1): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, round(v, digits)]));
}
