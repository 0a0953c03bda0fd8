// Property-based fuzzing of the hub's HTTP API against the real hub, etcd and nats-server
// (test/fuzz/properties/http.ts; `npm run fuzz` runs the same properties with many more cases).
import { httpProperties, type HubUnderTest } from '../fuzz/properties/http.ts';
import { startFuzzHub, type FuzzHub } from '../fuzz/hub.ts';
import { describeProperties } from '../fuzz/suite.ts';

describe('fuzz: the hub HTTP API with hostile bodies (fast-check, real hub, etcd and nats-server)', function () {
  this.timeout(120_000);
  let hub: FuzzHub | undefined;
  before(async () => {
    hub = await startFuzzHub();
  });
  after(async () => {
    await hub?.stop();
  });
  const target = (): HubUnderTest => {
    if (hub === undefined) throw new Error('the fuzz hub did not start');
    return hub.target;
  };
  describeProperties(httpProperties(target));
});
