/**
 * Batch's job state-change events (EventBridge `aws.batch` / `Batch Job State Change`, `detail` = the job as
 * DescribeJobs returns it): the pattern that selects the ones the job-event function needs, and the checks
 * that turn one event into what it says about a step. Events come at least once, possibly duplicated or
 * out of order, so only final states count.
 */
import type { JobDetail } from "@aws-sdk/client-batch";
import { parseJobName } from "./job-names";
import { failedJobDetails, type ObservedJob } from "./execution-jobs";
import { executionTagKey } from "./step-contract";
import { maxShardCount } from "./submit-arguments";

export const jobStateChangeSource = "aws.batch";
export const jobStateChangeDetailType = "Batch Job State Change";

/**
 * The EventBridge pattern for the job-event function's rule: final states of our queue's jobs named
 * `<jobNamePrefix>-...`, and of array children only FAILED (fail fast; a child's SUCCEEDED tells nothing
 * the parent's does not, and a 10,000-child array job would otherwise be 10,000 invocations).
 */
export function jobStateChangePattern(jobQueueArn: string, jobNamePrefix: string) {
  return {
    source: [jobStateChangeSource],
    "detail-type": [jobStateChangeDetailType],
    detail: {
      jobQueue: [jobQueueArn],
      jobName: [{ prefix: `${jobNamePrefix}-` }],
      $or: [
        { status: ["FAILED"] },
        { status: ["SUCCEEDED"], arrayProperties: { index: [{ exists: false }] } },
      ],
    },
  };
}

/** What a relevant event says about a step. */
export interface JobStateChange {
  /** The status table key, `<jobNamePrefix>-<execution id>`. */
  executionJobName: string;
  status: "SUCCEEDED" | "FAILED";
  /** jobs mode: the shard the job runs. */
  shardIndex?: number;
  /** array mode: the array (or single) job's ID, the `jobRef` a step waits for. */
  arrayJobId?: string;
  /** The shard count the job was submitted with (its `shardCount` parameter), when it says. */
  shardCount?: number;
  /** The job as the event reports it. */
  job: ObservedJob;
}

export type ParsedJobStateChange =
  | { kind: "change"; change: JobStateChange }
  /** Well-formed, but nothing the function acts on. */
  | { kind: "ignored"; reason: string; jobId?: string; jobName?: string }
  /** Not a Batch job state-change event: logged and dropped, never retried. */
  | { kind: "malformed"; reason: string };

/** Which jobs the function acts on. */
export interface JobStateChangeScope {
  jobQueue: string;
  jobNamePrefix: string;
}

/** Checks one EventBridge event and says what it means for a step, if anything. */
export function parseJobStateChange(event: unknown, scope: JobStateChangeScope): ParsedJobStateChange {
  if (!isObject(event)) return { kind: "malformed", reason: "the event is not a JSON object" };
  if (event.source !== jobStateChangeSource || event["detail-type"] !== jobStateChangeDetailType) {
    return {
      kind: "malformed",
      reason:
        `source must be "${jobStateChangeSource}" and detail-type "${jobStateChangeDetailType}", got ` +
        `${JSON.stringify(event.source) ?? "nothing"} and ${JSON.stringify(event["detail-type"]) ?? "nothing"}`,
    };
  }
  const detail = event.detail;
  if (!isObject(detail)) return { kind: "malformed", reason: "detail must be an object (the job)" };
  const missing = ["jobId", "jobName", "jobQueue", "status"].filter(
    (field) => typeof detail[field] !== "string" || detail[field] === "",
  );
  if (missing.length > 0) {
    return { kind: "malformed", reason: `detail.${missing.join(", detail.")} must be non-empty strings` };
  }
  const jobId = detail.jobId as string;
  const jobName = detail.jobName as string;
  const status = detail.status as string;
  const ignore = (reason: string): ParsedJobStateChange => ({ kind: "ignored", reason, jobId, jobName });

  if (jobQueueName(detail.jobQueue as string) !== jobQueueName(scope.jobQueue)) {
    return ignore("a job of another job queue");
  }
  const named = parseJobName(scope.jobNamePrefix, jobName);
  if (!named) return ignore(`not a job of this stack (names start "${scope.jobNamePrefix}-<execution id>")`);
  if (status !== "SUCCEEDED" && status !== "FAILED") return ignore(`status ${status} is not final`);
  const tag = isObject(detail.tags) ? detail.tags[executionTagKey] : undefined;
  if (typeof tag === "string" && !tag.endsWith(`/execution/${named.executionId}`)) {
    return ignore("the job's execution tag names another execution");
  }

  const arrayProperties = isObject(detail.arrayProperties) ? detail.arrayProperties : {};
  const childIndex = typeof arrayProperties.index === "number" ? arrayProperties.index : undefined;
  let arrayJobId: string | undefined;
  let shardIndex = named.shardIndex;
  if (named.shardIndex !== undefined) {
    if (childIndex !== undefined) return ignore("jobs-mode shards are never array children");
  } else if (childIndex !== undefined) {
    if (status === "SUCCEEDED") return ignore("an array child succeeded (the parent's event counts)");
    const separator = jobId.lastIndexOf(":");
    if (separator <= 0) return ignore("an array child's jobId must be <array job id>:<index>");
    arrayJobId = jobId.slice(0, separator);
    shardIndex = childIndex;
  } else {
    arrayJobId = jobId;
  }

  const parameters = isObject(detail.parameters) ? detail.parameters : {};
  const shardCount = wholeNumber(parameters.shardCount);
  const job: ObservedJob = {
    ...failedJobDetails(detail as unknown as JobDetail, shardIndex),
    jobId,
    status,
  };
  return {
    kind: "change",
    change: {
      executionJobName: named.executionJobName,
      status,
      ...(named.shardIndex !== undefined ? { shardIndex: named.shardIndex } : {}),
      ...(arrayJobId !== undefined ? { arrayJobId } : {}),
      ...(shardCount !== undefined && shardCount <= maxShardCount ? { shardCount } : {}),
      job,
    },
  };
}

/** A queue's name, from its ARN (`arn:...:job-queue/<name>`) or as given. */
function jobQueueName(queue: string): string {
  return queue.startsWith("arn:") ? queue.slice(queue.lastIndexOf("/") + 1) : queue;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function wholeNumber(value: unknown): number | undefined {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^\d+$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
