/**
 * What sets the record functions off (recordApi): the buffer queue's event source mapping, or a schedule,
 * for the flush function; and for the status function, an EventBridge rule on the end of the batches'
 * pipeline executions.
 */
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as lambda from "@pulumi/aws/lambda";
import type * as sagemaker from "@pulumi/aws/sagemaker";
import * as pulumi from "@pulumi/pulumi";
import { batchExecutionNamePrefix } from "../functions/records/contract";
import { pipelineExecutionEndPattern } from "../functions/pipeline-execution-event";
import type { BridgeConfig } from "./config";
import { pipelineArn, type AwsScope } from "./iam-policies";
import type { RecordFunctions } from "./record-functions";
import type { RecordQueues } from "./record-queues";

export interface RecordTriggersArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  queues: RecordQueues;
  functions: RecordFunctions;
  /** Batches start executions of it: nothing is flushed before it exists. */
  pipeline: sagemaker.Pipeline;
}

/** Lambda keeps an asynchronous event at most 6 hours and retries a failed one twice at most. */
const lambdaEventAgeLimitSeconds = 21600;
const lambdaMaxRetryAttempts = 2;

/**
 * The end of a batch's execution, as the status function's rule selects it: a final status of an
 * execution of the stack's pipeline that a flush started (its display name).
 */
export function batchExecutionEndPattern(pipeline: string) {
  return pipelineExecutionEndPattern(pipeline, undefined, {
    pipelineExecutionDisplayName: [{ prefix: batchExecutionNamePrefix }],
  });
}

/** The flush trigger and the status rule. */
export function createRecordTriggers(name: string, args: RecordTriggersArgs, parent: pulumi.Resource): void {
  const { config, functions, queues } = args;
  const opts = { parent, dependsOn: [args.pipeline] };
  if (config.recordTrigger === "batch") {
    // Lambda hands the function a batch when it holds recordBatchSize records, when the window has passed
    // since the first, or at 6 MB (Lambda Developer Guide, "Batching behavior" for SQS).
    new lambda.EventSourceMapping(
      `${name}-records-flush`,
      {
        eventSourceArn: queues.bufferQueue.arn,
        functionName: functions.flushFunction.name,
        batchSize: config.recordBatchSize,
        maximumBatchingWindowInSeconds: config.recordBatchWindowSeconds,
        functionResponseTypes: ["ReportBatchItemFailures"],
      },
      opts,
    );
  } else {
    const schedule = new cloudwatch.EventRule(
      `${name}-records-flush`,
      {
        description: `Starts the records queued for the ${config.pipelineName} pipeline.`,
        scheduleExpression: config.recordScheduleExpression,
        state: "ENABLED",
      },
      opts,
    );
    new cloudwatch.EventTarget(
      `${name}-records-flush`,
      { rule: schedule.name, arn: functions.flushFunction.arn },
      opts,
    );
    new lambda.Permission(
      `${name}-records-flush`,
      {
        action: "lambda:InvokeFunction",
        function: functions.flushFunction.name,
        principal: "events.amazonaws.com",
        sourceArn: schedule.arn,
      },
      opts,
    );
  }

  const logicalName = `${name}-records-status`;
  const rule = new cloudwatch.EventRule(
    logicalName,
    {
      description: `Ends of the ${config.pipelineName} pipeline's executions of record batches.`,
      // SageMaker publishes execution status changes on the default bus.
      eventPattern: args.scope.apply((scope) =>
        JSON.stringify(batchExecutionEndPattern(pipelineArn(scope, config.pipelineName))),
      ),
      state: "ENABLED",
    },
    { parent },
  );
  new cloudwatch.EventTarget(
    logicalName,
    {
      rule: rule.name,
      arn: functions.statusFunction.arn,
      // EventBridge retries a delivery Lambda refuses (throttling) for up to 24 hours.
      retryPolicy: { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 },
    },
    { parent },
  );
  new lambda.Permission(
    logicalName,
    {
      action: "lambda:InvokeFunction",
      function: functions.statusFunction.name,
      principal: "events.amazonaws.com",
      sourceArn: rule.arn,
    },
    { parent },
  );
  // An event the function failed on three times (S3 or DynamoDB unreachable) is kept on a queue for 14 days
  // rather than dropped, so that the batch's records can still be settled by sending it again.
  new lambda.FunctionEventInvokeConfig(
    logicalName,
    {
      functionName: functions.statusFunction.name,
      maximumRetryAttempts: lambdaMaxRetryAttempts,
      maximumEventAgeInSeconds: lambdaEventAgeLimitSeconds,
      destinationConfig: { onFailure: { destination: queues.failedEventQueue.arn } },
    },
    { parent },
  );
}
