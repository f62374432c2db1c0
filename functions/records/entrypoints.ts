/**
 * The record functions as Lambda runs them: read the settings, create the SDK clients and the logger once
 * per container, and return the handler. The stack's `callbackFactory` calls these (see
 * functions/entrypoints.ts for how they are serialized).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { clientConfig } from "../entrypoints";
import { makeRecordApiHandler } from "./api";
import {
  makeFlushBatchHandler,
  makeScheduledFlushHandler,
  type DrainContext,
  type FlushDeps,
} from "./flush-batch";
import { makeRecordStatusHandler, type RecordStatusSummary } from "./record-status";
import {
  flushSettingsFromEnvironment,
  recordApiSettingsFromEnvironment,
  recordStatusSettingsFromEnvironment,
} from "./settings";
import { functionLogger } from "../log";

/** The API function's handler, configured from `env` (the function's environment). */
export function recordApiHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  return makeRecordApiHandler({
    dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB")),
    sqs: new SQSClient(clientConfig(env, "SQS")),
    settings: recordApiSettingsFromEnvironment(env),
    logger: functionLogger(env, "records-api"),
  });
}

function flushDeps(env: NodeJS.ProcessEnv): FlushDeps {
  return {
    dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB")),
    sqs: new SQSClient(clientConfig(env, "SQS")),
    s3: new S3Client(clientConfig(env, "S3")),
    sagemaker: new SageMakerClient(clientConfig(env, "SAGEMAKER")),
    settings: flushSettingsFromEnvironment(env),
    logger: functionLogger(env, "records-flush"),
  };
}

/** The flush function's handler for the buffer queue's event source mapping (recordTrigger batch). */
export function flushBatchHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return makeFlushBatchHandler(flushDeps(env));
}

/** The flush function's handler for the schedule (recordTrigger schedule): it drains the queue itself. */
export function scheduledFlushHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
): (event: unknown, context?: DrainContext) => Promise<{ batches: number; records: number }> {
  return makeScheduledFlushHandler(flushDeps(env));
}

/** The status function's handler, configured from `env` (the function's environment). */
export function recordStatusHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
): (event: unknown) => Promise<RecordStatusSummary> {
  return makeRecordStatusHandler({
    dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB")),
    s3: new S3Client(clientConfig(env, "S3")),
    sagemaker: new SageMakerClient(clientConfig(env, "SAGEMAKER")),
    settings: recordStatusSettingsFromEnvironment(env),
    logger: functionLogger(env, "records-status"),
  });
}
