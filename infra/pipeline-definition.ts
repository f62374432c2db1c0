/**
 * The SageMaker pipeline definition, built as data from typed step descriptions, and the bridge's two steps:
 * the one source of their shapes, for the stack's own pipeline and for the BatchBridge steps of a user's
 * (batch-bridge-steps.ts). Pure: no Pulumi, no AWS; the component resolves the ARNs and URLs first and
 * passes them in as strings.
 */
import {
  callbackOutputNames,
  pipelineParameterNames,
  submitOutputNames,
  type SubmitArguments,
} from "../functions/step-contract";
import type { Engine } from "./config/keys";
import { transformStepName, transformStepSpec, type TransformTarget } from "./transform-step";

/** Parameter and output types the definition language knows. */
export type ParameterType = "String" | "Integer" | "Float" | "Boolean";

/** A reference SageMaker resolves at run time: a parameter, a step output or a property of the execution. */
export interface Reference {
  Get: string;
}

/**
 * A function SageMaker evaluates at run time, e.g. `{"Std:Join": {"On": "/", "Values": [...]}}`, passed
 * through as written.
 */
export interface PipelineFunction {
  readonly [name: `Std:${string}`]: unknown;
}

export type ArgumentValue = string | number | boolean | Reference | PipelineFunction;

/** What every step may carry besides its type's fields. */
interface StepCommon {
  name: string;
  /** Steps that must end before this one starts (besides those whose outputs it reads). */
  dependsOn?: readonly string[];
  displayName?: string;
  description?: string;
}

export interface ParameterSpec {
  name: string;
  type: ParameterType;
  defaultValue: string | number | boolean;
}

export interface OutputSpec {
  name: string;
  type: ParameterType;
}

/** Calls a Lambda function with `arguments` as its event; its return value supplies `outputs`. */
export interface LambdaStepSpec extends StepCommon {
  type: "Lambda";
  functionArn: string;
  arguments: Record<string, ArgumentValue>;
  outputs: readonly OutputSpec[];
}

/** Sends a token and `arguments` to an SQS queue and waits until someone answers with the token. */
export interface CallbackStepSpec extends StepCommon {
  type: "Callback";
  sqsQueueUrl: string;
  arguments: Record<string, ArgumentValue>;
  outputs: readonly OutputSpec[];
}

/**
 * Runs a SageMaker Batch Transform job with `arguments` as its CreateTransformJob request (transform-step.ts
 * builds them); it declares no outputs (later steps read its Properties).
 */
export interface TransformStepSpec extends StepCommon {
  type: "Transform";
  arguments: TransformStepArguments;
  outputs: readonly [];
}

/** A Transform step's arguments: CreateTransformJob's fields, values literal or SageMaker expressions. */
export interface TransformStepArguments {
  [field: string]: unknown;
  ModelName: ArgumentValue;
  TransformInput: {
    DataSource: { S3DataSource: { S3DataType: "S3Prefix"; S3Uri: ArgumentValue } };
    ContentType: string;
    SplitType: "Line" | "None";
  };
  TransformOutput: { S3OutputPath: ArgumentValue; Accept: string; AssembleWith: "Line" | "None" };
  TransformResources: { InstanceType: ArgumentValue; InstanceCount: ArgumentValue };
  BatchStrategy: ArgumentValue;
  MaxConcurrentTransforms: ArgumentValue;
  MaxPayloadInMB: ArgumentValue;
  DataProcessing: { InputFilter: string; JoinSource: "Input" | "None"; OutputFilter: string };
}

export type StepSpec = LambdaStepSpec | CallbackStepSpec | TransformStepSpec;

export interface PipelineSpec {
  parameters: readonly ParameterSpec[];
  steps: readonly StepSpec[];
}

interface OutputParameter {
  OutputName: string;
  OutputType: ParameterType;
}

/** The fields every step's JSON may carry besides its type's. */
interface StepCommonDefinition {
  Name: string;
  DependsOn?: string[];
  DisplayName?: string;
  Description?: string;
}

export interface LambdaStepDefinition extends StepCommonDefinition {
  Type: "Lambda";
  FunctionArn: string;
  Arguments: Record<string, ArgumentValue>;
  OutputParameters: OutputParameter[];
}

export interface CallbackStepDefinition extends StepCommonDefinition {
  Type: "Callback";
  SqsQueueUrl: string;
  Arguments: Record<string, ArgumentValue>;
  OutputParameters: OutputParameter[];
}

export interface TransformStepDefinition extends StepCommonDefinition {
  Type: "Transform";
  Arguments: TransformStepArguments;
  /** None: a Transform step's outputs are its Properties. */
  OutputParameters?: undefined;
}

export type StepDefinition = LambdaStepDefinition | CallbackStepDefinition | TransformStepDefinition;

/** The definition JSON as SageMaker reads it (only the parts this builder emits). */
export interface PipelineDefinition {
  Version: "2020-12-01";
  Parameters: { Name: string; Type: ParameterType; DefaultValue: string | number | boolean }[];
  Steps: StepDefinition[];
}

