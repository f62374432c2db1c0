/**
 * Finds an execution's jobs and summarizes them by state: the one view the monitor (and anything else
 * that answers callback steps) decides from. Array mode: one DescribeJobs call on the parent, whose
 * `statusSummary` counts the children. Jobs mode: ListJobs by name, 100 a page.
 */
import type { JobDetail, JobSummary, ListJobsCommandInput } from "@aws-sdk/client-batch";
import type { BatchCalls } from "./batch-calls";
import { executionTagValue, shardIndexFromJobName, shardJobName } from "./job-names";
import { bridgeReasonPrefix, executionTagKey, type JobMode } from "./step-contract";

/** Batch job states that can still change; SUCCEEDED and FAILED are final. */
export const unfinishedStatuses = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"] as const;

/** Enough failed shards to fill a 256-character failure reason. */
const failedShardDetailsLimit = 100;
/** ListJobs returns up to 1,000 jobs a page when it lists by status (100 with a filter). */
const listByStatusPageLimit = 1000;

/** Which jobs to look for: the submit step's outputs, as the callback message carries them. */
export interface ExecutionJobsRef {
  executionArn: string;
  jobMode: JobMode;
  /** array: the array (or single) job's ID; jobs: the shards' common name prefix. */
  jobRef: string;
  shardCount: number;
  /** The step's job name: the array job's name, the shards' name prefix, the status table's key. */
  jobName: string;
  /** The step's outputUri, returned with a success (unknown for a step that did not pass it on). */
  outputUri?: string;
  /** Share of the shards that must succeed (unset: 1, every shard). */
  minSuccessRatio?: number;
}

/** A failed shard, with what Batch says about why. */
export interface FailedShard {
  /** 0-based shard index (undefined when Batch does not say). */
  shardIndex?: number;
  jobId: string;
  statusReason?: string;
  exitCode?: number;
  containerReason?: string;
  /** How many times Batch ran the job (DescribeJobs and events say; ListJobs does not). */
  attempts?: number;
  /** The last attempt's CloudWatch log stream and the group its awslogs options name, where known. */
  logStreamName?: string;
  logGroupName?: string;
  /** Batch's timestamps, in milliseconds since the epoch. */
  createdAt?: number;
  startedAt?: number;
  stoppedAt?: number;
}

/**
 * A job that Batch reported finished in a state-change event. Batch's listings may not show it yet, so
 * what an event said counts over a listing that still calls the job unfinished.
 */
export interface ObservedJob extends FailedShard {
  status: "SUCCEEDED" | "FAILED";
}

/** What state-change events told about an execution's jobs. */
export interface JobObservations {
  /** jobs mode: shards whose job SUCCEEDED. */
  succeededShards?: ReadonlySet<number>;
  /** jobs mode: shards whose job FAILED (after its last attempt), not terminated by the bridge. */
  failedShards?: ReadonlySet<number>;
  /** The latest finished job an event reported (array mode: the parent, a single job, or a failed child). */
  finishedJob?: ObservedJob;
}

/** An execution's jobs, counted by state. */
export interface ExecutionJobs extends ExecutionJobsRef {
  /** Shards by Batch state, plus NOT_FOUND for shards without a job. */
  counts: Record<string, number>;
  succeeded: number;
  /** Shards whose job failed, not counting those the bridge terminated. */
  failed: number;
  /** Up to 100 failed shards with their reasons, in shard order. */
  failedShards: FailedShard[];
  /**
   * Shards whose job the bridge itself terminated (a racing or earlier check that failed or stopped the
   * step): FAILED in Batch, but no failure of theirs, so never named as one.
   */
  terminatedByBridge: number;
  /** The status reason of one of them, e.g. "sagemaker-batch-bridge: pipeline execution stopped". */
  bridgeTerminationReason?: string;
  /** Shards whose job cannot be found: shard indexes (jobs mode) or the job ID (array mode). */
  notFound: string[];
  notFoundCount: number;
  /** Shards neither SUCCEEDED nor FAILED nor missing. */
  unfinished: number;
  /** The jobs to terminate to stop every unfinished shard (array mode: the parent, which cascades). */
  unfinishedJobIds: string[];
}

/**
 * Looks the execution's jobs up in Batch, counting what `observations` report over what Batch lists.
 * Throttling is retried while the invocation has time; other errors are thrown. In jobs mode, once events
 * reported every shard SUCCEEDED, Batch is not asked at all.
 */
export async function findExecutionJobs(
  calls: BatchCalls,
  ref: ExecutionJobsRef,
  jobQueue: string,
  observations: JobObservations = {},
): Promise<ExecutionJobs> {
  if (ref.jobMode === "array") return findArrayJob(calls, ref, observations.finishedJob);
  if (countBelow(observations.succeededShards, ref.shardCount) === ref.shardCount) {
    return countShardJobs(ref, [], observations);
  }
  return countShardJobs(ref, await listJobsByName(calls, jobQueue, ref.jobRef), observations);
}

