// The wire protocol against golden fixtures: every message kind of every protocol version under
// test/fixtures/protocol/vN/ decodes through its codec, re-encodes to the same JSON, and still
// decodes when a newer peer adds fields anywhere in it (forward compatibility).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../controlplane/api/json.ts';
import { CODECS, PROTOCOL_VERSION, type Codec } from '../../controlplane/api/messages.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'protocol');
const KINDS = Object.keys(CODECS) as (keyof typeof CODECS)[];

interface Fixture {
  readonly version: string;
  readonly file: string;
  readonly kind: keyof typeof CODECS;
  readonly json: unknown;
}

/** The codec a fixture belongs to: the longest message kind its file name starts with. */
function kindOf(file: string): keyof typeof CODECS {
  const kind = KINDS.filter((k) => file === `${k}.json` || file.startsWith(`${k}-`)).sort((a, b) => b.length - a.length)[0];
  if (kind === undefined) throw new Error(`fixture ${file} names no message kind (${KINDS.join(', ')})`);
  return kind;
}

const fixtures: Fixture[] = readdirSync(ROOT)
  .filter((d) => /^v\d+$/.test(d))
  .flatMap((version) =>
    readdirSync(join(ROOT, version))
      .filter((f) => f.endsWith('.json'))
      .map((file) => ({ version, file, kind: kindOf(file), json: JSON.parse(readFileSync(join(ROOT, version, file), 'utf8')) as unknown })),
  );

function bytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function clusterOf(json: unknown): string | undefined {
  const c = (json as { cluster?: unknown }).cluster;
  return typeof c === 'string' ? c : undefined;
}

/** Maps whose keys are data (labels), not fields. */
const RECORDS = new Set(['labels', 'matchLabels', 'annotations', 'exportedLabels', 'exportedAnnotations']);
/** Selectors stay strict: dropping a field of one that a newer peer added could widen who may import (see messages.ts). */
const STRICT = new Set(['exportTo']);

/** A copy with an unknown field added to every object, as a newer peer might send. */
function withUnknownFields(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((v) => withUnknownFields(v, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = { [`futureField${depth}`]: { added: 'in a later version', n: depth } };
  for (const [k, v] of Object.entries(value)) out[k] = RECORDS.has(k) || STRICT.has(k) ? v : withUnknownFields(v, depth + 1);
  return out;
}

function decodeOk(codec: Codec<unknown>, json: unknown): unknown {
  const decoded = codec.decode(bytes(json), clusterOf(json));
  assert.ok(decoded.ok, decoded.ok ? '' : `${codec.kind}: ${decoded.reason}: ${decoded.message}`);
  return decoded.value;
}

describe('wire protocol: golden fixtures', () => {
  it(`has a fixture of every message kind for the current protocol version (v${PROTOCOL_VERSION})`, () => {
    const current = new Set(fixtures.filter((f) => f.version === `v${PROTOCOL_VERSION}`).map((f) => f.kind));
    assert.deepEqual(
      KINDS.filter((k) => !current.has(k)),
      [],
    );
  });

  for (const f of fixtures) {
    const codec = CODECS[f.kind] as Codec<unknown>;
    describe(`${f.version}/${f.file} (${f.kind})`, () => {
      it('decodes, and re-encodes to the same JSON', () => {
        const value = decodeOk(codec, f.json);
        assert.equal(canonicalJson(value), canonicalJson(f.json), 'a field of the fixture was dropped or changed on decode');
        const again = decodeOk(codec, JSON.parse(new TextDecoder().decode(codec.encode(value))));
        assert.deepEqual(again, value);
      });

      it('accepts a message with unknown fields at every level, and drops them', () => {
        const value = decodeOk(codec, withUnknownFields(f.json));
        assert.equal(canonicalJson(value), canonicalJson(f.json));
      });

      it('still refuses a message that breaks a known field', () => {
        const broken = { ...(f.json as Record<string, unknown>) };
        const [first] = Object.keys(broken);
        assert.ok(first !== undefined);
        broken[first] = { not: 'what the schema expects' };
        const decoded = codec.decode(bytes(broken), clusterOf(f.json));
        assert.equal(decoded.ok, false);
      });
    });
  }

  it('refuses an unknown field inside a selector: ignoring it could export more widely than the sender meant', () => {
    const f = fixtures.find((x) => x.kind === 'report');
    assert.ok(f !== undefined);
    const json = structuredClone(f.json) as { upserts: { exportTo?: Record<string, unknown> }[] };
    const first = json.upserts[0];
    assert.ok(first?.exportTo !== undefined);
    first.exportTo.matchClusterSets = ['prod'];
    const decoded = CODECS.report.decode(bytes(json), clusterOf(json));
    assert.deepEqual(decoded.ok ? 'ok' : decoded.reason, 'invalid');
  });

  it('refuses a body that claims another cluster than its subject', () => {
    const f = fixtures.find((x) => x.kind === 'heartbeat');
    assert.ok(f !== undefined);
    const decoded = CODECS.heartbeat.decode(bytes(f.json), 'someone-else');
    assert.deepEqual(decoded.ok ? 'ok' : decoded.reason, 'wrong-cluster');
  });
});
