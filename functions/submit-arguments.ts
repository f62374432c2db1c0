/** Checks the Lambda step's arguments before any job is submitted. */
import { parseExecutionArn } from "./job-names";
import type { SubmitSettings } from "./settings";

/** The most shards one execution may have (Batch array jobs hold at most 10,000 children). */
export const maxShardCount = 10_000;

/** The submit step's arguments, checked. */
export interface ValidSubmitArguments {
  executionArn: string;
  executionId: string;
  inputUri: string;
  outputUri: string;
  shardCount: number;
}

/**
 * Checks the step's arguments; throws one error naming every bad argument and what is allowed. URIs must
 * lie inside the stack's input and output prefixes, the only places the jobs' role may read and write.
 */
export function validateSubmitArguments(event: unknown, settings: SubmitSettings): ValidSubmitArguments {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new Error(
      "Invalid submit step arguments: expected an object with executionArn, inputUri, outputUri and " +
        `shardCount, got ${describe(event)}.`,
    );
  }
  const args = event as Record<string, unknown>;
  const problems: string[] = [];

  const executionArn = args.executionArn;
  let executionId = "";
  if (typeof executionArn !== "string" || parseExecutionArn(executionArn) === undefined) {
    problems.push(
      "executionArn must be a pipeline execution ARN " +
        "(arn:<partition>:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>; pass " +
        `{"Get": "Execution.PipelineExecutionArn"}), got ${describe(executionArn)}.`,
    );
  } else {
    executionId = parseExecutionArn(executionArn)!.executionId;
  }

  const inputUri = checkUri(problems, "inputUri", args.inputUri, settings.inputUriPrefix, "read");
  const outputUri = checkUri(problems, "outputUri", args.outputUri, settings.outputUriPrefix, "write");

  const shardCount = wholeNumber(args.shardCount);
  if (shardCount === undefined || shardCount < 1 || shardCount > maxShardCount) {
    problems.push(`shardCount must be a whole number from 1 to 10,000, got ${describe(args.shardCount)}.`);
  }

  if (problems.length > 0) throw new Error(`Invalid submit step arguments: ${problems.join(" ")}`);
  return {
    executionArn: executionArn as string,
    executionId,
    inputUri,
    outputUri,
    shardCount: shardCount as number,
  };
}

function checkUri(
  problems: string[],
  name: string,
  value: unknown,
  allowedPrefix: string,
  access: "read" | "write",
): string {
  if (typeof value !== "string" || !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/.test(value)) {
    problems.push(`${name} must be an S3 URI such as ${allowedPrefix}data, got ${describe(value)}.`);
    return "";
  }
  const withSlash = value.endsWith("/") ? value : `${value}/`;
  if (!withSlash.startsWith(allowedPrefix) || value.split("/").includes("..")) {
    problems.push(
      `${name} must lie under ${allowedPrefix} (the jobs can ${access} nothing else), got "${value}".`,
    );
  }
  return value;
}

/** Pipeline parameters arrive as strings or numbers. */
function wholeNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
