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
  /**
   * Properties of the steps that have run and have some (a Transform step: its job as DescribeTransformJob
   * returns it), by step name.
   */
  stepProperties?: Record<string, Record<string, unknown>>;
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
  const property = /^Steps\.([A-Za-z0-9_-]+)\.(.+)$/.exec(text);
  if (property && scope.stepProperties?.[property[1]]) {
    return stepProperty(scope.stepProperties[property[1]], property[1], property[2], path);
  }
  if (property) {
    throw new Error(
      `${path}: cannot resolve {"Get": ${JSON.stringify(text)}}: local mode reads the OutputParameters of ` +
        `Lambda and Callback steps and the properties of Transform steps that have run; steps of other ` +
        `types run simulated, without properties`,
    );
  }
  throw new Error(`${path}: cannot resolve {"Get": ${JSON.stringify(text)}}`);
}

/**
 * A step property, `TransformOutput.S3OutputPath`, `Environment['KEY']` or `Foo[0].Bar`: a path into the
 * step's properties (for a Transform step, the DescribeTransformJob response, as the SageMaker Python SDK's
 * TransformStep declares them: shape DescribeTransformJobResponse). Throws an error naming the step and the
 * part of the path it does not have.
 */
function stepProperty(
  properties: Record<string, unknown>,
  stepName: string,
  propertyPath: string,
  path: string,
): ParameterValue {
  const parts = [...propertyPath.matchAll(/([A-Za-z0-9_]+)|\[(\d+)\]|\[['"]([^'"]+)['"]\]|(.)/g)];
  let value: unknown = properties;
  let read = "";
  for (const [whole, name, index, key, stray] of parts) {
    if (stray !== undefined && stray !== ".") {
      throw new Error(`${path}: Steps.${stepName}.${propertyPath} is not a property path`);
    }
    if (stray !== undefined) continue;
    const field = name ?? key ?? Number(index);
    read += name !== undefined ? `${read === "" ? "" : "."}${name}` : whole;
    const holder = value as Record<string | number, unknown> | null;
    if (holder === null || typeof holder !== "object" || !(field in holder)) {
      throw new Error(`${path}: step ${stepName} has no property ${read}`);
    }
    value = holder[field];
  }
  if (typeof value === "object" && value !== null) {
    throw new Error(
      `${path}: property ${propertyPath} of step ${stepName} is not a single value: read one of its fields`,
    );
  }
  return value as ParameterValue;
}

/** SageMaker gives up on a Lambda step after 10 minutes. */
export const lambdaStepLimitSeconds = 600;

/** Why a Lambda step failed when SageMaker gave up on it. */
export function lambdaStepTimedOut(stepName: string): string {
  return `Step ${stepName} timed out: a Lambda step ends after ${lambdaStepLimitSeconds / 60} minutes.`;
}

/** What references of an execution's steps resolve against, before any step has run. */
export function executionScope(
  executionArn: string,
  pipelineName: string,
  parameters: Record<string, ParameterValue>,
): ExecutionScope {
  return {
    executionArn,
    executionId: executionArn.slice(executionArn.lastIndexOf("/") + 1),
    pipelineName,
    parameters,
    stepOutputs: {},
    stepProperties: {},
  };
}

