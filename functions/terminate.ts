/**
 * Terminates an execution's unfinished jobs, so that nothing keeps running once its step has an answer.
 * TerminateJob fails STARTING/RUNNING jobs and cancels queued ones; on an array parent it cascades to
 * every child.
 */
import { describeError, isTransientError } from "./aws-errors";
import type { BatchCalls } from "./batch-calls";
import { mapWithConcurrency } from "./concurrency";
import type { ExecutionJobs } from "./execution-jobs";

/** TerminateJob calls in flight at once (the container's pacer sets their rate). */
export const terminateConcurrency = 8;

/** The status reason of jobs the functions terminate, as the Batch console shows it. */
export const terminationReasons = {
  shardFailed: "sagemaker-batch-bridge: another shard of the step failed",
  jobsNotFound: "sagemaker-batch-bridge: jobs of the step were not found",
  waitEnded: "sagemaker-batch-bridge: the step waited maxWaitSeconds",
  stopped: "sagemaker-batch-bridge: pipeline execution stopped",
  executionFailed: "sagemaker-batch-bridge: pipeline execution failed",
  submissionFailed: "sagemaker-batch-bridge: job submission for the step failed",
  invalidCallbackMessage: "sagemaker-batch-bridge: the step's callback message was invalid",
} as const;

/** What a clean-up did. */
export interface TerminationResult {
  /** Jobs (in array mode: children) that were still unfinished and are now terminated. */
  terminated: number;
  /** Jobs that could not be terminated, with the error. */
  failures: { jobId: string; error: unknown }[];
}

/**
 * Terminates the given jobs (bounded concurrency, paced and retried by `calls` until its deadline); never
 * throws, reports failures instead (an OutOfTimeError for each job the time did not allow).
 */
export async function terminateJobs(
  calls: BatchCalls,
  jobIds: readonly string[],
  reason: string,
): Promise<TerminationResult> {
  const result: TerminationResult = { terminated: 0, failures: [] };
  await mapWithConcurrency(jobIds, terminateConcurrency, async (jobId) => {
    try {
      await calls.terminateJob(jobId, reason);
      result.terminated += 1;
    } catch (error) {
      result.failures.push({ jobId, error });
    }
  });
  return result;
}

/**
 * Terminates every unfinished job of the execution and counts the shards stopped. A transient failure
 * (throttling, 5xx, out of time) is thrown so the caller retries before it answers; other failures are
 * returned.
 */
export async function terminateUnfinishedJobs(
  calls: BatchCalls,
  jobs: ExecutionJobs,
  reason: string,
): Promise<TerminationResult> {
  const result = await terminateJobs(calls, jobs.unfinishedJobIds, reason);
  const transient = result.failures.find((f) => isTransientError(f.error));
  if (transient) throw transient.error;
  // Terminating the array parent stops all of its unfinished children.
  const terminated =
    jobs.jobMode === "array" && result.failures.length === 0 && jobs.unfinishedJobIds.length > 0
      ? jobs.unfinished
      : result.terminated;
  return { terminated, failures: result.failures };
}

/** One line about jobs that could not be terminated, for logs. */
export function describeTerminationFailures(result: TerminationResult): string {
  return result.failures
    .slice(0, 5)
    .map((f) => `${f.jobId}: ${describeError(f.error)}`)
    .join("; ");
}
