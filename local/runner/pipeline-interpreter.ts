/**
 * Reads a pipeline definition the way SageMaker does when it runs an execution: parameter values (the
 * defaults, overridden by the execution's), the `Get` references and `Std:Join` of step arguments, and the
 * checks on a Lambda step's output.
 */
import type { PipelineDefinition } from "../../infra/pipeline-definition";

/** A step output value holds at most 1,024 characters (SageMaker's limit on output parameters). */
export const stepOutputValueLimit = 1024;

export type ParameterValue = string | number | boolean;

/** What references resolve against. */
export interface ExecutionScope {
  executionArn: string;
  executionId: string;
  pipelineName: string;
  parameters: Record<string, ParameterValue>;
  /** Outputs of the steps that have run, by step name. */
  stepOutputs: Record<string, Record<string, ParameterValue>>;
}

export type PipelineStep = PipelineDefinition["Steps"][number];

/**
 * The execution's parameter values, typed as declared: each default, overridden by `given`. Throws an error
 * naming an unknown parameter or a value that is not of the declared type.
 */
export function resolveParameters(
  definition: PipelineDefinition,
  given: Record<string, ParameterValue>,
): Record<string, ParameterValue> {
  const declared = new Map(definition.Parameters.map((p) => [p.Name, p]));
  const problems: string[] = [];
  for (const name of Object.keys(given)) {
    if (!declared.has(name)) {
      problems.push(
        `the pipeline has no parameter ${name} (it has ${[...declared.keys()].join(", ") || "none"})`,
      );
    }
  }
  const values: Record<string, ParameterValue> = {};
  for (const parameter of definition.Parameters) {
    const raw = given[parameter.Name] ?? parameter.DefaultValue;
    if (raw === undefined) {
      problems.push(`parameter ${parameter.Name} has no default and no value was given`);
      continue;
    }
    const typed = typedValue(raw, parameter.Type);
    if (typed === undefined) {
      problems.push(
        `parameter ${parameter.Name} must be of type ${parameter.Type}, got ${JSON.stringify(raw)}`,
      );
    } else {
      values[parameter.Name] = typed;
    }
  }
  if (problems.length > 0) throw new Error(`Cannot start the execution: ${problems.join("; ")}.`);
  return values;
}

function typedValue(raw: ParameterValue, type: string): ParameterValue | undefined {
  switch (type) {
    case "String":
      return String(raw);
    case "Integer": {
      const n = typeof raw === "number" ? raw : /^\s*-?\d+\s*$/.test(String(raw)) ? Number(raw) : NaN;
      return Number.isInteger(n) ? n : undefined;
    }
    case "Float": {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      return Number.isFinite(n) && String(raw).trim() !== "" ? n : undefined;
    }
    case "Boolean":
      if (raw === true || raw === "true") return true;
      if (raw === false || raw === "false") return false;
      return undefined;
    default:
      return undefined;
  }
}

/** A step's arguments with every reference resolved; throws an error naming a reference that cannot be. */
export function resolveArguments(
  args: Record<string, unknown>,
  scope: ExecutionScope,
  stepName: string,
): Record<string, unknown> {
  return resolveValue(args, scope, `step ${stepName} Arguments`) as Record<string, unknown>;
}

function resolveValue(value: unknown, scope: ExecutionScope, path: string): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item, i) => resolveValue(item, scope, `${path}[${i}]`));
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && keys[0] === "Get") return resolveGet(object.Get, scope, path);
  if (keys.length === 1 && keys[0] === "Std:Join") {
    const join = object["Std:Join"] as { On?: unknown; Values?: unknown };
    if (typeof join?.On !== "string" || !Array.isArray(join.Values)) {
      throw new Error(
        `${path}: Std:Join needs On (a string) and Values (a list), got ${JSON.stringify(join)}`,
      );
    }
    return join.Values.map((item, i) => String(resolveValue(item, scope, `${path}.Values[${i}]`))).join(
      join.On,
    );
  }
  return Object.fromEntries(keys.map((key) => [key, resolveValue(object[key], scope, `${path}.${key}`)]));
}

function resolveGet(reference: unknown, scope: ExecutionScope, path: string): ParameterValue {
  const text = String(reference);
  const parameter = /^Parameters\.([A-Za-z0-9_-]+)$/.exec(text);
  if (parameter) {
    if (!(parameter[1] in scope.parameters)) throw new Error(`${path}: no parameter ${parameter[1]}`);
    return scope.parameters[parameter[1]];
  }
  const execution = /^Execution\.(\w+)$/.exec(text);
  if (execution) {
    switch (execution[1]) {
      case "PipelineExecutionArn":
        return scope.executionArn;
      case "PipelineExecutionId":
        return scope.executionId;
      case "PipelineName":
        return scope.pipelineName;
      default:
        throw new Error(`${path}: Execution.${execution[1]} is not an execution property local mode knows`);
    }
  }
  const output = /^Steps\.([A-Za-z0-9_-]+)\.OutputParameters\[['"]([^'"]+)['"]\]$/.exec(text);
  if (output) {
    const outputs = scope.stepOutputs[output[1]];
    if (!outputs) throw new Error(`${path}: step ${output[1]} has not run before this step`);
    if (!(output[2] in outputs)) throw new Error(`${path}: step ${output[1]} has no output ${output[2]}`);
    return outputs[output[2]];
  }
  throw new Error(`${path}: cannot resolve {"Get": ${JSON.stringify(text)}}`);
}

/** A Lambda step's outputs, or why SageMaker would fail the step. */
export type LambdaStepOutputs =
  { ok: true; outputs: Record<string, ParameterValue> } | { ok: false; reason: string };

/**
 * Checks what the function returned against the step's declared outputs: each must be there, of its type,
 * and a String at most 1,024 characters.
 */
export function lambdaStepOutputs(
  step: { Name: string; OutputParameters: { OutputName: string; OutputType: string }[] },
  returned: unknown,
): LambdaStepOutputs {
  const result = (returned ?? {}) as Record<string, unknown>;
  const outputs: Record<string, ParameterValue> = {};
  for (const { OutputName: name, OutputType: type } of step.OutputParameters) {
    const value = typeof result === "object" ? result[name] : undefined;
    if (value === undefined || value === null) {
      return {
        ok: false,
        reason: `The Lambda function's output has no ${name}, a declared output of ${step.Name}.`,
      };
    }
    if (type === "String") {
      if (typeof value !== "string") {
        return { ok: false, reason: `Output ${name} of ${step.Name} must be a String, got ${typeof value}.` };
      }
      if (value.length > stepOutputValueLimit) {
        return {
          ok: false,
          reason:
            `Output ${name} of ${step.Name} is ${value.length} characters long; a step output value ` +
            `holds at most ${stepOutputValueLimit}.`,
        };
      }
      outputs[name] = value;
    } else {
      const typed = typedValue(value as ParameterValue, type);
      if (typed === undefined) {
        return {
          ok: false,
          reason: `Output ${name} of ${step.Name} must be of type ${type}, got ${JSON.stringify(value)}.`,
        };
      }
      outputs[name] = typed;
    }
  }
  return { ok: true, outputs };
}
