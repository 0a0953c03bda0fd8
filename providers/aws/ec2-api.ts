// The narrow EC2 port the AWS adapter works through: plain records in, plain records out, the
// contract's named errors for every failure. `ec2-sdk.ts` implements it with @aws-sdk/client-ec2
// (the one file that imports the SDK); nothing else in the adapter sees an SDK type or error.
import type { Protocol } from '../model/model.ts';
import type { MutationOutcome } from '../model/reconcile.ts';
import { QuotaExceededError, ThrottledError, type CallGate } from '../model/provider-errors.ts';

export interface Tag {
  readonly key: string;
  readonly value: string;
}

export type RouteTargetField = 'gateway' | 'transit-gateway' | 'vpc-peering' | 'nat-gateway' | 'network-interface' | 'instance' | 'other';

export interface RouteRecordEc2 {
  readonly destination: string;
  readonly targetField: RouteTargetField;
  /** The target's id (`local` for the VPC's own route). */
  readonly targetId: string;
  readonly origin: 'local' | 'static' | 'propagated';
  readonly state: 'active' | 'blackhole';
}

export interface RouteTableEc2 {
  readonly id: string;
  readonly vpcId: string;
  readonly main: boolean;
  readonly tags: readonly Tag[];
  readonly routes: readonly RouteRecordEc2[];
}

export interface VpcEc2 {
  readonly id: string;
  readonly cidrs: readonly string[];
}

export interface TransitGatewayEc2 {
  readonly id: string;
  readonly state: string;
}

export interface AttachmentEc2 {
  readonly id: string;
  readonly transitGatewayId: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly state: string;
}

export interface SecurityGroupEc2 {
  readonly id: string;
  readonly vpcId: string;
  readonly name: string;
  readonly tags: readonly Tag[];
}

/** One rule as EC2 keys it: direction, protocol (`tcp`, `udp`, `132`, `-1`), port range, one peer. */
export interface RuleSpec {
  readonly egress: boolean;
  readonly protocol: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly cidrIpv4?: string;
  readonly cidrIpv6?: string;
  readonly description?: string;
}

export interface RuleEc2 extends RuleSpec {
  readonly id: string;
  readonly groupId: string;
  /** The rule references another group or a prefix list (never Causeway's). */
  readonly referencesOther: boolean;
  readonly tags: readonly Tag[];
}

export type { MutationOutcome };

export interface MutationOptions {
  readonly dryRun?: boolean;
  readonly signal: AbortSignal;
}

export type { CallGate };

export interface Ec2Api {
  describeVpc(vpcId: string, signal: AbortSignal): Promise<VpcEc2>;
  /** Every route table of the VPC, all pages. */
  describeRouteTables(vpcId: string, signal: AbortSignal): Promise<RouteTableEc2[]>;
  describeTransitGateway(id: string, signal: AbortSignal): Promise<TransitGatewayEc2>;
  describeAttachment(id: string, signal: AbortSignal): Promise<AttachmentEc2>;
  /** Every security group of the VPC, all pages. */
  describeSecurityGroups(vpcId: string, signal: AbortSignal): Promise<SecurityGroupEc2[]>;
  /** The rules of these groups, plus any rule anywhere carrying `tag`, all pages. */
  describeRules(groupIds: readonly string[], tag: Tag, signal: AbortSignal): Promise<RuleEc2[]>;
  createRoute(table: string, destination: string, target: { field: RouteTargetField; id: string }, options: MutationOptions): Promise<MutationOutcome>;
  replaceRoute(table: string, destination: string, target: { field: RouteTargetField; id: string }, options: MutationOptions): Promise<MutationOutcome>;
  deleteRoute(table: string, destination: string, options: MutationOptions): Promise<MutationOutcome>;
  authorize(groupId: string, egress: boolean, rules: readonly RuleSpec[], tags: readonly Tag[], options: MutationOptions): Promise<MutationOutcome>;
  revoke(groupId: string, egress: boolean, ruleIds: readonly string[], options: MutationOptions): Promise<MutationOutcome>;
}

// Shared by every adapter (providers/model/provider-errors.ts); re-exported for the EC2 port's users.
export { QuotaExceededError, ThrottledError };

/** EC2's protocol names for the model's protocols. */
export function ec2Protocol(p: Protocol): string {
  switch (p) {
    case 'TCP':
      return 'tcp';
    case 'UDP':
      return 'udp';
    case 'SCTP':
      return '132';
  }
}
