// `npm run fuzz`: every fuzz property of `npm test`, with many more cases, and one summary line
// per property, then totals. FUZZ_RUNS is the total number of cases (default 100,000), of which
// FUZZ_HTTP_RUNS (default a tenth) go to the HTTP tier against a real hub, etcd and nats-server;
// each tier's share is split among its properties by weight. FUZZ_SEED replays a run. Exits 1 on
// any failure and prints fast-check's report of each shrunk counterexample.
import { cleanupAll } from '../harness/cleanup.ts';
import { startFuzzHub, type FuzzHub } from './hub.ts';
import { DOCUMENT_PROPERTIES } from './properties/documents.ts';
import { httpProperties, type HubUnderTest } from './properties/http.ts';
import { MESSAGE_PROPERTIES } from './properties/messages.ts';
import { runProperty, summaryLine, type FuzzProperty, type PropertyResult } from './property.ts';

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return n;
}

/** `total` cases split by weight, each property getting at least its `npm test` count's tenth. */
function shares(properties: readonly FuzzProperty[], total: number): number[] {
  const weights = properties.reduce((s, p) => s + p.weight, 0);
  return properties.map((p) => Math.max(Math.ceil(p.runs / 10), Math.round((total * p.weight) / weights)));
}

// An exception the hub does not catch would end this process: count it as a crash instead.
let uncaught = 0;
const onUncaught = (err: unknown): void => {
  uncaught += 1;
  console.error(`uncaught in the hub process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
};
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUncaught);

const total = positive('FUZZ_RUNS', 100_000);
const httpTotal = positive('FUZZ_HTTP_RUNS', Math.round(total / 10));
const started = performance.now();
const results: PropertyResult[] = [];
let hub: FuzzHub | undefined;
try {
  const pure = [...DOCUMENT_PROPERTIES, ...MESSAGE_PROPERTIES];
  const pureRuns = shares(pure, total - httpTotal);
  for (const [i, p] of pure.entries()) {
    const r = await runProperty(p, pureRuns[i] ?? p.runs);
    results.push(r);
    console.log(summaryLine(r));
  }
  if (httpTotal > 0) {
    hub = await startFuzzHub();
    const running = hub;
    const http = httpProperties((): HubUnderTest => running.target);
    const httpRuns = shares(http, httpTotal);
    for (const [i, p] of http.entries()) {
      const r = await runProperty(p, httpRuns[i] ?? p.runs);
      results.push(r);
      console.log(summaryLine(r));
    }
  }
} finally {
  await hub?.stop();
  await cleanupAll();
}

const sum = (f: (r: PropertyResult) => number): number => results.reduce((s, r) => s + f(r), 0);
const failed = results.filter((r) => r.failure !== undefined);
for (const r of failed) console.log(`\n---- ${r.name}\n${(r.failure ?? '').slice(0, 6000)}`);
const crashes = sum((r) => r.outcomes.crash) + uncaught;
console.log(
  `\nTOTAL ${sum((r) => r.cases)} cases (${sum((r) => (r.tier === 'pure' ? r.cases : 0))} pure, ${sum((r) => (r.tier === 'http' ? r.cases : 0))} http) in ${((performance.now() - started) / 1000).toFixed(0)} s: ` +
    `crashes ${crashes}, 5xx ${sum((r) => r.outcomes['5xx'])}, invalid writes ${sum((r) => r.outcomes['invalid-write'])}, ` +
    `violations ${sum((r) => r.outcomes.violation)}; accepted ${sum((r) => r.outcomes.accepted)}, refused ${sum((r) => r.outcomes.refused)}; ` +
    `${failed.length} of ${results.length} properties failed`,
);
process.off('uncaughtException', onUncaught);
process.off('unhandledRejection', onUncaught);
process.exitCode = failed.length > 0 || uncaught > 0 ? 1 : 0;
