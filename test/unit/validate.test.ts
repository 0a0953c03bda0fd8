import assert from 'node:assert/strict';
import { formatProblem } from '../../controlplane/api/errors.ts';
import { parseYamlDocuments, validateDocument, validateDocuments } from '../../controlplane/api/validate.ts';
import { checkCidr, cidrsOverlap } from '../../controlplane/api/cidr.ts';
import { matchesSelector } from '../../controlplane/api/labels.ts';
import { resolveKind } from '../../controlplane/api/kinds.ts';
import { cluster, network } from '../fixtures/resources.ts';

function problemsOf(object: unknown): string[] {
  const v = validateDocument({ source: { file: 'f.yaml', document: 2 }, object });
  return v.ok ? [] : v.problems.map(formatProblem);
}

describe('resource validation', () => {
  it('accepts a valid cluster and normalises its CIDRs', () => {
    const v = validateDocument({ source: {}, object: cluster('a', '10.1.0.0/16', 'FD00:0:0:0::/108') });
    assert.ok(v.ok && v.value.kind === 'Cluster');
    assert.deepEqual(v.value.spec.serviceCIDRs, ['fd00::/108']);
  });

  const cases: { name: string; object: unknown; expect: RegExp }[] = [
    {
      name: 'wrong apiVersion',
      object: { ...cluster('a', '10.0.0.0/16', '10.1.0.0/16'), apiVersion: 'v1' },
      expect: /f\.yaml: document 2 \(Cluster a\): apiVersion: expected "causeway\.dev\/v1alpha1" \(got "v1"\)/,
    },
    {
      name: 'unknown kind with a suggestion',
      object: { ...cluster('a', '10.0.0.0/16', '10.1.0.0/16'), kind: 'Clustr' },
      expect: /kind: unknown kind: did you mean "Cluster"\?/,
    },
    {
      name: 'wrong field type',
      object: cluster('a', '10.0.0.0/16', '10.1.0.0/16', { spec: { podCIDRs: '10.0.0.0/16' } }),
      expect: /spec\.podCIDRs: expected array \(got "10\.0\.0\.0\/16"\)/,
    },
    {
      name: 'misspelt field',
      object: cluster('a', '10.0.0.0/16', '10.1.0.0/16', { spec: { podCIDR: ['x'] } }),
      expect: /spec\.podCIDR: unknown field: did you mean "podCIDRs"\?/,
    },
    {
      name: 'CIDR without mask',
      object: cluster('a', '10.0.0.0', '10.1.0.0/16'),
      expect: /spec\.podCIDRs\[0\]: CIDR mask is missing: did you mean "10\.0\.0\.0\/32"\?/,
    },
    { name: 'CIDR with host bits', object: cluster('a', '10.0.0.1/16', '10.1.0.0/16'), expect: /host bits are set: did you mean "10\.0\.0\.0\/16"\?/ },
    { name: 'out-of-range octet', object: cluster('a', '10.256.0.0/24', '10.1.0.0/16'), expect: /"10\.256\.0\.0" is not an IPv4 or IPv6 address/ },
    { name: 'bad name', object: cluster('Bad_Name', '10.0.0.0/16', '10.1.0.0/16'), expect: /metadata\.name: must be a lowercase DNS-1123 label/ },
    {
      name: 'bad label key',
      object: cluster('a', '10.0.0.0/16', '10.1.0.0/16', { labels: { 'bad key': 'x' } }),
      expect: /metadata\.labels\.bad key: label key "bad key"/,
    },
    {
      name: 'unknown provider',
      object: cluster('a', '10.0.0.0/16', '10.1.0.0/16', { spec: { provider: 'azure' } }),
      expect: /spec\.provider: expected one of "aws", "gcp", "onprem"/,
    },
    {
      name: 'CIDRs missing without ipam',
      object: cluster('a', undefined, '10.1.0.0/16'),
      expect: /spec\.podCIDRs: required: list the cluster's pod CIDRs, or set spec\.ipam\.pool/,
    },
    {
      name: 'two IPv4 pod CIDRs',
      object: cluster('a', '10.0.0.0/16', '10.1.0.0/16', { spec: { podCIDRs: ['10.0.0.0/16', '10.2.0.0/16'] } }),
      expect: /at most one IPv4 and one IPv6 CIDR/,
    },
    {
      name: 'namespaced kind without namespace',
      object: {
        apiVersion: 'causeway.dev/v1alpha1',
        kind: 'ExternalService',
        metadata: { name: 'db' },
        spec: { network: 'n', ports: [{ port: 1 }], endpoints: [] },
      },
      expect: /metadata\.namespace: required/,
    },
    {
      name: 'aws network without its block',
      object: { ...network('n'), spec: { provider: 'aws', region: 'us-east-1' } },
      expect: /spec\.aws: required for provider aws/,
    },
    { name: 'not a mapping', object: ['a'], expect: /expected a mapping with apiVersion, kind, metadata and spec/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      const problems = problemsOf(c.object);
      assert.ok(
        problems.some((p) => c.expect.test(p)),
        `no problem matched ${String(c.expect)} in:\n${problems.join('\n')}`,
      );
    });
  }

  it('reports every problem of every document at once', () => {
    const v = validateDocuments([
      { source: { document: 1 }, object: cluster('ok', '10.0.0.0/16', '10.1.0.0/16') },
      { source: { document: 2 }, object: cluster('A', '10.0.0.0/33', '10.1.0.0/16') },
      { source: { document: 3 }, object: { kind: 'Nope' } },
    ]);
    assert.ok(!v.ok);
    assert.deepEqual([...new Set(v.problems.map((p) => p.document))], [2, 3]);
  });
});

