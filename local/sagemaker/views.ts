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

/**
 * ListPipelineExecutionSteps' steps: newest first (its default SortOrder, Descending), with StepStatus,
 * FailureReason and, for Lambda and Callback steps, the Metadata that holds their outputs
 * (PipelineExecutionStepMetadata: `Lambda.OutputParameters`, `Callback.OutputParameters`).
 */
export function listedSteps(execution: PipelineExecution): Record<string, unknown>[] {
  return [...execution.stepRuns].reverse().map((run) => ({
    StepName: run.stepName,
    StepStatus: run.status,
    StartTime: run.startedAt / 1000,
    EndTime: run.endedAt === undefined ? undefined : run.endedAt / 1000,
    FailureReason: run.failureReason,
    Metadata:
      run.stepType === "Lambda" || run.stepType === "Callback"
        ? { [run.stepType]: { OutputParameters: run.outputParameters ?? [] } }
        : undefined,
  }));
}

/** ListPipelineExecutions' summaries: newest first (its default SortOrder, Descending). */
export function listedExecutions(executions: readonly PipelineExecution[]): Record<string, unknown>[] {
  return [...executions].reverse().map((execution) => ({
    PipelineExecutionArn: execution.executionArn,
    PipelineExecutionDisplayName: execution.displayName,
    PipelineExecutionStatus: execution.status,
    StartTime: execution.createdAt / 1000,
  }));
}

/** ListPipelineParametersForExecution's parameters: those the execution started with. */
export function listedParameters(execution: PipelineExecution): Record<string, unknown>[] {
  return execution.parameters.map((p) => ({ Name: p.Name, Value: p.Value }));
}

/** One page of a listing: MaxResults items from the offset a NextToken holds. */
export function page<T>(items: readonly T[], nextToken: unknown, maxResults: unknown, limit = 100) {
  const start = typeof nextToken === "string" && /^\d+$/.test(nextToken) ? Number(nextToken) : 0;
  const size = typeof maxResults === "number" && maxResults >= 1 ? Math.min(maxResults, limit) : 50;
  const end = start + size;
  return { items: items.slice(start, end), nextToken: end < items.length ? String(end) : undefined };
}
