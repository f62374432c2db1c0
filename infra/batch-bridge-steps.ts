/**
 * BatchBridge steps in a user's pipeline definition: a step of `"Type": "BatchBridge"` stands for the
 * bridge's two steps, a Lambda step `<Name>-Submit` that submits the jobs and a Callback step `<Name>` that
 * waits for them, so that `DependsOn: ["<Name>"]` and `{"Get": "Steps.<Name>.OutputParameters['OutputUri']"}`
 * in the other steps read the finished work. Everything is checked before any resource is created; the
 * expansion itself (pipeline-definition.ts builds the two steps) runs once the ARNs are known. Pure.
 */
import { minSuccessRatioAllowed, parseMinSuccessRatio } from "../functions/success-ratio";
import { callbackOutputNames, submitOutputNames, type SubmitArguments } from "../functions/step-contract";
import { maxShardCount } from "../functions/submit-arguments";
import type { Engine } from "./config/keys";
import {
  bridgeStepSpecs,
  isReference,
  namePattern,
  stepDefinition,
  transformTarget,
  type ArgumentValue,
  type BridgeStepArguments,
  type BridgeTargets,
} from "./pipeline-definition";
import { transformStepSpec } from "./transform-step";

export const batchBridgeStepType = "BatchBridge";

/** A BatchBridge step's arguments, as a definition names them, and the submit step's argument each becomes. */
export const batchBridgeArguments = {
  JobKind: "jobKind",
  InputUri: "inputUri",
  OutputUri: "outputUri",
  ShardCount: "shardCount",
  MinSuccessRatio: "minSuccessRatio",
} as const satisfies Record<string, keyof SubmitArguments & keyof BridgeStepArguments>;

/**
 * `Engine` overrides the stack's engine for one step: `batch` (the bridge's Lambda and Callback steps) or
 * `transform` (a Transform step with the stack's model). It decides the steps the definition holds, so it
 * must be written out, not an expression.
 */
export const engineArgument = "Engine";
const engines: readonly Engine[] = ["batch", "transform"];

export type BatchBridgeArgumentName = keyof typeof batchBridgeArguments | typeof engineArgument;

/** JobKind (the default kind) and MinSuccessRatio (the kind's) may be left out; the others are required. */
const requiredArguments: readonly BatchBridgeArgumentName[] = ["InputUri", "OutputUri", "ShardCount"];

/** The fields a BatchBridge step may have. */
const batchBridgeStepFields = ["Name", "Type", "Arguments", "DependsOn", "DisplayName", "Description"];

/** The only definition version SageMaker knows. */
const definitionVersion = "2020-12-01";

/** A BatchBridge step as a definition holds it. */
export interface BatchBridgeStep {
  Name: string;
  Type?: typeof batchBridgeStepType;
  Arguments: { [Name in BatchBridgeArgumentName]?: ArgumentValue };
  DependsOn?: string[];
  DisplayName?: string;
  Description?: string;
}

/** A step of any type, as JSON. */
export interface StepDocument {
  Name: string;
  Type: string;
  [field: string]: unknown;
}

/** A pipeline definition as JSON: its BatchBridge steps, or once expanded, the bridge's steps. */
export interface PipelineDocument {
  Version: typeof definitionVersion;
  Steps: StepDocument[];
  [field: string]: unknown;
}

/** The name of a BatchBridge step's Lambda step. */
export function submitStepName(stepName: string): string {
  return `${stepName}-Submit`;
}

/** Raised with every problem of a definition, each naming the step and the field. */
export class PipelineDefinitionError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid pipeline definition ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "PipelineDefinitionError";
  }
}

export interface ExpansionOptions {
  /** The job kinds a step may name (the stack's, `default` included). */
  jobKinds: readonly string[];
  /** Where the definition comes from, for the error message: a file, or "given in code". */
  source: string;
  /** The stack's engine, which a step without an Engine argument runs (default batch). */
  engine?: Engine;
}

