/**
 * The SageMaker pipeline and the role its executions run with.
 */
import * as lambda from "@pulumi/aws/lambda";
import * as sagemaker from "@pulumi/aws/sagemaker";
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import type { BridgeConfig } from "./config";
import { pipelinePolicy, servicePrincipals } from "./iam-policies";
import { createServiceRole } from "./iam";
import { bridgePipelineDefinition, serializePipelineDefinition } from "./pipeline-definition";

export interface PipelineArgs {
  config: BridgeConfig;
  submitFunction: lambda.Function;
  callbackQueue: sqs.Queue;
  bucketName: pulumi.Output<string>;
}

/** The pipeline: a Lambda step that submits the jobs, a Callback step that waits for them. */
export function createPipeline(
  name: string,
  args: PipelineArgs,
  parent: pulumi.Resource,
): sagemaker.Pipeline {
  const { config, submitFunction, callbackQueue } = args;
  const executionRole = createServiceRole(
    `${name}-pipeline`,
    {
      service: servicePrincipals.sagemaker,
      description: "The bridge pipeline's executions: invoke the submit function, send the callback token.",
      policy: pulumi
        .all([submitFunction.arn, callbackQueue.arn])
        .apply(([submitFunctionArn, callbackQueueArn]) =>
          pipelinePolicy({ submitFunctionArn, callbackQueueArn }),
        ),
    },
    parent,
  );
  return new sagemaker.Pipeline(
    `${name}-pipeline`,
    {
      pipelineName: config.pipelineName,
      pipelineDisplayName: config.pipelineName,
      pipelineDescription: "Runs AWS Batch (Fargate) jobs as a pipeline step (sagemaker-batch-bridge).",
      roleArn: executionRole.role.arn,
      pipelineDefinition: pulumi
        .all([submitFunction.arn, callbackQueue.url, args.bucketName])
        .apply(([submitFunctionArn, callbackQueueUrl, bucket]) =>
          serializePipelineDefinition(
            bridgePipelineDefinition({
              submitFunctionArn,
              callbackQueueUrl,
              inputUri: `s3://${bucket}/${config.inputPrefix}`,
              outputUri: `s3://${bucket}/${config.outputPrefix}`,
              defaultShardCount: config.defaultShardCount,
            }),
          ),
        ),
    },
    // Executions need the role's permissions from their first step.
    { parent, dependsOn: [executionRole.policy] },
  );
}
