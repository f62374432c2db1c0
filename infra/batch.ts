/**
 * AWS Batch on Fargate: the jobs' log group, their two roles, a managed compute environment, a job queue and
 * a job definition per job kind, which the submit function uses.
 */
import * as iam from "@pulumi/aws/iam";
import * as batch from "@pulumi/aws/batch";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as pulumi from "@pulumi/pulumi";
import { jobLogGroupName } from "../functions/job-names";
import { defaultJobKind } from "../functions/step-contract";
import type { BridgeConfig, JobKind } from "./config";
import {
  batchExecutionPolicy,
  batchJobPolicy,
  privateEcrRepositoryArn,
  servicePrincipals,
  type AwsScope,
} from "./iam-policies";
import { createServiceRole } from "./iam";
import type { JobNetwork } from "./network";

export interface BatchResources {
  jobLogGroup: cloudwatch.LogGroup;
  computeEnvironment: batch.ComputeEnvironment;
  jobQueue: batch.JobQueue;
  /** The default kind's job definition (the top-level keys). */
  jobDefinition: batch.JobDefinition;
  /** Every kind's job definition by kind name, the default kind's included. */
  jobDefinitions: Record<string, batch.JobDefinition>;
}

export interface BatchArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  network: JobNetwork;
  bucketName: pulumi.Output<string>;
}

/**
 * Retry what the infrastructure broke, exit on everything else. Batch allows 5 entries and RETRIES a
 * failure that matches none, hence the final catch-all EXIT.
 */
export interface RetryCondition {
  action: "RETRY" | "EXIT";
  /** Glob on the job's statusReason. */
  onStatusReason?: string;
  /** Glob on the container's reason. */
  onReason?: string;
}

export const jobRetryConditions: RetryCondition[] = [
  // Fargate Spot reclaimed the task (ECS's stop reason); jobs never run on EC2 hosts here.
  { onStatusReason: "Your Spot Task was interrupted*", action: "RETRY" },
  { onReason: "CannotPullContainerError*", action: "RETRY" },
  { onReason: "ResourceInitializationError*", action: "RETRY" },
  { onStatusReason: "Timeout waiting for network interface*", action: "RETRY" },
  { onReason: "*", action: "EXIT" },
];

/** The Batch resources that run the jobs. */
export function createBatch(name: string, args: BatchArgs, parent: pulumi.Resource): BatchResources {
  const { config, scope } = args;
  const opts = { parent };

  const jobLogGroup = new cloudwatch.LogGroup(
    `${name}-jobs`,
    { name: jobLogGroupName(config.jobDefinitionName), retentionInDays: config.logRetentionDays },
    opts,
  );

  const executionRole = createServiceRole(
    `${name}-batch-execution`,
    {
      service: servicePrincipals.ecsTasks,
      description: "Starts the bridge's Batch jobs: pulls the image, writes the job logs.",
      policy: pulumi.all([scope, jobLogGroup.arn]).apply(([s, jobLogGroupArn]) =>
        batchExecutionPolicy({
          jobLogGroupArn,
          ecrRepositoryArns: config.kinds
            .map((kind) => privateEcrRepositoryArn(kind.image, s.partition))
            .filter((arn): arn is string => arn !== undefined),
        }),
      ),
    },
    parent,
  );
  const jobRole = createServiceRole(
    `${name}-batch-job`,
    {
      service: servicePrincipals.ecsTasks,
      description: "The bridge's Batch jobs: read the input and output prefixes, write the output prefix.",
      policy: pulumi.all([scope, args.bucketName]).apply(([s, bucketName]) =>
        batchJobPolicy({
          partition: s.partition,
          bucketName,
          inputPrefix: config.inputPrefix,
          outputPrefix: config.outputPrefix,
        }),
      ),
    },
    parent,
  );

  // No serviceRole: Batch uses its service-linked role. Fargate takes no instance settings.
  const computeEnvironment = new batch.ComputeEnvironment(
    `${name}-fargate`,
    {
      name: config.computeEnvironmentName,
      type: "MANAGED",
      state: "ENABLED",
      computeResources: {
        type: config.capacityType,
        maxVcpus: config.maxVcpus,
        subnets: args.network.subnetIds,
        securityGroupIds: args.network.securityGroupIds,
      },
    },
    opts,
  );

  const jobQueue = new batch.JobQueue(
    `${name}-jobs`,
    {
      name: config.jobQueueName,
      state: "ENABLED",
      priority: 1,
      computeEnvironmentOrders: [{ order: 1, computeEnvironment: computeEnvironment.arn }],
    },
    opts,
  );

  const jobDefinitions = Object.fromEntries(
    config.kinds.map((kind) => [
      kind.name,
      createJobDefinition(
        name,
        kind,
        {
          config,
          scope,
          bucketName: args.bucketName,
          roles: { executionRole: executionRole.role, jobRole: jobRole.role },
          jobLogGroup,
          // The roles must hold their permissions before the first job starts.
          dependsOn: [executionRole.policy, jobRole.policy],
        },
        parent,
      ),
    ]),
  );

  return {
    jobLogGroup,
    computeEnvironment,
    jobQueue,
    jobDefinition: jobDefinitions[defaultJobKind],
    jobDefinitions,
  };
}