/** Parameter and step names: SageMaker accepts `^[A-Za-z0-9\-_]{1,64}$`. */
export const namePattern = /^[A-Za-z0-9\-_]{1,64}$/;

/** Execution properties a definition can read. */
export type ExecutionProperty = "PipelineExecutionArn" | "PipelineExecutionId" | "PipelineName";

/** `{"Get": "Parameters.<name>"}` */
export function parameterRef(name: string): Reference {
  return { Get: `Parameters.${name}` };
}

/** `{"Get": "Steps.<step>.OutputParameters['<output>']"}` */
export function stepOutputRef(step: string, output: string): Reference {
  return { Get: `Steps.${step}.OutputParameters['${output}']` };
}

/** `{"Get": "Execution.<property>"}` */
export function executionRef(property: ExecutionProperty): Reference {
  return { Get: `Execution.${property}` };
}

/**
 * Builds the definition from typed steps. Throws if a name is invalid or repeated, or if an argument
 * refers to a parameter, an execution property or an earlier step's output that does not exist.
 */
export function buildPipelineDefinition(spec: PipelineSpec): PipelineDefinition {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const name of [...spec.parameters.map((p) => p.name), ...spec.steps.map((s) => s.name)]) {
    if (!namePattern.test(name)) problems.push(`"${name}" is not a valid name (${namePattern.source}).`);
    if (seen.has(name)) problems.push(`"${name}" is declared twice.`);
    seen.add(name);
  }

  const known = new Set<string>([
    ...spec.parameters.map((p) => parameterRef(p.name).Get),
    ...(["PipelineExecutionArn", "PipelineExecutionId", "PipelineName"] as const).map(
      (p) => executionRef(p).Get,
    ),
  ]);
  for (const step of spec.steps) {
    for (const { reference, field } of referencesIn(step.arguments, "")) {
      if (!known.has(reference)) {
        problems.push(`step ${step.name} argument ${field} refers to unknown "${reference}".`);
      }
    }
    // A step may only read outputs of the steps before it.
    for (const output of step.outputs) known.add(stepOutputRef(step.name, output.name).Get);
  }
  if (problems.length > 0) throw new Error(`Invalid pipeline definition:\n  ${problems.join("\n  ")}`);

  return {
    Version: "2020-12-01",
    Parameters: spec.parameters.map((p) => ({ Name: p.name, Type: p.type, DefaultValue: p.defaultValue })),
    Steps: spec.steps.map(stepDefinition),
  };
}

/** Every `{"Get": ...}` in a step's arguments, nested ones too, with the field it is in. */
function referencesIn(value: unknown, field: string): { reference: string; field: string }[] {
  if (isReference(value)) return [{ reference: value.Get, field }];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, item]) => referencesIn(item, field ? `${field}.${key}` : key));
}

/** One step's JSON. */
export function stepDefinition(step: StepSpec): StepDefinition {
  const common: StepCommonDefinition = {
    Name: step.name,
    ...(step.dependsOn && step.dependsOn.length > 0 ? { DependsOn: [...step.dependsOn] } : {}),
    ...(step.displayName !== undefined ? { DisplayName: step.displayName } : {}),
    ...(step.description !== undefined ? { Description: step.description } : {}),
  };
  if (step.type === "Transform") return { ...common, Type: step.type, Arguments: step.arguments };
  const OutputParameters = step.outputs.map((o) => ({ OutputName: o.name, OutputType: o.type }));
  return step.type === "Lambda"
    ? {
        ...common,
        Type: step.type,
        FunctionArn: step.functionArn,
        Arguments: step.arguments,
        OutputParameters,
      }
    : {
        ...common,
        Type: step.type,
        SqsQueueUrl: step.sqsQueueUrl,
        Arguments: step.arguments,
        OutputParameters,
      };
}

/** `{"Get": "..."}` */
export function isReference(value: unknown): value is Reference {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.keys(value).length === 1 &&
    typeof (value as Reference).Get === "string"
  );
}

/**
 * JSON with every object's keys sorted: the AWS provider compares the definition as text, so the same
 * definition must always serialize to the same string.
 */
