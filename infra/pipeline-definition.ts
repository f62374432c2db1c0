/**
 * The SageMaker pipeline definition, built as data from typed step descriptions. Pure: no Pulumi, no AWS;
 * the component resolves the ARNs and URLs first and passes them in as strings.
 */
import {
  callbackOutputNames,
  pipelineParameterNames,
  submitOutputNames,
  type SubmitArguments,
} from "../functions/step-contract";

/** Parameter and output types the definition language knows. */
export type ParameterType = "String" | "Integer" | "Float" | "Boolean";

/** A reference SageMaker resolves at run time: a parameter, a step output or a property of the execution. */
export interface Reference {
  Get: string;
}

export type ArgumentValue = string | number | boolean | Reference;

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
export interface LambdaStepSpec {
  type: "Lambda";
  name: string;
  functionArn: string;
  arguments: Record<string, ArgumentValue>;
  outputs: readonly OutputSpec[];
}

/** Sends a token and `arguments` to an SQS queue and waits until someone answers with the token. */
export interface CallbackStepSpec {
  type: "Callback";
  name: string;
  sqsQueueUrl: string;
  arguments: Record<string, ArgumentValue>;
  outputs: readonly OutputSpec[];
}

export type StepSpec = LambdaStepSpec | CallbackStepSpec;

export interface PipelineSpec {
  parameters: readonly ParameterSpec[];
  steps: readonly StepSpec[];
}

interface OutputParameter {
  OutputName: string;
  OutputType: ParameterType;
}

/** The definition JSON as SageMaker reads it (only the parts this builder emits). */
export interface PipelineDefinition {
  Version: "2020-12-01";
  Parameters: { Name: string; Type: ParameterType; DefaultValue: string | number | boolean }[];
  Steps: (
    | {
        Name: string;
        Type: "Lambda";
        FunctionArn: string;
        Arguments: Record<string, ArgumentValue>;
        OutputParameters: OutputParameter[];
      }
    | {
        Name: string;
        Type: "Callback";
        SqsQueueUrl: string;
        Arguments: Record<string, ArgumentValue>;
        OutputParameters: OutputParameter[];
      }
  )[];
}

/** Parameter and step names: SageMaker accepts `^[A-Za-z0-9\-_]{1,64}$`. */
const namePattern = /^[A-Za-z0-9\-_]{1,64}$/;

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
    for (const [argument, value] of Object.entries(step.arguments)) {
      if (typeof value === "object" && !known.has(value.Get)) {
        problems.push(`step ${step.name} argument ${argument} refers to unknown "${value.Get}".`);
      }
    }
    // A step may only read outputs of the steps before it.
    for (const output of step.outputs) known.add(stepOutputRef(step.name, output.name).Get);
  }
  if (problems.length > 0) throw new Error(`Invalid pipeline definition:\n  ${problems.join("\n  ")}`);

  return {
    Version: "2020-12-01",
    Parameters: spec.parameters.map((p) => ({ Name: p.name, Type: p.type, DefaultValue: p.defaultValue })),
    Steps: spec.steps.map((step) => {
      const OutputParameters = step.outputs.map((o) => ({ OutputName: o.name, OutputType: o.type }));
      return step.type === "Lambda"
        ? {
            Name: step.name,
            Type: step.type,
            FunctionArn: step.functionArn,
            Arguments: step.arguments,
            OutputParameters,
          }
        : {
            Name: step.name,
            Type: step.type,
            SqsQueueUrl: step.sqsQueueUrl,
            Arguments: step.arguments,
            OutputParameters,
          };
    }),
  };
}

/**
 * JSON with every object's keys sorted: the AWS provider compares the definition as text, so the same
 * definition must always serialize to the same string.
 */
export function serializePipelineDefinition(definition: PipelineDefinition): string {
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

export interface BridgePipelineSettings {
  submitFunctionArn: string;
  callbackQueueUrl: string;
  /** Default of InputUri, `s3://bucket/input/`. */
  inputUri: string;
  /** Default of OutputUri, `s3://bucket/output/`. */
  outputUri: string;
  /** Default of ShardCount. */
  defaultShardCount: number;
}

/**
 * The bridge pipeline: a Lambda step submits the Batch jobs for the execution's input, and a Callback step
 * hands what it returned to the monitor through the callback queue and waits for the monitor's answer.
 */
export function bridgePipelineDefinition(settings: BridgePipelineSettings): PipelineDefinition {
  const submitArguments: Record<keyof SubmitArguments, Reference> = {
    executionArn: executionRef("PipelineExecutionArn"),
    inputUri: parameterRef(bridgeParameters.inputUri),
    outputUri: parameterRef(bridgeParameters.outputUri),
    shardCount: parameterRef(bridgeParameters.shardCount),
  };
  // Outputs are Strings: an Integer reference into a String argument is rejected at CreatePipeline.
  const asStrings = (names: readonly string[]) => names.map((name) => ({ name, type: "String" as const }));
  return buildPipelineDefinition({
    parameters: bridgePipelineParameters({
      inputUri: settings.inputUri,
      outputUri: settings.outputUri,
      shardCount: settings.defaultShardCount,
    }),
    steps: [
      {
        type: "Lambda",
        name: bridgeSteps.submit,
        functionArn: settings.submitFunctionArn,
        arguments: submitArguments,
        outputs: asStrings(submitOutputNames),
      },
      {
        type: "Callback",
        name: bridgeSteps.wait,
        sqsQueueUrl: settings.callbackQueueUrl,
        arguments: Object.fromEntries(
          submitOutputNames.map((name) => [name, stepOutputRef(bridgeSteps.submit, name)]),
        ),
        outputs: asStrings(callbackOutputNames),
      },
    ],
  });
}
