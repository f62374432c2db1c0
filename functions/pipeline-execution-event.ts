/**
 * SageMaker's pipeline execution status-change events (EventBridge, source `aws.sagemaker`, detail-type
 * "SageMaker Model Building Pipeline Execution Status Change"; SageMaker Developer Guide, "Track pipeline
 * executions with EventBridge"): the pattern a rule selects them with, and the check that turns one event
 * into what it says. Events come at least once, possibly duplicated or late, so only final statuses count.
 */

export const pipelineExecutionStatusSource = "aws.sagemaker";
export const pipelineExecutionStatusDetailType = "SageMaker Model Building Pipeline Execution Status Change";

/** The statuses an execution ends in. */
export const finalExecutionStatuses = ["Succeeded", "Failed", "Stopped"] as const;
export type FinalExecutionStatus = (typeof finalExecutionStatuses)[number];

/**
 * What a rule selects: the final statuses (all, or those given) of the executions of one pipeline or
 * several, narrowed further by `detail`. The records' status rule and the clean-up rule are both built so.
 */
export function pipelineExecutionEndPattern(
  pipelineArns: string | readonly string[],
  statuses: readonly FinalExecutionStatus[] = finalExecutionStatuses,
  detail: Record<string, unknown> = {},
) {
  return {
    source: [pipelineExecutionStatusSource],
    "detail-type": [pipelineExecutionStatusDetailType],
    detail: {
      pipelineArn: typeof pipelineArns === "string" ? [pipelineArns] : [...pipelineArns],
      currentPipelineExecutionStatus: [...statuses],
      ...detail,
    },
  };
}

/** What an execution's final status-change event says. */
export interface PipelineExecutionEnd {
  pipelineArn: string;
  executionArn: string;
  displayName?: string;
  status: FinalExecutionStatus;
}

export type ParsedPipelineExecutionEvent =
  | { kind: "end"; end: PipelineExecutionEnd }
  /** Well-formed, but not an end (e.g. Executing -> Stopping). */
  | { kind: "ignored"; reason: string }
  | { kind: "malformed"; reason: string };

/** Checks one EventBridge event and says whether it reports an execution's end. */
export function parsePipelineExecutionEvent(event: unknown): ParsedPipelineExecutionEvent {
  const object = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  if (!object(event)) return { kind: "malformed", reason: "the event is not a JSON object" };
  if (
    event.source !== pipelineExecutionStatusSource ||
    event["detail-type"] !== pipelineExecutionStatusDetailType
  ) {
    return {
      kind: "malformed",
      reason:
        `source must be "${pipelineExecutionStatusSource}" and detail-type ` +
        `"${pipelineExecutionStatusDetailType}", got ${JSON.stringify(event.source) ?? "nothing"} and ` +
        `${JSON.stringify(event["detail-type"]) ?? "nothing"}`,
    };
  }
  const detail = event.detail;
  if (!object(detail)) return { kind: "malformed", reason: "detail must be an object" };
  const { pipelineArn, pipelineExecutionArn, currentPipelineExecutionStatus: status } = detail;
  if (
    typeof pipelineArn !== "string" ||
    typeof pipelineExecutionArn !== "string" ||
    typeof status !== "string"
  ) {
    return {
      kind: "malformed",
      reason: "detail must hold pipelineArn, pipelineExecutionArn and currentPipelineExecutionStatus",
    };
  }
  if (!(finalExecutionStatuses as readonly string[]).includes(status)) {
    return { kind: "ignored", reason: `the execution is ${status}, not ended` };
  }
  const displayName = detail.pipelineExecutionDisplayName;
  return {
    kind: "end",
    end: {
      pipelineArn,
      executionArn: pipelineExecutionArn,
      ...(typeof displayName === "string" ? { displayName } : {}),
      status: status as FinalExecutionStatus,
    },
  };
}