/** How many of `shards` are below `shardCount`. */
export function countBelow(shards: ReadonlySet<number> | undefined, shardCount: number): number {
  let count = 0;
  for (const shard of shards ?? []) if (shard >= 0 && shard < shardCount) count += 1;
  return count;
}

/**
 * Every job in the queue whose name starts with `namePrefix` (ListJobs with a JOB_NAME filter returns jobs
 * of every status, at most 100 a page). A name may appear more than once: see `latestJobByName`.
 */
export async function listJobsByName(
  calls: BatchCalls,
  jobQueue: string,
  namePrefix: string,
): Promise<JobSummary[]> {
  return listEveryPage(calls, {
    jobQueue,
    filters: [{ name: "JOB_NAME", values: [`${namePrefix}*`] }],
    maxResults: 100,
  });
}

/** Every job a ListJobs query matches, page after page; throttling is retried. */
async function listEveryPage(
  calls: BatchCalls,
  query: Omit<ListJobsCommandInput, "nextToken">,
): Promise<JobSummary[]> {
  const jobs: JobSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await calls.listJobs({ ...query, nextToken });
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

/** True for a job the bridge itself terminated: its status reason is one the bridge gave. */
export function isTerminatedByBridge(statusReason: string | undefined): boolean {
  return statusReason?.startsWith(bridgeReasonPrefix) ?? false;
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
    terminatedByBridge: 0,
    notFound: [],
    notFoundCount: 0,
    unfinished: 0,
    unfinishedJobIds: [],
  };
}

