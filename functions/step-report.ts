/**
 * The step report: a JSON object the bridge writes under a step's outputUri when the step fails, is
 * stopped, or succeeds with failed shards (minSuccessRatio). It names every failed shard with what Batch
 * says about it and a link to its CloudWatch log stream, what the bridge terminated, and the timings, so
 * that an operator has more to go on than the 256 characters of a failure reason.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { failureReasonLimit, truncate } from "./answer";
import type { BatchCalls } from "./batch-calls";
import { failedJobDetails, type ExecutionJobs, type FailedShard } from "./execution-jobs";
import { joinUri, parseExecutionArn } from "./job-names";
import { writeText } from "./records/s3-objects";

/**
 * Where the awslogs driver writes when a job definition names no group (Batch User Guide, "Using the
 * awslogs log driver": "By default, AWS Batch enables the awslogs log driver ... /aws/batch/job").
 */
export const defaultBatchLogGroup = "/aws/batch/job";

/** The folder under a step's outputUri that holds the bridge's own objects. */
export const reportFolder = "_bridge";

/**
 * The report's URI: `<outputUri>/_bridge/report-<execution id>-<step>.json`, where `<step>` is the step's
 * key (8 hex digits, as in its jobs' names) for a BatchBridge step and `callback` for the plain Callback
 * step: one object per execution and step, so a retried or repeated answer overwrites its own report.
 */
export function reportUri(outputUri: string, executionArn: string, jobName: string): string {
  const executionId = parseExecutionArn(executionArn)?.executionId ?? "unknown";
  const key = /_([0-9a-f]{8})$/.exec(jobName)?.[1] ?? "callback";
  return joinUri(outputUri, `${reportFolder}/report-${executionId}-${key}.json`);
}

/**
 * The CloudWatch console's page for one log stream. The console reads the group and stream from the URL
 * fragment, each URI-encoded twice with `%` written as `$`.
 */
export function logStreamLink(region: string, logGroupName: string, logStreamName: string): string {
  const encode = (text: string) => encodeURIComponent(encodeURIComponent(text)).replace(/%/g, "$");
  return (
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
    `#logsV2:log-groups/log-group/${encode(logGroupName)}/log-events/${encode(logStreamName)}`
  );
}

/**
 * `reason`, shortened as needed, followed by ` Report: <uri>` within the 256 characters of a failure
 * reason. The URI is kept whole: when it cannot fit, the reason goes without it.
 */
export function reasonWithReport(reason: string, uri: string): string {
  const suffix = ` Report: ${uri}`;
  const room = failureReasonLimit - suffix.length;
  if (room < 20) return truncate(reason, failureReasonLimit);
  return `${truncate(reason, room)}${suffix}`;
}

/** The report URI a failure reason ends with (see `reasonWithReport`), if it ends with one. */
export function reportUriInReason(reason: string): string | undefined {
  return / Report: (s3:\/\/\S+)$/.exec(reason)?.[1];
}

/** What the report says about the answer. */
export interface ReportAnswer {
  outcome: "success" | "failure";
  /** The failure reason (without the report's URI), or the FailedShards output of a success. */
  reason?: string;
  failedShards?: string;
}

/** What was terminated when the step was answered. */
export interface ReportTermination {
  reason: string;
  /** The jobs the bridge asked Batch to terminate, and how many it did. */
  jobIds: readonly string[];
  terminated: number;
}

/** The report's JSON. */
export function buildReport(
  jobs: ExecutionJobs,
  answer: ReportAnswer,
  termination: ReportTermination | undefined,
  region: string,
  writtenAt: number,
): Record<string, unknown> {
  return {
    report: "sagemaker-batch-bridge step report",
    writtenAt: iso(writtenAt),
    executionArn: jobs.executionArn,
    jobName: jobs.jobName,
    jobMode: jobs.jobMode,
    jobRef: jobs.jobRef,
    answer,
    shardCount: jobs.shardCount,
    succeeded: jobs.succeeded,
    failed: jobs.failed,
    ...(jobs.minSuccessRatio !== undefined ? { minSuccessRatio: jobs.minSuccessRatio } : {}),
    counts: jobs.counts,
    failedShards: jobs.failedShards.map((shard) => describeShard(shard, region)),
    ...(jobs.failed > jobs.failedShards.length
      ? { failedShardsNotListed: jobs.failed - jobs.failedShards.length }
      : {}),
    notFound: jobs.notFound,
    terminated: termination
      ? { reason: termination.reason, count: termination.terminated, jobIds: termination.jobIds }
      : { count: 0, jobIds: [] },
    ...(jobs.terminatedByBridge > 0
      ? {
          terminatedEarlier: { count: jobs.terminatedByBridge, reason: jobs.bridgeTerminationReason },
        }
      : {}),
  };
}

/**
 * The failed shards with what DescribeJobs adds to a listing (attempts, log stream, log group): one call
 * for up to 100 jobs, the most the execution summary keeps. Shards DescribeJobs does not return stay as
 * they were listed.
 */
export async function describeFailedShards(
  calls: BatchCalls,
  shards: readonly FailedShard[],
): Promise<FailedShard[]> {
  const ids = shards.map((shard) => shard.jobId).filter((id) => id !== "");
  if (ids.length === 0) return [...shards];
  const described = new Map((await calls.describeJobs(ids)).jobs?.map((job) => [job.jobId, job]) ?? []);
  return shards.map((shard) => {
    const job = described.get(shard.jobId);
    return job ? { ...shard, ...defined(failedJobDetails(job, shard.shardIndex)) } : shard;
  });
}

/** Writes the report; throws what S3 throws (the caller answers without the URI). */
export async function writeReport(s3: S3Client, uri: string, report: Record<string, unknown>): Promise<void> {
  await writeText(s3, uri, `${JSON.stringify(report, null, 2)}\n`, "application/json");
}

function describeShard(shard: FailedShard, region: string): Record<string, unknown> {
  const logGroupName = shard.logGroupName ?? defaultBatchLogGroup;
  return {
    shardIndex: shard.shardIndex,
    jobId: shard.jobId,
    statusReason: shard.statusReason,
    containerReason: shard.containerReason,
    exitCode: shard.exitCode,
    attempts: shard.attempts,
    logGroupName,
    logStreamName: shard.logStreamName,
    logLink:
      shard.logStreamName !== undefined
        ? logStreamLink(region, logGroupName, shard.logStreamName)
        : undefined,
    submittedAt: iso(shard.createdAt),
    startedAt: iso(shard.startedAt),
    endedAt: iso(shard.stoppedAt),
  };
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function iso(millis: number | undefined): string | undefined {
  return millis !== undefined ? new Date(millis).toISOString() : undefined;
}
