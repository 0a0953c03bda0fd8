// Pure properties of the wire: the agent ↔ hub codecs and the NATS subjects.
// - decode(encode(x)) equals x for every valid message; unknown fields from a newer peer are
//   dropped, not refused; a message claiming another cluster is refused as wrong-cluster;
// - mutated, truncated, oversized and garbage bytes never throw: decode returns a failure with a
//   reason and a message (truncated: malformed; oversized: oversized);
// - subjects: parseAgentSubject(agentSubject(c, k)) is (c, k); an agent's permissions match its
//   own subjects and no other cluster's; whatever hostile subject parses rebuilds to itself.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidInputError } from '../../../controlplane/api/errors.ts';
import {
  clusterPolicyCodec,
  clusterSettingsCodec,
  heartbeatCodec,
  importBatchCodec,
  policyRequestCodec,
  renewRequestCodec,
  reportCodec,
  settingsRequestCodec,
  syncRequestCodec,
  workloadsCodec,
  type Codec,
  type Decoded,
} from '../../../controlplane/api/messages.ts';
import {
  ALL_AGENT_SUBJECTS,
  agentPermissions,
  agentSubject,
  agentSubjects,
  AgentSubjectKind,
  clusterSubjects,
  parseAgentSubject,
  subjectMatches,
  SUBJECT_ROOT,
} from '../../../controlplane/api/subjects.ts';
import {
  garbageBytes,
  mutatedMessage,
  oversized,
  truncated,
  validHeartbeat,
  validImportBatch,
  validReport,
  validClusterSettings,
  validClusterPolicy,
  validPolicyRequest,
  validRenewRequest,
  validSettingsRequest,
  validSyncRequest,
  validWorkloads,
  withUnknownFields,
} from '../arbitraries/messages.ts';
import { dnsLabel } from '../arbitraries/primitives.ts';
import { noThrow, Outcome, property, type FuzzProperty } from '../property.ts';

interface CodecCase {
  readonly codec: Codec<unknown>;
  readonly valid: (cluster?: fc.Arbitrary<string>) => fc.Arbitrary<{ cluster: string }>;
}

const CASES: readonly CodecCase[] = [
  { codec: reportCodec, valid: validReport },
  { codec: heartbeatCodec, valid: validHeartbeat },
  { codec: syncRequestCodec, valid: validSyncRequest },
  { codec: importBatchCodec, valid: validImportBatch },
  { codec: renewRequestCodec, valid: validRenewRequest },
  { codec: settingsRequestCodec, valid: validSettingsRequest },
  { codec: clusterSettingsCodec, valid: validClusterSettings },
  { codec: workloadsCodec, valid: validWorkloads },
  { codec: policyRequestCodec, valid: validPolicyRequest },
  { codec: clusterPolicyCodec, valid: validClusterPolicy },
];

const REASONS = new Set(['oversized', 'malformed', 'invalid', 'wrong-cluster']);
const encoder = new TextEncoder();

function decode(codec: Codec<unknown>, bytes: Uint8Array, cluster?: string): Decoded<unknown> {
  return noThrow(`${codec.kind} decode`, () => codec.decode(bytes, cluster));
}

function assertFailure(d: Decoded<unknown>, what: string): asserts d is Extract<Decoded<unknown>, { ok: false }> {
  assert.ok(!d.ok, `${what} was accepted`);
  assert.ok(REASONS.has(d.reason), `${what}: unknown reason ${d.reason}`);
  assert.ok(d.message.trim() !== '', `${what}: refused without a message`);
}

function roundTrip(c: CodecCase): FuzzProperty {
  return property({
    name: `${c.codec.kind}: decode(encode(x)) is x; a newer peer's unknown fields dropped`,
    tier: 'pure',
    runs: 150,
    weight: 4,
    mustSee: [Outcome.accepted],
    arbitrary: c.valid().chain((m) => fc.tuple(fc.constant(m), withUnknownFields(m))),
    check: ([message, newer]) => {
      const bytes = noThrow(`${c.codec.kind} encode`, () => c.codec.encode(message));
      const back = decode(c.codec, bytes, message.cluster);
      assert.ok(back.ok, `valid ${c.codec.kind} refused: ${!back.ok ? back.message : ''}\n${JSON.stringify(message)}`);
      assert.deepEqual(back.value, message);
      const fromNewer = decode(c.codec, encoder.encode(JSON.stringify(newer)), message.cluster);
      assert.ok(fromNewer.ok, `${c.codec.kind} with unknown fields refused: ${!fromNewer.ok ? fromNewer.message : ''}\n${JSON.stringify(newer)}`);
      assert.deepEqual(fromNewer.value, message, 'unknown fields were kept or changed the message');
      return Outcome.accepted;
    },
  });
}

type Damage =
  { how: 'mutated' | 'wrong-cluster' | 'garbage'; bytes: Uint8Array; cluster: string } | { how: 'truncated' | 'oversized'; bytes: Uint8Array; cluster: string };

