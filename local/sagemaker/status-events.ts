/**
 * The events the local SageMaker announces: a "SageMaker Model Building Pipeline Execution Status Change"
 * whenever an execution's status changes after its start, as SageMaker sends them to EventBridge's default
 * bus (SageMaker developer guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge", pipeline
 * execution state change). SageMaker "may send multiple events ... for each state change": the delivery
 * (runner/event-sources.ts) can repeat them.
 */
import { randomUUID } from "node:crypto";

export type PipelineExecutionStatus = "Executing" | "Stopping" | "Stopped" | "Failed" | "Succeeded";

/** The event's `detail`: the execution, its status now and before, its start and (once ended) its end. */
export interface PipelineExecutionStatusChangeDetail {
  pipelineArn: string;
  pipelineExecutionArn: string;
  pipelineExecutionDisplayName: string;
  currentPipelineExecutionStatus: PipelineExecutionStatus;
  previousPipelineExecutionStatus: PipelineExecutionStatus;
  /** ISO 8601, simulated. */
  executionStartTime: string;
  /** ISO 8601, simulated; only once the execution has ended (Succeeded, Failed or Stopped). */
  executionEndTime?: string;
}

/** The EventBridge event SageMaker sends on a pipeline execution's status change. */
export interface PipelineExecutionStatusChangeEvent {
  version: "0";
  id: string;
  "detail-type": "SageMaker Model Building Pipeline Execution Status Change";
  source: "aws.sagemaker";
  account: string;
  /** Simulated time of the change, ISO 8601. */
  time: string;
  region: string;
  /** The pipeline's and the execution's ARNs. */
  resources: string[];
  detail: PipelineExecutionStatusChangeDetail;
}

/** The event announcing `detail` at simulated time `at`. */
export function pipelineExecutionStatusChangeEvent(
  detail: PipelineExecutionStatusChangeDetail,
  identity: { region: string; accountId: string },
  at: number,
): PipelineExecutionStatusChangeEvent {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    source: "aws.sagemaker",
    account: identity.accountId,
    time: new Date(at).toISOString(),
    region: identity.region,
    resources: [detail.pipelineArn, detail.pipelineExecutionArn],
    detail,
  };
}
