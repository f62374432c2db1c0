/**
 * The submit and monitor functions: CallbackFunctions whose closures only call into functions/, each with
 * its own role and log group, settings passed as environment variables, and the monitor subscribed to the
 * callback queue.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { monitorHandlerFromEnvironment, submitHandlerFromEnvironment } from "../functions/entrypoints";
import { environmentVariables } from "../functions/step-contract";
import type { BatchResources } from "./batch";
import type { BridgeConfig } from "./config";
import {
  monitorFunctionPolicy,
  servicePrincipals,
  submitFunctionPolicy,
  type AwsScope,
} from "./iam-policies";
import { createServiceRole } from "./iam";
import type { CallbackQueues } from "./queue";

export interface BridgeFunctions {
  submitFunction: aws.lambda.CallbackFunction<unknown, unknown>;
  monitorFunction: aws.lambda.CallbackFunction<aws.sqs.QueueEvent, unknown>;
  monitorSubscription: aws.sqs.QueueEventSubscription;
}

export interface FunctionsArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  batch: BatchResources;
  queues: CallbackQueues;
  bucketName: pulumi.Output<string>;
}

const projectRoot = path.resolve(__dirname, "..");

/**
 * Packages the Node.js 22 Lambda runtime already provides (AWS SDK v3 and its Smithy core): kept out of
 * the uploaded archive. Excluding a package also skips everything only it depends on.
 */
export function runtimeProvidedPackages(root = projectRoot): string[] {
  return ["@aws-sdk", "@smithy"].flatMap((scope) => {
    const folder = path.join(root, "node_modules", scope);
    return fs.existsSync(folder) ? fs.readdirSync(folder).map((name) => `${scope}/${name}`) : [];
  });
}