/** A Callback step's outputs: the output parameters of the answer that succeeded it. */
export function callbackStepOutputs(answer: {
  outputParameters?: { Name?: string; Value?: string }[];
}): Record<string, ParameterValue> {
  return Object.fromEntries((answer.outputParameters ?? []).map((o) => [o.Name ?? "", o.Value ?? ""]));
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

/** A step of any type, as the rendered definition holds it (Condition steps hold steps of their own). */
export interface DefinitionStep {
  Name: string;
  Type: string;
  DependsOn?: string[];
  Arguments?: unknown;
  [field: string]: unknown;
}

/** A step in the order the execution runs it, with what it waits for. */
export interface PlannedStep {
  step: DefinitionStep;
  /** Steps that must have succeeded first: DependsOn, the steps its properties read, its Condition step. */
  dependsOn: string[];
  /** For a step in a Condition step's IfSteps or ElseSteps: which one, of which Condition step. */
  branchOf?: { condition: string; branch: ConditionBranch };
}

export type ConditionBranch = "IfSteps" | "ElseSteps";
const conditionBranches: readonly ConditionBranch[] = ["IfSteps", "ElseSteps"];

/**
 * The steps of a definition in an order SageMaker could run them: a step runs once every step it depends
 * on has ended, where it depends on the steps of its `DependsOn`, the steps whose properties it reads
 * (`{"Get": "Steps.X..."}` anywhere in it: SageMaker derives these data dependencies from the references,
 * SageMaker developer guide "Pipeline steps", data dependency) and, for a step in a Condition step's
 * branch, that Condition step. Among the steps ready at once, the one listed first runs first. Throws an
 * error naming a dependency on a step the definition does not have, or steps that depend on each other.
 */
export function executionPlan(definition: { Steps: readonly unknown[] }): PlannedStep[] {
  const planned: PlannedStep[] = [];
  const collect = (steps: readonly unknown[], branchOf?: PlannedStep["branchOf"]) => {
    for (const raw of steps) {
      const step = raw as DefinitionStep;
      const own = step.Type === "Condition" ? conditionWithoutBranches(step) : step;
      const dependsOn = new Set([...(step.DependsOn ?? []), ...referencedSteps(own)]);
      if (branchOf) dependsOn.add(branchOf.condition);
      planned.push({ step, dependsOn: [...dependsOn], ...(branchOf ? { branchOf } : {}) });
      if (step.Type === "Condition") {
        const args = (step.Arguments ?? {}) as Record<string, unknown>;
        for (const branch of conditionBranches) {
          collect((args[branch] as unknown[] | undefined) ?? [], { condition: step.Name, branch });
        }
      }
    }
  };
  collect(definition.Steps);

  const byName = new Map(planned.map((p) => [p.step.Name, p]));
  for (const { step, dependsOn } of planned) {
    for (const name of dependsOn) {
      if (!byName.has(name))
        throw new Error(`Step ${step.Name} depends on step ${name}, which the definition has not.`);
      if (name === step.Name) throw new Error(`Step ${step.Name} depends on itself.`);
    }
  }
  const order: PlannedStep[] = [];
  const done = new Set<string>();
  while (order.length < planned.length) {
    const next = planned.find((p) => !done.has(p.step.Name) && p.dependsOn.every((d) => done.has(d)));
    if (!next) {
      const waiting = planned.filter((p) => !done.has(p.step.Name)).map((p) => p.step.Name);
      throw new Error(`Steps ${waiting.join(", ")} depend on each other: none of them can start.`);
    }
    order.push(next);
    done.add(next.step.Name);
  }
  return order;
}

/** A Condition step without its branches: the steps in them are steps of their own. */
function conditionWithoutBranches(step: DefinitionStep): DefinitionStep {
  const args = { ...((step.Arguments ?? {}) as Record<string, unknown>) };
  for (const branch of conditionBranches) delete args[branch];
  return { ...step, Arguments: args };
}

/** The steps a value reads properties of, through `{"Get": "Steps.<name>...."}`. */
function referencedSteps(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedSteps(item, found);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const step = key === "Get" && typeof item === "string" ? /^Steps\.([A-Za-z0-9_-]+)\./.exec(item) : null;
      if (step) found.add(step[1]);
      else referencedSteps(item, found);
    }
  }
  return found;
}

/**
 * Whether a Condition step's conditions hold: every one of its `Conditions` (SageMaker runs the IfSteps when
 * all are true, the ElseSteps otherwise). Each condition is of a type the definition schema lists (Equals,
 * NotEquals, GreaterThan, GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, NotIn, Or) or `Not`, which
 * the SageMaker Python SDK writes (`ConditionNot`: `{"Type": "Not", "Expression": ...}`). `In` takes its
 * operands as the schema names them (`Value`, `In`) or as the Python SDK writes them (`QueryValue`,
 * `Values`). Throws an error naming the step and the condition that cannot be evaluated.
 */
