// The Ec2Api port on @aws-sdk/client-ec2: the only module that imports the SDK (ADR 0013). It pages
// every Describe by hand so that each page passes the domain's call gate (budget and backoff), maps
// SDK shapes to the port's plain records, and translates every SDK exception at this boundary into
// the contract's named errors, so no SDK type or error reaches the adapter's logic or the hub.
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeTransitGatewayAttachmentsCommand,
  DescribeTransitGatewaysCommand,
  DescribeVpcsCommand,
  EC2Client,
  ReplaceRouteCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2ClientConfig,
  type IpPermission,
  type Route,
  type SecurityGroupRule,
  type Tag as SdkTag,
} from '@aws-sdk/client-ec2';
import {
  AlreadyExistsError,
  CausewayError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../controlplane/api/errors.ts';
import {
  QuotaExceededError,
  ThrottledError,
  type AttachmentEc2,
  type CallGate,
  type Ec2Api,
  type MutationOptions,
  type MutationOutcome,
  type RouteRecordEc2,
  type RouteTableEc2,
  type RouteTargetField,
  type RuleEc2,
  type RuleSpec,
  type SecurityGroupEc2,
  type Tag,
  type TransitGatewayEc2,
  type VpcEc2,
} from './ec2-api.ts';

const OPEN_GATE: CallGate = { run: (call) => call() };

export interface SdkEc2ApiOptions {
  readonly client: EC2Client;
  readonly gate?: CallGate;
  /** MaxResults of every Describe page (5..100 for route tables); default 100. */
  readonly pageSize?: number;
}

/** An EC2 client for one region; credentials come from the SDK's default chain unless given. */
export function ec2Client(config: EC2ClientConfig): EC2Client {
  return new EC2Client(config);
}

const THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
]);
const CREDENTIALS = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'ExpiredToken',
  'RequestExpired',
  'CredentialsProviderError',
]);
const DENIED = new Set(['UnauthorizedOperation', 'OptInRequired', 'Blocked', 'AccessDenied', 'AccessDeniedException']);
const DUPLICATE = new Set(['RouteAlreadyExists', 'InvalidPermission.Duplicate', 'InvalidGroup.Duplicate']);

