// The per-Network provider controller on the kernel, with a fake adapter and an in-memory status
// store and a manual clock: it reconciles AWS Networks only, writes the adapter's conditions into
// the Network's status (keeping what else is there), backs off and retries while the provider is
// unavailable, and looks again for drift when the adapter asks.
import assert from 'node:assert/strict';
import type { Condition } from '../../../controlplane/api/conditions.ts';
import type { ObjectRef } from '../../../controlplane/api/keys.ts';
import type { NetworkResource, Resource } from '../../../controlplane/api/resources.ts';
import { NetworkController } from '../../../controlplane/hub/controllers/network-controller.ts';
import type { DomainAdapter } from '../../../controlplane/hub/providers.ts';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import type { DomainReconcileResult } from '../../../providers/model/reconcile.ts';
import { awsNetwork, gcpNetwork, onpremNetwork } from '../../fixtures/providers/journey3.ts';
import { waitFor } from '../../harness/wait.ts';

const degraded = (status: 'True' | 'False', reason: string, message: string): Condition => ({
  type: 'Degraded',
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00.000Z',
});

function result(domain: string, over: Partial<DomainReconcileResult>): DomainReconcileResult {
  return {
    domain,
    dryRun: false,
    changes: [],
    unchanged: { routes: 0, rules: 0 },
    drift: 0,
    problems: [],
    conditions: [degraded('False', 'Reconciled', 'ok')],
    calls: 1,
    mutatingCalls: 0,
    retry: false,
    requeueAfterMs: 60_000,
    ...over,
  };
}

/** Answers each domain from a queue of results (the last one repeats), counting calls. */
class FakeAdapter implements DomainAdapter {
  readonly calls: string[] = [];
  readonly answers = new Map<string, DomainReconcileResult[]>();

  reconcile(domain: string): Promise<DomainReconcileResult> {
    this.calls.push(domain);
    const queue = this.answers.get(domain) ?? [];
    const next = queue.length > 1 ? queue.shift() : queue[0];
    return Promise.resolve(next ?? result(domain, {}));
  }
}

