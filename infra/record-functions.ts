/**
 * The records API's functions (recordApi), each with its own role and log group like the bridge's: the API
 * function behind API Gateway, the flush function that turns batches of buffered records into pipeline
 * executions, and the status function that settles a batch's records when its execution ends.
 */
import type * as dynamodb from "@pulumi/aws/dynamodb";
import type * as lambda from "@pulumi/aws/lambda";
import * as pulumi from "@pulumi/pulumi";
import { recordsFolder } from "../functions/records/contract";
import {
  flushBatchHandlerFromEnvironment,
  recordApiHandlerFromEnvironment,
  recordStatusHandlerFromEnvironment,
  scheduledFlushHandlerFromEnvironment,
} from "../functions/records/entrypoints";
import {
  flushEnvironment,
  recordApiEnvironment,
  recordStatusEnvironment,
} from "../functions/records/settings";
import type { BridgeConfig } from "./config";
import { createBridgeFunction } from "./functions";
import type { AwsScope } from "./iam-policies";
import { flushPolicy, recordApiPolicy, recordStatusPolicy, type RecordFolders } from "./record-policies";
import type { RecordQueues } from "./record-queues";

/** API Gateway ends a REST API's integration after 29 s; the function has no use for more. */
export const recordApiTimeoutSeconds = 29;

export interface RecordFunctionsArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  queues: RecordQueues;
  recordTable: dynamodb.Table;
  bucketName: pulumi.Output<string>;
}

export interface RecordFunctions {
  apiFunction: lambda.CallbackFunction<unknown, unknown>;
  flushFunction: lambda.CallbackFunction<unknown, unknown>;
  statusFunction: lambda.CallbackFunction<unknown, unknown>;
}

/** The three functions, their roles and log groups. */
export function createRecordFunctions(
  name: string,
  args: RecordFunctionsArgs,
  parent: pulumi.Resource,
): RecordFunctions {
  const { config, scope, queues, recordTable, bucketName } = args;
  const folders: pulumi.Output<RecordFolders> = pulumi.all([scope, bucketName]).apply(([s, bucket]) => ({
    partition: s.partition,
    bucketName: bucket,
    inputPrefix: config.inputPrefix,
    outputPrefix: config.outputPrefix,
  }));
  const retentionDays = config.recordRetentionDays;
  const recordUriPrefixes = {
    inputUriPrefix: pulumi.interpolate`s3://${bucketName}/${config.inputPrefix}${recordsFolder}`,
    outputUriPrefix: pulumi.interpolate`s3://${bucketName}/${config.outputPrefix}${recordsFolder}`,
  };

  const apiFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "records-api",
      description: "The records API: accepts records and answers their statuses (API Gateway proxy).",
      roleDescription: "The records API function: writes and reads record statuses, buffers records.",
      policy: (logGroupArn) =>
        pulumi
          .all([recordTable.arn, queues.bufferQueue.arn, logGroupArn])
          .apply(([recordTableArn, bufferQueueArn, logGroupArn]) =>
            recordApiPolicy({ recordTableArn, bufferQueueArn, logGroupArn }),
          ),
      timeoutSeconds: recordApiTimeoutSeconds,
      environment: pulumi
        .output({ table: recordTable.name, queueUrl: queues.bufferQueue.url, retentionDays })
        .apply(recordApiEnvironment),
      callbackFactory: () =>
        recordApiHandlerFromEnvironment(process.env) as lambda.Callback<unknown, unknown>,
    },
    config,
    parent,
  );

  const scheduled = config.recordTrigger === "schedule";
  const flushFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "records-flush",
      description: "Starts a pipeline execution for each batch of buffered records.",
      roleDescription: "The records flush function: writes batches' shard files and starts their executions.",
      policy: (logGroupArn) =>
        pulumi
          .all([
            scope,
            recordTable.arn,
            queues.bufferQueue.arn,
            queues.bufferDeadLetterQueue.arn,
            folders,
            logGroupArn,
          ])
          .apply(([s, recordTableArn, bufferQueueArn, bufferDeadLetterQueueArn, f, logGroupArn]) =>
            flushPolicy({
              scope: s,
              pipelineName: config.pipelineName,
              recordTableArn,
              bufferQueueArn,
              bufferDeadLetterQueueArn,
              folders: f,
              logGroupArn,
            }),
          ),
      // The buffer's visibility timeout is sized from it (record-queues.ts).
      timeoutSeconds: config.monitorTimeoutSeconds,
      environment: pulumi
        .output({
          table: recordTable.name,
          queueUrl: queues.bufferQueue.url,
          deadLetterQueueUrl: queues.bufferDeadLetterQueue.url,
          retentionDays,
          pipelineName: config.pipelineName,
          recordsPerShard: config.recordsPerShard,
          batchSize: config.recordBatchSize,
          ...recordUriPrefixes,
        })
        .apply(flushEnvironment),
      callbackFactory: scheduled
        ? () => scheduledFlushHandlerFromEnvironment(process.env) as lambda.Callback<unknown, unknown>
        : () => flushBatchHandlerFromEnvironment(process.env) as lambda.Callback<unknown, unknown>,
    },
    config,
    parent,
  );

  const statusFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "records-status",
      description: "Settles a batch's records when its pipeline execution ends.",
      roleDescription: "The records status function: reads an ended batch's files and settles its records.",
      policy: (logGroupArn) =>
        pulumi
          .all([scope, recordTable.arn, queues.failedEventQueue.arn, folders, logGroupArn])
          .apply(([s, recordTableArn, failedEventQueueArn, f, logGroupArn]) =>
            recordStatusPolicy({
              scope: s,
              pipelineName: config.pipelineName,
              recordTableArn,
              failedEventQueueArn,
              folders: f,
              logGroupArn,
            }),
          ),
      timeoutSeconds: config.monitorTimeoutSeconds,
      environment: pulumi
        .output({ table: recordTable.name, retentionDays, ...recordUriPrefixes })
        .apply(recordStatusEnvironment),
      callbackFactory: () =>
        recordStatusHandlerFromEnvironment(process.env) as lambda.Callback<unknown, unknown>,
    },
    config,
    parent,
  );
  return { apiFunction, flushFunction, statusFunction };
}
