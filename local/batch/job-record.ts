/**
 * One job as the local Batch holds it: what SubmitJob fixed (shared by an array's children), where it is in
 * its lifecycle, its attempts, and for an array job its children and their summary.
 */
import type { AttemptDetail, KeyValuePair, LogConfiguration, RetryStrategy } from "@aws-sdk/client-batch";
import type { RunningAttempt } from "./attempts";

/** Batch job states, in lifecycle order. */
export const jobStatuses = [
  "SUBMITTED",
  "PENDING",
  "RUNNABLE",
  "STARTING",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
] as const;
export type JobStatus = (typeof jobStatuses)[number];

/** What SubmitJob fixed for a job, shared by an array's children. */
export interface JobSpec {
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  parameters: Record<string, string>;
  environment: KeyValuePair[];
  command: string[] | undefined;
  tags: Record<string, string> | undefined;
  propagateTags: boolean | undefined;
  retryStrategy: RetryStrategy | undefined;
  timeoutSeconds: number | undefined;
  /** The job definition's container logConfiguration, when it sets one. */
  logConfiguration: LogConfiguration | undefined;
}

/**
 * A job's state. Every job is built by `newJob` with the same fields in the same order, so that tens of
 * thousands of them share one object shape and stay cheap to read.
 */
export interface Job {
  seq: number;
  jobId: string;
  jobArn: string;
  spec: JobSpec;
  status: JobStatus;
  statusReason: string | undefined;
  createdAt: number;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
  attempts: AttemptDetail[];
  exitCode: number | undefined;
  containerReason: string | undefined;
  /** Bumped whenever a pending state change is cancelled (terminate/cancel). */
  version: number;
  /** The running attempt: when it started and how it ends. */
  attempt: RunningAttempt | undefined;
  holdsSlot: boolean;
  /** Array children only. */
  parent: Job | undefined;
  arrayIndex: number | undefined;
  /** Array parents only. */
  array:
    | {
        size: number;
        children?: Job[];
        summary: Record<JobStatus, number>;
        summaryUpdatedAt?: number;
        finished: number;
        failed: number;
      }
    | undefined;
}

export function newJob(
  fields: Pick<
    Job,
    "seq" | "jobId" | "jobArn" | "spec" | "status" | "createdAt" | "parent" | "arrayIndex" | "array"
  >,
): Job {
  return {
    seq: fields.seq,
    jobId: fields.jobId,
    jobArn: fields.jobArn,
    spec: fields.spec,
    status: fields.status,
    statusReason: undefined,
    createdAt: fields.createdAt,
    startedAt: undefined,
    stoppedAt: undefined,
    attempts: [],
    exitCode: undefined,
    containerReason: undefined,
    version: 0,
    attempt: undefined,
    holdsSlot: false,
    parent: fields.parent,
    arrayIndex: fields.arrayIndex,
    array: fields.array,
  };
}

export function emptySummary(): Record<JobStatus, number> {
  return { SUBMITTED: 0, PENDING: 0, RUNNABLE: 0, STARTING: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0 };
}

export function isTerminal(status: JobStatus): boolean {
  return status === "SUCCEEDED" || status === "FAILED";
}

/** TerminateJob stops any unfinished job; CancelJob only those not yet STARTING. */
export function canStop(status: JobStatus, kind: "terminate" | "cancel"): boolean {
  if (isTerminal(status)) return false;
  return kind === "terminate" || (status !== "STARTING" && status !== "RUNNING");
}
