/**
 * The transform engine's model: an existing SageMaker model named by transformModelName, or one the stack
 * creates from transformImage and transformModelDataUrl with its own least-privilege execution role (the
 * role its transform jobs run with).
 */
import * as sagemaker from "@pulumi/aws/sagemaker";
import * as pulumi from "@pulumi/pulumi";
import type { BridgeConfig } from "./config";
import { modelDataLocation } from "./config/transform-config";
import { servicePrincipals, type AwsScope } from "./iam-policies";
import { createServiceRole } from "./iam";
import { modelArn, transformModelPolicy } from "./transform-policies";
import type { TransformTarget } from "./transform-step";

export interface TransformModelArgs {
  config: BridgeConfig;
  scope: pulumi.Output<AwsScope>;
  bucketName: pulumi.Output<string>;
}

export interface TransformModel {
  /** The model's name, with the rest of the transform settings: what a Transform step is built from. */
  target: pulumi.Output<TransformTarget>;
  modelArn: pulumi.Output<string>;
}

/** The model the stack's Transform steps run: the one named, or one created here. */
export function createTransformModel(
  name: string,
  args: TransformModelArgs,
  parent: pulumi.Resource,
): TransformModel {
  const { config, scope } = args;
  let modelName: pulumi.Output<string>;
  let arn: pulumi.Output<string>;
  if (config.transformModelName !== "") {
    modelName = pulumi.output(config.transformModelName);
    arn = scope.apply((s) => modelArn(s, config.transformModelName));
  } else {
    // Checked at preview: set whenever a step runs the transform engine without transformModelName.
    const modelData = modelDataLocation(config.transformModelDataUrl)!;
    const role = createServiceRole(
      `${name}-transform-model`,
      {
        service: servicePrincipals.sagemaker,
        description:
          "The stack's transform model: read its artifacts and the input, write the output and the logs.",
        policy: pulumi.all([scope, args.bucketName]).apply(([s, bucketName]) =>
          transformModelPolicy({
            scope: s,
            bucketName,
            inputPrefix: config.inputPrefix,
            outputPrefix: config.outputPrefix,
            modelData,
            image: config.transformImage,
          }),
        ),
      },
      parent,
    );
    const model = new sagemaker.Model(
      `${name}-transform`,
      {
        executionRoleArn: role.role.arn,
        primaryContainer: { image: config.transformImage, modelDataUrl: config.transformModelDataUrl },
      },
      // SageMaker checks the role when the model is created.
      { parent, dependsOn: [role.policy] },
    );
    modelName = model.name;
    arn = model.arn;
  }
  return {
    modelArn: arn,
    target: modelName.apply((resolved) => ({
      modelName: resolved,
      instanceType: config.transformInstanceType,
      instanceCount: config.transformInstanceCount,
      maxConcurrentTransforms: config.transformMaxConcurrentTransforms,
      maxPayloadMiB: config.transformMaxPayloadMiB,
      batchStrategy: config.transformBatchStrategy,
    })),
  };
}