function damaged(c: CodecCase): FuzzProperty {
  const arbitrary: fc.Arbitrary<Damage> = fc.tuple(c.valid(), dnsLabel).chain(([m, other]) => {
    const bytes = c.codec.encode(m);
    return fc.oneof(
      { arbitrary: mutatedMessage(m).map((x) => ({ how: 'mutated' as const, bytes: encoder.encode(JSON.stringify(x)), cluster: m.cluster })), weight: 6 },
      { arbitrary: truncated(bytes).map((b) => ({ how: 'truncated' as const, bytes: b, cluster: m.cluster })), weight: 2 },
      { arbitrary: oversized(m).map((b) => ({ how: 'oversized' as const, bytes: b, cluster: m.cluster })), weight: 1 },
      { arbitrary: fc.constant({ how: 'wrong-cluster' as const, bytes, cluster: other === m.cluster ? `${other}-x` : other }), weight: 1 },
      { arbitrary: garbageBytes.map((b) => ({ how: 'garbage' as const, bytes: b, cluster: m.cluster })), weight: 2 },
    );
  });
  return property({
    name: `${c.codec.kind}: mutated, truncated, oversized, foreign bytes: a reason, never a throw`,
    tier: 'pure',
    runs: 200,
    weight: 6,
    mustSee: [Outcome.refused],
    arbitrary,
    check: (d) => {
      const result = decode(c.codec, d.bytes, d.cluster);
      if (d.how === 'mutated' || d.how === 'garbage') {
        if (result.ok) {
          // What a mutation leaves valid must still be a valid message of this cluster.
          assert.equal((result.value as { cluster?: unknown }).cluster, d.cluster);
          return Outcome.accepted;
        }
        assertFailure(result, d.how);
        return Outcome.refused;
      }
      assertFailure(result, d.how);
      const expected = d.how === 'truncated' ? 'malformed' : d.how;
      assert.equal(result.reason, expected, `${d.how} message refused as ${result.reason}: ${result.message}`);
      return Outcome.refused;
    },
  });
}

const agentKind = fc.constantFrom(...Object.values(AgentSubjectKind));

const subjectRoundTrip = property({
  name: 'subjects: agent subjects parse back; permissions match their own cluster only',
  tier: 'pure',
  runs: 300,
  weight: 4,
  mustSee: [Outcome.accepted],
  arbitrary: fc.tuple(dnsLabel, dnsLabel, agentKind),
  check: ([cluster, other, kind]) => {
    const s = noThrow('agentSubject', () => agentSubject(cluster, kind));
    assert.deepEqual(
      noThrow('parseAgentSubject', () => parseAgentSubject(s)),
      { cluster, kind },
    );
    const perms = noThrow('agentPermissions', () => agentPermissions(cluster));
    assert.ok(
      perms.pub.allow.some((p) => subjectMatches(p, s)),
      `${cluster} may not publish ${s}`,
    );
    assert.ok(subjectMatches(ALL_AGENT_SUBJECTS, s), `the hub does not hear ${s}`);
    assert.ok(!perms.sub.allow.some((p) => subjectMatches(p, s)), `${cluster} may subscribe to its own agent subject ${s}`);
    if (other !== cluster) {
      assert.ok(!subjectMatches(agentSubjects(other), s), `${other}'s permissions match ${s}`);
      assert.ok(
        !agentPermissions(other).sub.allow.some((p) => subjectMatches(p, `${clusterSubjects(cluster).slice(0, -2)}.imports`)),
        `${other} may read ${cluster}'s imports`,
      );
    }
    return Outcome.accepted;
  },
});

const subjectToken = fc.oneof(
  dnsLabel,
  fc.constantFrom('', '*', '>', 'agent', 'cluster', 'causeway', 'v1', 'A', 'a b', 'a\tb', '-a', 'a-', 'report', '$JS', '_INBOX'),
  fc.string({ maxLength: 10 }),
);

const hostileSubject: fc.Arbitrary<string> = fc.oneof(
  fc.array(subjectToken, { maxLength: 7 }).map((t) => t.join('.')),
  fc.tuple(fc.array(subjectToken, { minLength: 1, maxLength: 3 }), agentKind).map(([t, k]) => `${SUBJECT_ROOT}.agent.${t.join('.')}.${k}`),
  fc.string({ maxLength: 80 }),
  fc.integer({ min: 64, max: 4096 }).map((n) => `${SUBJECT_ROOT}.agent.${'a'.repeat(n)}.report`),
);

const subjectHostile = property({
  name: 'subjects: hostile subjects and cluster names: parsed or refused, never thrown',
  tier: 'pure',
  runs: 400,
  weight: 4,
  mustSee: [Outcome.accepted, Outcome.refused],
  arbitrary: fc.tuple(hostileSubject, fc.oneof(subjectToken, fc.string()), agentKind),
  check: ([subject, name, kind]) => {
    noThrow('subjectMatches', () => subjectMatches(ALL_AGENT_SUBJECTS, subject) && subjectMatches(subject, subject));
    const parsed = noThrow('parseAgentSubject', () => parseAgentSubject(subject));
    if (parsed !== undefined) {
      assert.equal(`${SUBJECT_ROOT}.agent.${parsed.cluster}.${parsed.kind}`, subject, 'a parsed subject does not rebuild to itself');
      assert.doesNotThrow(() => agentSubjects(parsed.cluster), `parsed cluster "${parsed.cluster}" is not a valid cluster name`);
      assert.ok(subjectMatches(ALL_AGENT_SUBJECTS, subject), `parsed ${subject} is not one the hub hears`);
    }
    // A cluster name is one subject token: anything else is refused as input, naming the field.
    try {
      const built = agentSubject(name, kind);
      assert.deepEqual(parseAgentSubject(built), { cluster: name, kind }, `"${name}" built ${built}, which does not parse back`);
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assert.ok(err instanceof InvalidInputError, `agentSubject("${name}") threw ${String(err)}`);
      assert.ok(
        err.problems.every((p) => p.field === 'metadata.name' && p.message !== ''),
        'a refused cluster name names no field',
      );
      return Outcome.refused;
    }
    return parsed !== undefined ? Outcome.accepted : Outcome.refused;
  },
});

export const MESSAGE_PROPERTIES: readonly FuzzProperty[] = [...CASES.flatMap((c) => [roundTrip(c), damaged(c)]), subjectRoundTrip, subjectHostile];
