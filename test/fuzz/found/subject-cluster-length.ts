// Found by fuzzing (test/fuzz/properties/messages.ts, "subjects: hostile subjects"); NOT run by
// `npm test`. Run it with `node test/fuzz/found/subject-cluster-length.ts`: it exits 1 while the
// bug is there and 0 once it is fixed.
//
// parseAgentSubject accepts a cluster token of any length that matches the DNS-1123 pattern, but
// every other place (assertClusterName, agentSubject, nameSchema) allows at most 63 characters:
// `causeway.v1.agent.<64 × "a">.report` parses to a cluster that agentSubject then refuses.
// The hub is not harmed today (no credential can publish there, and the body's cluster fails
// nameSchema), but the parser and the builder of one stable subject disagree on what a cluster is.
import assert from 'node:assert/strict';
import { agentSubjects, parseAgentSubject } from '../../../controlplane/api/subjects.ts';

const subject = `causeway.v1.agent.${'a'.repeat(64)}.report`;
const parsed = parseAgentSubject(subject);
try {
  if (parsed !== undefined) agentSubjects(parsed.cluster);
  console.log('fixed: parseAgentSubject refuses what agentSubject refuses');
} catch (err) {
  assert.ok(err instanceof Error);
  console.error(
    `still there: parseAgentSubject(${JSON.stringify(subject)}) returned cluster of ${parsed?.cluster.length ?? 0} characters, which agentSubject refuses: ${err.message}`,
  );
  process.exitCode = 1;
}
