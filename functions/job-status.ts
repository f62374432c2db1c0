/**
 * Finds an execution's jobs and summarizes them by state: the one view the monitor (and anything else
 * that answers callback steps) decides from. Array mode: one DescribeJobs call on the parent, whose
 * `statusSummary` counts the children. Jobs mode: ListJobs by name, 100 a page.
 */
import {
  DescribeJobsCommand,
  ListJobsCommand,
  type BatchClient,
  type JobDetail,
  type JobSummary,
} from "@aws-sdk/client-batch";
import { retryThrottled } from "./aws-errors";
import type { Clock } from "./clock";
import { shardIndexFromJobName, shardJobName } from "./job-names";
import { executionTagKey, type JobMode } from "./step-contract";

/** Batch job states that can still change; SUCCEEDED and FAILED are final. */
export const unfinishedStatuses = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"] as const;

/** Enough failed shards to fill a 256-character failure reason. */
const failedShardDetailsLimit = 100;

/** Which jobs to look for: the submit step's outputs, as the callback message carries them. */
export interface ExecutionJobsRef {
  executionArn: string;
  jobMode: JobMode;
  /** array: the array (or single) job's ID; jobs: the shards' common name prefix. */
  jobRef: string;
  shardCount: number;
}

/** A failed shard, with what Batch says about why. */
export interface FailedShard {
  /** 0-based shard index (undefined when Batch does not say). */
  shardIndex?: number;
  jobId: string;
  statusReason?: string;
  exitCode?: number;
  containerReason?: string;
}

/** An execution's jobs, counted by state. */
export interface ExecutionJobs extends ExecutionJobsRef {
  /** Shards by Batch state, plus NOT_FOUND for shards without a job. */
  counts: Record<string, number>;
  succeeded: number;
  failed: number;
  /** Up to 100 failed shards with their reasons. */
  failedShards: FailedShard[];
  /** Shards whose job cannot be found: shard indexes (jobs mode) or the job ID (array mode). */
  notFound: string[];
  notFoundCount: number;
  /** Shards neither SUCCEEDED nor FAILED nor missing. */
  unfinished: number;
  /** The jobs to terminate to stop every unfinished shard (array mode: the parent, which cascades). */
  unfinishedJobIds: string[];
}

/** Looks the execution's jobs up in Batch. Throttling is retried; other errors are thrown. */
export async function findExecutionJobs(
  batch: BatchClient,
  ref: ExecutionJobsRef,
  jobQueue: string,
  clock: Clock,
): Promise<ExecutionJobs> {
  return ref.jobMode === "array"
    ? findArrayJob(batch, ref, clock)
    : countShardJobs(ref, await listJobsByName(batch, jobQueue, ref.jobRef, clock));
}

/**
 * Every job in the queue whose name starts with `namePrefix` (ListJobs with a JOB_NAME filter returns jobs
 * of every status, at most 100 a page). A name may appear more than once: see `latestJobByName`.
 */
