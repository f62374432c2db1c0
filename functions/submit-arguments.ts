/** Checks the Lambda step's arguments before any job is submitted. */
import { executionJobName, parseExecutionArn, shardJobName } from "./job-names";
import { jobKindNames, settingsOfKind, type SubmitSettings } from "./settings";
import { defaultMinSuccessRatio, minSuccessRatioAllowed, parseMinSuccessRatio } from "./success-ratio";
import { defaultJobKind, submitArgumentNames } from "./step-contract";

/** The most shards one execution may have (Batch array jobs hold at most 10,000 children). */
export const maxShardCount = 10_000;
/** A step output value holds at most 1,024 characters; the Callback step returns outputUri as one. */
export const stepOutputValueLimit = 1024;
/** Batch job names hold at most 128 characters. */
const jobNameLimit = 128;
/** SageMaker step names. */
const stepNamePattern = /^[A-Za-z0-9_-]{1,64}$/;

/** The submit step's arguments, checked. */
export interface ValidSubmitArguments {
  executionArn: string;
  executionId: string;
  inputUri: string;
  outputUri: string;
  shardCount: number;
  /** A name `jobKindNames` lists; `default` when the step names none. */
  jobKind: string;
  stepName?: string;
  /** The step's own, else its kind's, else 1. */
  minSuccessRatio: number;
}

/**
 * Checks the step's arguments; throws one error naming every bad argument and what is allowed. URIs must
 * lie inside the stack's prefixes, the only places the jobs' role may read and write: the input under the
 * input prefix or the output prefix (a step may read what an earlier one wrote), the output under the
 * output prefix.
 */
export function validateSubmitArguments(event: unknown, settings: SubmitSettings): ValidSubmitArguments {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new Error(
      "Invalid submit step arguments: expected an object with executionArn, inputUri, outputUri and " +
        `shardCount, got ${describeValue(event)}.`,
    );
  }
  const args = event as Record<string, unknown>;
  const problems: string[] = [];
  const known: readonly string[] = submitArgumentNames;
  for (const name of Object.keys(args).filter((name) => !known.includes(name))) {
    problems.push(`${name} is not an argument of the submit step (it takes ${oneOf(known, "and")}).`);
  }

  const executionArn = args.executionArn;
  let executionId = "";
  if (typeof executionArn !== "string" || parseExecutionArn(executionArn) === undefined) {
    problems.push(
      "executionArn must be a pipeline execution ARN " +
        "(arn:<partition>:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>; pass " +
        `{"Get": "Execution.PipelineExecutionArn"}), got ${describeValue(executionArn)}.`,
    );
  } else {
    executionId = parseExecutionArn(executionArn)!.executionId;
  }

  const inputUri = checkUri(problems, "inputUri", args.inputUri, [
    settings.inputUriPrefix,
    settings.outputUriPrefix,
  ]);
  const outputUri = checkUri(problems, "outputUri", args.outputUri, [settings.outputUriPrefix]);
  if (outputUri.length > stepOutputValueLimit) {
    problems.push(
      `outputUri must be at most ${stepOutputValueLimit} characters (the Callback step returns it as a step ` +
        `output), got ${outputUri.length}.`,
    );
  }

  const shardCount = wholeNumber(args.shardCount);
  if (shardCount === undefined || shardCount < 1 || shardCount > maxShardCount) {
    problems.push(
      `shardCount must be a whole number from 1 to 10,000, got ${describeValue(args.shardCount)}.`,
    );
  }

  const kinds = jobKindNames(settings);
  const jobKind = args.jobKind ?? defaultJobKind;
  if (typeof jobKind !== "string" || !kinds.includes(jobKind)) {
    problems.push(
      `jobKind must be ${oneOf(
        kinds.map((k) => `"${k}"`),
        "or",
      )} (the stack's job kinds), got ${describeValue(jobKind)}.`,
    );
  }

  const stepRatio =
    args.minSuccessRatio === undefined ? undefined : parseMinSuccessRatio(args.minSuccessRatio);
  if (args.minSuccessRatio !== undefined && stepRatio === undefined) {
    problems.push(
      `minSuccessRatio must be ${minSuccessRatioAllowed}, got ${describeValue(args.minSuccessRatio)}.`,
    );
  }
  const kindRatio =
    typeof jobKind === "string" && kinds.includes(jobKind)
      ? settingsOfKind(settings, jobKind).minSuccessRatio
      : undefined;
  const minSuccessRatio = stepRatio ?? kindRatio ?? defaultMinSuccessRatio;

  const stepName = args.stepName;
  if (stepName !== undefined && (typeof stepName !== "string" || !stepNamePattern.test(stepName))) {
    problems.push(
      `stepName must be a step name, 1-64 letters, digits, hyphens and underscores, got ${describeValue(stepName)}.`,
    );
  } else if (executionId !== "") {
    const longest = shardJobName(executionJobName(settings.jobNamePrefix, executionId, stepName), 0);
    if (longest.length > jobNameLimit) {
      problems.push(
        `executionArn gives job names of ${longest.length} characters ("${longest}"); Batch allows ` +
          `${jobNameLimit}: shorten the stack's jobNamePrefix.`,
      );
    }
  }

  if (problems.length > 0) throw new Error(`Invalid submit step arguments: ${problems.join(" ")}`);
  return {
    executionArn: executionArn as string,
    executionId,
    inputUri,
    outputUri,
    shardCount: shardCount as number,
    jobKind: jobKind as string,
    ...(stepName !== undefined ? { stepName: stepName as string } : {}),
    minSuccessRatio,
  };
}

/** An S3 URI under one of `allowedPrefixes` (the jobs' role reaches nothing else), or "" when it is not. */
function checkUri(problems: string[], name: string, value: unknown, allowedPrefixes: string[]): string {
  if (typeof value !== "string" || !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/.test(value)) {
    problems.push(
      `${name} must be an S3 URI such as ${allowedPrefixes[0]}data, got ${describeValue(value)}.`,
    );
    return "";
  }
  const withSlash = value.endsWith("/") ? value : `${value}/`;
  if (!allowedPrefixes.some((prefix) => withSlash.startsWith(prefix)) || value.split("/").includes("..")) {
    const access = name === "inputUri" ? "read" : "write";
    problems.push(
      `${name} must lie under ${oneOf(allowedPrefixes, "or")} (the jobs can ${access} nothing else), got "${value}".`,
    );
  }
  return value;
}

/** "a", "a or b", "a, b or c" (or "and"). */
function oneOf(items: readonly string[], conjunction: "or" | "and"): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} ${conjunction} ${items.at(-1)}` : items[0];
}

/** Pipeline parameters arrive as strings or numbers. */
function wholeNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

/**
 * A value as a message shows it. (Not named `describe`: Pulumi serializes a closure's free variables that
 * name globals as globals, and under mocha `describe` is one.)
 */
function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