/** A checked definition, ready to be expanded once the bridge's ARNs are known. */
export interface PlannedDefinition {
  /** The definition with each BatchBridge step replaced by the bridge's two steps. */
  expand(targets: BridgeTargets): PipelineDocument;
  /**
   * Steps that need permissions of their own from the pipeline's role, which holds only the bridge's
   * (every type but BatchBridge, Condition and Fail), by name.
   */
  stepsNeedingOtherPermissions: string[];
  /** The BatchBridge steps that run the transform engine, by name. */
  transformSteps: string[];
}

/** Step types that need no permission of the pipeline's role (the bridge's own are granted). */
const typesWithoutPermissions = [batchBridgeStepType, "Condition", "Fail"];

/**
 * Checks a definition (as parsed JSON): its version, every step's name and type, each BatchBridge step's
 * fields and arguments (a JobKind given as text must be one of the stack's), the names the expansion
 * makes (`<Name>-Submit` too: each must be free and at most 64 characters), and every reference
 * (`DependsOn`, `Parameters.X`, `Steps.S...`, and the outputs of steps that declare them). Throws a
 * PipelineDefinitionError with every problem found.
 */
export function planPipelineDefinition(document: unknown, options: ExpansionOptions): PlannedDefinition {
  const problems: string[] = [];
  if (!isObject(document)) {
    throw new PipelineDefinitionError(options.source, [
      `must be a JSON object with Version and Steps, got ${describe(document)}.`,
    ]);
  }
  if (document.Version !== definitionVersion) {
    problems.push(`Version must be "${definitionVersion}", got ${describe(document.Version)}.`);
  }
  if (!Array.isArray(document.Steps) || document.Steps.length === 0) {
    throw new PipelineDefinitionError(options.source, [
      ...problems,
      `Steps must be a list of steps, got ${describe(document.Steps)}.`,
    ]);
  }

  const steps = stepsOf(document.Steps, "Steps", problems);
  const names = new Map<string, string>();
  const outputs = new Map<string, readonly string[]>();
  const declare = (name: string, where: string, declared?: readonly string[]) => {
    if (!namePattern.test(name)) {
      problems.push(`${where}: the name "${name}" must be 1-64 letters, digits, hyphens and underscores.`);
    } else if (names.has(name)) {
      problems.push(`${where}: the name "${name}" is also taken by ${names.get(name)}.`);
    }
    names.set(name, where);
    if (declared) outputs.set(name, declared);
  };
  const stackEngine = options.engine ?? "batch";
  const transformSteps: string[] = [];
  for (const { step } of steps) {
    if (step.Type === batchBridgeStepType && stepEngine(step, stackEngine) === "transform") {
      problems.push(...checkBatchBridgeStep(step, options.jobKinds, stackEngine));
      // A Transform step: later steps read its Properties, which SageMaker checks.
      declare(step.Name, `step ${step.Name}`);
      transformSteps.push(step.Name);
    } else if (step.Type === batchBridgeStepType) {
      problems.push(...checkBatchBridgeStep(step, options.jobKinds, stackEngine));
      declare(step.Name, `step ${step.Name}`, callbackOutputNames);
      declare(
        submitStepName(step.Name),
        `step ${step.Name} (its Lambda step ${submitStepName(step.Name)})`,
        submitOutputNames,
      );
    } else {
      declare(step.Name, `step ${step.Name}`, declaredOutputs(step));
    }
  }

  const parameters = new Set(
    (Array.isArray(document.Parameters) ? document.Parameters : [])
      .map((p) => (isObject(p) ? p.Name : undefined))
      .filter((name): name is string => typeof name === "string"),
  );
  for (const { step } of steps) {
    for (const dependency of Array.isArray(step.DependsOn) ? step.DependsOn : []) {
      if (typeof dependency !== "string" || !names.has(dependency)) {
        problems.push(
          `step ${step.Name}, DependsOn: ${describe(dependency)} is not a step of this definition.`,
        );
      }
    }
    const ownFields = { ...step, Arguments: nestedStepsRemoved(step) };
    for (const { reference, field } of referencesIn(ownFields, "")) {
      const problem = referenceProblem(reference, { parameters, names, outputs });
      if (problem) problems.push(`step ${step.Name}, ${field}: ${problem}`);
    }
  }
  if (problems.length > 0) throw new PipelineDefinitionError(options.source, problems);

  const planned = document as PipelineDocument;
  return {
    expand: (targets) => ({ ...planned, Steps: expandSteps(planned.Steps, targets, stackEngine) }),
    transformSteps,
    stepsNeedingOtherPermissions: steps
      .filter(({ step }) => !typesWithoutPermissions.includes(step.Type))
      .map(({ step }) => step.Name),
  };
}

