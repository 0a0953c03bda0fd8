// Mocha root hooks: stop every server the harness started, even when a suite failed midway; and
// never let a leaked handle hang the run (CI would time out with nothing to show): if something
// still holds the process 20 s after the last test, say what, and exit with mocha's own code.
import { cleanupAll } from './cleanup.ts';

const LINGER_MS = 20_000;

export const mochaHooks = {
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
