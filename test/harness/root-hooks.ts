// Mocha root hooks: stop every server the harness started, even when a suite failed midway.
import { cleanupAll } from './cleanup.ts';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await cleanupAll();
  },
};
