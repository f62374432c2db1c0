/** Reads and checks the message a Callback step puts on the callback queue. */
import { minSuccessRatioAllowed, parseMinSuccessRatio } from "./success-ratio";
import { executionJobName, parseExecutionArn, parseJobName } from "./job-names";
import type { ExecutionJobsRef } from "./execution-jobs";
import type { JobMode } from "./step-contract";
import { maxShardCount, stepOutputValueLimit } from "./submit-arguments";

/** A callback message that passed every check. */
export interface ValidCallbackMessage extends ExecutionJobsRef {
  token: string;
  /** "executing" when the step starts, "stopping" when the execution is being stopped. */
  status: "executing" | "stopping";
}

export type ParsedCallbackMessage =
  | { valid: true; message: ValidCallbackMessage }
  /** `token` is set when the message carries one, so the step can still be answered. */
  | { valid: false; reason: string; token?: string; executionArn?: string };

/**
 * Checks a callback message body. `jobNamePrefix` ties `jobName` and a jobs-mode `jobRef` to the message's
 * execution, so a message can never make the monitor act on another execution's jobs.
 */
export function parseCallbackMessage(body: string, jobNamePrefix: string): ParsedCallbackMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { valid: false, reason: "the message body is not JSON" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { valid: false, reason: "the message body is not a JSON object" };
  }
  const message = parsed as Record<string, unknown>;
  const problems: string[] = [];

  const token = typeof message.token === "string" && message.token.trim() !== "" ? message.token : undefined;
  if (token === undefined) problems.push("token must be a non-empty string");

  const executionArn = message.pipelineExecutionArn;
  const execution = typeof executionArn === "string" ? parseExecutionArn(executionArn) : undefined;
  if (!execution) problems.push("pipelineExecutionArn must be a pipeline execution ARN");

  // The AWS documentation spells the key both ways, and documents it only for the extra message a stop
  // sends ("contains a Status field which is set to Stopping", StopPipelineExecution in the SageMaker API
  // Reference): a message without one is the step's own, executing.
  const rawStatus = message.status ?? message.Status;
  const status =
    rawStatus === undefined
      ? "executing"
      : typeof rawStatus === "string"
        ? rawStatus.toLowerCase()
        : undefined;
  if (status !== "executing" && status !== "stopping") {
    problems.push(`status must be Executing or Stopping when present, got ${JSON.stringify(rawStatus)}`);
  }

  const args = message.arguments;
  let jobMode: JobMode | undefined;
  let jobRef: string | undefined;
  let shardCount: number | undefined;
  let jobName: string | undefined;
  let outputUri: string | undefined;
  let minSuccessRatio: number | undefined;
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    problems.push("arguments must be an object with jobMode, jobRef and shardCount");
  } else {
    const a = args as Record<string, unknown>;
    if (a.jobMode === "array" || a.jobMode === "jobs") jobMode = a.jobMode;
    else
      problems.push(
        `arguments.jobMode must be "array" or "jobs", got ${JSON.stringify(a.jobMode) ?? "nothing"}`,
      );
    if (typeof a.jobRef === "string" && /^[A-Za-z0-9_:-]{1,128}$/.test(a.jobRef)) jobRef = a.jobRef;
    else problems.push("arguments.jobRef must be a Batch job ID or job name");
    const count =
      typeof a.shardCount === "number"
        ? a.shardCount
        : typeof a.shardCount === "string" && /^\d+$/.test(a.shardCount.trim())
          ? Number(a.shardCount)
          : NaN;
    if (Number.isInteger(count) && count >= 1 && count <= maxShardCount) shardCount = count;
    else problems.push("arguments.shardCount must be a whole number from 1 to 10,000");
    if (execution) {
      const executionName = executionJobName(jobNamePrefix, execution.executionId);
      const named = typeof a.jobName === "string" ? parseJobName(jobNamePrefix, a.jobName) : undefined;
      // A step defined before the submit step returned jobName uses the execution's job name.
      if (a.jobName === undefined) jobName = executionName;
      else if (
        named?.executionJobName === a.jobName &&
        named.executionId === execution.executionId &&
        named.shardIndex === undefined
      ) {
        jobName = named.executionJobName;
      } else {
        problems.push(
          `arguments.jobName must be "${executionName}", or that and "_<step key>" (the jobs of this ` +
            `execution), got ${JSON.stringify(a.jobName)}`,
        );
      }
    }
    if (jobMode === "jobs" && jobRef !== undefined && jobName !== undefined && jobRef !== jobName) {
      problems.push(`arguments.jobRef must be "${jobName}" (the jobs of this execution), got "${jobRef}"`);
    }
    if (typeof a.outputUri === "string" && a.outputUri !== "" && a.outputUri.length <= stepOutputValueLimit) {
      outputUri = a.outputUri;
    } else if (a.outputUri !== undefined) {
      problems.push(`arguments.outputUri must be a URI of 1 to ${stepOutputValueLimit} characters`);
    }
    // A step defined before the submit step returned minSuccessRatio waits for every shard.
    if (a.minSuccessRatio !== undefined) {
      minSuccessRatio = parseMinSuccessRatio(a.minSuccessRatio);
      if (minSuccessRatio === undefined)
        problems.push(`arguments.minSuccessRatio must be ${minSuccessRatioAllowed}`);
    }
  }

  if (problems.length > 0) {
    return {
      valid: false,
      reason: problems.join("; "),
      token,
      executionArn: execution ? (executionArn as string) : undefined,
    };
  }
  return {
    valid: true,
    message: {
      token: token!,
      status: status as "executing" | "stopping",
      executionArn: executionArn as string,
      jobMode: jobMode!,
      jobRef: jobRef!,
      shardCount: shardCount!,
      jobName: jobName!,
      ...(outputUri !== undefined ? { outputUri } : {}),
      ...(minSuccessRatio !== undefined ? { minSuccessRatio } : {}),
    },
  };
}