interface SdkErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** An SDK (or transport) failure as one of the contract's named errors, saying what was being done. */
export function translateEc2Error(err: unknown, what: string): CausewayError {
  if (err instanceof CausewayError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const code = typeof e.name === 'string' ? e.name : 'Error';
  const message = `${what}: EC2 ${code}: ${typeof e.message === 'string' ? e.message : String(err)}`;
  const status = e.$metadata?.httpStatusCode;
  const options = { cause: err };
  if (THROTTLING.has(code) || status === 429) return new ThrottledError(message, options);
  if (CREDENTIALS.has(code)) return new UnauthorizedError(message, options);
  if (DENIED.has(code) || status === 403) return new ForbiddenError(message, options);
  if (code.endsWith('.NotFound') || code.endsWith('.Malformed')) return new NotFoundError(message, options);
  if (DUPLICATE.has(code)) return new AlreadyExistsError(message, options);
  if (code.endsWith('LimitExceeded')) return new QuotaExceededError(message, options);
  if (e.$fault === 'client' && status !== undefined && status < 500) {
    return new InvalidInputError([{ field: '', message }], options);
  }
  // Server faults, timeouts, refused or reset connections, aborts: nothing is known to have happened.
  return new UnavailableError(message, options);
}

export class SdkEc2Api implements Ec2Api {
  private readonly client: EC2Client;
  private readonly gate: CallGate;
  private readonly pageSize: number;

  constructor(options: SdkEc2ApiOptions) {
    this.client = options.client;
    this.gate = options.gate ?? OPEN_GATE;
    this.pageSize = options.pageSize ?? 100;
  }

  private call<T>(what: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    return this.gate.run(async () => {
      try {
        return await fn();
      } catch (err) {
        throw translateEc2Error(err, what);
      }
    }, signal);
  }

  private async mutate(what: string, options: MutationOptions, fn: () => Promise<unknown>): Promise<MutationOutcome> {
    return this.gate.run(async () => {
      try {
        await fn();
        return 'done';
      } catch (err) {
        if ((err as SdkErrorShape | undefined)?.name === 'DryRunOperation') return 'would-succeed';
        throw translateEc2Error(err, what);
      }
    }, options.signal);
  }

  /** Every page of a Describe, each page one gated call. */
  private async pages<P extends { NextToken?: string | undefined }, I>(
    what: string,
    signal: AbortSignal,
    fetch: (token: string | undefined) => Promise<P>,
    items: (page: P) => readonly I[] | undefined,
  ): Promise<I[]> {
    const out: I[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(what, signal, () => fetch(token));
      out.push(...(items(page) ?? []));
      token = page.NextToken;
    } while (token !== undefined && token !== '');
    return out;
  }

  async describeVpc(vpcId: string, signal: AbortSignal): Promise<VpcEc2> {
    const out = await this.call(`describing VPC ${vpcId}`, signal, () =>
      this.client.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }), { abortSignal: signal }),
    );
    const v = out.Vpcs?.[0];
    if (v === undefined) throw new NotFoundError(`VPC ${vpcId} does not exist`);
    const cidrs = [...(v.CidrBlockAssociationSet ?? []).map((a) => a.CidrBlock), ...(v.Ipv6CidrBlockAssociationSet ?? []).map((a) => a.Ipv6CidrBlock)];
    return { id: vpcId, cidrs: cidrs.filter((c): c is string => c !== undefined) };
  }

  describeRouteTables(vpcId: string, signal: AbortSignal): Promise<RouteTableEc2[]> {
    return this.pages(
      `listing the route tables of ${vpcId}`,
      signal,
      (token) =>
        this.client.send(
          new DescribeRouteTablesCommand({
            Filters: [{ Name: 'vpc-id', Values: [vpcId] }],
            MaxResults: Math.min(this.pageSize, 100),
            ...(token !== undefined ? { NextToken: token } : {}),
          }),
          {
            abortSignal: signal,
          },
        ),
      (page) =>
        page.RouteTables?.map((t) => ({
          id: t.RouteTableId ?? '',
          vpcId: t.VpcId ?? vpcId,
          main: (t.Associations ?? []).some((a) => a.Main === true),
          tags: tags(t.Tags),
          routes: (t.Routes ?? []).map(route).filter((r): r is RouteRecordEc2 => r !== undefined),
        })),
    );
  }

  async describeTransitGateway(id: string, signal: AbortSignal): Promise<TransitGatewayEc2> {
    const out = await this.call(`describing transit gateway ${id}`, signal, () =>
      this.client.send(new DescribeTransitGatewaysCommand({ TransitGatewayIds: [id] }), { abortSignal: signal }),
    );
    const g = out.TransitGateways?.[0];
    if (g === undefined) throw new NotFoundError(`transit gateway ${id} does not exist`);
    return { id, state: g.State ?? 'unknown' };
  }

  async describeAttachment(id: string, signal: AbortSignal): Promise<AttachmentEc2> {
    const out = await this.call(`describing transit gateway attachment ${id}`, signal, () =>
      this.client.send(new DescribeTransitGatewayAttachmentsCommand({ TransitGatewayAttachmentIds: [id] }), { abortSignal: signal }),
    );
    const a = out.TransitGatewayAttachments?.[0];
    if (a === undefined) throw new NotFoundError(`transit gateway attachment ${id} does not exist`);
    return { id, transitGatewayId: a.TransitGatewayId ?? '', resourceType: a.ResourceType ?? '', resourceId: a.ResourceId ?? '', state: a.State ?? 'unknown' };
  }

  describeSecurityGroups(vpcId: string, signal: AbortSignal): Promise<SecurityGroupEc2[]> {
    return this.pages(
      `listing the security groups of ${vpcId}`,
      signal,
      (token) =>
        this.client.send(
          new DescribeSecurityGroupsCommand({
            Filters: [{ Name: 'vpc-id', Values: [vpcId] }],
            MaxResults: this.pageSize,
            ...(token !== undefined ? { NextToken: token } : {}),
          }),
          {
            abortSignal: signal,
          },
        ),
      (page) => page.SecurityGroups?.map((g) => ({ id: g.GroupId ?? '', vpcId: g.VpcId ?? vpcId, name: g.GroupName ?? '', tags: tags(g.Tags) })),
    );
  }

  async describeRules(groupIds: readonly string[], tag: Tag, signal: AbortSignal): Promise<RuleEc2[]> {
    const byId = new Map<string, RuleEc2>();
    const filters: { Name: string; Values: string[] }[][] = [];
    // EC2 takes at most 200 values per filter.
    for (let i = 0; i < groupIds.length; i += 200) filters.push([{ Name: 'group-id', Values: groupIds.slice(i, i + 200) }]);
    filters.push([{ Name: `tag:${tag.key}`, Values: [tag.value] }]);
    for (const f of filters) {
      const rules = await this.pages(
        'listing security group rules',
        signal,
        (token) =>
          this.client.send(
            new DescribeSecurityGroupRulesCommand({ Filters: f, MaxResults: this.pageSize, ...(token !== undefined ? { NextToken: token } : {}) }),
            { abortSignal: signal },
          ),
        (page) => page.SecurityGroupRules?.map(rule),
      );
      for (const r of rules) byId.set(r.id, r);
    }
    return [...byId.values()];
  }

  createRoute(table: string, destination: string, target: { field: RouteTargetField; id: string }, options: MutationOptions): Promise<MutationOutcome> {
    return this.mutate(`creating the route ${destination} via ${target.id} in ${table}`, options, () =>
      this.client.send(new CreateRouteCommand({ RouteTableId: table, ...destinationParam(destination), ...targetParam(target), ...dryRun(options) }), {
        abortSignal: options.signal,
      }),
    );
  }

  replaceRoute(table: string, destination: string, target: { field: RouteTargetField; id: string }, options: MutationOptions): Promise<MutationOutcome> {
    return this.mutate(`pointing the route ${destination} in ${table} at ${target.id}`, options, () =>
      this.client.send(new ReplaceRouteCommand({ RouteTableId: table, ...destinationParam(destination), ...targetParam(target), ...dryRun(options) }), {
        abortSignal: options.signal,
      }),
    );
  }

  deleteRoute(table: string, destination: string, options: MutationOptions): Promise<MutationOutcome> {
    return this.mutate(`deleting the route ${destination} in ${table}`, options, () =>
      this.client.send(new DeleteRouteCommand({ RouteTableId: table, ...destinationParam(destination), ...dryRun(options) }), { abortSignal: options.signal }),
    );
  }

  authorize(groupId: string, egress: boolean, rules: readonly RuleSpec[], ruleTags: readonly Tag[], options: MutationOptions): Promise<MutationOutcome> {
    const input = {
      GroupId: groupId,
      IpPermissions: rules.map(permission),
      TagSpecifications: [{ ResourceType: 'security-group-rule' as const, Tags: ruleTags.map((t) => ({ Key: t.key, Value: t.value })) }],
      ...dryRun(options),
    };
    const what = `allowing ${rules.length} ${egress ? 'egress' : 'ingress'} rule(s) in ${groupId}`;
    return this.mutate(what, options, () =>
      egress
        ? this.client.send(new AuthorizeSecurityGroupEgressCommand(input), { abortSignal: options.signal })
        : this.client.send(new AuthorizeSecurityGroupIngressCommand(input), { abortSignal: options.signal }),
    );
  }

  revoke(groupId: string, egress: boolean, ruleIds: readonly string[], options: MutationOptions): Promise<MutationOutcome> {
    const input = { GroupId: groupId, SecurityGroupRuleIds: [...ruleIds], ...dryRun(options) };
    return this.mutate(`revoking ${ruleIds.join(', ')} in ${groupId}`, options, () =>
      egress
        ? this.client.send(new RevokeSecurityGroupEgressCommand(input), { abortSignal: options.signal })
        : this.client.send(new RevokeSecurityGroupIngressCommand(input), { abortSignal: options.signal }),
    );
  }
}

