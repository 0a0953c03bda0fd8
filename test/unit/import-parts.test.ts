// Every ImportBatch leaves the hub in messages under the budget (issue 12 §1), however large one
// service is, and the agent puts them back together exactly.
import assert from 'node:assert/strict';
import { importBatchParts, mergeImportParts, splitImportState } from '../../controlplane/api/import-parts.ts';
import fc from 'fast-check';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  encodedSize,
  importBatchCodec,
  importBatchJson,
  importStateJson,
  type ImportBatch,
  type ImportState,
} from '../../controlplane/api/messages.ts';
import { validImportBatch } from '../fuzz/arbitraries/messages.ts';
import { emptyReceiveState, receiveBatch } from '../../cluster-agent/planners/receive.ts';

function service(name: string, endpoints: number, cluster = 'onprem'): ImportState {
  return {
    namespace: 'inference',
    name,
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    ips: ['10.250.0.1'],
    sessionAffinity: 'None',
    clusters: [cluster],
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      addresses: [`10.${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
      ready: true,
      serving: true,
      terminating: false,
      zone: 'fra1-a',
      cluster,
    })),
  };
}

function batch(kind: 'snapshot' | 'delta', upserts: ImportState[]): ImportBatch {
  return { v: PROTOCOL_VERSION, cluster: 'aws-train', kind, fromRevision: kind === 'delta' ? 4 : 0, revision: 5, upserts, removals: [], exportStatus: [] };
}

/** What the agent holds after receiving `parts` in the given order, from a state at revision 4 with a snapshot in. */
function receive(parts: readonly ImportBatch[]): ImportBatch | undefined {
  let state = { ...emptyReceiveState, revision: 4, snapshotApplied: true };
  let applied: ImportBatch | undefined;
  for (const p of parts) {
    const decoded = importBatchCodec.decode(importBatchCodec.encode(p), 'aws-train');
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.message);
    const r = receiveBatch(state, decoded.value, false, 'aws-train');
    state = r.state;
    applied = r.apply[0] ?? applied;
  }
  return applied;
}

describe('import batches in parts under the message budget', () => {
  it('leaves a batch that fits as one message without a chunk', () => {
    const b = batch('delta', [service('small', 10)]);
    assert.deepEqual(importBatchParts(b), [b]);
  });

  it('splits one 35,000-endpoint service across messages that each fit, and the agent reassembles it whole', () => {
    const big = service('llm-serving', 35_000);
    assert.ok(encodedSize(big) > 3 * MAX_MESSAGE_BYTES, 'the case the issue reports: one import of several MB');
    const parts = importBatchParts(batch('delta', [big, service('small', 3)]));
    assert.ok(parts.length >= 4);
    for (const p of parts) assert.ok(importBatchCodec.encode(p).byteLength <= MAX_MESSAGE_BYTES, `a part of ${importBatchCodec.encode(p).byteLength} bytes`);
    // Chunks may arrive in any order.
    const assembled = receive([...parts].reverse());
    assert.ok(assembled !== undefined);
    assert.deepEqual(
      assembled.upserts.map((s) => [s.name, s.endpoints.length]),
      [
        ['llm-serving', 35_000],
        ['small', 3],
      ],
    );
    assert.deepEqual(assembled.upserts[0], big, 'endpoints back in their order, every field kept');
  });

  it('delivers two exporters of 5,000 endpoints each (the 1 MB import every agent refused)', () => {
    const a = service('shared', 5000, 'east');
    const b = service('shared', 5000, 'west');
    const merged: ImportState = { ...a, clusters: ['east', 'west'], endpoints: [...a.endpoints, ...b.endpoints] };
    const parts = importBatchParts(batch('snapshot', [merged]));
    assert.ok(parts.length > 1);
    for (const p of parts) assert.ok(importBatchCodec.encode(p).byteLength <= MAX_MESSAGE_BYTES);
    assert.deepEqual(receive(parts)?.upserts, [merged]);
  });

  it('packs many services, removals and statuses, every part under the budget', () => {
    const many: ImportBatch = {
      ...batch(
        'delta',
        Array.from({ length: 400 }, (_, i) => service(`s${i}`, 30)),
      ),
      removals: Array.from({ length: 3000 }, (_, i) => ({ namespace: 'old', name: `gone-${i}` })),
    };
    const parts = importBatchParts(many, 64 * 1024);
    for (const p of parts) assert.ok(encodedSize(p) <= 64 * 1024);
    const back = receive(parts);
    assert.equal(back?.upserts.length, 400);
    assert.equal(back.removals.length, 3000);
  });

  it('merges only upserts that share a key, keeping order', () => {
    const x = service('x', 4);
    const [x1, x2] = splitImportState(x, encodedSize({ ...x, endpoints: [] }) + encodedSize(x.endpoints[0]) * 2 + 8);
    assert.ok(x1 !== undefined && x2 !== undefined);
    const y = service('y', 1);
    assert.deepEqual(mergeImportParts([x1, y, x2]), [x, y]);
    assert.deepEqual(mergeImportParts([y]), [y]);
  });
});

describe('import batch encoding, each import encoded once', () => {
  it('writes exactly the bytes JSON.stringify writes, for any valid batch', () => {
    fc.assert(
      fc.property(validImportBatch(), (batch) => {
        assert.equal(importBatchJson(batch), JSON.stringify(batch));
        assert.equal(new TextDecoder().decode(importBatchCodec.encode(batch)), JSON.stringify(batch));
      }),
      { numRuns: 300 },
    );
  });

  it("one import shared by two consumers' batches is the same text in both, and a batch decodes back to itself", () => {
    const shared = service('llm-serving', 3);
    const a: ImportBatch = {
      v: PROTOCOL_VERSION,
      cluster: 'aws-train',
      kind: 'delta',
      fromRevision: 4,
      revision: 9,
      upserts: [shared],
      removals: [],
      exportStatus: [],
    };
    const b: ImportBatch = { ...a, cluster: 'gcp-train', fromRevision: 7 };
    const json = importStateJson(shared);
    assert.ok(importBatchJson(a).includes(json) && importBatchJson(b).includes(json));
    const decoded = importBatchCodec.decode(importBatchCodec.encode(b), 'gcp-train');
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value, b);
  });
});
