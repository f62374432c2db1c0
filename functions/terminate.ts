/**
 * Terminates an execution's unfinished jobs, so that nothing keeps running once its step has an answer.
 * TerminateJob fails STARTING/RUNNING jobs and cancels queued ones; on an array parent it cascades to
 * every child.
 */
import { TerminateJobCommand, type BatchClient } from "@aws-sdk/client-batch";
import { describeError, isTransientError, retryThrottled } from "./aws-errors";
import type { Clock } from "./clock";
import { createRateLimiter, mapWithConcurrency } from "./concurrency";
import type { ExecutionJobs } from "./job-status";

/** TerminateJob calls in flight at once. */
export const terminateConcurrency = 8;
/** TerminateJob calls per second, below the account's Batch API rate (SubmitJob's quota is 50/s). */
export const terminatesPerSecond = 40;

/** The status reason of jobs the functions terminate, as the Batch console shows it. */
export const terminationReasons = {
  shardFailed: "sagemaker-batch-bridge: another shard of the step failed",
  jobsNotFound: "sagemaker-batch-bridge: jobs of the step were not found",
  waitEnded: "sagemaker-batch-bridge: the step waited maxWaitSeconds",
  stopped: "sagemaker-batch-bridge: pipeline execution stopped",
  submissionFailed: "sagemaker-batch-bridge: job submission for the step failed",
} as const;

/** What a clean-up did. */
export interface TerminationResult {
  /** Jobs (in array mode: children) that were still unfinished and are now terminated. */
  terminated: number;
  /** Jobs that could not be terminated, with the error. */
  failures: { jobId: string; error: unknown }[];
}

/**
 * Terminates the given jobs (bounded concurrency; `acquire` paces the calls, by default at
 * `terminatesPerSecond`); never throws, reports failures instead.
 */
export async function terminateJobs(
  batch: BatchClient,
  jobIds: readonly string[],
  reason: string,
  clock: Clock,
  acquire: () => Promise<void> = createRateLimiter(terminatesPerSecond, clock),
): Promise<TerminationResult> {
  const result: TerminationResult = { terminated: 0, failures: [] };
  await mapWithConcurrency(jobIds, terminateConcurrency, async (jobId) => {
    try {
      await acquire();
      await retryThrottled(() => batch.send(new TerminateJobCommand({ jobId, reason })), clock);
      result.terminated += 1;
    } catch (error) {
      result.failures.push({ jobId, error });
    }
  });
  return result;
}

/**
 * Terminates every unfinished job of the execution and counts the shards stopped. A transient failure
 * (throttling, 5xx) is thrown so the caller retries before it answers; other failures are returned.
 */
export async function terminateUnfinishedJobs(
  batch: BatchClient,
  jobs: ExecutionJobs,
  reason: string,
  clock: Clock,
  acquire?: () => Promise<void>,
): Promise<TerminationResult> {
  const result = await terminateJobs(batch, jobs.unfinishedJobIds, reason, clock, acquire);
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
