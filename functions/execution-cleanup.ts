/**
 * Terminates an execution's unfinished jobs whatever became of its steps: found by their names
 * (`<jobNamePrefix>-<execution id>`, and its shards' `...-<5 digits>`) in the job queue and kept only when
 * their execution tag names the execution, then terminated through the container's pacer until the
 * invocation's deadline. What the time did not allow is handed to the clean-up queue, whose function goes
 * on until nothing is left.
 */
import type { JobSummary } from "@aws-sdk/client-batch";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { describeJobsLimit, type BatchCalls } from "./batch-calls";
import { cleanupRequestBody, type CleanupRequest } from "./execution-status-change";
import { executionJobName, executionTagValue, parseExecutionArn, parseJobName } from "./job-names";
import { isUnfinished, listJobsByName } from "./execution-jobs";
import { executionTagKey } from "./step-contract";
import { terminateJobs } from "./terminate";

/** SQS delays a message at most 15 minutes. */
export const longestMessageDelaySeconds = 900;

/** Where an execution's jobs are: the stack's job queue, and the prefix of every job name. */
export interface JobsLocation {
  jobQueue: string;
  jobNamePrefix: string;
}

/** What a clean-up pass did. */
export interface CleanupPass {
  /** Unfinished jobs of the execution found (and given). */
  found: number;
  terminated: number;
  /** Jobs not terminated: the time ran out (an OutOfTimeError) or TerminateJob failed. */
  left: { jobId: string; error: unknown }[];
}

/**
 * The execution's unfinished jobs: listed by name (every status, 100 a page), then described (100 a call)
 * to keep only those whose execution tag is the execution's. Array children go with their parent.
 */
export async function findUnfinishedJobs(
  calls: BatchCalls,
  location: JobsLocation,
  executionArn: string,
): Promise<string[]> {
  const execution = parseExecutionArn(executionArn);
  if (!execution) throw new Error(`Not a pipeline execution ARN: ${executionArn}`);
  const baseName = executionJobName(location.jobNamePrefix, execution.executionId);
  // Every job named for the execution (the prefix also lists other ids that start alike: not theirs).
  const named = (job: JobSummary) =>
    parseJobName(location.jobNamePrefix, job.jobName ?? "")?.executionId === execution.executionId;
  const listed = (await listJobsByName(calls, location.jobQueue, baseName))
    .filter((job) => job.jobId && isUnfinished(job.status) && named(job))
    .map((job) => job.jobId!);
  const tag = executionTagValue(executionArn);
  const unfinished: string[] = [];
  for (let start = 0; start < listed.length; start += describeJobsLimit) {
    const { jobs = [] } = await calls.describeJobs(listed.slice(start, start + describeJobsLimit));
    for (const job of jobs) {
      if (job.jobId && isUnfinished(job.status) && job.tags?.[executionTagKey] === tag)
        unfinished.push(job.jobId);
    }
  }
  return unfinished;
}

/**
 * One pass: terminates the execution's unfinished jobs (and `alsoJobIds`, jobs of the execution just
 * submitted, which Batch may not list yet) with `reason`, until the invocation's deadline. Throws when the
 * jobs cannot be listed; termination failures are returned in `left`.
 */
export async function terminateExecutionJobs(
  calls: BatchCalls,
  location: JobsLocation,
  executionArn: string,
  reason: string,
  alsoJobIds: readonly string[] = [],
): Promise<CleanupPass> {
  const jobIds = [...new Set([...alsoJobIds, ...(await findUnfinishedJobs(calls, location, executionArn))])];
  const result = await terminateJobs(calls, jobIds, reason);
  return { found: jobIds.length, terminated: result.terminated, left: result.failures };
}

/** Puts a clean-up request on the clean-up queue, to be handled `delaySeconds` from now (at most 900). */
export async function requestCleanup(
  sqs: SQSClient,
  cleanupQueueUrl: string,
  request: CleanupRequest,
  delaySeconds = 0,
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: cleanupQueueUrl,
      MessageBody: cleanupRequestBody(request),
      DelaySeconds: Math.max(0, Math.min(longestMessageDelaySeconds, Math.ceil(delaySeconds))),
    }),
  );
}