async function findArrayJob(
  calls: BatchCalls,
  ref: ExecutionJobsRef,
  observed: ObservedJob | undefined,
): Promise<ExecutionJobs> {
  const summary = emptySummary(ref);
  const described = await calls.describeJobs([ref.jobRef]);
  let job = described.jobs?.find((j) => j.jobId === ref.jobRef);
  if (job && observed && observed.jobId === job.jobId && isUnfinished(job.status)) {
    job = withObservedStatus(job, observed);
  }
  if (!job || !belongsToStep(job, ref)) {
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
  // A child's FAILED event can come before the parent's summary counts it.
  const failedChild =
    observed?.status === "FAILED" &&
    observed.jobId.startsWith(`${job.jobId}:`) &&
    !isTerminatedByBridge(observed.statusReason)
      ? observed
      : undefined;
  if (failedChild && summary.failed === 0 && isUnfinished(job.status)) countObservedFailure(summary);
  if (isUnfinished(job.status)) summary.unfinishedJobIds = [job.jobId!];
  if (summary.failed > 0) await countFailedChildren(calls, summary, job);
  if (summary.failedShards.length === 0 && failedChild) summary.failedShards = [failedChild];
  return summary;
}

/**
 * Splits an array job's FAILED children into real failures and the ones the bridge terminated, from
 * every page of them (at most 10 ListJobs calls for 10,000 children). Children the listing does not show
 * yet stay counted as failures, as the summary says, unless the bridge terminated the parent itself.
 */
async function countFailedChildren(
  calls: BatchCalls,
  summary: ExecutionJobs,
  parent: JobDetail,
): Promise<void> {
  let terminated = 0;
  let realFailures = 0;
  const failedChildren = await listEveryPage(calls, {
    arrayJobId: parent.jobId,
    jobStatus: "FAILED",
    maxResults: listByStatusPageLimit,
  });
  for (const child of failedChildren) {
    if (isTerminatedByBridge(child.statusReason)) {
      terminated += 1;
      summary.bridgeTerminationReason ??= child.statusReason;
    } else {
      realFailures += 1;
      summary.failedShards.push(failedShard(child, child.arrayProperties?.index));
    }
  }
  // Terminated before it started any child: the parent alone says so.
  if (terminated + realFailures === 0 && isTerminatedByBridge(parent.statusReason)) {
    terminated = summary.failed;
    summary.bridgeTerminationReason = parent.statusReason;
  }
  summary.failedShards.sort((a, b) => (a.shardIndex ?? 0) - (b.shardIndex ?? 0));
  summary.failedShards.splice(failedShardDetailsLimit);
  summary.terminatedByBridge = terminated;
  summary.failed = Math.max(realFailures, summary.failed - terminated);
}

/** Moves one unfinished child to FAILED in an array job's summary. */
function countObservedFailure(summary: ExecutionJobs): void {
  summary.failed = 1;
  summary.unfinished = Math.max(0, summary.unfinished - 1);
  const from = [...unfinishedStatuses].reverse().find((status) => (summary.counts[status] ?? 0) > 0);
  if (from) summary.counts[from] -= 1;
  if (from && summary.counts[from] === 0) delete summary.counts[from];
  summary.counts.FAILED = (summary.counts.FAILED ?? 0) + 1;
}

/** The job as the event reported it finished. */
function withObservedStatus(job: JobDetail, observed: ObservedJob): JobDetail {
  return {
    ...job,
    status: observed.status,
    statusReason: observed.statusReason ?? job.statusReason,
    container: {
      ...job.container,
      exitCode: observed.exitCode ?? job.container?.exitCode,
      reason: observed.containerReason ?? job.container?.reason,
    },
  };
}

/**
 * A job of another execution, or of another bridge step of the execution, is as good as missing: it must
 * never be answered for or terminated. Ours carry the execution ARN as a tag and the step's job name.
 */
function belongsToStep(job: JobDetail, ref: ExecutionJobsRef): boolean {
  const tag = job.tags?.[executionTagKey];
  return (tag === undefined || tag === executionTagValue(ref.executionArn)) && job.jobName === ref.jobName;
}

function countSingleJob(summary: ExecutionJobs, job: JobDetail): void {
  const status = job.status ?? "SUBMITTED";
  summary.counts = { [status]: 1 };
  if (status === "SUCCEEDED") summary.succeeded = 1;
  else if (status === "FAILED" && isTerminatedByBridge(job.statusReason)) {
    summary.terminatedByBridge = 1;
    summary.bridgeTerminationReason = job.statusReason;
  } else if (status === "FAILED") {
    summary.failed = 1;
    summary.failedShards = [{ ...failedJobDetails(job, 0), jobId: job.jobId ?? summary.jobRef }];
  } else {
    summary.unfinished = 1;
    summary.unfinishedJobIds = [job.jobId ?? summary.jobRef];
  }
}

/**
 * Counts jobs-mode shards from the listed jobs and what events observed; an expected shard name without a
 * job is not found.
 */
export function countShardJobs(
  ref: ExecutionJobsRef,
  listed: readonly JobSummary[],
  observations: JobObservations = {},
): ExecutionJobs {
  const summary = emptySummary(ref);
  const latest = latestJobByName(
    listed.filter((j) => shardIndexFromJobName(ref.jobRef, j.jobName ?? "") !== undefined),
  );
  for (let shard = 0; shard < ref.shardCount; shard++) {
    const job = observedShardJob(shard, latest.get(shardJobName(ref.jobRef, shard)), observations);
    const status = job?.status ?? "NOT_FOUND";
    summary.counts[status] = (summary.counts[status] ?? 0) + 1;
    if (!job) {
      summary.notFoundCount += 1;
      if (summary.notFound.length < failedShardDetailsLimit) summary.notFound.push(String(shard));
    } else if (status === "SUCCEEDED") {
      summary.succeeded += 1;
    } else if (status === "FAILED" && isTerminatedByBridge(job.statusReason)) {
      summary.terminatedByBridge += 1;
      summary.bridgeTerminationReason ??= job.statusReason;
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

/** A shard's listed job, with what events reported about it when the listing still shows it unfinished. */
function observedShardJob(
  shard: number,
  listed: JobSummary | undefined,
  observations: JobObservations,
): JobSummary | undefined {
  if (listed && !isUnfinished(listed.status)) return listed;
  const observed = observations.finishedJob;
  if (observed && (listed ? observed.jobId === listed.jobId : observed.shardIndex === shard)) {
    return {
      ...listed,
      jobId: observed.jobId,
      jobName: listed?.jobName,
      status: observed.status,
      statusReason: observed.statusReason,
      container: { exitCode: observed.exitCode, reason: observed.containerReason },
    };
  }
  if (observations.succeededShards?.has(shard)) {
    return {
      ...listed,
      jobId: listed?.jobId ?? `shard ${shard}`,
      jobName: listed?.jobName,
      status: "SUCCEEDED",
    };
  }
  if (observations.failedShards?.has(shard)) {
    // Its reasons come from the listing or, for the step report, from DescribeJobs by the listed ID.
    return { ...listed, jobId: listed?.jobId ?? "", jobName: listed?.jobName, status: "FAILED" };
  }
  return listed;
}

/** What a finished job's details say about why it failed (a job as DescribeJobs or an event shows it). */
export function failedJobDetails(job: JobDetail, shardIndex: number | undefined): FailedShard {
  const lastAttempt = job.attempts?.[job.attempts.length - 1];
  return {
    shardIndex,
    jobId: job.jobId ?? "",
    statusReason: job.statusReason,
    exitCode: job.container?.exitCode ?? lastAttempt?.container?.exitCode,
    containerReason: job.container?.reason ?? lastAttempt?.container?.reason,
    attempts: job.attempts?.length,
    logStreamName: lastAttempt?.container?.logStreamName ?? job.container?.logStreamName,
    logGroupName: job.container?.logConfiguration?.options?.["awslogs-group"],
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
  };
}

function failedShard(job: JobSummary, shardIndex: number | undefined): FailedShard {
  return {
    shardIndex,
    jobId: job.jobId ?? "",
    statusReason: job.statusReason,
    exitCode: job.container?.exitCode,
    containerReason: job.container?.reason,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
  };
}
