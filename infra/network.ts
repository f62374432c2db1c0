/**
 * Where the Fargate jobs run: the configured subnets and security groups, or the account's default VPC and
 * an egress-only security group the stack creates.
 */
import * as ec2 from "@pulumi/aws/ec2";
import { DefaultVpc } from "@pulumi/awsx/ec2/defaultVpc";
import * as pulumi from "@pulumi/pulumi";
import type { BridgeConfig } from "./config";

export interface JobNetwork {
  subnetIds: pulumi.Output<string[]>;
  securityGroupIds: pulumi.Output<string[]>;
}

/** Subnets and security groups for the compute environment. */
export function createJobNetwork(name: string, config: BridgeConfig, parent: pulumi.Resource): JobNetwork {
  if (config.subnetIds.length > 0 && config.securityGroupIds.length > 0) {
    return {
      subnetIds: pulumi.output(config.subnetIds),
      securityGroupIds: pulumi.output(config.securityGroupIds),
    };
  }
  let vpcId: pulumi.Input<string> = config.vpcId;
  let subnetIds: pulumi.Output<string[]> = pulumi.output(config.subnetIds);
  if (config.subnetIds.length === 0) {
    // The default VPC's subnets are public (no NAT): jobs need a public IP there, which config requires.
    const defaultVpc = new DefaultVpc(`${name}-default-vpc`, {}, { parent });
    vpcId = defaultVpc.vpcId;
    subnetIds = defaultVpc.publicSubnetIds;
  }
  // Jobs only call out (image registry, S3, their own endpoints); nothing may call in.
  const jobSecurityGroup = new ec2.SecurityGroup(
    `${name}-jobs`,
    {
      description: "AWS Batch jobs of sagemaker-batch-bridge: outbound only",
      vpcId,
      egress: [
        {
          description: "Outbound to anywhere",
          protocol: "-1",
          fromPort: 0,
          toPort: 0,
          cidrBlocks: ["0.0.0.0/0"],
          ipv6CidrBlocks: ["::/0"],
        },
      ],
    },
    { parent },
  );
  return { subnetIds, securityGroupIds: pulumi.output([jobSecurityGroup.id]) };
}
