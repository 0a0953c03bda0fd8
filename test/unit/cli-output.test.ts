// The CLI prints registry data as text (issue 12 §4): terminal control sequences in a field are
// shown escaped, never executed; everything else is printed as it is.
import assert from 'node:assert/strict';
import { terminalSafe } from '../../controlplane/cli/common.ts';
import { historyTable, printResources } from '../../controlplane/cli/print.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { KINDS } from '../../controlplane/api/kinds.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { parseYamlDocuments } from '../../controlplane/api/validate.ts';

describe('CLI output', () => {
  const cases: [string, string, string][] = [
    ['an ANSI colour sequence', 'eu\u001b[31mred\u001b[0m', 'eu\\x1b[31mred\\x1b[0m'],
    ['a carriage return that would overwrite the line', 'ok\rFAKE', 'ok\\x0dFAKE'],
    ['a C1 control (CSI)', 'a\u009bb', 'a\\x9bb'],
    ['a bidirectional override', 'abc\u202edef', 'abc\\u202edef'],
    ['DEL and NUL', 'a\u007fb\u0000', 'a\\x7fb\\x00'],
    ['tabs, newlines and ordinary Unicode, unchanged', 'a\tb\nü 東京 🚀', 'a\tb\nü 東京 🚀'],
  ];
  for (const [name, input, shown] of cases) {
    it(`escapes ${name}`, () => {
      assert.equal(terminalSafe(input), shown);
    });
  }

  it('keeps -o yaml and -o json exact, so apply reads back every value, bidi overrides included (they are data, not escaped)', () => {
    const region = 'us\u001b[31m-east-1\r\u202e1-tsae';
    const cluster = {
      apiVersion: 'causeway.dev/v1alpha1',
      kind: 'Cluster',
      metadata: { name: 'c1' },
      spec: { provider: 'aws', region, network: 'n', podCIDRs: ['10.0.0.0/16'], serviceCIDRs: ['10.1.0.0/16'] },
    } as unknown as Resource;
    for (const format of ['yaml', 'json'] as const) {
      const text = printResources(KINDS.Cluster, [cluster], format);
      assert.ok(!text.includes('\u001b') && !text.includes('\r'), `${format}: the serialiser escapes C0 itself`);
      const back = parseYamlDocuments(text);
      assert.ok(back.ok);
      assert.equal((back.value[0]?.object as { spec: { region: string } } | undefined)?.spec.region, region);
    }
    // Escaping the YAML as terminal text would have changed the value: this is why data formats are written raw.
    // (YAML prints a bidi override alone in a plain scalar, where "\u202e" is not an escape.)
    const plain = { ...cluster, spec: { ...(cluster.spec as object), region: 'eu\u202eeast' } } as unknown as Resource;
    const escaped = parseYamlDocuments(terminalSafe(printResources(KINDS.Cluster, [plain], 'yaml')));
    assert.ok(escaped.ok);
    assert.equal((escaped.value[0]?.object as { spec: { region: string } } | undefined)?.spec.region, 'eu\\u202eeast');
  });

  it('escapes the table output, which is for people', () => {
    const cluster = {
      apiVersion: 'causeway.dev/v1alpha1',
      kind: 'Cluster',
      metadata: { name: 'c1' },
      spec: { provider: 'aws', region: 'eu\u001b[31m', network: 'n', podCIDRs: ['10.0.0.0/16'], serviceCIDRs: ['10.1.0.0/16'] },
    } as unknown as Resource;
    assert.match(terminalSafe(printResources(KINDS.Cluster, [cluster], 'table')), /eu\\x1b\[31m/);
  });
});

describe('CLI history table', () => {
  it('shows whose credential a credential record is about (it changes no object)', () => {
    const text = historyTable([
      {
        revision: 42,
        time: '2026-12-01T10:00:00.123Z',
        actor: { name: 'admin', role: 'admin' },
        operation: 'rotate-credentials',
        changes: [],
        credential: { cluster: 'aws-train', publicKey: 'UABCDEFGHIJKLMNOPQRSTUVWXYZ' },
      } as unknown as HistoryEntry,
    ]);
    assert.match(text, /rotate-credentials\s+credential of cluster\/aws-train \(user UABCDEFGHIJK…\)/);
  });
});