/**
 * What is wrong with a BatchBridge step, each problem naming the step and the field: fields it may not
 * have, arguments it does not take or lacks, and values that cannot be right (a JobKind the stack does not
 * declare, a ShardCount outside 1-10,000, a URI that is not `s3://...`). Expressions are SageMaker's to
 * resolve; the submit function checks their values when the step runs.
 */
export function checkBatchBridgeStep(
  step: Record<string, unknown>,
  jobKinds: readonly string[],
  stackEngine: Engine = "batch",
): string[] {
  const problems: string[] = [];
  const at = `step ${String(step.Name)}`;
  for (const field of Object.keys(step).filter((f) => !batchBridgeStepFields.includes(f))) {
    problems.push(`${at}, ${field}: a BatchBridge step has only ${listOf(batchBridgeStepFields, "and")}.`);
  }
  if (typeof step.Name === "string" && submitStepName(step.Name).length > 64) {
    problems.push(
      `${at}, Name: at most ${64 - submitStepName("").length} characters, so that its Lambda step ` +
        `"${submitStepName(step.Name)}" is within SageMaker's 64, got ${step.Name.length}.`,
    );
  }
  for (const field of ["DisplayName", "Description"]) {
    if (step[field] !== undefined && typeof step[field] !== "string") {
      problems.push(`${at}, ${field}: must be a string, got ${describe(step[field])}.`);
    }
  }
  if (step.DependsOn !== undefined && !Array.isArray(step.DependsOn)) {
    problems.push(`${at}, DependsOn: must be a list of step names, got ${describe(step.DependsOn)}.`);
  }
  const args = step.Arguments;
  if (!isObject(args)) {
    return [...problems, `${at}, Arguments: must be an object with ${listOf(requiredArguments, "and")}.`];
  }
  const allowed = [...Object.keys(batchBridgeArguments), engineArgument];
  for (const name of Object.keys(args).filter((name) => !allowed.includes(name))) {
    problems.push(
      `${at}, Arguments.${name}: not an argument of a BatchBridge step (${listOf(allowed, "and")}).`,
    );
  }
  // On the transform engine the job splits its input by line: no ShardCount.
  const required = requiredArguments.filter(
    (name) => name !== "ShardCount" || stepEngine(step, stackEngine) === "batch",
  );
  for (const name of required.filter((name) => args[name] === undefined)) {
    problems.push(`${at}, Arguments.${name}: missing; a BatchBridge step needs ${listOf(required, "and")}.`);
  }
  for (const name of allowed.filter((name) => args[name] !== undefined) as BatchBridgeArgumentName[]) {
    const problem = argumentProblem(name, args[name], jobKinds);
    if (problem) problems.push(`${at}, Arguments.${name}: ${problem}`);
  }
  if (args.JobKind !== undefined && stepEngine(step, stackEngine) === "transform") {
    problems.push(
      `${at}, Arguments.JobKind: a step on the transform engine runs the stack's model, not a job kind; ` +
        `leave JobKind out, or set Engine to batch.`,
    );
  }
  return problems;
}

/** The engine a BatchBridge step runs: its Engine argument, else the stack's. */
function stepEngine(step: Record<string, unknown>, stackEngine: Engine): Engine {
  const given = isObject(step.Arguments) ? step.Arguments[engineArgument] : undefined;
  return engines.includes(given as Engine) ? (given as Engine) : stackEngine;
}

/**
 * The steps for a BatchBridge step, once its checks passed: the bridge's two steps, or on the transform
 * engine one Transform step of the same name (its ShardCount unused: the job splits the input by line).
 */
