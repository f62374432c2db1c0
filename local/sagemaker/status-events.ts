/**
 * The events the local SageMaker announces: a "SageMaker Model Building Pipeline Execution Status Change"
 * when an execution's status changes (SageMaker Developer Guide, "Track pipeline executions with
 * EventBridge"; the detail holds the pipeline and execution ARNs, the display name, the current and
 * previous status, and the start and end times).
 */
import { randomUUID } from "node:crypto";
import {
  pipelineExecutionStatusDetailType,
  pipelineExecutionStatusSource,
} from "../../functions/pipeline-execution-event";
import type { PipelineExecution, PipelineExecutionStatus } from "./executions";

/** The EventBridge event SageMaker sends when a pipeline execution's status changes. */
export interface PipelineExecutionStatusEvent {
  version: "0";
  id: string;
  "detail-type": typeof pipelineExecutionStatusDetailType;
  source: typeof pipelineExecutionStatusSource;
  account: string;
  /** Simulated time of the change, ISO 8601. */
  time: string;
  region: string;
  resources: string[];
  detail: {
    pipelineArn: string;
    pipelineExecutionArn: string;
    pipelineExecutionDisplayName?: string;
    currentPipelineExecutionStatus: PipelineExecutionStatus;
    previousPipelineExecutionStatus: PipelineExecutionStatus;
    executionStartTime: string;
    executionEndTime?: string;
  };
}

const finalStatuses: readonly PipelineExecutionStatus[] = ["Succeeded", "Failed", "Stopped"];

/** The event announcing that `execution` went from `previous` to its status at simulated time `at`. */
export function executionStatusChangeEvent(
  execution: PipelineExecution,
  previous: PipelineExecutionStatus,
  identity: { region: string; accountId: string },
  at: number,
): PipelineExecutionStatusEvent {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": pipelineExecutionStatusDetailType,
    source: pipelineExecutionStatusSource,
    account: identity.accountId,
    time: new Date(at).toISOString(),
    region: identity.region,
    resources: [execution.pipelineArn, execution.executionArn],
    detail: {
      pipelineArn: execution.pipelineArn,
      pipelineExecutionArn: execution.executionArn,
      ...(execution.displayName !== undefined ? { pipelineExecutionDisplayName: execution.displayName } : {}),
      currentPipelineExecutionStatus: execution.status,
      previousPipelineExecutionStatus: previous,
      executionStartTime: new Date(execution.createdAt).toISOString(),
      ...(finalStatuses.includes(execution.status) ? { executionEndTime: new Date(at).toISOString() } : {}),
    },
  };
}
