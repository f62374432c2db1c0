/**
 * Routes Batch's job state-change events (completionEvents) to the job-event function: an EventBridge
 * rule on the default bus for the final states of the stack's jobs, its Lambda target, the permission
 * that lets EventBridge invoke the function, and the function's asynchronous retry settings.
 */
import * as cloudwatch from "@pulumi/aws/cloudwatch";
import * as lambda from "@pulumi/aws/lambda";
import * as pulumi from "@pulumi/pulumi";
import { jobStateChangePattern } from "../functions/batch-job-state-event";
import type { BridgeConfig } from "./config";

/** Lambda keeps an asynchronous event at most 6 hours; EventBridge retries a delivery for at most 24. */
const lambdaEventAgeLimitSeconds = { min: 60, max: 21600 };
const eventBridgeEventAgeLimitSeconds = { min: 60, max: 86400 };
/** EventBridge's most delivery attempts (they back off, bounded by the event age). */
const eventBridgeMaxRetryAttempts = 185;
/** Lambda's own retries of a failed asynchronous invocation (its default and its most). */
const lambdaMaxRetryAttempts = 2;

export interface JobEventsArgs {
  config: BridgeConfig;
  jobQueueArn: pulumi.Output<string>;
  jobEventFunction: lambda.Function;
}

export interface JobEventRouting {
  rule: cloudwatch.EventRule;
  target: cloudwatch.EventTarget;
  permission: lambda.Permission;
  invokeConfig: lambda.FunctionEventInvokeConfig;
}

/**
 * How long a job state-change event is worth delivering: after one safety-net interval the monitor's own
 * check has seen the job's final state, so an older event can only repeat it.
 */
function eventAgeLimitSeconds(config: BridgeConfig, limits: { min: number; max: number }): number {
  return Math.min(Math.max(config.safetyNetCheckSeconds, limits.min), limits.max);
}

/** The rule, target, invoke permission and retry settings that bring the events to the function. */
export function routeJobEvents(name: string, args: JobEventsArgs, parent: pulumi.Resource): JobEventRouting {
  const { config, jobEventFunction } = args;
  const logicalName = `${name}-job-event`;
  const rule = new cloudwatch.EventRule(
    logicalName,
    {
      description: `Final states of the Batch jobs of the ${config.pipelineName} pipeline's steps.`,
      // Batch publishes its events on the default bus.
      eventPattern: args.jobQueueArn.apply((jobQueueArn) =>
        JSON.stringify(jobStateChangePattern(jobQueueArn, config.jobNamePrefix)),
      ),
      state: "ENABLED",
    },
    { parent },
  );
  // Events that cannot be delivered in the end are not lost for good: the monitor checks each waiting step
  // every safetyNetCheckSeconds and answers it from Batch itself.
  const target = new cloudwatch.EventTarget(
    logicalName,
    {
      rule: rule.name,
      arn: jobEventFunction.arn,
      retryPolicy: {
        maximumEventAgeInSeconds: eventAgeLimitSeconds(config, eventBridgeEventAgeLimitSeconds),
        maximumRetryAttempts: eventBridgeMaxRetryAttempts,
      },
    },
    { parent },
  );
  const permission = new lambda.Permission(
    logicalName,
    {
      action: "lambda:InvokeFunction",
      function: jobEventFunction.name,
      principal: "events.amazonaws.com",
      sourceArn: rule.arn,
    },
    { parent },
  );
  // EventBridge invokes the function asynchronously: an invocation that throws (throttling, a 5xx from
  // AWS) is retried by Lambda twice more; after that the safety-net check covers the event.
  const invokeConfig = new lambda.FunctionEventInvokeConfig(
    logicalName,
    {
      functionName: jobEventFunction.name,
      maximumRetryAttempts: lambdaMaxRetryAttempts,
      maximumEventAgeInSeconds: eventAgeLimitSeconds(config, lambdaEventAgeLimitSeconds),
    },
    { parent },
  );
  return { rule, target, permission, invokeConfig };
}
