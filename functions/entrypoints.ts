/**
 * The functions as Lambda runs them: read the settings, create the SDK clients and the logger once per
 * container, and return the handler. The stack's `callbackFactory` calls these, so they are serialized by
 * value with everything they use from functions/ (no state created at import time, no Pulumi imports);
 * packages from node_modules are `require`d at run time.
 */
import { BatchClient } from "@aws-sdk/client-batch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { SQSClient } from "@aws-sdk/client-sqs";
import type {
  HttpHandlerOptions,
  HttpRequest,
  HttpResponse,
  RequestHandler,
  RequestSigner,
} from "@smithy/types";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createBatchPacers, type InvocationContext } from "./batch-calls";
import { systemClock } from "./clock";
import { makeJobEventHandler, type JobEventDecision } from "./job-event-handler";
import { makeMonitorHandler } from "./monitor";
import { makeCleanupHandler } from "./cleanup";
import { makeQueueJobsHandler, type QueueJobs } from "./queue-jobs";
import {
  cleanupSettingsFromEnvironment,
  jobEventSettingsFromEnvironment,
  monitorSettingsFromEnvironment,
  queueJobsSettingsFromEnvironment,
  submitSettingsFromEnvironment,
} from "./settings";
import type { SubmitOutputs } from "./step-contract";
import { makeSubmitHandler } from "./submit";
import { functionLogger } from "./log";

/**
 * The SDK's attempts per call. Batch calls are retried by batch-calls.ts alone, paced and for as long as
 * the invocation's time allows: the SDK's standard mode would stop at its retry quota in a long throttled
 * burst, and its adaptive mode cuts the send rate on every 429 down to about 0.5 calls a second.
 */
const sdkMaxAttempts = { BATCH: 1, SAGEMAKER: 5, SQS: 5, DYNAMODB: 5, S3: 5 } as const;

/** A service as its endpoint variable names it (`AWS_ENDPOINT_URL_<SERVICE>`). */
export type ClientService = keyof typeof sdkMaxAttempts;

/**
 * How a client sends its requests, when not the SDK's own way (HTTP, signed with the credentials): local
 * mode hands the requests of its simulated functions to its servers in the same process, unsigned. In
 * Lambda no transport is given.
 */
export interface ClientTransport {
  requestHandler: RequestHandler<HttpRequest, HttpResponse, HttpHandlerOptions>;
  signer: RequestSigner;
}

/** Transports by service; a service without one is reached over HTTP. */
export type ClientTransports = Partial<Record<ClientService, ClientTransport>>;

/** The submit function's handler, configured from `env` (the function's environment). */
export function submitHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
  transports: ClientTransports = {},
): (event: unknown, context?: InvocationContext) => Promise<SubmitOutputs> {
  const settings = submitSettingsFromEnvironment(env);
  return makeSubmitHandler({
    batch: new BatchClient(clientConfig(env, "BATCH", transports)),
    dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB", transports)),
    sqs: new SQSClient(clientConfig(env, "SQS", transports)),
    pacers: createBatchPacers(systemClock()),
    settings,
    logger: functionLogger(env, "submit"),
  });
}

/** The monitor function's handler, configured from `env` (the function's environment). */
export function monitorHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
  transports: ClientTransports = {},
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const settings = monitorSettingsFromEnvironment(env);
  return makeMonitorHandler({
    batch: new BatchClient(clientConfig(env, "BATCH", transports)),
    pacers: createBatchPacers(systemClock()),
    sagemaker: new SageMakerClient(clientConfig(env, "SAGEMAKER", transports)),
    sqs: new SQSClient(clientConfig(env, "SQS", transports)),
    s3: new S3Client(clientConfig(env, "S3", transports)),
    ...(settings.statusTable !== undefined
      ? { dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB", transports)) }
      : {}),
    settings,
    logger: functionLogger(env, "monitor"),
  });
}

/**
 * The job-event function's handler (the target of the rule `jobStateChangePattern` describes), configured
 * from `env` (the function's environment).
 */
export function jobEventHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
  transports: ClientTransports = {},
): (event: unknown, context?: InvocationContext) => Promise<{ decision: JobEventDecision }> {
  const settings = jobEventSettingsFromEnvironment(env);
  return makeJobEventHandler({
    batch: new BatchClient(clientConfig(env, "BATCH", transports)),
    pacers: createBatchPacers(systemClock()),
    sagemaker: new SageMakerClient(clientConfig(env, "SAGEMAKER", transports)),
    sqs: new SQSClient(clientConfig(env, "SQS", transports)),
    s3: new S3Client(clientConfig(env, "S3", transports)),
    dynamodb: new DynamoDBClient(clientConfig(env, "DYNAMODB", transports)),
    settings,
    logger: functionLogger(env, "job-event"),
  });
}

/**
 * The clean-up function's handler (it consumes the clean-up queue, fed by the rule
 * `executionStatusChangePattern` describes), configured from `env` (the function's environment).
 */
export function cleanupHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
  transports: ClientTransports = {},
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const settings = cleanupSettingsFromEnvironment(env);
  return makeCleanupHandler({
    batch: new BatchClient(clientConfig(env, "BATCH", transports)),
    sqs: new SQSClient(clientConfig(env, "SQS", transports)),
    pacers: createBatchPacers(systemClock()),
    settings,
    logger: functionLogger(env, "cleanup"),
  });
}

/** The queue-jobs function's handler (a schedule's target), configured from `env`. */
export function queueJobsHandlerFromEnvironment(
  env: NodeJS.ProcessEnv,
  transports: ClientTransports = {},
): (event: unknown, context?: InvocationContext) => Promise<QueueJobs> {
  const settings = queueJobsSettingsFromEnvironment(env);
  return makeQueueJobsHandler({
    batch: new BatchClient(clientConfig(env, "BATCH", transports)),
    pacers: createBatchPacers(systemClock()),
    jobQueue: settings.jobQueue,
    logger: functionLogger(env, "queue-jobs"),
  });
}

/**
 * Client settings from the standard AWS variables of `env`: the region, and the endpoint
 * (`AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`) that local mode points at its servers. The
 * standard retry mode, never the adaptive one, whose client-side rate only falls under throttling. The
 * middleware stack is resolved once per command type (`cacheMiddleware`), not at every call: no function
 * changes a client's middleware, and the SDK's own resolution is a quarter of a call's CPU. The service's
 * transport, if `transports` has one, replaces the SDK's HTTP handler and signer.
 */
export function clientConfig(
  env: NodeJS.ProcessEnv,
  service: ClientService,
  transports: ClientTransports = {},
): {
  region?: string;
  endpoint?: string;
  retryMode: "standard";
  maxAttempts: number;
  cacheMiddleware: true;
} & Partial<ClientTransport> {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL;
  const transport = transports[service];
  return {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    retryMode: "standard",
    maxAttempts: sdkMaxAttempts[service],
    cacheMiddleware: true,
    ...(transport ? { requestHandler: transport.requestHandler, signer: transport.signer } : {}),
  };
}