/** Both functions, their roles and log groups, and the monitor's subscription to the callback queue. */
export function createFunctions(name: string, args: FunctionsArgs, parent: pulumi.Resource): BridgeFunctions {
  const { config, scope, batch, queues } = args;
  const { callbackQueue, deadLetterQueue } = queues;
  const codePathOptions = { extraExcludePackages: runtimeProvidedPackages() };
  const logGroup = (suffix: string) =>
    new aws.cloudwatch.LogGroup(
      `${name}-${suffix}`,
      { name: `/aws/lambda/${config.pipelineName}-${suffix}`, retentionInDays: config.logRetentionDays },
      { parent },
    );

  const submitLogGroup = logGroup("submit");
  const submitRole = createServiceRole(
    `${name}-submit`,
    {
      service: servicePrincipals.lambda,
      description: "The bridge's submit function: submits an execution's Batch jobs.",
      policy: pulumi
        .all([scope, batch.jobQueue.arn, batch.jobDefinition.arnPrefix, submitLogGroup.arn])
        .apply(([s, jobQueueArn, jobDefinitionArnPrefix, logGroupArn]) =>
          submitFunctionPolicy({ scope: s, jobQueueArn, jobDefinitionArnPrefix, logGroupArn }),
        ),
    },
    parent,
  );
  const submitFunction = new aws.lambda.CallbackFunction<unknown, unknown>(
    `${name}-submit`,
    {
      description: "Submits the AWS Batch jobs of a SageMaker pipeline execution (Lambda step).",
      runtime: aws.lambda.Runtime.NodeJS22dX,
      role: submitRole.role,
      // The Lambda step gives up after 10 minutes; config.ts keeps the timeout under it.
      timeout: config.submitTimeoutSeconds,
      memorySize: config.functionMemoryMiB,
      loggingConfig: { logFormat: "JSON", logGroup: submitLogGroup.name },
      environment: {
        variables: {
          [environmentVariables.jobQueue]: batch.jobQueue.arn,
          [environmentVariables.jobDefinition]: batch.jobDefinition.arn,
          [environmentVariables.jobNamePrefix]: config.jobNamePrefix,
          [environmentVariables.submitMode]: config.submitMode,
          [environmentVariables.inputUriPrefix]: pulumi.interpolate`s3://${args.bucketName}/${config.inputPrefix}`,
          [environmentVariables.outputUriPrefix]: pulumi.interpolate`s3://${args.bucketName}/${config.outputPrefix}`,
          POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-submit",
        },
      },
      codePathOptions,
      callbackFactory: () => submitHandlerFromEnvironment(process.env),
    },
    { parent, dependsOn: [submitRole.policy] },
  );

  const monitorLogGroup = logGroup("monitor");
  const monitorRole = createServiceRole(
    `${name}-monitor`,
    {
      service: servicePrincipals.lambda,
      description: "The bridge's monitor function: checks Batch jobs and answers the Callback step.",
      policy: pulumi
        .all([scope, callbackQueue.arn, deadLetterQueue.arn, monitorLogGroup.arn])
        .apply(([s, callbackQueueArn, deadLetterQueueArn, logGroupArn]) =>
          monitorFunctionPolicy({
            scope: s,
            pipelineName: config.pipelineName,
            callbackQueueArn,
            deadLetterQueueArn,
            logGroupArn,
          }),
        ),
    },
    parent,
  );
  const monitorFunction = new aws.lambda.CallbackFunction<aws.sqs.QueueEvent, unknown>(
    `${name}-monitor`,
    {
      description: "Checks the Batch jobs of waiting pipeline executions and answers their Callback steps.",
      runtime: aws.lambda.Runtime.NodeJS22dX,
      role: monitorRole.role,
      // config.ts keeps it at most the visibility timeout: a message is not redelivered mid-run.
      timeout: config.monitorTimeoutSeconds,
      memorySize: config.functionMemoryMiB,
      loggingConfig: { logFormat: "JSON", logGroup: monitorLogGroup.name },
      environment: {
        variables: {
          [environmentVariables.jobQueue]: batch.jobQueue.arn,
          [environmentVariables.jobNamePrefix]: config.jobNamePrefix,
          [environmentVariables.callbackQueueUrl]: callbackQueue.url,
          [environmentVariables.deadLetterQueueUrl]: deadLetterQueue.url,
          [environmentVariables.pollInitialDelaySeconds]: String(config.pollInitialDelaySeconds),
          [environmentVariables.pollMaxDelaySeconds]: String(config.callbackVisibilityTimeoutSeconds),
          [environmentVariables.maxWaitSeconds]: String(config.maxWaitSeconds),
          [environmentVariables.maxReceiveCount]: String(config.callbackMaxReceiveCount),
          POWERTOOLS_SERVICE_NAME: "sagemaker-batch-bridge-monitor",
        },
      },
      codePathOptions,
      callbackFactory: () => monitorHandlerFromEnvironment(process.env),
    },
    // The event source mapping is refused unless the role may already receive from the queue.
    { parent, dependsOn: [monitorRole.policy] },
  );

  // onEvent takes only batchSize and the batching window: the mapping's other settings are set here. Its
  // permission for SQS is narrowed from lambda:* (the mapping polls with the function's role anyway).
  const subscriptionSettings: pulumi.ResourceTransformation = (resource) => {
    switch (resource.type) {
      case "aws:lambda/eventSourceMapping:EventSourceMapping":
        return {
          props: {
            ...resource.props,
            functionResponseTypes: ["ReportBatchItemFailures"],
            scalingConfig: { maximumConcurrency: config.monitorMaxConcurrency },
          },
          opts: resource.opts,
        };
      case "aws:lambda/permission:Permission":
        return { props: { ...resource.props, action: "lambda:InvokeFunction" }, opts: resource.opts };
      default:
        return undefined;
    }
  };
  const monitorSubscription = callbackQueue.onEvent(
    `${name}-monitor`,
    monitorFunction,
    { batchSize: config.monitorBatchSize },
    { transformations: [subscriptionSettings] },
  );

  return { submitFunction, monitorFunction, monitorSubscription };
}
