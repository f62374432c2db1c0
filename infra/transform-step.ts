/**
 * The Transform step the transform engine puts where the bridge's Lambda and Callback steps would be: one
 * SageMaker Batch Transform job over the step's input prefix, writing to its output prefix. Pure.
 *
 * Input is JSON Lines, one `{"job_id": ..., "record": ...}` per line (the records API's shard files). The
 * job's data processing joins each prediction to its record ("Associate Prediction Results with Input
 * Records", https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html): the
 * InputFilter sends the model only the record, JoinSource Input adds the model's answer to the input line
 * under `SageMakerOutput`, and the OutputFilter keeps the id and the prediction. Records and predictions
 * with many fields go through as JSON, never split as text.
 */
import { transformResultKey } from "../functions/records/contract";
import type { ArgumentValue, TransformStepArguments, TransformStepSpec } from "./pipeline-definition";

/** The stack's transform settings, with its model's name resolved. */
export interface TransformTarget {
  modelName: string;
  instanceType: string;
  instanceCount: number;
  maxConcurrentTransforms: number;
  maxPayloadMiB: number;
  batchStrategy: "MultiRecord" | "SingleRecord";
}

/** The stack's own pipeline's Transform step. */
export const transformStepName = "TransformRecords";

/** JSON Lines in and out: one record a line, one result a line (SplitType and AssembleWith `Line`). */
export const transformContentType = "application/jsonlines";

/** The key under which SageMaker joins a JSON input line with the model's answer (JoinSource Input). */
export const joinedOutputKey = transformResultKey;

/** What the model sees of a line, and what is kept of the joined line: JSONPath, as SageMaker reads it. */
export const transformDataProcessing = {
  InputFilter: "$.record",
  JoinSource: "Input",
  OutputFilter: `$['job_id','${joinedOutputKey}']`,
} as const;

/** A Transform step reading `inputUri`'s objects and writing `<object>.out` under `outputUri`. */
export function transformStepSpec(
  name: string,
  io: { inputUri: ArgumentValue; outputUri: ArgumentValue },
  target: TransformTarget,
  options: { dependsOn?: readonly string[]; displayName?: string; description?: string } = {},
): TransformStepSpec {
  const args: TransformStepArguments = {
    ModelName: target.modelName,
    TransformInput: {
      DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: io.inputUri } },
      ContentType: transformContentType,
      SplitType: "Line",
    },
    TransformOutput: { S3OutputPath: io.outputUri, Accept: transformContentType, AssembleWith: "Line" },
    TransformResources: { InstanceType: target.instanceType, InstanceCount: target.instanceCount },
    BatchStrategy: target.batchStrategy,
    MaxConcurrentTransforms: target.maxConcurrentTransforms,
    MaxPayloadInMB: target.maxPayloadMiB,
    DataProcessing: { ...transformDataProcessing },
  };
  return {
    type: "Transform",
    name,
    ...(options.dependsOn && options.dependsOn.length > 0 ? { dependsOn: options.dependsOn } : {}),
    ...(options.displayName !== undefined ? { displayName: options.displayName } : {}),
    ...(options.description !== undefined ? { description: options.description } : {}),
    arguments: args,
    outputs: [],
  };
}