interface JobDefinitionArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  bucketName: pulumi.Output<string>;
  roles: { executionRole: iam.Role; jobRole: iam.Role };
  jobLogGroup: cloudwatch.LogGroup;
  dependsOn: pulumi.Resource[];
}

/**
 * One kind's job definition: its image, command, size, variables, time limit and attempts; the roles, logs
 * and network every kind shares. The default kind's is `<name>-job`, as in a stack without job kinds, so
 * that adding a kind does not replace it.
 */
function createJobDefinition(
  name: string,
  kind: JobKind,
  args: JobDefinitionArgs,
  parent: pulumi.Resource,
): batch.JobDefinition {
  const { config, scope, roles } = args;
  const isDefault = kind.name === defaultJobKind;
  const environment = Object.entries(kind.environment)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([variable, value]) => ({ name: variable, value }));
  return new batch.JobDefinition(
    isDefault ? `${name}-job` : `${name}-job-${kind.name}`,
    {
      name: kind.jobDefinitionName,
      type: "container",
      platformCapabilities: ["FARGATE"],
      containerProperties: pulumi
        .all([scope, roles.executionRole.arn, roles.jobRole.arn, args.jobLogGroup.name])
        .apply(([s, executionRoleArn, jobRoleArn, logGroupName]) =>
          JSON.stringify({
            image: kind.image,
            command: kind.command,
            resourceRequirements: [
              { type: "VCPU", value: String(kind.vcpu) },
              { type: "MEMORY", value: String(kind.memoryMiB) },
            ],
            ...(environment.length > 0 ? { environment } : {}),
            executionRoleArn,
            jobRoleArn,
            logConfiguration: {
              logDriver: "awslogs",
              options: {
                "awslogs-group": logGroupName,
                "awslogs-region": s.region,
                // Streams are <prefix>/<container>/<task id>: the kind tells them apart.
                "awslogs-stream-prefix": isDefault ? "job" : kind.name,
              },
            },
            networkConfiguration: { assignPublicIp: config.assignPublicIp ? "ENABLED" : "DISABLED" },
            fargatePlatformConfiguration: { platformVersion: "LATEST" },
          }),
        ),
      // Defaults for the Ref:: placeholders of the command; each submission passes its own.
      parameters: args.bucketName.apply((bucket) => ({
        inputUri: `s3://${bucket}/${config.inputPrefix}`,
        outputUri: `s3://${bucket}/${config.outputPrefix}`,
        shardIndex: "0",
        shardCount: "1",
      })),
      timeout: { attemptDurationSeconds: kind.jobTimeoutSeconds },
      retryStrategy: { attempts: kind.jobAttempts, evaluateOnExits: jobRetryConditions },
      // Jobs carry the tags given at submission (the execution tag) onto their ECS tasks.
      propagateTags: true,
    },
    { parent, dependsOn: args.dependsOn },
  );
}