describe('NetworkController (fake adapter, manual clock)', () => {
  let networks: Map<string, NetworkResource>;
  let adapter: FakeAdapter;
  let clock: ManualClock;
  let controller: NetworkController;
  let term: AbortController;
  let leading: Promise<void>;

  const status = (name: string): Resource['status'] => networks.get(name)?.status;
  const registry = {
    updateStatus: (ref: ObjectRef, mutate: (current: Resource) => Resource['status'] | undefined): Promise<Resource | undefined> => {
      const current = networks.get(ref.name);
      if (current === undefined) return Promise.resolve(undefined);
      const next = mutate(current);
      if (next !== undefined) networks.set(ref.name, { ...current, status: next });
      return Promise.resolve(networks.get(ref.name));
    },
  };

  beforeEach(() => {
    const aws = awsNetwork();
    networks = new Map<string, NetworkResource>([
      [aws.metadata.name, { ...aws, status: { conditions: [degraded('True', 'Other', 'kept')].map((c) => ({ ...c, type: 'PeeringUp' })), note: 'kept' } }],
      ['gcp-train-vpc', gcpNetwork()],
      ['onprem-fra', onpremNetwork()],
    ]);
    adapter = new FakeAdapter();
    clock = new ManualClock(0);
    controller = new NetworkController({
      networks: () => [...networks.values()],
      adapter: () => Promise.resolve(adapter),
      reconciles: (provider) => provider === 'aws',
      registry,
      warn: () => undefined,
      clock,
    });
    term = new AbortController();
  });
  afterEach(async () => {
    term.abort();
    await leading;
  });

  it('reconciles the Networks of the providers it has adapters for only, and writes the Degraded condition beside the status already there', async () => {
    leading = controller.lead(term.signal);
    await waitFor('aws-train-vpc reconciled', () => status('aws-train-vpc')?.conditions?.some((c) => c.type === 'Degraded'));
    assert.deepEqual(adapter.calls, ['aws-train-vpc']);
    assert.deepEqual(status('aws-train-vpc'), {
      conditions: [{ ...degraded('True', 'Other', 'kept'), type: 'PeeringUp' }, degraded('False', 'Reconciled', 'ok')],
      note: 'kept',
    });
    assert.equal(status('gcp-train-vpc'), undefined);
  });

  it('backs off while the provider is unavailable, then records the recovery; and looks again after the drift interval', async () => {
    adapter.answers.set('aws-train-vpc', [
      result('aws-train-vpc', { retry: true, conditions: [degraded('True', 'ProviderUnavailable', 'EC2 did not answer')], requeueAfterMs: 1000 }),
      result('aws-train-vpc', {}),
    ]);
    leading = controller.lead(term.signal);
    await waitFor('Degraded=True', () => status('aws-train-vpc')?.conditions?.some((c) => c.type === 'Degraded' && c.reason === 'ProviderUnavailable'));
    await waitFor('the failure is counted', () => controller.failing() === 1);
    assert.equal(adapter.calls.length, 1);
    clock.advance(30_000);
    await waitFor('Degraded=False after the retry', () => status('aws-train-vpc')?.conditions?.some((c) => c.type === 'Degraded' && c.status === 'False'));
    assert.equal(adapter.calls.length, 2);
    assert.equal(controller.failing(), 0);
    clock.advance(59_000);
    await Promise.resolve();
    assert.equal(adapter.calls.length, 2, 'not before the drift interval');
    clock.advance(1_000);
    await waitFor('a drift check', () => adapter.calls.length === 3);
  });

  it("records in the status what changed and the drift it repaired, with the adapter's own status fields; an unchanged reconcile keeps the record", async () => {
    const change = (drift: boolean): DomainReconcileResult['changes'][number] => ({
      kind: 'create-route',
      object: 'rtb-1',
      what: '10.32.0.0/16 via tgw-1',
      outcome: 'done',
      drift,
    });
    adapter.answers.set('aws-train-vpc', [
      result('aws-train-vpc', { changes: [change(false), change(false)], status: { observedPrefixes: ['10.16.0.0/16'] }, requeueAfterMs: 1000 }),
      result('aws-train-vpc', { changes: [change(true)], drift: 1, requeueAfterMs: 1000 }),
      result('aws-train-vpc', { requeueAfterMs: 1000 }),
    ]);
    leading = controller.lead(term.signal);
    await waitFor('the first reconcile recorded', () => status('aws-train-vpc')?.reconcile !== undefined);
    assert.deepEqual(status('aws-train-vpc')?.reconcile, { lastChangeTime: new Date(0).toISOString(), lastChanges: 2, driftRepaired: 0 });
    assert.deepEqual(status('aws-train-vpc')?.observedPrefixes, ['10.16.0.0/16']);
    clock.advance(1000);
    await waitFor('the drift recorded', () => (status('aws-train-vpc')?.reconcile as { driftRepaired: number }).driftRepaired === 1);
    const drifted = status('aws-train-vpc')?.reconcile;
    assert.deepEqual(drifted, { lastChangeTime: new Date(1000).toISOString(), lastChanges: 1, driftRepaired: 1, lastDriftTime: new Date(1000).toISOString() });
    clock.advance(1000);
    await waitFor('the third reconcile', () => adapter.calls.length === 3);
    await Promise.resolve();
    assert.deepEqual(status('aws-train-vpc')?.reconcile, drifted, 'nothing changed: the record stays');
  });

  it('adds every reconciled Network when the plan inputs change', async () => {
    leading = controller.lead(term.signal);
    await waitFor('the first reconcile', () => adapter.calls.length === 1);
    const second = awsNetwork('aws-other', { vpcId: 'vpc-0b0b0b0b0b0b0b0b0' }, { prefixes: ['10.128.0.0/16'] });
    networks.set(second.metadata.name, second);
    controller.changedAll();
    await waitFor('both reconciled', () => adapter.calls.length === 3);
    assert.deepEqual([...adapter.calls].sort(), ['aws-other', 'aws-train-vpc', 'aws-train-vpc']);
  });
});
