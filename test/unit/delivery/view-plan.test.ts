// View delivery's decisions (controllers/view-plan.ts) and the agent's reading of a view
// (cluster-agent/view-assembler.ts), together: what the hub plans to write, stored in a
// MemoryViewStream, read back in stream order by the assembler, must be the model's state —
// after a snapshot, after deltas, with values split in parts, removals, and values already there.
import assert from 'node:assert/strict';
import type { ImportState } from '../../../controlplane/api/messages.ts';
import { viewEntrySubject, viewRevisionSubject } from '../../../controlplane/api/subjects.ts';
import { ViewHeader, importMessages } from '../../../controlplane/api/view-entries.ts';
import { MemoryViewStream } from '../../../controlplane/bus/memory-views.ts';
import { viewDigest } from '../../../controlplane/hub/controllers/view-delivery.ts';
import { applyViewWrites, fullViewChanges, planViewWrites, type EntryChange, type ObservedView } from '../../../controlplane/hub/controllers/view-plan.ts';
import { ViewAssembler } from '../../../cluster-agent/view-assembler.ts';

const C = 'aws-train';

function service(name: string, endpoints: number): ImportState {
  return {
    namespace: 'inference',
    name,
    type: 'ClusterSetIP',
    ports: [{ port: 8000, protocol: 'TCP' }],
    ips: ['10.250.0.1'],
    sessionAffinity: 'None',
    clusters: ['onprem'],
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      cluster: 'onprem',
      addresses: [`10.40.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      ready: true,
      serving: true,
      terminating: false,
    })),
  };
}

const imp = (s: ImportState | undefined, name = s?.name ?? ''): EntryChange => ({ kind: 'import', key: `inference/${name}`, value: s });

/** Plans, stores and records what the stream then holds, as the hub does. */
async function write(
  stream: MemoryViewStream,
  observed: ObservedView,
  changes: EntryChange[],
  revision: number,
  sent: number | undefined,
  maxBytes?: number,
): Promise<number> {
  const writes = planViewWrites(C, changes, observed, revision, {
    digest: viewDigest,
    revisionObserved: sent,
    ...(maxBytes !== undefined ? { maxBytes } : {}),
  });
  for (const f of writes.purges) await stream.purge(f);
  await stream.publish(writes.messages);
  applyViewWrites(observed, writes);
  return writes.messages.length;
}

function readAll(stream: MemoryViewStream, assembler: ViewAssembler): ReturnType<ViewAssembler['add']>[] {
  return (stream.read(C) ?? [])
    .map(({ message, pending }) => assembler.add({ subject: message.subject, data: message.data, headers: message.headers, pending }))
    .filter((r) => r.batch !== undefined || r.rejected !== undefined || r.resync !== undefined);
}

describe('view delivery: what the hub writes is what the agent reads', () => {
  it('a new view is read whole as a snapshot at its revision; later changes as deltas on top', async () => {
    const stream = new MemoryViewStream();
    await stream.ensure();
    await stream.ensureConsumer(C);
    const observed: ObservedView = new Map();
    await write(stream, observed, [imp(service('llm', 3)), imp(service('embed', 1))], 7, undefined);
    const a = new ViewAssembler(C);
    const snapshot = readAll(stream, a)[0]?.batch;
    assert.ok(snapshot !== undefined);
    assert.equal(snapshot.kind, 'snapshot');
    assert.equal(snapshot.revision, 7);
    assert.deepEqual(snapshot.upserts.map((s) => s.name).sort(), ['embed', 'llm']);

    await write(stream, observed, [imp(service('llm', 4)), imp(undefined, 'embed')], 9, 7);
    const delta = readAll(stream, a)[0]?.batch;
    assert.ok(delta !== undefined);
    assert.deepEqual({ kind: delta.kind, from: delta.fromRevision, to: delta.revision }, { kind: 'delta', from: 7, to: 9 });
    assert.equal(delta.upserts[0]?.endpoints.length, 4);
    assert.deepEqual(delta.removals, [{ namespace: 'inference', name: 'embed' }]);
  });

  it('writes nothing for a value already there, nor a removal of what is not there, and keeps the revision', async () => {
    const stream = new MemoryViewStream();
    await stream.ensure();
    const observed: ObservedView = new Map();
    await write(stream, observed, [imp(service('llm', 3))], 7, undefined);
    const before = stream.published;
    assert.equal(await write(stream, observed, [imp(service('llm', 3)), imp(undefined, 'never-there')], 12, 7), 0);
    assert.equal(stream.published, before);
  });

  it('a new leader compares whole: what the stream holds and the model lacks is removed, the rest left alone', async () => {
    const stream = new MemoryViewStream();
    await stream.ensure();
    const first: ObservedView = new Map();
    await write(stream, first, [imp(service('llm', 3)), imp(service('gone', 1))], 7, undefined);
    // The next term knows only what the stream holds.
    const observed: ObservedView = new Map(
      [...(await stream.latest())].filter(([s]) => s !== viewRevisionSubject(C)).map(([s, h]) => [s, h[ViewHeader.Digest] ?? '']),
    );
    const changes = fullViewChanges({ imports: [service('llm', 3)], statuses: [] }, observed);
    const writes = planViewWrites(C, changes, observed, 20, { digest: viewDigest, revisionObserved: 7 });
    assert.deepEqual(
      writes.messages.map((m) => [m.subject, m.data.byteLength]),
      [
        [viewEntrySubject(C, 'import', 'inference', 'gone'), 0],
        [viewRevisionSubject(C), writes.messages.at(-1)?.data.byteLength],
      ],
    );
  });

  it('a value too large for one message goes in parts, part 0 last; a smaller value purges the old parts', async () => {
    const stream = new MemoryViewStream();
    await stream.ensure();
    await stream.ensureConsumer(C);
    const observed: ObservedView = new Map();
    const big = service('llm', 600);
    await write(stream, observed, [imp(big)], 3, undefined, 16 * 1024);
    const subjects = [...(await stream.latest()).keys()];
    assert.ok(subjects.includes(viewEntrySubject(C, 'import', 'inference', 'llm', 1)), 'split into parts');
    const a = new ViewAssembler(C);
    const [snap] = readAll(stream, a);
    assert.deepEqual(snap?.batch?.upserts, [big], 'read back whole, endpoints in order');

    await write(stream, observed, [imp(service('llm', 2))], 4, 3, 16 * 1024);
    assert.deepEqual(
      [...(await stream.latest()).keys()].filter((s) => s.includes('.inference.llm')),
      [viewEntrySubject(C, 'import', 'inference', 'llm', 0)],
    );
    const [delta] = readAll(stream, a);
    assert.equal(delta?.batch?.upserts[0]?.endpoints.length, 2);
  });

  it('a part 0 whose parts never came asks for the view to be read again instead of applying half a service', () => {
    const a = new ViewAssembler(C);
    const [head] = importMessages(C, { namespace: 'inference', name: 'llm' }, service('llm', 1), viewDigest);
    assert.ok(head !== undefined);
    const r = a.add({ subject: head.subject, data: head.data, headers: { ...head.headers, [ViewHeader.Parts]: '3' }, pending: 0 });
    assert.match(r.resync ?? '', /part 1 of 3/);
  });

  it("refuses what is not this cluster's, what does not parse, and a body naming another service", () => {
    const a = new ViewAssembler(C);
    const [other] = importMessages('gcp-train', { namespace: 'inference', name: 'llm' }, service('llm', 1), viewDigest);
    const [mine] = importMessages(C, { namespace: 'inference', name: 'llm' }, service('llm', 1), viewDigest);
    assert.ok(other !== undefined && mine !== undefined);
    assert.equal(a.add({ ...other, pending: 0 }).rejected?.reason, 'invalid');
    assert.equal(a.add({ ...mine, data: new TextEncoder().encode('{"namespace":'), pending: 0 }).rejected?.reason, 'malformed');
    assert.equal(
      a.add({ subject: viewEntrySubject(C, 'import', 'inference', 'web'), data: mine.data, headers: mine.headers, pending: 0 }).rejected?.reason,
      'invalid',
    );
    assert.equal(a.currentRevision(), undefined, 'nothing taken for a snapshot');
  });
});
