/**
 * The SageMaker pipeline and the role its executions run with: the stack's own two-step pipeline, or the
 * user's definition (pipelineDefinitionFile, or one given in code) with its BatchBridge steps expanded.
 */
import * as lambda from "@pulumi/aws/lambda";
import * as sagemaker from "@pulumi/aws/sagemaker";
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import type { PlannedDefinition } from "./batch-bridge-steps";
import { projectName, type BridgeConfig } from "./config";
import { servicePrincipals, type RolePolicy } from "./iam-policies";
import { createServiceRole } from "./iam";
import { bridgePipelineDefinition, serializePipelineDefinition } from "./pipeline-definition";
import type { TransformTarget } from "./transform-step";

export interface PipelineArgs {
  config: BridgeConfig;
  submitFunction: lambda.Function;
  callbackQueue: sqs.Queue;
  bucketName: pulumi.Output<string>;
  /** What the executions' role may do: run the bridge's two steps (`pipelinePolicy`). */
  rolePolicy: pulumi.Output<RolePolicy>;
  /** The user's definition, checked; undefined: the stack's own pipeline. */
  definition?: PlannedDefinition;
  /** The transform engine's model and settings, when a step runs it. */
  transform?: pulumi.Output<TransformTarget>;
}

/**
 * The pipeline: the stack's own (a Lambda step that submits the jobs, a Callback step that waits for them)
 * or the user's definition with each BatchBridge step made into those two.
 */
export function createPipeline(
  name: string,
  args: PipelineArgs,
  parent: pulumi.Resource,
): sagemaker.Pipeline {
  const { config, submitFunction, callbackQueue, definition } = args;
  const executionRole = createServiceRole(
    `${name}-pipeline`,
    {
      service: servicePrincipals.sagemaker,
      description: args.transform
        ? "The bridge pipeline's executions: invoke the submit function, send the callback token, run transform jobs with the stack's model."
        : "The bridge pipeline's executions: invoke the submit function, send the callback token.",
      policy: args.rolePolicy,
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
        .all([submitFunction.arn, callbackQueue.url, args.bucketName, args.transform])
        .apply(([submitFunctionArn, callbackQueueUrl, bucket, transform]) =>
          serializePipelineDefinition(
            definition
              ? definition.expand({
                  submitFunctionArn,
                  callbackQueueUrl,
                  ...(transform ? { transform } : {}),
                })
              : bridgePipelineDefinition({
                  submitFunctionArn,
                  callbackQueueUrl,
                  ...(transform ? { transform } : {}),
                  engine: config.engine,
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

/**
 * The definition `pipelineDefinitionFile` names, parsed: read when the program runs, at preview. Throws an
 * error naming the key and the file when it cannot be read or is not JSON (with the line and column).
 */
export function readPipelineDefinitionFile(file: string, projectDirectory: string): unknown {
  const key = `${projectName}:pipelineDefinitionFile`;
  const fullPath = path.resolve(projectDirectory, file);
  let text: string;
  try {
    text = fs.readFileSync(fullPath, "utf8");
  } catch (error) {
    throw new Error(`${key} names ${file}, which cannot be read (${(error as Error).message}).`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = "";
    if (position) {
      const before = text.slice(0, Number(position[1])).split("\n");
      where = ` at line ${before.length}, column ${before.at(-1)!.length + 1}`;
    }
    throw new Error(`${key} names ${file}, which is not JSON${where}: ${message}.`);
  }
}
