// `causeway apply --wait`: after an apply, follow every cluster until it has applied the revision
// the apply wrote (GET .../convergence), one line per cluster — rewritten in place on a terminal,
// a new line per change of state otherwise (CI logs) — and give up at the timeout naming the
// clusters still behind.
import type { ClusterConvergenceView, ConvergenceView } from '../api/read-model.ts';
import type { HubClient } from './client.ts';
import { terminalSafe } from './common.ts';
import { table } from './print.ts';

const POLL_MS = 250;

export class WaitTimedOut extends Error {}

export interface WaitOptions {
  readonly revision: number;
  readonly timeoutMs: number;
  /** Where progress goes (stderr: stdout stays the apply's own output). */
  readonly write: (text: string) => void;
  /** Rewrite the lines in place (a terminal); otherwise print changes only. */
  readonly tty: boolean;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

function line(c: ClusterConvergenceView): string[] {
  const detail =
    c.state === 'applied'
      ? `applied revision ${c.applied ?? '?'}`
      : c.state === 'applying'
        ? `sent ${c.sent ?? '?'}, applied ${c.applied ?? '?'} (${c.behindBy ?? '?'} behind)`
        : c.state === 'sending'
          ? 'the hub has not sent it yet'
          : c.heardSecondsAgo === null
            ? 'agent not heard from'
            : `agent silent for ${c.heardSecondsAgo} s`;
  return [terminalSafe(c.cluster), c.state, detail];
}

function render(view: ConvergenceView): string[] {
  return table([['CLUSTER', 'STATE', 'DETAIL'], ...view.clusters.map(line)]).split('\n');
}

/** Resolves with the converged view; throws WaitTimedOut (after printing who is behind) at the timeout. */
export async function waitForConvergence(client: HubClient, o: WaitOptions): Promise<ConvergenceView> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  const started = now();
  let printed = 0;
  const states = new Map<string, string>();
  for (;;) {
    const view = await client.convergence(o.revision);
    if (o.tty) {
      const lines = render(view);
      // Back to the first line of the previous table, then over it.
      const up = printed > 0 ? `\u001b[${printed}A` : '';
      o.write(`${up}${lines.map((l) => `\u001b[2K${l}\n`).join('')}`);
      printed = lines.length;
    } else {
      for (const c of view.clusters) {
        if (states.get(c.cluster) === c.state) continue;
        states.set(c.cluster, c.state);
        o.write(`${line(c).join('  ')}\n`);
      }
    }
    if (view.converged) {
      o.write(
        `revision ${o.revision} applied in ${view.clusters.length} cluster${view.clusters.length === 1 ? '' : 's'} after ${((now() - started) / 1000).toFixed(1)} s\n`,
      );
      return view;
    }
    if (now() >= deadline) {
      const behind = view.clusters.filter((c) => c.state !== 'applied').map((c) => `${terminalSafe(c.cluster)} (${c.state})`);
      throw new WaitTimedOut(`timed out after ${o.timeoutMs / 1000} s waiting for revision ${o.revision}; still behind: ${behind.join(', ')}`);
    }
    await sleep(POLL_MS);
  }
}

/** "30s", "2m", "1h" or "90" (seconds) → milliseconds. */
export function waitTimeout(v: string): number {
  const m = /^([0-9]+)(ms|s|m|h)?$/.exec(v);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = m === null ? NaN : Number(m[1]) * unit[(m[2] ?? 's') as keyof typeof unit];
  if (!(ms > 0)) throw new Error(`--timeout: expected a duration such as 30s, 2m or 1h (got "${v}")`);
  return ms;
}