// ---- shapes --------------------------------------------------------------------------------

function tags(t: readonly SdkTag[] | undefined): Tag[] {
  return (t ?? []).map((x) => ({ key: x.Key ?? '', value: x.Value ?? '' }));
}

function route(r: Route): RouteRecordEc2 | undefined {
  // Prefix-list destinations (pl-...) name no CIDR the planner can compare; they are never Causeway's.
  const destination = r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock;
  if (destination === undefined) return undefined;
  const [targetField, targetId] = targetOf(r);
  const origin = r.Origin === 'CreateRouteTable' ? 'local' : r.Origin === 'EnableVgwRoutePropagation' ? 'propagated' : 'static';
  return { destination, targetField, targetId, origin, state: r.State === 'blackhole' ? 'blackhole' : 'active' };
}

function targetOf(r: Route): [RouteTargetField, string] {
  if (r.GatewayId !== undefined) return ['gateway', r.GatewayId];
  if (r.TransitGatewayId !== undefined) return ['transit-gateway', r.TransitGatewayId];
  if (r.VpcPeeringConnectionId !== undefined) return ['vpc-peering', r.VpcPeeringConnectionId];
  if (r.NatGatewayId !== undefined) return ['nat-gateway', r.NatGatewayId];
  if (r.InstanceId !== undefined) return ['instance', r.InstanceId];
  if (r.NetworkInterfaceId !== undefined) return ['network-interface', r.NetworkInterfaceId];
  return ['other', r.EgressOnlyInternetGatewayId ?? r.CarrierGatewayId ?? r.LocalGatewayId ?? r.CoreNetworkArn ?? 'unknown'];
}

