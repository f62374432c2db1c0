/**
 * The bridge's functions: CallbackFunctions whose closures only call into functions/, each with its own
 * role and log group and its settings passed as environment variables. The submit function runs the
 * Lambda step, the monitor consumes the callback queue, the clean-up function consumes the clean-up queue
 * (execution-cleanup.ts fills it), and with completionEvents the job-event function takes Batch's job
 * state-change events (job-event-rule.ts routes them to it).
 */
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as dynamodb from "@pulumi/aws/dynamodb";
import * as lambda from "@pulumi/aws/lambda";
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import {
  cleanupHandlerFromEnvironment,
  jobEventHandlerFromEnvironment,
  monitorHandlerFromEnvironment,
  submitHandlerFromEnvironment,
} from "../functions/entrypoints";
import { defaultJobKind } from "../functions/step-contract";
import { logServiceName } from "../functions/log";
import {
  cleanupEnvironment,
  jobEventEnvironment,
  monitorEnvironment,
  submitEnvironment,
} from "../functions/settings";
import type { BatchResources } from "./batch";
import type { BridgeConfig } from "./config";
import type { CleanupQueues } from "./execution-cleanup";
import {
  cleanupFunctionPolicy,
  jobEventFunctionPolicy,
  monitorFunctionPolicy,
  servicePrincipals,
  submitFunctionPolicy,
  type AwsScope,
  type RolePolicy,
} from "./iam-policies";
import { createServiceRole } from "./iam";
import type { CallbackQueues } from "./queue";

export interface BridgeFunctions {
  submitFunction: lambda.CallbackFunction<unknown, unknown>;
  monitorFunction: lambda.CallbackFunction<sqs.QueueEvent, unknown>;
  monitorSubscription: sqs.QueueEventSubscription;
  cleanupFunction: lambda.CallbackFunction<sqs.QueueEvent, unknown>;
  cleanupSubscription: sqs.QueueEventSubscription;
  /** With completionEvents only. */
  jobEventFunction?: lambda.CallbackFunction<unknown, unknown>;
}

export interface FunctionsArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  batch: BatchResources;
  queues: CallbackQueues;
  cleanupQueues: CleanupQueues;
  bucketName: pulumi.Output<string>;
  /**
   * The submit function claims each execution's submission in it; with completionEvents the monitor also
   * records waits in it, and the job-event function is added.
   */
  statusTable: dynamodb.Table;
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

/**
 * What each function runs in Lambda: its handler, built from the function's environment by
 * functions/entrypoints.ts. Module-level, so that each is one function object however often the stack is
 * built (a render serializes each once).
 */
const callbackFactories = {
  submit: () => submitHandlerFromEnvironment(process.env),
  monitor: () => monitorHandlerFromEnvironment(process.env),
  jobEvent: () => jobEventHandlerFromEnvironment(process.env),
};

/** What sets one function apart from the others. */
export interface BridgeFunctionSpec<E, R> {
  /**
   * `submit`, `monitor`, `job-event`, `records-api`, ...: names the function's resources, its log group
   * (`/aws/lambda/<pipelineName>-<part>`) and its Powertools service.
   */
  part: string;
  description: string;
  roleDescription: string;
  /** The role's policy, given the ARN of the function's log group. */
  policy: (logGroupArn: pulumi.Output<string>) => pulumi.Input<RolePolicy>;
  timeoutSeconds: number;
  /** Settings (`environmentVariables`); POWERTOOLS_SERVICE_NAME is added. */
  environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Builds the handler in Lambda: reads process.env and calls into functions/entrypoints.ts. */
  callbackFactory: () => lambda.Callback<E, R>;
}

/** A function with its own log group and least-privilege role, on Node.js 22, logging JSON. */
export function createBridgeFunction<E, R>(
  name: string,
  spec: BridgeFunctionSpec<E, R>,
  config: BridgeConfig,
  parent: pulumi.Resource,
): lambda.CallbackFunction<E, R> {
  const logicalName = `${name}-${spec.part}`;
  const logGroup = new cloudwatch.LogGroup(
    logicalName,
    { name: `/aws/lambda/${config.pipelineName}-${spec.part}`, retentionInDays: config.logRetentionDays },
    { parent },
  );
  const role = createServiceRole(
    logicalName,
    {
      service: servicePrincipals.lambda,
      description: spec.roleDescription,
      policy: spec.policy(logGroup.arn),
    },
    parent,
  );
  return new lambda.CallbackFunction<E, R>(
    logicalName,
    {
      description: spec.description,
      runtime: lambda.Runtime.NodeJS22dX,
      role: role.role,
      timeout: spec.timeoutSeconds,
      memorySize: config.functionMemoryMiB,
      loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
      environment: {
        variables: pulumi
          .output(spec.environment)
          .apply((variables) => ({ ...variables, POWERTOOLS_SERVICE_NAME: logServiceName(spec.part) })),
      },
      codePathOptions: { extraExcludePackages: runtimeProvidedPackages() },
      callbackFactory: spec.callbackFactory,
    },
    // A function must not run before its permissions are in place; an SQS event source mapping is even
    // refused unless the role may already receive from the queue.
    { parent, dependsOn: [role.policy] },
  );
}

