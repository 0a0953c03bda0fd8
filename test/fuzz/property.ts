// The shape every fuzz property shares, and the one function that runs it, so that `npm test`
// (few cases) and `npm run fuzz` (many) run the same properties and count the same outcomes.
//
// A check returns what the system did with a case ('accepted' or 'refused') and throws when an
// invariant broke: a CrashError when the code under test threw, a ServerError on a 5xx, an
// InvalidWriteError when a refused request changed the registry, any other error (an assertion)
// when a result was wrong. fast-check stops at the first failure and shrinks it to a minimal
// counterexample; the outcome counts are those of the cases run before shrinking.
import fc from 'fast-check';

export const Outcome = {
  accepted: 'accepted',
  refused: 'refused',
  crash: 'crash',
  serverError: '5xx',
  invalidWrite: 'invalid-write',
  violation: 'violation',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** The code under test threw instead of returning problems or a decode failure. */
export class CrashError extends Error {
  override readonly name = 'CrashError';
}
/** The hub answered 5xx, or did not answer (connection refused, /healthz down). */
export class ServerError extends Error {
  override readonly name = 'ServerError';
}
/** A refused (or dry-run, or read-only) request changed the registry. */
export class InvalidWriteError extends Error {
  override readonly name = 'InvalidWriteError';
}

/** Runs product code; anything it throws becomes a CrashError naming what was called. */
export function noThrow<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CrashError(`${what} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, { cause: err });
  }
}

export type Tier = 'pure' | 'http';

export interface FuzzProperty {
  readonly name: string;
  readonly tier: Tier;
  /** Cases per run in `npm test`. */
  readonly runs: number;
  /** This property's share of `npm run fuzz`'s total, relative to the others of its tier. */
  readonly weight: number;
  /** Outcomes a healthy generator must produce in a run (so that a property cannot pass vacuously). */
  readonly mustSee: readonly Outcome[];
  readonly arbitrary: fc.Arbitrary<unknown>;
  check(value: unknown): Outcome | Promise<Outcome>;
}

/** Declares a property with its value type checked, then erased so that properties fit one list. */
export function property<T>(
  p: Omit<FuzzProperty, 'arbitrary' | 'check'> & { arbitrary: fc.Arbitrary<T>; check(value: T): Outcome | Promise<Outcome> },
): FuzzProperty {
  return p;
}

export interface PropertyResult {
  readonly name: string;
  readonly tier: Tier;
  readonly cases: number;
  readonly outcomes: Readonly<Record<Outcome, number>>;
  readonly ms: number;
  /** fast-check's report of the shrunk counterexample, with its seed and path to replay it. */
  readonly failure?: string;
}

function classify(err: unknown): Outcome {
  if (err instanceof CrashError) return Outcome.crash;
  if (err instanceof ServerError) return Outcome.serverError;
  if (err instanceof InvalidWriteError) return Outcome.invalidWrite;
  return Outcome.violation;
}

function emptyOutcomes(): Record<Outcome, number> {
  return { accepted: 0, refused: 0, crash: 0, '5xx': 0, 'invalid-write': 0, violation: 0 };
}

/** Runs `p` for `numRuns` cases; `seed` fixes them (default: FUZZ_SEED, else a fresh one). */
export async function runProperty(p: FuzzProperty, numRuns: number, seed?: number): Promise<PropertyResult> {
  // Mocha sets an unlimited stack trace depth, which makes every stack overflow that the YAML
  // parser catches (deep nesting) capture 10,000 frames: 3-4 times slower than in the hub.
  const traceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 10;
  try {
    return await runChecked(p, numRuns, seed ?? (process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined));
  } finally {
    Error.stackTraceLimit = traceLimit;
  }
}

async function runChecked(p: FuzzProperty, numRuns: number, seed: number | undefined): Promise<PropertyResult> {
  const seen: Outcome[] = [];
  const attempt = async (v: unknown): Promise<void> => {
    try {
      seen.push(await p.check(v));
    } catch (err) {
      seen.push(classify(err));
      throw err;
    }
  };
  const attemptSync = (v: unknown): void => {
    try {
      seen.push(p.check(v) as Outcome);
    } catch (err) {
      seen.push(classify(err));
      throw err;
    }
  };
  const params = { numRuns, ...(seed !== undefined ? { seed } : {}) };
  const started = performance.now();
  const details = p.tier === 'pure' ? fc.check(fc.property(p.arbitrary, attemptSync), params) : await fc.check(fc.asyncProperty(p.arbitrary, attempt), params);
  const ms = performance.now() - started;
  // Executions after the first failure are fast-check's shrinking, not new cases.
  const cases = details.failed ? details.numRuns : seen.length;
  const outcomes = emptyOutcomes();
  for (const o of seen.slice(0, cases)) outcomes[o] += 1;
  const failure = details.failed ? fc.defaultReportMessage(details) : undefined;
  return { name: p.name, tier: p.tier, cases, outcomes, ms, ...(failure !== undefined ? { failure } : {}) };
}

/** One summary line per property, as `npm run fuzz` prints it. */
export function summaryLine(r: PropertyResult): string {
  const o = r.outcomes;
  const status = r.failure === undefined ? 'ok  ' : 'FAIL';
  return `${status} ${r.tier.padEnd(4)} ${r.name.padEnd(64)} ${String(r.cases).padStart(7)} cases  accepted ${o.accepted}  refused ${o.refused}  crashes ${o.crash}  5xx ${o['5xx']}  invalid writes ${o['invalid-write']}  violations ${o.violation}  ${(r.ms / 1000).toFixed(1)} s`;
}
