// The fast-check run the Calico and Cilium property tests share: on random worlds and policy sets
// (egress to external CIDRs included), every cluster is compiled in `format`; whenever it compiles,
// the output read by the format's test evaluator agrees with the reference evaluator on every flow
// (format-agreement.ts); whenever it is refused, no object is returned and every error matches one
// of the documented `reasons`. Returns how often each happened, for the callers' minimum counts.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileForCluster, type CompiledObject, type PolicyFormat } from '../../../controlplane/policy/compile/index.ts';
import { EXTERNALS, PORTS, policiesWithEgress, world } from './arbitraries.ts';
import { formatDisagreements, type FormatReader } from './format-agreement.ts';

export interface FormatPropertyCounts {
  readonly compiled: number;
  readonly refused: number;
  readonly withObjects: number;
  /** Compiles whose objects `counted` picked. */
  readonly counted: number;
}

export function checkFormatProperty(
  format: PolicyFormat,
  reader: FormatReader,
  reasons: readonly RegExp[],
  counted: (objects: readonly CompiledObject[]) => boolean = () => false,
): FormatPropertyCounts {
  let compiled = 0;
  let refused = 0;
  let withObjects = 0;
  let picked = 0;
  fc.assert(
    fc.property(world, policiesWithEgress, (w, ps) => {
      for (const c of w.clusters) {
        const r = compileForCluster(ps, w, c.name, format);
        const errors = r.problems.filter((p) => p.severity === 'error');
        if (errors.length > 0) {
          refused++;
          assert.deepEqual(r.objects, []);
          for (const e of errors)
            assert.ok(
              reasons.some((re) => re.test(e.message)),
              e.message,
            );
          continue;
        }
        compiled++;
        if (r.objects.length > 0) withObjects++;
        if (counted(r.objects)) picked++;
        assert.deepEqual(formatDisagreements(reader, ps, w, c.name, r.objects, PORTS, EXTERNALS), []);
      }
    }),
    { numRuns: 600, seed: 12 },
  );
  return { compiled, refused, withObjects, counted: picked };
}
