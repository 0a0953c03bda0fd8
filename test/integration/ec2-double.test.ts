// Contract tests of the EC2 Query API TEST DOUBLE (test/harness/ec2-double.ts) through the real
// @aws-sdk/client-ec2: what the SDK sends and parses, paging, filters, the errors and their codes,
// DryRun, throttling and faults, state changes, and the double running as its own process. If the
// double drifts from what the SDK expects of EC2, these fail before the adapter's tests mislead.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcCommand,
  DeleteRouteCommand,
  DeleteSecurityGroupCommand,
  DeleteTagsCommand,
  DeleteTransitGatewayVpcAttachmentCommand,
  DeleteVpcCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTransitGatewayAttachmentsCommand,
  DescribeTransitGatewaysCommand,
  DescribeVpcsCommand,
  EC2Client,
  paginateDescribeRouteTables,
  paginateDescribeSecurityGroupRules,
  ReplaceRouteCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import { readEc2Fixture, startEc2Double, type Ec2Double } from '../harness/ec2-double.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/ec2-journey3.json', import.meta.url));
const VPC = 'vpc-0a1b2c3d4e5f67890';
const TGW = 'tgw-0f1e2d3c4b5a69788';
const GPU_SG = 'sg-0a1b2c3d4e5f60010';
const TABLE_A = 'rtb-0a00000000000000a';

function client(double: Ec2Double, maxAttempts = 1): EC2Client {
  return new EC2Client({ region: 'us-east-1', endpoint: double.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts });
}

