// What the VIP watch gives the service model (hub/vip-changes.ts): an assignment, a removal, and
// nothing for a record or key it cannot read.
import assert from 'node:assert/strict';
import { VIPS_PREFIX } from '../../../controlplane/api/keys.ts';
import { vipChanges } from '../../../controlplane/hub/vip-changes.ts';

const record = (ip: string): string => JSON.stringify({ ip, pool: 'vips', allocatedAt: '2026-12-01T00:00:00Z' });

describe('VIP watch → model changes (hub/vip-changes.ts)', () => {
  it('an assignment gives its address, a deleted one none; unreadable records and keys change nothing', () => {
    const changes = vipChanges([
      { key: `${VIPS_PREFIX}inference/llm`, value: record('10.96.0.7'), modRevision: 5 },
      { key: `${VIPS_PREFIX}inference/gone`, value: undefined, modRevision: 6 },
      { key: `${VIPS_PREFIX}inference/torn`, value: '{"ip": 7', modRevision: 7 },
      { key: `${VIPS_PREFIX}inference/half`, value: JSON.stringify({ ip: '10.96.0.9' }), modRevision: 8 },
      { key: `${VIPS_PREFIX}no-slash`, value: record('10.96.0.8'), modRevision: 9 },
      { key: '/elsewhere/inference/llm', value: record('10.96.0.8'), modRevision: 10 },
    ]);
    assert.deepEqual(changes, [
      { namespace: 'inference', name: 'llm', vip: '10.96.0.7' },
      { namespace: 'inference', name: 'gone', vip: undefined },
    ]);
  });
});
