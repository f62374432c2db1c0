/** What a render recorded: the resources, outputs and functions of a stack, and how to look things up in it. */
import type { PipelineDefinition } from "../infra/pipeline-definition";

/** One resource the program registered. */
export interface RenderedResource {
  /** Pulumi type token, e.g. `aws:sqs/queue:Queue`. */
  type: string;
  /** Logical (Pulumi) name. */
  name: string;
  urn: string;
  /** The parent's logical name; undefined for top-level resources. */
  parent?: string;
  parentUrn?: string;
  /** The mocked physical ID (empty for components). */
  id: string;
  /** False for component resources. */
  custom: boolean;
  /** Inputs with every Output resolved; assets and archives as `{asset: ...}` / `{archive: [...]}`. */
  inputs: Record<string, unknown>;
  /** The mocked state after creation (inputs plus the IDs, ARNs and URLs AWS would assign). */
  state: Record<string, unknown>;
}

/** A Lambda function and the archive Pulumi would upload for it. */
export interface RenderedFunction {
  /** Logical name. */
  name: string;
  /** The function's name in AWS (as mocked). */
  functionName: string;
  runtime: string;
  handler: string;
  /** The function's environment variables. */
  environment: Record<string, string>;
  /** Every file path in the archive, sorted. */
  files: string[];
  /** Size of the archive zipped (deflate). */
  archiveBytes: number;
  /** `__index.js`: the serialized closure (ends with `exports.handler = __f0();`). */
  indexJs: string;
}

export interface RenderedStack {
  stack: string;
  /** The config the program ran with, as `pulumi config` holds it (`project:key` -> string). */
  config: Record<string, string>;
  resources: RenderedResource[];
  /** The program's exports, resolved. */
  outputs: Record<string, unknown>;
  functions: RenderedFunction[];
}

/** The resources of one type, in registration order. */
export function resourcesOfType(rendered: RenderedStack, type: string): RenderedResource[] {
  return rendered.resources.filter((r) => r.type === type);
}

/** The pipeline definition the stack gives SageMaker, parsed. Throws if the stack has no pipeline. */
export function pipelineDefinitionOf(rendered: RenderedStack): PipelineDefinition {
  const pipeline = rendered.resources.find((r) => r.type === "aws:sagemaker/pipeline:Pipeline");
  if (typeof pipeline?.inputs.pipelineDefinition !== "string") {
    throw new Error(`The ${rendered.stack} stack has no SageMaker pipeline definition.`);
  }
  return JSON.parse(pipeline.inputs.pipelineDefinition) as PipelineDefinition;
}
