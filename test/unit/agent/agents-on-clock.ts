// The real Agent as the agent's unit tests start it: on a ManualClock that is fresh for every test,
// with no sync jitter, short fixed retries, no drift check and a fixed random(), so that nothing
// runs until the test moves time; every agent a test started is stopped after it.
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { Agent, type AgentOptions } from '../../../cluster-agent/agent.ts';
import type { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import type { HubTransport } from '../../../cluster-agent/ports.ts';
import { CLUSTER } from './fake-hub.ts';

export interface AgentsOnClock {
  /** This test's clock. */
  readonly clock: ManualClock;
  /** Starts an agent (not awaited) with the describe's options, then `extra`. */
  start(kube: MemoryCluster, hub: HubTransport, extra?: Partial<AgentOptions>): Agent;
}

/** Call in a describe: its hooks give each test a new clock and stop the test's agents. */
export function agentsOnClock(defaults: Partial<AgentOptions> = {}): AgentsOnClock {
  let agents: Agent[] = [];
  let clock = new ManualClock(0);
  beforeEach(() => {
    clock = new ManualClock(0);
  });
  afterEach(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    agents = [];
  });
  return {
    get clock() {
      return clock;
    },
    start(kube, hub, extra = {}) {
      const agent = new Agent(kube, hub, {
        cluster: CLUSTER,
        resyncJitterMs: 0,
        retryBaseMs: 20,
        retryMaxMs: 160,
        driftCheckIntervalMs: 0,
        random: () => 0.5,
        clock,
        ...defaults,
        ...extra,
      });
      agents.push(agent);
      void agent.start();
      return agent;
    },
  };
}
