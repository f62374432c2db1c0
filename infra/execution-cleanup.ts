/**
 * The clean-up of ended executions: an EventBridge rule on SageMaker's pipeline execution status-change
 * events (the stack's pipeline, ended Stopped or Failed) that puts each event on the clean-up queue, with
 * a dead-letter queue for events it could not deliver and for messages the clean-up function could not
 * read. The clean-up function (functions.ts) consumes the queue; the submit function hands it what a
 * failed submission could not terminate in time.
 */
import * as sqs from "@pulumi/aws/sqs";
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as pulumi from "@pulumi/pulumi";
import { executionStatusChangePattern } from "../functions/execution-status-change";
import { messageRetentionSeconds, type BridgeConfig } from "./config";
import { ruleDeliveryQueuePolicy } from "./iam-policies";

/** Lambda's recommendation: a visibility timeout of six times the function's timeout (SQS's limit: 12 h). */
const visibilityTimeoutsPerFunctionTimeout = 6;
const longestVisibilityTimeoutSeconds = 43_200;
/**
 * Receives before a message goes to the dead-letter queue. The function puts a clean-up that must go on
 * back as a new message, so only a message it cannot read, or invocations that keep ending at their
 * timeout, come back this often.
 */
export const cleanupMaxReceiveCount = 5;
/** EventBridge's longest retry of a delivery: 24 hours, 185 attempts. */
const eventBridgeRetryPolicy = { maximumEventAgeInSeconds: 86_400, maximumRetryAttempts: 185 };

export interface CleanupQueues {
  cleanupQueue: sqs.Queue;
  cleanupDeadLetterQueue: sqs.Queue;
}

/** The clean-up queue and its dead-letter queue, both encrypted and keeping messages 14 days. */
export function createCleanupQueues(
  name: string,
  config: BridgeConfig,
  parent: pulumi.Resource,
): CleanupQueues {
  const cleanupDeadLetterQueue = new sqs.Queue(
    `${name}-cleanup-dlq`,
    { name: `${config.cleanupQueueName}-dlq`, messageRetentionSeconds, sqsManagedSseEnabled: true },
    { parent },
  );
  const cleanupQueue = new sqs.Queue(
    `${name}-cleanup`,
    {
      name: config.cleanupQueueName,
      visibilityTimeoutSeconds: Math.min(
        config.monitorTimeoutSeconds * visibilityTimeoutsPerFunctionTimeout,
        longestVisibilityTimeoutSeconds,
      ),
      messageRetentionSeconds,
      sqsManagedSseEnabled: true,
      redrivePolicy: cleanupDeadLetterQueue.arn.apply((deadLetterTargetArn) =>
        JSON.stringify({ deadLetterTargetArn, maxReceiveCount: cleanupMaxReceiveCount }),
      ),
    },
    { parent },
  );
  return { cleanupQueue, cleanupDeadLetterQueue };
}

export interface ExecutionEndsArgs {
  config: BridgeConfig;
  /** The pipelines whose executions' ends are routed. */
  pipelineArns: pulumi.Output<string[]>;
  queues: CleanupQueues;
}

export interface ExecutionEndRouting {
  rule: cloudwatch.EventRule;
  target: cloudwatch.EventTarget;
  queuePolicies: sqs.QueuePolicy[];
}

/** The rule, its target (the clean-up queue) and the queue policies that let EventBridge deliver. */
export function routeExecutionEnds(
  name: string,
  args: ExecutionEndsArgs,
  parent: pulumi.Resource,
): ExecutionEndRouting {
  const { config, queues } = args;
  const logicalName = `${name}-execution-ended`;
  // SageMaker publishes its events on the default bus.
  const rule = new cloudwatch.EventRule(
    logicalName,
    {
      description: `Executions of the bridge's pipelines (${config.bridgedPipelineNames.join(", ")}) that ended Stopped or Failed: their jobs are terminated.`,
      eventPattern: args.pipelineArns.apply((arns) => JSON.stringify(executionStatusChangePattern(arns))),
      state: "ENABLED",
    },
    { parent },
  );
  const queuePolicies = [queues.cleanupQueue, queues.cleanupDeadLetterQueue].map(
    (queue) =>
      new sqs.QueuePolicy(
        `${logicalName}-${queue === queues.cleanupQueue ? "target" : "dlq"}`,
        {
          queueUrl: queue.url,
          policy: pulumi
            .all([queue.arn, rule.arn])
            .apply(([queueArn, ruleArn]) => JSON.stringify(ruleDeliveryQueuePolicy({ queueArn, ruleArn }))),
        },
        { parent },
      ),
  );
  // An event EventBridge cannot deliver within its retries lands in the dead-letter queue, not nowhere.
  const target = new cloudwatch.EventTarget(
    logicalName,
    {
      rule: rule.name,
      arn: queues.cleanupQueue.arn,
      retryPolicy: eventBridgeRetryPolicy,
      deadLetterConfig: { arn: queues.cleanupDeadLetterQueue.arn },
    },
    { parent, dependsOn: queuePolicies },
  );
  return { rule, target, queuePolicies };
}
