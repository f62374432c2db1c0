/**
 * How the local Batch shows a job: as DescribeJobs and ListJobs return it, as tests and the runner see it at
 * a glance, and as a scenario sees it; and ListJobs' page tokens.
 */
import type { JobDetail, JobSummary, LogConfiguration } from "@aws-sdk/client-batch";
import type { Job, JobStatus } from "./job-record";
import { BatchClientError } from "./requests";
import type { ScenarioJob } from "./scenario";

/** A job as tests and the runner see it at a glance. */
export interface JobSnapshot {
  jobId: string;
  jobName: string;
  status: JobStatus;
  statusReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  /** Attempts that ran. */
  attempts: number;
  exitCode?: number;
  /** Array parents: the size and the children's states. */
  arraySize?: number;
  statusSummary?: Record<JobStatus, number>;
}

/** DescribeJobs' (and the state-change event's) view of a job. */
export function jobDetail(job: Job): JobDetail {
  return {
    jobArn: job.jobArn,
    jobName: job.spec.jobName,
    jobId: job.jobId,
    jobQueue: job.spec.jobQueue,
    status: job.status,
    statusReason: job.statusReason,
    createdAt: job.createdAt,
    startedAt: job.startedAt as number,
    stoppedAt: job.stoppedAt,
    attempts: job.attempts.map((attempt) => ({ ...attempt, container: { ...attempt.container } })),
    retryStrategy: job.spec.retryStrategy,
    timeout:
      job.spec.timeoutSeconds === undefined ? undefined : { attemptDurationSeconds: job.spec.timeoutSeconds },
    dependsOn: [],
    jobDefinition: job.spec.jobDefinition,
    parameters: { ...job.spec.parameters },
    container: {
      command: job.spec.command,
      environment: job.spec.environment.map((pair) => ({ ...pair })),
      exitCode: job.array ? undefined : job.exitCode,
      reason: job.array ? undefined : job.containerReason,
      logStreamName: job.attempt?.logStreamName ?? job.attempts.at(-1)?.container?.logStreamName,
      // The job definition's, as AWS returns it (API Reference, ContainerDetail.logConfiguration).
      ...(job.spec.logConfiguration
        ? { logConfiguration: copyLogConfiguration(job.spec.logConfiguration) }
        : {}),
    },
    arrayProperties: job.array
      ? {
          statusSummary: { ...job.array.summary },
          statusSummaryLastUpdatedAt: job.array.summaryUpdatedAt,
          size: job.array.size,
        }
      : job.arrayIndex !== undefined
        ? { index: job.arrayIndex }
        : undefined,
    tags: job.spec.tags && { ...job.spec.tags },
    propagateTags: job.spec.propagateTags,
    platformCapabilities: ["FARGATE"],
  };
}

function copyLogConfiguration(config: LogConfiguration): LogConfiguration {
  return { ...config, ...(config.options ? { options: { ...config.options } } : {}) };
}

/** ListJobs' view of a job. */
export function jobSummary(job: Job): JobSummary {
  return {
    jobArn: job.jobArn,
    jobId: job.jobId,
    jobName: job.spec.jobName,
    createdAt: job.createdAt,
    status: job.status,
    statusReason: job.statusReason,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
    container: job.array ? undefined : { exitCode: job.exitCode, reason: job.containerReason },
    arrayProperties: job.array
      ? { size: job.array.size, statusSummary: { ...job.array.summary } }
      : job.arrayIndex !== undefined
        ? { index: job.arrayIndex }
        : undefined,
    jobDefinition: job.spec.jobDefinition,
  };
}

export function jobSnapshot(job: Job): JobSnapshot {
  return {
    jobId: job.jobId,
    jobName: job.spec.jobName,
    status: job.status,
    statusReason: job.statusReason,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
    attempts: job.attempts.length,
    exitCode: job.exitCode,
    arraySize: job.array?.size,
    statusSummary: job.array && { ...job.array.summary },
  };
}

export function scenarioJob(job: Job): ScenarioJob {
  return {
    jobId: job.jobId,
    jobName: job.spec.jobName,
    jobQueue: job.spec.jobQueue,
    jobDefinition: job.spec.jobDefinition,
    arrayIndex: job.arrayIndex,
    parameters: { ...job.spec.parameters },
    environment: Object.fromEntries(job.spec.environment.map((pair) => [pair.name ?? "", pair.value ?? ""])),
    attempt: job.attempts.length + 1,
  };
}

/** A ListJobs `nextToken`: where the next page starts. */
export function encodePageToken(position: number): string {
  return Buffer.from(JSON.stringify({ position }), "utf8").toString("base64url");
}

export function decodePageToken(token: string): number {
  try {
    const { position } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      position?: unknown;
    };
    if (typeof position === "number" && Number.isInteger(position) && position >= 0) return position;
  } catch {
    // Falls through to the error below.
  }
  throw new BatchClientError("nextToken is invalid or expired");
}
