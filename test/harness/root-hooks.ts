// Mocha root hooks: stop every server the harness started, even when a suite failed midway; and
// never let a leaked handle hang the run (CI would time out with nothing to show): if something
// still holds the process 20 s after the last test, say what, and exit with mocha's own code.
import { cleanupAll } from './cleanup.ts';

const LINGER_MS = 20_000;

/**
 * CAUSEWAY_TRACE_HANDLES=1: after each test whose active handles (sockets, pipes, child processes,
 * timers) changed in number, print them with the test's title, to find the test that leaks one.
 */
const traceHandles = process.env.CAUSEWAY_TRACE_HANDLES === '1';
let lastHandles = '';

function handleCounts(): string {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([r, n]) => `${r}×${n}`)
    .join(' ');
}

export const mochaHooks = {
  afterEach(this: Mocha.Context): void {
    if (!traceHandles) return;
    const now = handleCounts();
    if (now !== lastHandles) process.stderr.write(`[handles] ${this.currentTest?.fullTitle() ?? '?'}: ${now}\n`);
    lastHandles = now;
  },
  async afterAll(): Promise<void> {
    await cleanupAll();
    setTimeout(() => {
      process.stderr.write(
        `\ntest run finished but the process was still held open after ${LINGER_MS / 1000} s by: ${process.getActiveResourcesInfo().join(', ')}\n`,
      );
      // No code given: mocha's exit listener sets process.exitCode from its failure count.
      process.exit();
    }, LINGER_MS).unref();
  },
};
