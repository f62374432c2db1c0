/**
 * The records front door (recordApi): the API, the buffer and its dead-letter queues, the status table, the
 * three record functions and what sets them off, composed for the BatchBridge component.
 */
import type * as sagemaker from "@pulumi/aws/sagemaker";
import * as pulumi from "@pulumi/pulumi";
import { pipelineParameterNames } from "../functions/step-contract";
import type { PlannedDefinition } from "./batch-bridge-steps";
import { ConfigError, projectName, type BridgeConfig } from "./config";
import type { WatchedRecords } from "./alarms";
import type { AwsScope } from "./iam-policies";
import { createRecordApi } from "./record-api";
import { createRecordFunctions } from "./record-functions";
import { createRecordQueues } from "./record-queues";
import { createRecordTable } from "./record-table";
import { createRecordTriggers } from "./record-triggers";

/** What the records front door adds to the stack's outputs. */
export interface RecordApiOutputs {
  /** `https://<id>.execute-api.<region>.amazonaws.com/v1`: the base URL of the routes. */
  recordApiEndpoint: pulumi.Output<string>;
  recordApiKeyId: pulumi.Output<string>;
  /** An AWS CLI command that prints the API key's value. */
  recordApiKeyCommand: pulumi.Output<string>;
  recordTableName: pulumi.Output<string>;
  recordQueueUrl: pulumi.Output<string>;
  recordDeadLetterQueueUrl: pulumi.Output<string>;
}

export interface RecordsArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  bucketName: pulumi.Output<string>;
  pipeline: sagemaker.Pipeline;
}

/**
 * Each batch starts an execution of the stack's pipeline with InputUri, OutputUri and ShardCount: a user's
 * definition (pipelineDefinitionFile) must declare them. Throws a ConfigError naming what it lacks.
 */
export function checkRecordsPipeline(definition: PlannedDefinition): void {
  const document = definition.expand({
    submitFunctionArn: "submit",
    callbackQueueUrl: "callbacks",
    // Only the parameters are read here: any model stands in for the stack's.
    transform: {
      modelName: "model",
      instanceType: "ml.m5.xlarge",
      instanceCount: 1,
      maxConcurrentTransforms: 1,
      maxPayloadMiB: 6,
      batchStrategy: "MultiRecord",
    },
  });
  const declared = new Set(((document.Parameters ?? []) as { Name?: string }[]).map((p) => p.Name));
  const missing = Object.values(pipelineParameterNames).filter((name) => !declared.has(name));
  if (missing.length > 0) {
    throw new ConfigError([
      `${projectName}:recordApi starts an execution of the stack's pipeline for each batch of records, with ` +
        `the parameters ${Object.values(pipelineParameterNames).join(", ")}; the pipeline definition ` +
        `(pipelineDefinitionFile) does not declare ${missing.join(", ")}.`,
    ]);
  }
}

/** The records front door: its stack outputs, and the parts the alarms watch. */
export interface Records {
  outputs: RecordApiOutputs;
  watched: WatchedRecords;
}

/** Everything the records front door needs; returns its outputs and what the alarms watch. */
export function createRecords(name: string, args: RecordsArgs, parent: pulumi.Resource): Records {
  const { config, scope, bucketName, pipeline } = args;
  const queues = createRecordQueues(name, config, parent);
  const recordTable = createRecordTable(name, config, parent);
  const functions = createRecordFunctions(name, { config, scope, queues, recordTable, bucketName }, parent);
  createRecordTriggers(name, { config, scope, queues, functions, pipeline }, parent);
  const api = createRecordApi(name, { config, apiFunction: functions.apiFunction }, parent);
  const outputs: RecordApiOutputs = {
    recordApiEndpoint: api.stage.invokeUrl,
    recordApiKeyId: api.apiKey.id,
    recordApiKeyCommand: pulumi
      .all([api.apiKey.id, scope])
      .apply(
        ([id, s]) =>
          `aws apigateway get-api-key --region ${s.region} --api-key ${id} --include-value --query value --output text`,
      ),
    recordTableName: recordTable.name,
    recordQueueUrl: queues.bufferQueue.url,
    recordDeadLetterQueueUrl: queues.bufferDeadLetterQueue.url,
  };
  const watched: WatchedRecords = {
    functions: {
      "records-api": functions.apiFunction,
      "records-flush": functions.flushFunction,
      "records-status": functions.statusFunction,
    },
    statusFunction: functions.statusFunction,
    deadLetterQueues: {
      "records-dlq": queues.bufferDeadLetterQueue,
      "records-status-dlq": queues.failedEventQueue,
    },
  };
  return { outputs, watched };
}