describe('YAML documents', () => {
  it('splits documents, skips empty ones and expands a List', () => {
    const text = '---\na: 1\n---\n---\nkind: List\nitems: [{b: 2}, {c: 3}]\n';
    const p = parseYamlDocuments(text, 'x.yaml');
    assert.ok(p.ok);
    assert.deepEqual(
      p.value.map((d) => [d.source.document, d.source.path, d.object]),
      [
        [1, undefined, { a: 1 }],
        [3, 'items[0]', { b: 2 }],
        [3, 'items[1]', { c: 3 }],
      ],
    );
  });

  it('reports malformed YAML with file, document, line and column', () => {
    const p = parseYamlDocuments('a: 1\n---\nb: [1, 2\nc: d\n', 'bad.yaml');
    assert.ok(!p.ok);
    assert.match(formatProblem(p.problems[0] ?? { field: '', message: '' }), /^bad\.yaml: document 2: malformed YAML at line \d+, column \d+/);
  });

  it('rejects duplicate keys', () => {
    const p = parseYamlDocuments('a: 1\na: 2\n', 'dup.yaml');
    assert.ok(!p.ok);
  });
});

describe('CIDRs', () => {
  const table: [string, string | RegExp][] = [
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['2001:DB8:0::/48', '2001:db8::/48'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.0.0.0/033', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['fd00::/129', /prefix length/],
    ['hello/8', /not an IPv4 or IPv6 address/],
  ];
  for (const [input, want] of table) {
    it(`${input} -> ${String(want)}`, () => {
      const c = checkCidr(input);
      if (typeof want === 'string') assert.deepEqual(c.ok ? c.cidr : c.message, want);
      else assert.match(c.ok ? 'ok' : c.message, want);
    });
  }
  it('overlap is per family and by containment', () => {
    assert.equal(cidrsOverlap('10.0.0.0/8', '10.200.0.0/16'), true);
    assert.equal(cidrsOverlap('10.0.0.0/16', '10.1.0.0/16'), false);
    assert.equal(cidrsOverlap('10.0.0.0/8', 'fd00::/8'), false);
    assert.equal(cidrsOverlap('fd00::/16', 'fd00:1::/32'), true);
  });
});

describe('label selectors and kind names', () => {
  it('matches like Kubernetes', () => {
    const labels = { gpu: 'true', tier: 'a' };
    assert.equal(matchesSelector({}, labels), true);
    assert.equal(matchesSelector({ matchLabels: { gpu: 'true' } }, labels), true);
    assert.equal(matchesSelector({ matchLabels: { gpu: 'false' } }, labels), false);
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, labels), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['a'] }] }, labels), false);
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels), true);
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels), false);
  });
  it('resolves plural, singular, short and kind names', () => {
    for (const w of ['clusters', 'cluster', 'Cluster', 'cl']) assert.equal(resolveKind(w)?.kind, 'Cluster');
    assert.equal(resolveKind('globalpolicies')?.kind, 'GlobalPolicy');
    assert.equal(resolveKind('nope'), undefined);
  });
});