export async function listJobsByName(
  batch: BatchClient,
  jobQueue: string,
  namePrefix: string,
  clock: Clock,
): Promise<JobSummary[]> {
  const jobs: JobSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await retryThrottled(
      () =>
        batch.send(
          new ListJobsCommand({
            jobQueue,
            filters: [{ name: "JOB_NAME", values: [`${namePrefix}*`] }],
            maxResults: 100,
            nextToken,
          }),
        ),
      clock,
    );
    jobs.push(...(page.jobSummaryList ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return jobs;
}

/**
 * The newest job of each name: a shard resubmitted after its earlier job failed has two jobs of the same
 * name, and the newer one counts.
 */
export function latestJobByName(jobs: readonly JobSummary[]): Map<string, JobSummary> {
  const latest = new Map<string, JobSummary>();
  for (const job of jobs) {
    if (!job.jobName || !job.jobId) continue;
    const seen = latest.get(job.jobName);
    if (!seen || (job.createdAt ?? 0) > (seen.createdAt ?? 0)) latest.set(job.jobName, job);
  }
  return latest;
}

/** True while Batch may still run the job. */
export function isUnfinished(status: string | undefined): boolean {
  return (unfinishedStatuses as readonly string[]).includes(status ?? "");
}

function emptySummary(ref: ExecutionJobsRef): ExecutionJobs {
  return {
    ...ref,
    counts: {},
    succeeded: 0,
    failed: 0,
    failedShards: [],
    notFound: [],
    notFoundCount: 0,
    unfinished: 0,
    unfinishedJobIds: [],
  };
}

async function findArrayJob(batch: BatchClient, ref: ExecutionJobsRef, clock: Clock): Promise<ExecutionJobs> {
  const summary = emptySummary(ref);
  const described = await retryThrottled(
    () => batch.send(new DescribeJobsCommand({ jobs: [ref.jobRef] })),
    clock,
  );
  const job = described.jobs?.find((j) => j.jobId === ref.jobRef);
  if (!job || !belongsToExecution(job, ref.executionArn)) {
    summary.notFound = [ref.jobRef];
    summary.notFoundCount = ref.shardCount;
    summary.counts = { NOT_FOUND: ref.shardCount };
    return summary;
  }
  if (job.arrayProperties?.size === undefined) {
    countSingleJob(summary, job);
    return summary;
  }

  const size = job.arrayProperties.size;
  const byStatus = job.arrayProperties.statusSummary ?? {};
  summary.shardCount = size;
  summary.succeeded = job.status === "SUCCEEDED" ? size : (byStatus.SUCCEEDED ?? 0);
  summary.failed = byStatus.FAILED ?? 0;
  // The parent is FAILED once a child failed, even while its summary lags behind.
  if (job.status === "FAILED" && summary.failed === 0) summary.failed = Math.max(1, size - summary.succeeded);
  summary.unfinished = Math.max(0, size - summary.succeeded - summary.failed);
  if (job.status === "SUCCEEDED") summary.counts = { SUCCEEDED: size };
  else if (Object.keys(byStatus).length > 0) summary.counts = { ...byStatus };
  // Right after submission the summary is still empty: every child is where the parent is.
  else summary.counts = { [job.status ?? "SUBMITTED"]: size };
  if (isUnfinished(job.status)) summary.unfinishedJobIds = [job.jobId!];
  if (summary.failed > 0) summary.failedShards = await failedChildren(batch, job.jobId!, clock);
  return summary;
}

/** The first page of an array job's failed children (ListJobs by arrayJobId and status). */
async function failedChildren(batch: BatchClient, arrayJobId: string, clock: Clock): Promise<FailedShard[]> {
  const page = await retryThrottled(
    () =>
      batch.send(
        new ListJobsCommand({ arrayJobId, jobStatus: "FAILED", maxResults: failedShardDetailsLimit }),
      ),
    clock,
  );
  return (page.jobSummaryList ?? [])
    .map((child) => failedShard(child, child.arrayProperties?.index))
    .sort((a, b) => (a.shardIndex ?? 0) - (b.shardIndex ?? 0));
}

/**
 * A job of another execution is as good as missing: it must never be answered for or terminated. Ours
 * carry the execution ARN as a tag and end their name with the execution id.
 */
function belongsToExecution(job: JobDetail, executionArn: string): boolean {
  const tag = job.tags?.[executionTagKey];
  const executionId = executionArn.slice(executionArn.lastIndexOf("/") + 1);
  return (tag === undefined || tag === executionArn) && (job.jobName ?? "").endsWith(`-${executionId}`);
}

function countSingleJob(summary: ExecutionJobs, job: JobDetail): void {
  const status = job.status ?? "SUBMITTED";
  summary.counts = { [status]: 1 };
  if (status === "SUCCEEDED") summary.succeeded = 1;
  else if (status === "FAILED") {
    summary.failed = 1;
    const lastAttempt = job.attempts?.[job.attempts.length - 1];
    summary.failedShards = [
      {
        shardIndex: 0,
        jobId: job.jobId ?? summary.jobRef,
        statusReason: job.statusReason,
        exitCode: job.container?.exitCode ?? lastAttempt?.container?.exitCode,
        containerReason: job.container?.reason ?? lastAttempt?.container?.reason,
      },
    ];
  } else {
    summary.unfinished = 1;
    summary.unfinishedJobIds = [job.jobId ?? summary.jobRef];
  }
}

/** Counts jobs-mode shards from the listed jobs; an expected shard name without a job is not found. */
export function countShardJobs(ref: ExecutionJobsRef, listed: readonly JobSummary[]): ExecutionJobs {
  const summary = emptySummary(ref);
  const latest = latestJobByName(
    listed.filter((j) => shardIndexFromJobName(ref.jobRef, j.jobName ?? "") !== undefined),
  );
  for (let shard = 0; shard < ref.shardCount; shard++) {
    const job = latest.get(shardJobName(ref.jobRef, shard));
    const status = job?.status ?? "NOT_FOUND";
    summary.counts[status] = (summary.counts[status] ?? 0) + 1;
    if (!job) {
      summary.notFoundCount += 1;
      if (summary.notFound.length < failedShardDetailsLimit) summary.notFound.push(String(shard));
    } else if (status === "SUCCEEDED") {
      summary.succeeded += 1;
    } else if (status === "FAILED") {
      summary.failed += 1;
      if (summary.failedShards.length < failedShardDetailsLimit)
        summary.failedShards.push(failedShard(job, shard));
    } else {
      summary.unfinished += 1;
      summary.unfinishedJobIds.push(job.jobId!);
    }
  }
  return summary;
}

function failedShard(job: JobSummary, shardIndex: number | undefined): FailedShard {
  return {
    shardIndex,
    jobId: job.jobId ?? "",
    statusReason: job.statusReason,
    exitCode: job.container?.exitCode,
    containerReason: job.container?.reason,
  };
}