/** The functions, their roles and log groups, and the monitor's subscription to the callback queue. */
export function createFunctions(name: string, args: FunctionsArgs, parent: pulumi.Resource): BridgeFunctions {
  const { config, scope, batch, queues, statusTable } = args;
  const { cleanupQueue } = args.cleanupQueues;
  // With completionEvents, steps are answered from Batch's events through the waits in the status table.
  const waitsInTable = config.completionEvents;
  const { callbackQueue, deadLetterQueue } = queues;
  // The submit function may submit to every kind's job definition, and names the kinds besides the default.
  const jobDefinitionArnPrefixes = pulumi.all(Object.values(batch.jobDefinitions).map((d) => d.arnPrefix));
  const otherKinds = config.kinds.filter((kind) => kind.name !== defaultJobKind);
  const otherKindTargets = pulumi
    .all(otherKinds.map((kind) => batch.jobDefinitions[kind.name].arn))
    .apply((arns) =>
      Object.fromEntries(
        otherKinds.map((kind, i) => [
          kind.name,
          {
            jobDefinition: arns[i],
            submitMode: kind.submitMode,
            // Unset, the default kind's.
            ...(kind.minSuccessRatio !== config.minSuccessRatio
              ? { minSuccessRatio: kind.minSuccessRatio }
              : {}),
          },
        ]),
      ),
    );

  const submitFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "submit",
      description: "Submits the AWS Batch jobs of a SageMaker pipeline execution (Lambda step).",
      roleDescription: "The bridge's submit function: submits an execution's Batch jobs.",
      policy: (logGroupArn) =>
        pulumi
          .all([
            scope,
            batch.jobQueue.arn,
            jobDefinitionArnPrefixes,
            statusTable.arn,
            cleanupQueue.arn,
            logGroupArn,
          ])
          .apply(([s, jobQueueArn, arnPrefixes, statusTableArn, cleanupQueueArn, logGroupArn]) =>
            submitFunctionPolicy({
              scope: s,
              pipelineNames: config.bridgedPipelineNames,
              jobQueueArn,
              jobDefinitionArnPrefixes: arnPrefixes,
              jobNamePrefix: config.jobNamePrefix,
              statusTableArn,
              cleanupQueueArn,
              logGroupArn,
            }),
          ),
      // The Lambda step gives up after 10 minutes; the config checks keep the timeout under it.
      timeoutSeconds: config.submitTimeoutSeconds,
      environment: pulumi
        .output({
          jobQueue: batch.jobQueue.arn,
          jobDefinition: batch.jobDefinition.arn,
          jobNamePrefix: config.jobNamePrefix,
          submitMode: config.submitMode,
          minSuccessRatio: config.minSuccessRatio,
          jobKinds: otherKindTargets,
          inputUriPrefix: pulumi.interpolate`s3://${args.bucketName}/${config.inputPrefix}`,
          outputUriPrefix: pulumi.interpolate`s3://${args.bucketName}/${config.outputPrefix}`,
          statusTable: statusTable.name,
          cleanupQueueUrl: cleanupQueue.url,
        })
        .apply(submitEnvironment),
      callbackFactory: callbackFactories.submit,
    },
    config,
    parent,
  );

  const monitorFunction = createBridgeFunction<sqs.QueueEvent, unknown>(
    name,
    {
      part: "monitor",
      description: "Checks the Batch jobs of waiting pipeline executions and answers their Callback steps.",
      roleDescription: "The bridge's monitor function: checks Batch jobs and answers the Callback step.",
      policy: (logGroupArn) =>
        pulumi
          .all([scope, callbackQueue.arn, deadLetterQueue.arn, logGroupArn, statusTable.arn, args.bucketName])
          .apply(([s, callbackQueueArn, deadLetterQueueArn, logGroupArn, statusTableArn, bucketName]) =>
            monitorFunctionPolicy({
              scope: s,
              pipelineNames: config.bridgedPipelineNames,
              callbackQueueArn,
              deadLetterQueueArn,
              logGroupArn,
              ...(waitsInTable ? { statusTableArn } : {}),
              reports: { bucketName, outputPrefix: config.outputPrefix },
            }),
          ),
      // The config checks keep it at most the visibility timeout: a message is not redelivered mid-run.
      timeoutSeconds: config.monitorTimeoutSeconds,
      environment: pulumi
        .output({
          jobQueue: batch.jobQueue.arn,
          jobNamePrefix: config.jobNamePrefix,
          callbackQueueUrl: callbackQueue.url,
          deadLetterQueueUrl: deadLetterQueue.url,
          // With completionEvents, the slow safety-net schedule (infra/config).
          pollSchedule: config.pollSchedule,
          maxReceiveCount: config.callbackMaxReceiveCount,
          statusTable: waitsInTable ? statusTable.name : undefined,
        })
        .apply(monitorEnvironment),
      callbackFactory: callbackFactories.monitor,
    },
    config,
    parent,
  );

  const monitorSubscription = callbackQueue.onEvent(
    `${name}-monitor`,
    monitorFunction,
    { batchSize: config.monitorBatchSize },
    { transformations: [queueSubscriptionSettings(config.monitorMaxConcurrency)] },
  );

  const cleanupFunction = createBridgeFunction<sqs.QueueEvent, unknown>(
    name,
    {
      part: "cleanup",
      description: "Terminates the Batch jobs of pipeline executions that ended Stopped or Failed.",
      roleDescription: "The bridge's clean-up function: terminates the jobs of executions that ended.",
      policy: (logGroupArn) =>
        pulumi.all([scope, cleanupQueue.arn, logGroupArn]).apply(([s, cleanupQueueArn, logGroupArn]) =>
          cleanupFunctionPolicy({
            scope: s,
            pipelineNames: config.bridgedPipelineNames,
            cleanupQueueArn,
            logGroupArn,
          }),
        ),
      // It terminates jobs as the monitor does, so it gets the monitor's time.
      timeoutSeconds: config.monitorTimeoutSeconds,
      environment: pulumi
        .output({
          jobQueue: batch.jobQueue.arn,
          jobNamePrefix: config.jobNamePrefix,
          cleanupQueueUrl: cleanupQueue.url,
        })
        .apply(cleanupEnvironment),
      callbackFactory: () => cleanupHandlerFromEnvironment(process.env),
    },
    config,
    parent,
  );
  // Each message is one execution's clean-up, handled one after another; two invocations at most (SQS's
  // least) keep the TerminateJob calls of clean-ups at once within twice one container's pace.
  const cleanupSubscription = cleanupQueue.onEvent(
    `${name}-cleanup`,
    cleanupFunction,
    { batchSize: cleanupBatchSize },
    { transformations: [queueSubscriptionSettings(cleanupMaxConcurrency)] },
  );

  const common = {
    submitFunction,
    monitorFunction,
    monitorSubscription,
    cleanupFunction,
    cleanupSubscription,
  };
  if (!waitsInTable) return common;

  const jobEventFunction = createBridgeFunction<unknown, unknown>(
    name,
    {
      part: "job-event",
      description: "Answers Callback steps from AWS Batch job state-change events as soon as their jobs end.",
      roleDescription:
        "The bridge's job-event function: answers the Callback step when Batch reports its jobs done.",
      policy: (logGroupArn) =>
        pulumi
          .all([scope, statusTable.arn, callbackQueue.arn, logGroupArn, args.bucketName])
          .apply(([s, statusTableArn, callbackQueueArn, logGroupArn, bucketName]) =>
            jobEventFunctionPolicy({
              scope: s,
              pipelineNames: config.bridgedPipelineNames,
              statusTableArn,
              callbackQueueArn,
              logGroupArn,
              reports: { bucketName, outputPrefix: config.outputPrefix },
            }),
          ),
      // It checks and terminates jobs and answers as the monitor does, so it gets the monitor's time.
      timeoutSeconds: config.monitorTimeoutSeconds,
      environment: pulumi
        .output({
          jobQueue: batch.jobQueue.arn,
          jobNamePrefix: config.jobNamePrefix,
          statusTable: statusTable.name,
          callbackQueueUrl: callbackQueue.url,
        })
        .apply(jobEventEnvironment),
      callbackFactory: callbackFactories.jobEvent,
    },
    config,
    parent,
  );
  return { ...common, jobEventFunction };
}

/** Clean-up messages per invocation. */
const cleanupBatchSize = 5;
/** Clean-up invocations at once: the least an SQS event source's MaximumConcurrency allows (2..1000). */
const cleanupMaxConcurrency = 2;

/**
 * A queue subscription's settings beyond what onEvent takes (batchSize and the batching window): partial
 * batch responses and capped concurrency on the mapping, and its permission for SQS narrowed from lambda:*
 * (the mapping polls with the function's role anyway).
 */
function queueSubscriptionSettings(maximumConcurrency: number): pulumi.ResourceTransformation {
  return (resource) => {
    switch (resource.type) {
      case "aws:lambda/eventSourceMapping:EventSourceMapping":
        return {
          props: {
            ...resource.props,
            functionResponseTypes: ["ReportBatchItemFailures"],
            scalingConfig: { maximumConcurrency },
          },
          opts: resource.opts,
        };
      case "aws:lambda/permission:Permission":
        return { props: { ...resource.props, action: "lambda:InvokeFunction" }, opts: resource.opts };
      default:
        return undefined;
    }
  };
}
