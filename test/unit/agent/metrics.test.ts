// The agent's Prometheus registry (cluster-agent/metrics-server.ts) rendered without a socket,
// and the parsing of the `metricsListen` address. The served endpoint is scraped in
// test/integration/agent-exchange.test.ts.
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../../controlplane/api/errors.ts';
import { agentRegistry, parseListen } from '../../../cluster-agent/metrics-server.ts';
import { newMetrics } from '../../../cluster-agent/telemetry.ts';

describe('agent metrics: registry and listen address', () => {
  it('renders every AgentMetrics counter, the revisions and the failing services, labelled with the cluster', async () => {
    const metrics = newMetrics();
    metrics.objectsApplied = 7;
    metrics.applyErrors = 2;
    const failing = new Map([['apps/bad', 'refused']]);
    const registry = agentRegistry({ metrics, appliedRevision: () => 41, stateRevision: () => 42, failingServices: () => failing }, 'east');
    const text = await registry.metrics();
    assert.match(text, /^causeway_agent_objects_applied_total\{cluster="east"\} 7$/m);
    assert.match(text, /^causeway_agent_apply_errors_total\{cluster="east"\} 2$/m);
    assert.match(text, /^causeway_agent_applied_revision\{cluster="east"\} 41$/m);
    assert.match(text, /^causeway_agent_state_revision\{cluster="east"\} 42$/m);
    assert.match(text, /^causeway_agent_failing_services\{cluster="east"\} 1$/m);
    assert.match(text, /^# TYPE causeway_agent_reports_sent_total counter$/m);
    for (const key of Object.keys(metrics)) {
      const name = `causeway_agent_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`;
      assert.ok(text.includes(`\n${name}{`), `${name} is exposed`);
    }
    metrics.objectsApplied = 9;
    assert.match(await registry.metrics(), /^causeway_agent_objects_applied_total\{cluster="east"\} 9$/m, 'read at scrape time');
  });

  const good: [string, string, number][] = [
    ['127.0.0.1:9464', '127.0.0.1', 9464],
    [':9464', '0.0.0.0', 9464],
    ['[::1]:0', '::1', 0],
    ['localhost:80', 'localhost', 80],
  ];
  for (const [value, host, port] of good) {
    it(`parses ${JSON.stringify(value)}`, () => {
      assert.deepEqual(parseListen(value), { host, port });
    });
  }
  for (const value of ['9464', '127.0.0.1', '127.0.0.1:99999', '::1:9464', 'a:b', '']) {
    it(`refuses ${JSON.stringify(value)}, saying what is expected`, () => {
      assert.throws(
        () => parseListen(value, '--metrics-listen'),
        (err: unknown) => err instanceof InvalidInputError && /HOST:PORT/.test(err.message),
      );
    });
  }
});
