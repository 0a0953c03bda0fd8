// The NATS subject names are a stable API: these tests pin the literal strings, so that a
// change to them fails here before it breaks running agents.
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import {
  ALL_AGENT_SUBJECTS,
  AgentSubjectKind,
  ClusterSubjectKind,
  agentInboxPrefix,
  agentPermissions,
  agentSubject,
  agentSubjects,
  assertClusterName,
  clusterSubject,
  clusterSubjects,
  parseAgentSubject,
  subjectMatches,
} from '../../controlplane/api/subjects.ts';

describe('NATS subjects (stable API)', () => {
  it('builds the literal subject names agents and the hub rely on', () => {
    assert.equal(agentSubject('aws-eu-1', AgentSubjectKind.Report), 'causeway.v1.agent.aws-eu-1.report');
    assert.equal(agentSubject('aws-eu-1', AgentSubjectKind.Heartbeat), 'causeway.v1.agent.aws-eu-1.heartbeat');
    assert.equal(agentSubjects('aws-eu-1'), 'causeway.v1.agent.aws-eu-1.>');
    assert.equal(clusterSubject('gcp-1', ClusterSubjectKind.Imports), 'causeway.v1.cluster.gcp-1.imports');
    assert.equal(clusterSubjects('gcp-1'), 'causeway.v1.cluster.gcp-1.>');
    assert.equal(agentInboxPrefix('onprem'), '_INBOX_onprem');
    assert.equal(ALL_AGENT_SUBJECTS, 'causeway.v1.agent.*.>');
  });

  const valid = ['a', 'a-b', '0', 'aws-eu-west-1', 'x'.repeat(63), '9lives'];
  for (const name of valid) {
    it(`accepts the cluster name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}...(${name.length})` : name)}`, () => {
      assert.doesNotThrow(() => {
        assertClusterName(name);
      });
      assert.equal(clusterSubjects(name), `causeway.v1.cluster.${name}.>`);
    });
  }

  const invalid: readonly (readonly [string, RegExp])[] = [
    ['', /empty/],
    ['x'.repeat(64), /64 characters; at most 63/],
    ['A', /DNS-1123/],
    ['a.b', /DNS-1123/],
    ['a*', /DNS-1123/],
    ['>', /DNS-1123/],
    ['a b', /DNS-1123/],
    ['-a', /DNS-1123/],
    ['a-', /DNS-1123/],
    ['a_b', /DNS-1123/],
    ['é', /DNS-1123/],
  ];
  for (const [name, message] of invalid) {
    it(`rejects the cluster name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}...(${name.length})` : name)} in every builder`, () => {
      const builders: readonly ((c: string) => unknown)[] = [
        assertClusterName,
        (c) => agentSubject(c, AgentSubjectKind.Report),
        agentSubjects,
        (c) => clusterSubject(c, ClusterSubjectKind.Imports),
        clusterSubjects,
        agentInboxPrefix,
        agentPermissions,
      ];
      for (const build of builders) {
        assert.throws(
          () => build(name),
          (err: unknown) => err instanceof InvalidInputError && message.test(err.message) && err.message.includes('metadata.name'),
        );
      }
    });
  }

  it('gives an agent exactly its own subjects, its own inbox and one reply per request', () => {
    assert.deepEqual(agentPermissions('a'), {
      pub: { allow: ['causeway.v1.agent.a.>'] },
      sub: { allow: ['causeway.v1.cluster.a.>', '_INBOX_a.>'] },
      resp: { maxMessages: 1, ttlMs: 120_000 },
    });
  });

  // What the permission lists let cluster "a" do, checked with the same matching the server uses.
  const cases: readonly (readonly ['pub' | 'sub', string, boolean])[] = [
    ['pub', 'causeway.v1.agent.a.report', true],
    ['pub', 'causeway.v1.agent.a.heartbeat', true],
    ['pub', 'causeway.v1.agent.b.report', false],
    ['pub', 'causeway.v1.agent.ab.report', false],
    ['pub', 'causeway.v1.cluster.a.imports', false],
    ['pub', '$JS.API.INFO', false],
    ['pub', '$JS.API.CONSUMER.CREATE.EVENTS', false],
    ['pub', '$KV.causeway.x', false],
    ['pub', '$SYS.REQ.CLAIMS.UPDATE', false],
    ['sub', 'causeway.v1.cluster.a.imports', true],
    ['sub', '_INBOX_a.abc123', true],
    ['sub', '_INBOX_b.abc123', false],
    ['sub', '_INBOX.abc123', false],
    ['sub', '_INBOX_a-b.abc123', false],
    ['sub', 'causeway.v1.cluster.b.imports', false],
    ['sub', 'causeway.v1.agent.b.report', false],
  ];
  for (const [op, subject, allowed] of cases) {
    it(`${allowed ? 'allows' : 'denies'} cluster a to ${op} ${subject}`, () => {
      const lists = agentPermissions('a')[op].allow;
      assert.equal(
        lists.some((p) => subjectMatches(p, subject)),
        allowed,
      );
    });
  }

  it('allows no JetStream, KV or system subject to an agent at all', () => {
    const perms = agentPermissions('a');
    for (const pattern of [...perms.pub.allow, ...perms.sub.allow]) {
      assert.ok(!pattern.startsWith('$'), `${pattern} reaches a $-subject`);
      assert.ok(!pattern.startsWith('>') && !pattern.startsWith('*'), `${pattern} is a wildcard at the root`);
    }
  });

  const matching: readonly (readonly [string, string, boolean])[] = [
    ['a.b', 'a.b', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.>.c', 'a.b.c', false],
    ['*.b', 'a.b', true],
    ['a.b', 'a.b.c', false],
    ['a.b.c', 'a.b', false],
    ['a.*', 'a.', false],
  ];
  for (const [pattern, subject, expected] of matching) {
    it(`subjectMatches(${pattern}, ${subject}) is ${expected}`, () => {
      assert.equal(subjectMatches(pattern, subject), expected);
    });
  }

  const parsed: readonly (readonly [string, { cluster: string; kind: string } | undefined])[] = [
    ['causeway.v1.agent.aws-1.report', { cluster: 'aws-1', kind: 'report' }],
    ['causeway.v1.agent.aws-1.heartbeat', { cluster: 'aws-1', kind: 'heartbeat' }],
    ['causeway.v1.cluster.aws-1.imports', undefined],
    ['causeway.v2.agent.aws-1.report', undefined],
    ['causeway.v1.agent.AWS.report', undefined],
    ['causeway.v1.agent.aws-1.report.extra', undefined],
    ['causeway.v1.agent.aws-1.', undefined],
    // Found by fuzzing: the parser took a 64-character cluster that the builders refuse.
    [`causeway.v1.agent.${'a'.repeat(63)}.report`, { cluster: 'a'.repeat(63), kind: 'report' }],
    [`causeway.v1.agent.${'a'.repeat(64)}.report`, undefined],
  ];
  for (const [subject, expected] of parsed) {
    it(`parseAgentSubject(${subject})`, () => {
      assert.deepEqual(parseAgentSubject(subject), expected);
    });
  }
});
