/**
 * BatchBridge: everything that runs AWS Batch (Fargate) jobs as a step of a SageMaker pipeline.
 */
import { getCallerIdentityOutput } from "@pulumi/aws/getCallerIdentity";
import { getPartitionOutput } from "@pulumi/aws/getPartition";
import { getRegionOutput } from "@pulumi/aws/getRegion";
import * as pulumi from "@pulumi/pulumi";
import { createBatch } from "./batch";
import { parseConfig, type StackSettings } from "./config";
import { createFunctions } from "./functions";
import type { AwsScope } from "./iam-policies";
import { routeJobEvents } from "./job-events";
import { createJobNetwork } from "./network";
import { createPipeline } from "./pipeline";
import { createCallbackQueues } from "./queue";
import { createStatusTable } from "./status-table";
import { createDataBucket } from "./storage";

/** What completionEvents adds to the stack's outputs. */
export interface CompletionEventOutputs {
  statusTableName: pulumi.Output<string>;
  eventFunctionName: pulumi.Output<string>;
}

export interface BatchBridgeArgs {
  /**
   * The settings by key (`stackSettings()` reads a stack's), strings or typed values; unset keys take
   * their defaults. They are checked before anything is created.
   */
  config: StackSettings;
}

/**
 * A SageMaker pipeline whose Lambda step submits AWS Batch jobs and whose Callback step waits, through an SQS
 * queue and a monitor function, until they have finished. With completionEvents, Batch's job state-change
 * events answer the step within seconds through a job-event function and a status table, and the monitor's
 * checks become a slow safety net.
 */
export class BatchBridge extends pulumi.ComponentResource {
  readonly pipelineName: pulumi.Output<string>;
  readonly pipelineArn: pulumi.Output<string>;
  readonly callbackQueueUrl: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly jobQueueArn: pulumi.Output<string>;
  readonly jobDefinitionArn: pulumi.Output<string>;
  readonly submitFunctionName: pulumi.Output<string>;
  readonly monitorFunctionName: pulumi.Output<string>;
  readonly dataBucketName: pulumi.Output<string>;
  /** An AWS CLI command line that starts a pipeline execution with the default parameters. */
  readonly startExecutionCommand: pulumi.Output<string>;
  /** The status table and the job-event function; undefined when completionEvents is off. */
  readonly completionEvents?: CompletionEventOutputs;

  constructor(name: string, args: BatchBridgeArgs, opts?: pulumi.ComponentResourceOptions) {
    const config = parseConfig(args.config);
    super("sagemaker-batch-bridge:index:BatchBridge", name, {}, opts);
    const invokeOpts = { parent: this };
    const scope: pulumi.Output<AwsScope> = pulumi
      .all([
        getPartitionOutput({}, invokeOpts).partition,
        getRegionOutput({}, invokeOpts).region,
        getCallerIdentityOutput({}, invokeOpts).accountId,
      ])
      .apply(([partition, region, accountId]) => ({ partition, region, accountId }));

    const network = createJobNetwork(name, config, this);
    const { bucketName } = createDataBucket(name, config, this);
    const batch = createBatch(name, { config, scope, network, bucketName }, this);
    const queues = createCallbackQueues(name, config, this);
    const statusTable = config.completionEvents ? createStatusTable(name, config, this) : undefined;
    const functions = createFunctions(name, { config, scope, batch, queues, bucketName, statusTable }, this);
    if (statusTable && functions.jobEventFunction) {
      routeJobEvents(
        name,
        { config, jobQueueArn: batch.jobQueue.arn, jobEventFunction: functions.jobEventFunction },
        this,
      );
      this.completionEvents = {
        statusTableName: statusTable.name,
        eventFunctionName: functions.jobEventFunction.name,
      };
    }
    const pipeline = createPipeline(
      name,
      { config, submitFunction: functions.submitFunction, callbackQueue: queues.callbackQueue, bucketName },
      this,
    );

    this.pipelineName = pipeline.pipelineName;
    this.pipelineArn = pipeline.arn;
    this.callbackQueueUrl = queues.callbackQueue.url;
    this.deadLetterQueueUrl = queues.deadLetterQueue.url;
    this.jobQueueArn = batch.jobQueue.arn;
    this.jobDefinitionArn = batch.jobDefinition.arn;
    this.submitFunctionName = functions.submitFunction.name;
    this.monitorFunctionName = functions.monitorFunction.name;
    this.dataBucketName = bucketName;
    this.startExecutionCommand = pulumi
      .all([pipeline.pipelineName, scope])
      .apply(
        ([pipelineName, s]) =>
          `aws sagemaker start-pipeline-execution --region ${s.region} --pipeline-name ${pipelineName}`,
      );

    this.registerOutputs({
      pipelineName: this.pipelineName,
      pipelineArn: this.pipelineArn,
      callbackQueueUrl: this.callbackQueueUrl,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      jobQueueArn: this.jobQueueArn,
      jobDefinitionArn: this.jobDefinitionArn,
      submitFunctionName: this.submitFunctionName,
      monitorFunctionName: this.monitorFunctionName,
      dataBucketName: this.dataBucketName,
      startExecutionCommand: this.startExecutionCommand,
      ...this.completionEvents,
    });
  }
}
