/** What SageMaker answers with: executions as DescribePipelineExecution shows them (times in epoch seconds). */
import type { PipelineExecution } from "./executions";

/** DescribePipelineExecution's output. */
export function describedExecution(execution: PipelineExecution): Record<string, unknown> {
  return {
    PipelineArn: execution.pipelineArn,
    PipelineExecutionArn: execution.executionArn,
    PipelineExecutionDisplayName: execution.displayName,
    PipelineExecutionStatus: execution.status,
    FailureReason: execution.failureReason,
    CreationTime: execution.createdAt / 1000,
    LastModifiedTime: execution.lastModifiedAt / 1000,
  };
}

/** The output of the operations that act on one execution. */
export function executionArnOutput(executionArn: string): { PipelineExecutionArn: string } {
  return { PipelineExecutionArn: executionArn };
}

/** A copy of an execution for a caller in this process, which cannot change the server's own. */
export function executionCopy(execution: PipelineExecution): PipelineExecution {
  return structuredClone(execution);
}