function rule(r: SecurityGroupRule): RuleEc2 {
  return {
    id: r.SecurityGroupRuleId ?? '',
    groupId: r.GroupId ?? '',
    egress: r.IsEgress === true,
    protocol: r.IpProtocol ?? '-1',
    fromPort: r.FromPort ?? -1,
    toPort: r.ToPort ?? -1,
    ...(r.CidrIpv4 !== undefined ? { cidrIpv4: r.CidrIpv4 } : {}),
    ...(r.CidrIpv6 !== undefined ? { cidrIpv6: r.CidrIpv6 } : {}),
    ...(r.Description !== undefined ? { description: r.Description } : {}),
    referencesOther: r.ReferencedGroupInfo !== undefined || r.PrefixListId !== undefined,
    tags: tags(r.Tags),
  };
}

function permission(r: RuleSpec): IpPermission {
  const range = r.description !== undefined ? { Description: r.description } : {};
  return {
    IpProtocol: r.protocol,
    FromPort: r.fromPort,
    ToPort: r.toPort,
    ...(r.cidrIpv4 !== undefined ? { IpRanges: [{ CidrIp: r.cidrIpv4, ...range }] } : {}),
    ...(r.cidrIpv6 !== undefined ? { Ipv6Ranges: [{ CidrIpv6: r.cidrIpv6, ...range }] } : {}),
  };
}

function destinationParam(destination: string): { DestinationCidrBlock: string } | { DestinationIpv6CidrBlock: string } {
  return destination.includes(':') ? { DestinationIpv6CidrBlock: destination } : { DestinationCidrBlock: destination };
}

function targetParam(target: {
  field: RouteTargetField;
  id: string;
}): { TransitGatewayId: string } | { GatewayId: string } | { VpcPeeringConnectionId: string } {
  switch (target.field) {
    case 'transit-gateway':
      return { TransitGatewayId: target.id };
    case 'vpc-peering':
      return { VpcPeeringConnectionId: target.id };
    case 'gateway':
      return { GatewayId: target.id };
    case 'nat-gateway':
    case 'network-interface':
    case 'instance':
    case 'other':
      throw new InvalidInputError([{ field: '', message: `Causeway does not program routes to ${target.field} ${target.id}` }]);
  }
}

function dryRun(options: MutationOptions): { DryRun?: boolean } {
  return options.dryRun === true ? { DryRun: true } : {};
}
