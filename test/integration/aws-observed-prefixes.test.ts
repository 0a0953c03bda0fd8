// The AWS adapter reports the VPC's CIDR blocks (IPv4 and IPv6) as the Network's observed prefixes
// (result.status.observedPrefixes, which the hub's NetworkController writes into the Network's
// status, where the IPAM overlap checks read them). Against the EC2 Query API TEST DOUBLE through
// the real @aws-sdk/client-ec2.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { EC2Client } from '@aws-sdk/client-ec2';
import { FixedIntentSource } from '../../providers/model/intents.ts';
import { MemoryRouteOwnership } from '../../providers/model/ownership.ts';
import { buildModel } from '../../providers/model/translate.ts';
import { AwsVpcAdapter } from '../../providers/aws/aws-vpc-adapter.ts';
import { SdkEc2Api } from '../../providers/aws/ec2-sdk.ts';
import { JOURNEY3_SERVICES } from '../fixtures/providers/journey3-services.ts';
import { journey3 } from '../fixtures/providers/journey3.ts';
import { readEc2Fixture, startEc2Double } from '../harness/ec2-double.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/ec2-journey3.json', import.meta.url));
const VPC = 'vpc-0a1b2c3d4e5f67890';

describe('AWS adapter: observed VPC CIDRs (EC2 test double)', () => {
  it('reports every CIDR block of the VPC, and a block associated later on the next reconcile', async () => {
    const double = await startEc2Double({ fixture: await readEc2Fixture(FIXTURE) });
    const client = new EC2Client({
      region: 'us-east-1',
      endpoint: double.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    try {
      const adapter = new AwsVpcAdapter({
        api: (_d, gate) => new SdkEc2Api({ client, gate, pageSize: 5 }),
        ownership: new MemoryRouteOwnership(),
        intents: new FixedIntentSource({ model: buildModel(journey3()), services: JOURNEY3_SERVICES }),
        budget: { ratePerSecond: 1000, burst: 1000, throttleBackoff: { baseMs: 10, maxMs: 80 } },
      });
      const first = await adapter.reconcile('aws-train-vpc', new AbortController().signal);
      assert.deepEqual(first.status, { observedPrefixes: ['10.16.0.0/16', '2600:1f18:4a1b:1600::/56'] });
      // A secondary CIDR associated outside Causeway (as `aws ec2 associate-vpc-cidr-block` would).
      double.state.vpcs.get(VPC)?.cidrBlocks.push('100.64.0.0/16');
      const second = await adapter.reconcile('aws-train-vpc', new AbortController().signal);
      assert.deepEqual(second.status, { observedPrefixes: ['10.16.0.0/16', '100.64.0.0/16', '2600:1f18:4a1b:1600::/56'] });
    } finally {
      client.destroy();
      await double.stop();
    }
  });
});