export function expandBatchBridgeStep(
  step: BatchBridgeStep,
  targets: BridgeTargets,
  stackEngine: Engine = "batch",
): StepDocument[] {
  const options = {
    ...(step.DependsOn !== undefined ? { dependsOn: step.DependsOn } : {}),
    ...(step.DisplayName !== undefined ? { displayName: step.DisplayName } : {}),
    ...(step.Description !== undefined ? { description: step.Description } : {}),
  };
  if (stepEngine(step as unknown as Record<string, unknown>, stackEngine) === "transform") {
    const io = { inputUri: step.Arguments.InputUri!, outputUri: step.Arguments.OutputUri! };
    const spec = transformStepSpec(step.Name, io, transformTarget(targets), options);
    return [stepDefinition(spec) as unknown as StepDocument];
  }
  const args: BridgeStepArguments = {
    inputUri: step.Arguments.InputUri!,
    outputUri: step.Arguments.OutputUri!,
    shardCount: step.Arguments.ShardCount!,
    ...(step.Arguments.JobKind !== undefined ? { jobKind: step.Arguments.JobKind } : {}),
    ...(step.Arguments.MinSuccessRatio !== undefined
      ? { minSuccessRatio: step.Arguments.MinSuccessRatio }
      : {}),
  };
  return bridgeStepSpecs(
    { submit: submitStepName(step.Name), wait: step.Name, stepName: step.Name },
    args,
    targets,
    options,
  ).map((spec) => stepDefinition(spec) as unknown as StepDocument);
}

/** A list of steps with each BatchBridge step expanded, inside Condition branches too. */
function expandSteps(
  steps: readonly StepDocument[],
  targets: BridgeTargets,
  stackEngine: Engine,
): StepDocument[] {
  return steps.flatMap((step): StepDocument[] => {
    if (step.Type === batchBridgeStepType) {
      return expandBatchBridgeStep(step as unknown as BatchBridgeStep, targets, stackEngine);
    }
    if (step.Type !== "Condition" || !isObject(step.Arguments)) return [step];
    const branches = Object.fromEntries(
      conditionBranches
        .filter((branch) => Array.isArray((step.Arguments as Record<string, unknown>)[branch]))
        .map((branch) => [
          branch,
          expandSteps((step.Arguments as Record<string, StepDocument[]>)[branch], targets, stackEngine),
        ]),
    );
    return [{ ...step, Arguments: { ...step.Arguments, ...branches } }];
  });
}

/** The step lists a Condition step holds: the steps it runs when its conditions hold, and otherwise. */
const conditionBranches = ["IfSteps", "ElseSteps"] as const;

/** Every step of a list, with those of Condition branches, each with where it is. */
function stepsOf(
  list: unknown[],
  where: string,
  problems: string[],
): { step: StepDocument; where: string }[] {
  return list.flatMap((step, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(step) || typeof step.Name !== "string" || typeof step.Type !== "string") {
      problems.push(`${at}: a step must be an object with a Name and a Type, got ${describe(step)}.`);
      return [];
    }
    const found = [{ step: step as StepDocument, where: at }];
    if (step.Type !== "Condition" || !isObject(step.Arguments)) return found;
    const args = step.Arguments;
    return [
      ...found,
      ...conditionBranches
        .filter((branch) => Array.isArray(args[branch]))
        .flatMap((branch) => stepsOf(args[branch] as unknown[], `${at}.Arguments.${branch}`, problems)),
    ];
  });
}

/** A Condition step's arguments without its branches (their steps are checked as steps of their own). */
function nestedStepsRemoved(step: StepDocument): unknown {
  if (step.Type !== "Condition" || !isObject(step.Arguments)) return step.Arguments;
  return Object.fromEntries(
    Object.entries(step.Arguments).filter(([key]) => !(conditionBranches as readonly string[]).includes(key)),
  );
}

/** The outputs a Lambda or Callback step of the user's declares; undefined for other types. */
function declaredOutputs(step: StepDocument): string[] | undefined {
  if (step.Type !== "Lambda" && step.Type !== "Callback") return undefined;
  const declared = Array.isArray(step.OutputParameters) ? step.OutputParameters : [];
  return declared
    .map((o) => (isObject(o) ? o.OutputName : undefined))
    .filter((name): name is string => typeof name === "string");
}