export function serializePipelineDefinition(definition: object): string {
  return JSON.stringify(sortKeys(definition));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** The bridge's parameter names. */
export const bridgeParameters = pipelineParameterNames;

/** The bridge's step names. */
export const bridgeSteps = { submit: "SubmitBatchJobs", wait: "WaitForBatchJobs" };

/** The bridge's parameters with their defaults: the input and output URIs and the shard count. */
export function bridgePipelineParameters(defaults: {
  inputUri: string;
  outputUri: string;
  shardCount: number;
}): ParameterSpec[] {
  return [
    { name: bridgeParameters.inputUri, type: "String", defaultValue: defaults.inputUri },
    { name: bridgeParameters.outputUri, type: "String", defaultValue: defaults.outputUri },
    { name: bridgeParameters.shardCount, type: "Integer", defaultValue: defaults.shardCount },
  ];
}

/**
 * Where the bridge's steps send their work: the submit function and the callback queue, and with a model
 * for the transform engine, its settings.
 */
export interface BridgeTargets {
  submitFunctionArn: string;
  callbackQueueUrl: string;
  /** The transform engine's model and settings; undefined when no step runs it. */
  transform?: TransformTarget;
}

/** A bridge step's arguments, literal or SageMaker expressions, under the names the submit step takes. */
export interface BridgeStepArguments {
  inputUri: ArgumentValue;
  outputUri: ArgumentValue;
  shardCount: ArgumentValue;
  /** Left out: the default kind. */
  jobKind?: ArgumentValue;
  /** Left out: the kind's minSuccessRatio. */
  minSuccessRatio?: ArgumentValue;
}

/** The names of a bridge step's two steps. */
export interface BridgeStepNames {
  /** The Lambda step, which submits the jobs. */
  submit: string;
  /** The Callback step, which waits for them and returns the outputs later steps read. */
  wait: string;
  /**
   * Passed to the submit function as stepName, so that the jobs of several bridge steps of one execution
   * are named apart; left out, the jobs take the execution's names.
   */
  stepName?: string;
}

/** What a bridge step carries besides its arguments. */
export interface BridgeStepOptions {
  /** Kept on the Lambda step: the Callback step follows it. */
  dependsOn?: readonly string[];
  /** Kept on the Callback step, the one later steps refer to. */
  displayName?: string;
  description?: string;
}

/**
 * A bridge step: a Lambda step submits the Batch jobs for the step's input, and a Callback step hands what
 * it returned to the monitor through the callback queue and waits for the monitor's answer.
 */
export function bridgeStepSpecs(
  names: BridgeStepNames,
  args: BridgeStepArguments,
  targets: BridgeTargets,
  options: BridgeStepOptions = {},
): [LambdaStepSpec, CallbackStepSpec] {
  const submitArguments: Partial<Record<keyof SubmitArguments, ArgumentValue>> = {
    executionArn: executionRef("PipelineExecutionArn"),
    inputUri: args.inputUri,
    outputUri: args.outputUri,
    shardCount: args.shardCount,
    ...(args.jobKind !== undefined ? { jobKind: args.jobKind } : {}),
    ...(args.minSuccessRatio !== undefined ? { minSuccessRatio: args.minSuccessRatio } : {}),
    ...(names.stepName !== undefined ? { stepName: names.stepName } : {}),
  };
  // Outputs are Strings: an Integer reference into a String argument is rejected at CreatePipeline.
  const asStrings = (outputs: readonly string[]) =>
    outputs.map((name) => ({ name, type: "String" as const }));
  return [
    {
      type: "Lambda",
      name: names.submit,
      ...(options.dependsOn && options.dependsOn.length > 0 ? { dependsOn: options.dependsOn } : {}),
      functionArn: targets.submitFunctionArn,
      arguments: submitArguments,
      outputs: asStrings(submitOutputNames),
    },
    {
      type: "Callback",
      name: names.wait,
      ...(options.displayName !== undefined ? { displayName: options.displayName } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
      sqsQueueUrl: targets.callbackQueueUrl,
      arguments: Object.fromEntries(
        submitOutputNames.map((output) => [output, stepOutputRef(names.submit, output)]),
      ),
      outputs: asStrings(callbackOutputNames),
    },
  ];
}

export interface BridgePipelineSettings extends BridgeTargets {
  /** Default of InputUri, `s3://bucket/input/`. */
  inputUri: string;
  /** Default of OutputUri, `s3://bucket/output/`. */
  outputUri: string;
  /** Default of ShardCount. */
  defaultShardCount: number;
  /** What runs the pipeline's step (default batch): `transform` needs `transform` among the targets. */
  engine?: Engine;
}

/** The transform engine's settings among the targets; throws when they are missing. */
export function transformTarget(targets: BridgeTargets): TransformTarget {
  if (!targets.transform) throw new Error("The transform engine needs the stack's model (transform target).");
  return targets.transform;
}

/**
 * The stack's own pipeline: its parameters and one bridge step (the Batch engine's Lambda and Callback
 * steps, or the transform engine's Transform step). ShardCount is declared either way: the records API
 * starts executions with it.
 */
export function bridgePipelineDefinition(settings: BridgePipelineSettings): PipelineDefinition {
  const io = {
    inputUri: parameterRef(bridgeParameters.inputUri),
    outputUri: parameterRef(bridgeParameters.outputUri),
  };
  return buildPipelineDefinition({
    parameters: bridgePipelineParameters({
      inputUri: settings.inputUri,
      outputUri: settings.outputUri,
      shardCount: settings.defaultShardCount,
    }),
    steps:
      settings.engine === "transform"
        ? [transformStepSpec(transformStepName, io, transformTarget(settings))]
        : bridgeStepSpecs(
            bridgeSteps,
            { ...io, shardCount: parameterRef(bridgeParameters.shardCount) },
            settings,
          ),
  });
}
