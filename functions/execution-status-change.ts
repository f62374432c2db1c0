/**
 * What starts an execution's clean-up: SageMaker's pipeline execution status-change event (EventBridge
 * `aws.sagemaker` / `SageMaker Model Building Pipeline Execution Status Change`, whose `detail` has
 * `pipelineArn`, `pipelineExecutionArn`, `currentPipelineExecutionStatus`,
 * `previousPipelineExecutionStatus`, `executionStartTime` and `executionEndTime`: "Events that Amazon
 * SageMaker AI sends to Amazon EventBridge", SageMaker Developer Guide) for an execution that ended
 * Stopped or Failed, or the bridge's own clean-up request (a submission that failed, a clean-up that ran
 * out of time and goes on later). Both arrive as SQS messages on the clean-up queue.
 */
import { parseExecutionArn } from "./job-names";
import {
  pipelineExecutionEndPattern,
  pipelineExecutionStatusDetailType,
  pipelineExecutionStatusSource,
} from "./pipeline-execution-event";
import { terminationReasons } from "./terminate";

export const executionStatusChangeSource = pipelineExecutionStatusSource;
export const executionStatusChangeDetailType = pipelineExecutionStatusDetailType;
/**
 * The statuses of an execution that ended while its jobs may still run: a stop during the Lambda step (the
 * execution stops once the function returns, and SageMaker sends `Stopping` only to a Callback step that
 * has started), a submit step that failed or timed out, a step that failed before its wait. A Succeeded
 * execution's Callback step saw every job succeed.
 */
export const cleanupStatuses = ["Stopped", "Failed"] as const;
/** The `source` of the bridge's own clean-up requests. */
export const cleanupRequestSource = "sagemaker-batch-bridge";

/**
 * The EventBridge pattern for the clean-up rule: executions of `pipelineArns` that ended Stopped or
 * Failed. AWS delivers these events at least once, possibly more than once per change.
 */
export function executionStatusChangePattern(pipelineArns: readonly string[]) {
  return pipelineExecutionEndPattern(pipelineArns, cleanupStatuses);
}

/** An execution whose unfinished jobs are to be terminated. */
export interface CleanupRequest {
  executionArn: string;
  /** The status reason the terminated jobs will show (one of `terminationReasons`). */
  reason: string;
  /**
   * Epoch ms the execution ended, or the request was made: Batch may list a job submitted just before only
   * a while later, so the clean-up looks once more after the listing grace.
   */
  endedAt: number;
  /** 1 for the first pass; each pass that goes on later adds one. */
  round: number;
}

export type ParsedCleanupMessage =
  | { kind: "request"; request: CleanupRequest }
  /** Well-formed, but nothing to clean up (an execution that did not end Stopped or Failed). */
  | { kind: "ignored"; reason: string }
  | { kind: "malformed"; reason: string };

/** The message body of a clean-up request the bridge sends itself. */
export function cleanupRequestBody(request: CleanupRequest): string {
  return JSON.stringify({ source: cleanupRequestSource, cleanup: request });
}

/**
 * Reads a clean-up queue message: a status-change event (the rule sends only those of the stack's pipeline
 * that ended Stopped or Failed), or the bridge's own request. Only jobs named for the execution and tagged
 * with it are ever terminated, and IAM allows TerminateJob on the stack's pipeline's jobs alone.
 */
export function parseCleanupMessage(body: string): ParsedCleanupMessage {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch {
    return { kind: "malformed", reason: "the message body is not JSON" };
  }
  if (!isObject(message)) return { kind: "malformed", reason: "the message body is not a JSON object" };
  if (message.source === cleanupRequestSource) return parseRequest(message.cleanup);
  if (
    message.source !== executionStatusChangeSource ||
    message["detail-type"] !== executionStatusChangeDetailType
  ) {
    return {
      kind: "malformed",
      reason:
        `expected a "${executionStatusChangeDetailType}" event or a clean-up request, got source ` +
        `${JSON.stringify(message.source) ?? "nothing"}`,
    };
  }
  const detail = isObject(message.detail) ? message.detail : {};
  const executionArn = detail.pipelineExecutionArn;
  const status = detail.currentPipelineExecutionStatus;
  if (typeof executionArn !== "string" || !parseExecutionArn(executionArn)) {
    return { kind: "malformed", reason: "detail.pipelineExecutionArn must be a pipeline execution ARN" };
  }
  if (status !== "Stopped" && status !== "Failed") {
    return { kind: "ignored", reason: `the execution is ${JSON.stringify(status)}, not Stopped or Failed` };
  }
  const endedAt = Date.parse(String(detail.executionEndTime ?? message.time ?? ""));
  return {
    kind: "request",
    request: {
      executionArn,
      reason: status === "Stopped" ? terminationReasons.stopped : terminationReasons.executionFailed,
      endedAt: Number.isFinite(endedAt) ? endedAt : 0,
      round: 1,
    },
  };
}

function parseRequest(value: unknown): ParsedCleanupMessage {
  const request = isObject(value) ? value : {};
  const problems: string[] = [];
  if (typeof request.executionArn !== "string" || !parseExecutionArn(request.executionArn)) {
    problems.push("cleanup.executionArn must be a pipeline execution ARN");
  }
  if (!(Object.values(terminationReasons) as unknown[]).includes(request.reason)) {
    problems.push("cleanup.reason must be one of the bridge's termination reasons");
  }
  for (const field of ["endedAt", "round"]) {
    if (!Number.isInteger(request[field]) || (request[field] as number) < 0) {
      problems.push(`cleanup.${field} must be a whole number`);
    }
  }
  if (problems.length > 0) return { kind: "malformed", reason: problems.join("; ") };
  return { kind: "request", request: request as unknown as CleanupRequest };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