export function conditionsHold(step: DefinitionStep, scope: ExecutionScope): boolean {
  const conditions = ((step.Arguments ?? {}) as { Conditions?: unknown }).Conditions;
  if (!Array.isArray(conditions)) {
    throw new Error(`Step ${step.Name}: Arguments.Conditions must be a list of conditions.`);
  }
  return conditions.every((condition, i) =>
    evaluateCondition(condition, scope, `step ${step.Name} Arguments.Conditions[${i}]`),
  );
}

const comparisons: Record<string, (order: number) => boolean> = {
  GreaterThan: (order) => order > 0,
  GreaterThanOrEqualTo: (order) => order >= 0,
  LessThan: (order) => order < 0,
  LessThanOrEqualTo: (order) => order <= 0,
};

function evaluateCondition(raw: unknown, scope: ExecutionScope, path: string): boolean {
  const condition = (raw ?? {}) as Record<string, unknown>;
  const value = (field: string) => {
    if (!(field in condition))
      throw new Error(`${path}: a ${String(condition.Type)} condition needs ${field}.`);
    return resolveValue(condition[field], scope, `${path}.${field}`);
  };
  switch (condition.Type) {
    case "Equals":
      return sameValue(value("LeftValue"), value("RightValue"));
    case "NotEquals":
      return !sameValue(value("LeftValue"), value("RightValue"));
    case "GreaterThan":
    case "GreaterThanOrEqualTo":
    case "LessThan":
    case "LessThanOrEqualTo": {
      const left = numberOf(value("LeftValue"));
      const right = numberOf(value("RightValue"));
      if (left === undefined || right === undefined) {
        throw new Error(
          `${path}: ${condition.Type} compares numbers, got ${JSON.stringify(value("LeftValue"))} and ` +
            `${JSON.stringify(value("RightValue"))}.`,
        );
      }
      return comparisons[condition.Type](left - right);
    }
    case "In":
    case "NotIn": {
      const [queryField, listField] = "QueryValue" in condition ? ["QueryValue", "Values"] : ["Value", "In"];
      const query = value(queryField);
      const list = value(listField);
      if (!Array.isArray(list)) throw new Error(`${path}.${listField}: ${condition.Type} needs a list.`);
      const found = list.some((item) => sameValue(query, item));
      return condition.Type === "In" ? found : !found;
    }
    case "Not":
      return !evaluateCondition(condition.Expression, scope, `${path}.Expression`);
    case "Or": {
      if (!Array.isArray(condition.Conditions)) throw new Error(`${path}: Or needs Conditions, a list.`);
      return condition.Conditions.some((inner, i) =>
        evaluateCondition(inner, scope, `${path}.Conditions[${i}]`),
      );
    }
    default:
      throw new Error(
        `${path}: ${JSON.stringify(condition.Type)} is not a condition type (Equals, NotEquals, GreaterThan, ` +
          `GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, NotIn, Not, Or).`,
      );
  }
}

/**
 * Equality of two resolved values. Step outputs are strings (the bridge's outputs are String), so a number
 * and the string that reads as that number are equal: `"4"` equals `4`, as the Callback step's
 * `SucceededShards` must equal an Integer parameter.
 */
function sameValue(left: unknown, right: unknown): boolean {
  if (typeof left === typeof right) return left === right;
  const [l, r] = [numberOf(left), numberOf(right)];
  if (l !== undefined && r !== undefined) return l === r;
  return String(left) === String(right);
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value)))
    return Number(value);
  return undefined;
}

/** The message a Fail step fails the execution with: its ErrorMessage, resolved (empty when it has none). */
export function failStepMessage(step: DefinitionStep, scope: ExecutionScope): string {
  const args = (step.Arguments ?? {}) as { ErrorMessage?: unknown };
  if (args.ErrorMessage === undefined) return "";
  return String(resolveValue(args.ErrorMessage, scope, `step ${step.Name} Arguments.ErrorMessage`));
}