/** The error a call rejects with, for its `name` (the EC2 code) and metadata. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; $fault?: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as { name: string; message: string };
  }
  assert.fail('expected the call to fail');
}

describe('EC2 Query API test double, through the real @aws-sdk/client-ec2', () => {
  let double: Ec2Double;
  let ec2: EC2Client;
  beforeEach(async () => {
    double = await startEc2Double({ fixture: await readEc2Fixture(FIXTURE), routeLimit: 6 });
    ec2 = client(double);
  });
  afterEach(async () => {
    ec2.destroy();
    await double.stop();
  });

  it('describes the seeded VPCs, subnets, route tables (with their local routes), transit gateway and attachments as the SDK parses them', async () => {
    const vpcs = await ec2.send(new DescribeVpcsCommand({ VpcIds: [VPC] }));
    assert.deepEqual(
      vpcs.Vpcs?.map((v) => [
        v.VpcId,
        v.CidrBlock,
        v.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock,
        v.IsDefault,
        v.Tags?.find((t) => t.Key === 'Name')?.Value,
      ]),
      [[VPC, '10.16.0.0/16', '2600:1f18:4a1b:1600::/56', false, 'aws-train']],
    );
    const subnets = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [VPC] }] }));
    assert.deepEqual(
      subnets.Subnets?.map((s) => [s.SubnetId, s.CidrBlock, s.AvailabilityZone]),
      [
        ['subnet-0a00000000000001a', '10.16.0.0/20', 'us-east-1a'],
        ['subnet-0a00000000000001b', '10.16.16.0/20', 'us-east-1b'],
        ['subnet-0a00000000000001c', '10.16.32.0/20', 'us-east-1c'],
      ],
    );
    const tables = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [TABLE_A] }));
    const a = tables.RouteTables?.[0];
    assert.deepEqual(
      a?.Routes?.map((r) => [
        r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock,
        r.GatewayId ?? r.NatGatewayId ?? r.VpcPeeringConnectionId,
        r.Origin,
        r.State,
      ]),
      [
        ['10.16.0.0/16', 'local', 'CreateRouteTable', 'active'],
        ['2600:1f18:4a1b:1600::/56', 'local', 'CreateRouteTable', 'active'],
        ['0.0.0.0/0', 'nat-0a1b2c3d4e5f60002', 'CreateRoute', 'active'],
        ['192.168.0.0/16', 'pcx-0a1b2c3d4e5f60003', 'CreateRoute', 'active'],
        ['::/0', 'eigw-0a1b2c3d4e5f6004', 'CreateRoute', 'active'],
      ],
    );
    assert.deepEqual(
      a.Associations?.map((x) => [x.SubnetId, x.Main]),
      [['subnet-0a00000000000001a', false]],
    );
    const tgws = await ec2.send(new DescribeTransitGatewaysCommand({ TransitGatewayIds: [TGW] }));
    assert.deepEqual(
      tgws.TransitGateways?.map((g) => [g.TransitGatewayId, g.State, g.Options?.AmazonSideAsn]),
      [[TGW, 'available', 64513]],
    );
    const attachments = await ec2.send(new DescribeTransitGatewayAttachmentsCommand({ Filters: [{ Name: 'transit-gateway-id', Values: [TGW] }] }));
    assert.deepEqual(
      attachments.TransitGatewayAttachments?.map((x) => [x.TransitGatewayAttachmentId, x.ResourceType, x.ResourceId, x.State]),
      [
        ['tgw-attach-0a1b2c3d4e5f6a7b8', 'vpc', VPC, 'available'],
        ['tgw-attach-0f0f0f0f0f0f0f0f0', 'vpn', 'vpn-0a1b2c3d4e5f60007', 'available'],
      ],
    );
  });

  it('pages with MaxResults and NextToken, and the SDK paginator follows them', async () => {
    const pages: RouteTable[][] = [];
    for await (const page of paginateDescribeRouteTables({ client: ec2, pageSize: 5 }, {})) pages.push(page.RouteTables ?? []);
    assert.deepEqual(
      pages.map((p) => p.length),
      [5, 2],
    );
    assert.equal(new Set(pages.flat().map((t) => t.RouteTableId)).size, 7);
    const rules: string[] = [];
    for await (const page of paginateDescribeSecurityGroupRules({ client: ec2, pageSize: 5 }, {}))
      rules.push(...(page.SecurityGroupRules ?? []).map((r) => r.SecurityGroupRuleId ?? ''));
    assert.equal(rules.length, 4);
    const tooSmall = await failure(ec2.send(new DescribeRouteTablesCommand({ MaxResults: 4 })));
    assert.equal(tooSmall.name, 'InvalidParameterValue');
    const badToken = await failure(ec2.send(new DescribeRouteTablesCommand({ MaxResults: 5, NextToken: 'forged' })));
    assert.equal(badToken.name, 'InvalidNextToken');
  });

  it('filters by id, vpc, tag and tag key, and refuses a filter it does not know', async () => {
    const tagged = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:causeway.dev/routes', Values: ['managed'] }] }));
    assert.deepEqual(
      tagged.RouteTables?.map((t) => t.RouteTableId),
      ['rtb-0a00000000000000a', 'rtb-0a00000000000000b'],
    );
    const main = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [
          { Name: 'vpc-id', Values: [VPC] },
          { Name: 'association.main', Values: ['true'] },
        ],
      }),
    );
    assert.deepEqual(
      main.RouteTables?.map((t) => t.RouteTableId),
      ['rtb-0a000000000000000'],
    );
    const byKey = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag-key', Values: ['causeway.dev/*'] }] }));
    assert.deepEqual(
      byKey.SecurityGroups?.map((g) => g.GroupId),
      [GPU_SG],
    );
    const bad = await failure(ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })));
    assert.deepEqual([bad.name, bad.message], ['InvalidParameterValue', "The filter 'colour' is invalid"]);
    const unknown = await failure(ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-00000000'] })));
    assert.deepEqual(
      [unknown.name, unknown.message, unknown.$metadata?.httpStatusCode],
      ['InvalidVpcID.NotFound', "The vpc ID 'vpc-00000000' does not exist", 400],
    );
  });

  it('creates, replaces and deletes routes, with the errors EC2 gives', async () => {
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW }));
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationIpv6CidrBlock: 'fd00:32::/56', TransitGatewayId: TGW }));
    assert.equal(double.routesOf(TABLE_A)['10.32.0.0/16'], TGW);
    assert.equal(double.routesOf(TABLE_A)['fd00:32::/56'], TGW);
    const again = await failure(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW })));
    assert.deepEqual([again.name, again.message], ['RouteAlreadyExists', 'The route identified by 10.32.0.0/16 already exists.']);
    const noTgw = await failure(
      ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.33.0.0/16', TransitGatewayId: 'tgw-00000000' })),
    );
    assert.equal(noTgw.name, 'InvalidTransitGatewayID.NotFound');
    const hostBits = await failure(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.33.0.1/16', TransitGatewayId: TGW })));
    assert.equal(hostBits.name, 'InvalidParameterValue');
    await ec2.send(new ReplaceRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', VpcPeeringConnectionId: 'pcx-0a1b2c3d4e5f60003' }));
    assert.equal(double.routesOf(TABLE_A)['10.32.0.0/16'], 'pcx-0a1b2c3d4e5f60003');
    await ec2.send(new DeleteRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16' }));
    assert.equal(double.routesOf(TABLE_A)['10.32.0.0/16'], undefined);
    const gone = await failure(ec2.send(new DeleteRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16' })));
    assert.equal(gone.name, 'InvalidRoute.NotFound');
    const local = await failure(ec2.send(new DeleteRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.16.0.0/16' })));
    assert.equal(local.name, 'InvalidParameterValue');
    const noTable = await failure(
      ec2.send(new CreateRouteCommand({ RouteTableId: 'rtb-00000000', DestinationCidrBlock: '10.34.0.0/16', TransitGatewayId: TGW })),
    );
    assert.equal(noTable.name, 'InvalidRouteTableID.NotFound');
  });

  it('holds a route table to its route quota per family (local and propagated routes aside)', async () => {
    // Table b holds two static IPv4 routes and a propagated one; the quota here is 6.
    for (let i = 0; i < 4; i++)
      await ec2.send(new CreateRouteCommand({ RouteTableId: 'rtb-0a00000000000000b', DestinationCidrBlock: `10.${40 + i}.0.0/16`, TransitGatewayId: TGW }));
    const full = await failure(
      ec2.send(new CreateRouteCommand({ RouteTableId: 'rtb-0a00000000000000b', DestinationCidrBlock: '10.50.0.0/16', TransitGatewayId: TGW })),
    );
    assert.equal(full.name, 'RouteLimitExceeded');
    await ec2.send(new CreateRouteCommand({ RouteTableId: 'rtb-0a00000000000000b', DestinationIpv6CidrBlock: 'fd00:50::/56', TransitGatewayId: TGW }));
    // Two local routes (IPv4 and IPv6), three from the fixture, four IPv4 and one IPv6 added.
    assert.equal(Object.keys(double.routesOf('rtb-0a00000000000000b')).length, 10);
  });

  it('answers DryRun with DryRunOperation after the call’s own checks, and changes nothing', async () => {
    const dry = await failure(
      ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW, DryRun: true })),
    );
    assert.deepEqual([dry.name, dry.$metadata?.httpStatusCode], ['DryRunOperation', 412]);
    assert.equal(double.routesOf(TABLE_A)['10.32.0.0/16'], undefined);
    const dryBad = await failure(
      ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '192.168.0.0/16', TransitGatewayId: TGW, DryRun: true })),
    );
    assert.equal(dryBad.name, 'RouteAlreadyExists');
    const dryRule = await failure(
      ec2.send(
        new AuthorizeSecurityGroupEgressCommand({
          GroupId: GPU_SG,
          DryRun: true,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: [{ CidrIp: '10.32.0.0/16' }] }],
        }),
      ),
    );
    assert.equal(dryRule.name, 'DryRunOperation');
    assert.equal(double.rulesOf(GPU_SG).length, 3);
  });

  it('authorizes tagged rules, refuses duplicates, revokes by rule id or by permission', async () => {
    const out = await ec2.send(
      new AuthorizeSecurityGroupEgressCommand({
        GroupId: GPU_SG,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 8000,
            ToPort: 8000,
            IpRanges: [{ CidrIp: '10.32.0.0/16', Description: 'to inference' }],
            Ipv6Ranges: [{ CidrIpv6: 'fd00:32::/56' }],
          },
        ],
        TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: [{ Key: 'causeway.dev/managed-by', Value: 'causeway' }] }],
      }),
    );
    assert.deepEqual(
      out.SecurityGroupRules?.map((r) => [r.IsEgress, r.IpProtocol, r.FromPort, r.ToPort, r.CidrIpv4 ?? r.CidrIpv6, r.Tags?.[0]?.Value]),
      [
        [true, 'tcp', 8000, 8000, '10.32.0.0/16', 'causeway'],
        [true, 'tcp', 8000, 8000, 'fd00:32::/56', 'causeway'],
      ],
    );
    const listed = await ec2.send(
      new DescribeSecurityGroupRulesCommand({
        Filters: [
          { Name: 'group-id', Values: [GPU_SG] },
          { Name: 'tag:causeway.dev/managed-by', Values: ['causeway'] },
        ],
      }),
    );
    assert.equal(listed.SecurityGroupRules?.length, 2);
    const dup = await failure(
      ec2.send(
        new AuthorizeSecurityGroupEgressCommand({
          GroupId: GPU_SG,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: [{ CidrIp: '10.32.0.0/16' }] }],
        }),
      ),
    );
    assert.equal(dup.name, 'InvalidPermission.Duplicate');
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GPU_SG] }));
    const egress = groups.SecurityGroups?.[0]?.IpPermissionsEgress?.find((p) => p.FromPort === 8000);
    assert.deepEqual([egress?.IpRanges?.map((r) => r.CidrIp), egress?.Ipv6Ranges?.map((r) => r.CidrIpv6)], [['10.32.0.0/16'], ['fd00:32::/56']]);

    const ids = (out.SecurityGroupRules ?? []).map((r) => r.SecurityGroupRuleId ?? '');
    const wrongDirection = await failure(ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: GPU_SG, SecurityGroupRuleIds: ids })));
    assert.equal(wrongDirection.name, 'InvalidSecurityGroupRuleId.NotFound');
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: GPU_SG, SecurityGroupRuleIds: ids }));
    await ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: GPU_SG,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '192.0.2.0/24' }] }],
      }),
    );
    assert.deepEqual(
      double.rulesOf(GPU_SG).map((r) => r.id),
      ['sgr-0a1b2c3d4e5f60012', 'sgr-0a1b2c3d4e5f60013'],
    );
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: GPU_SG,
        IpPermissions: [{ IpProtocol: '6', FromPort: 8000, ToPort: 8001, UserIdGroupPairs: [{ GroupId: 'sg-0a1b2c3d4e5f60020' }] }],
      }),
    );
    assert.deepEqual(
      double
        .rulesOf(GPU_SG)
        .map((r) => [r.protocol, r.fromPort, r.toPort, r.referencedGroupId])
        .at(-1),
      ['tcp', 8000, 8001, 'sg-0a1b2c3d4e5f60020'],
    );
  });

  it('throttles with RequestLimitExceeded (503), which the SDK retries by itself', async () => {
    double.throttle(1);
    const err = await failure(ec2.send(new DescribeVpcsCommand({})));
    assert.deepEqual([err.name, err.$metadata?.httpStatusCode], ['RequestLimitExceeded', 503]);
    const retrying = client(double, 3);
    try {
      double.resetCounters();
      double.throttle(2, { match: (r) => r.action === 'DescribeVpcs' });
      const vpcs = await retrying.send(new DescribeVpcsCommand({}));
      assert.equal(vpcs.Vpcs?.length, 2);
      assert.equal(double.calls('DescribeVpcs'), 3);
    } finally {
      retrying.destroy();
    }
  });

  it('fails and delays matching requests on command', async () => {
    double.fail(
      1,
      { code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.', status: 403 },
      { match: (r) => r.action === 'CreateRoute' },
    );
    const denied = await failure(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW })));
    assert.deepEqual([denied.name, denied.$fault, denied.$metadata?.httpStatusCode], ['UnauthorizedOperation', 'client', 403]);
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW }));
    double.delay(150, { match: (r) => r.action === 'DescribeVpcs' });
    const t0 = Date.now();
    await ec2.send(new DescribeVpcsCommand({}));
    assert.ok(Date.now() - t0 >= 140, `answered after ${Date.now() - t0} ms`);
    double.clearFaults();
    const internal = (double.fail(1), await failure(ec2.send(new DescribeVpcsCommand({}))));
    assert.deepEqual([internal.name, internal.$fault], ['InternalError', 'server']);
  });

  it('creates and deletes VPCs, subnets, route tables, transit gateways, attachments, security groups and tags', async () => {
    const vpc =
      (
        await ec2.send(
          new CreateVpcCommand({ CidrBlock: '10.99.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'scratch' }] }] }),
        )
      ).Vpc?.VpcId ?? '';
    assert.match(vpc, /^vpc-[0-9a-f]{17}$/);
    assert.equal(double.state.vpcs.get(vpc)?.tags.Name, 'scratch');
    // A new VPC has a main route table with its local route and a default group allowing all egress.
    const main = [...double.state.routeTables.values()].find((t) => t.vpcId === vpc && t.main);
    assert.deepEqual(main === undefined ? undefined : double.routesOf(main.id), { '10.99.0.0/16': 'local' });
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.99.1.0/24' }))).Subnet?.SubnetId ?? '';
    const outside = await failure(ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.98.1.0/24' })));
    assert.equal(outside.name, 'InvalidSubnet.Range');
    const table = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable?.RouteTableId ?? '';
    const tgw =
      (await ec2.send(new CreateTransitGatewayCommand({ Description: 'scratch', Options: { AmazonSideAsn: 64999 } }))).TransitGateway?.TransitGatewayId ?? '';
    const attachment =
      (await ec2.send(new CreateTransitGatewayVpcAttachmentCommand({ TransitGatewayId: tgw, VpcId: vpc, SubnetIds: [subnet] }))).TransitGatewayVpcAttachment
        ?.TransitGatewayAttachmentId ?? '';
    assert.equal(double.state.attachments.get(attachment)?.resourceId, vpc);
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'scratch', Description: 'scratch' }))).GroupId ?? '';
    assert.deepEqual(
      double.rulesOf(sg).map((r) => [r.egress, r.protocol, r.cidrIpv4]),
      [[true, '-1', '0.0.0.0/0']],
    );
    await ec2.send(new CreateTagsCommand({ Resources: [table, sg], Tags: [{ Key: 'owner', Value: 'me' }] }));
    assert.deepEqual([double.state.routeTables.get(table)?.tags, double.state.securityGroups.get(sg)?.tags], [{ owner: 'me' }, { owner: 'me' }]);
    await ec2.send(new DeleteTagsCommand({ Resources: [table], Tags: [{ Key: 'owner' }] }));
    assert.deepEqual(double.state.routeTables.get(table)?.tags, {});
    const busy = await failure(ec2.send(new DeleteVpcCommand({ VpcId: vpc })));
    assert.equal(busy.name, 'DependencyViolation');
    await ec2.send(new DeleteTransitGatewayVpcAttachmentCommand({ TransitGatewayAttachmentId: attachment }));
    await ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg }));
    assert.equal(double.state.securityGroups.has(sg), false);
    assert.deepEqual(double.rulesOf(sg), []);
  });

  it('counts calls, and those that change state apart', async () => {
    double.resetCounters();
    await ec2.send(new DescribeRouteTablesCommand({}));
    await ec2.send(new DescribeVpcsCommand({}));
    await failure(ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW, DryRun: true })));
    await ec2.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: TGW }));
    assert.deepEqual([double.calls(), double.calls('CreateRoute'), double.mutatingCalls()], [4, 2, 2]);
  });
});

describe('EC2 Query API test double as its own process (the demo runs it so)', () => {
  it('serves from a fixture, prints its endpoint, and exits on SIGTERM', async () => {
    const script = fileURLToPath(new URL('../harness/ec2-double.ts', import.meta.url));
    const child = spawn(process.execPath, [script, '--fixture', FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const { endpoint } = JSON.parse(line.toString('utf8')) as { endpoint: string };
      const ec2 = new EC2Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
      const vpcs = await ec2.send(new DescribeVpcsCommand({}));
      ec2.destroy();
      assert.equal(vpcs.Vpcs?.length, 2);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }
  });
});
