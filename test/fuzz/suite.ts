// Declares one mocha test per fuzz property, with the case count of `npm test`: the property must
// hold, and the run must have produced the outcomes its generator is there to produce.
import assert from 'node:assert/strict';
import { runProperty, summaryLine, type FuzzProperty } from './property.ts';

/**
 * `npm test` (and so CI) explores the same cases every run: a new input that breaks a property is
 * `npm run fuzz`'s to find, with a fresh seed, not a coin toss that turns a submission red.
 * FUZZ_SEED still replays any run.
 */
export const SUITE_SEED = 20261201;

export function describeProperties(properties: readonly FuzzProperty[]): void {
  for (const p of properties) {
    it(`${p.name} (${p.runs} cases)`, async () => {
      const r = await runProperty(p, p.runs, process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : SUITE_SEED);
      assert.equal(r.failure, undefined, `${summaryLine(r)}\n${r.failure ?? ''}`);
      for (const o of p.mustSee) assert.ok(r.outcomes[o] > 0, `no case was ${o}: the generator is not doing its job (${summaryLine(r)})`);
    });
  }
}