/** Every `{"Get": ...}` in a value, with the field it is in (`Arguments.InputUri`). */
function referencesIn(value: unknown, field: string): { reference: string; field: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => referencesIn(item, `${field}[${i}]`));
  if (!isObject(value)) return [];
  if (isReference(value)) return [{ reference: value.Get, field }];
  return Object.entries(value).flatMap(([key, item]) => referencesIn(item, field ? `${field}.${key}` : key));
}

/**
 * What is wrong with a reference to a parameter or a step, if anything: the parameter or step must exist,
 * and a step that declares outputs must declare the one named. Other references (`Execution.*`, and
 * properties of step types that declare none) are SageMaker's to check.
 */
function referenceProblem(
  reference: string,
  known: {
    parameters: ReadonlySet<string>;
    names: ReadonlyMap<string, string>;
    outputs: ReadonlyMap<string, readonly string[]>;
  },
): string | undefined {
  const parameter = /^Parameters\.(.+)$/.exec(reference);
  if (parameter && !known.parameters.has(parameter[1])) {
    return `refers to parameter ${parameter[1]}, which the definition does not declare (${listOf([...known.parameters], "and") || "no parameters"}).`;
  }
  const step = /^Steps\.([A-Za-z0-9_-]+)(?:\.(.*))?$/.exec(reference);
  if (!step) return undefined;
  if (!known.names.has(step[1])) return `refers to step ${step[1]}, which the definition does not have.`;
  const outputs = known.outputs.get(step[1]);
  const output = /^OutputParameters\[['"]([^'"]+)['"]\]$/.exec(step[2] ?? "");
  if (outputs && output && !outputs.includes(output[1])) {
    return `refers to output ${output[1]} of step ${step[1]}, which has ${listOf(outputs, "and")}.`;
  }
  if (outputs && !output) {
    return `must read one of step ${step[1]}'s outputs, Steps.${step[1]}.OutputParameters['<name>'] (${listOf(outputs, "and")}), got "${reference}".`;
  }
  return undefined;
}

/** What is wrong with one argument of a BatchBridge step, if anything. */
function argumentProblem(
  name: BatchBridgeArgumentName,
  value: unknown,
  jobKinds: readonly string[],
): string | undefined {
  if (name === engineArgument) {
    return engines.includes(value as Engine)
      ? undefined
      : `must be ${listOf(engines, "or")}, written out (it decides the steps the definition holds), got ${describe(value)}.`;
  }
  if (isExpression(value)) return undefined;
  switch (name) {
    case "JobKind":
      return typeof value === "string" && jobKinds.includes(value)
        ? undefined
        : `must be one of the stack's job kinds (${listOf(jobKinds, "or")}) or an expression, got ${describe(value)}.`;
    case "ShardCount": {
      const count = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
      return typeof count === "number" && Number.isInteger(count) && count >= 1 && count <= maxShardCount
        ? undefined
        : `must be a whole number from 1 to 10,000 or an expression, got ${describe(value)}.`;
    }
    case "MinSuccessRatio":
      return parseMinSuccessRatio(value) !== undefined
        ? undefined
        : `must be ${minSuccessRatioAllowed} or an expression, got ${describe(value)}.`;
    case "InputUri":
    case "OutputUri":
      return typeof value === "string" && /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/.test(value)
        ? undefined
        : `must be an S3 URI (s3://bucket/prefix/) or an expression, got ${describe(value)}.`;
  }
}

/** `{"Get": ...}` or a `Std:` function: SageMaker resolves it when the step runs. */
function isExpression(value: unknown): boolean {
  if (!isObject(value) || Object.keys(value).length !== 1) return false;
  const [key] = Object.keys(value);
  return (key === "Get" && typeof value.Get === "string") || key.startsWith("Std:");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "a", "a and b", "a, b and c" (or "or"). */
function listOf(items: readonly string[], conjunction: "and" | "or"): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} ${conjunction} ${items.at(-1)}`;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
