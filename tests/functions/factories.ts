/** Small builders for the events, settings and fakes the function tests share. */
import type { JobSummary } from "@aws-sdk/client-batch";
import type { SQSRecord } from "aws-lambda";
import type { InvocationContext } from "../../functions/batch-calls";
import type { Clock } from "../../functions/clock";
import type { Log } from "../../functions/log";
import type { MonitorSettings, SubmitSettings } from "../../functions/settings";

export const executionId = "abcdef123456";
export const executionArn = `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`;
/** The jobs-mode jobRef (and array job name) of `executionArn`. */
export const baseName = `batch-bridge-${executionId}`;

export const submitSettings: SubmitSettings = {
  jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
  jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:1",
  jobNamePrefix: "batch-bridge",
  submitMode: "array",
  inputUriPrefix: "s3://data-bucket/input/",
  outputUriPrefix: "s3://data-bucket/output/",
  statusTable: "batch-bridge-executions",
  cleanupQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-cleanup",
};

export const monitorSettings: MonitorSettings = {
  jobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/batch-bridge-jobs",
  jobNamePrefix: "batch-bridge",
  callbackQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks",
  deadLetterQueueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/batch-bridge-callbacks-dlq",
  pollSchedule: { initialDelaySeconds: 10, maxDelaySeconds: 1800, maxWaitSeconds: 7 * 24 * 3600 },
  maxReceiveCount: 369,
};

/** The Lambda step's arguments, as SageMaker passes them (strings). */
export function submitArguments(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    executionArn,
    inputUri: "s3://data-bucket/input/run-1",
    outputUri: "s3://data-bucket/output/run-1",
    shardCount: "4",
    ...overrides,
  };
}

/** A Callback step's message; `omit` drops keys to make it malformed. */
export function callbackMessage(
  overrides: Record<string, unknown> = {},
  omit: string[] = [],
): Record<string, unknown> {
  const message: Record<string, unknown> = {
    token: "tok-0000000001",
    pipelineExecutionArn: executionArn,
    arguments: { jobMode: "array", jobRef: "array-job-1", shardCount: "4" },
    status: "Executing",
    ...overrides,
  };
  for (const key of omit) delete message[key];
  return message;
}

let records = 0;

/** An SQS record of the callback queue. */
export function sqsRecord(
  options: { body?: unknown; messageId?: string; receiveCount?: number; sentAt?: number } = {},
): SQSRecord {
  records += 1;
  const body = options.body ?? callbackMessage();
  return {
    messageId: options.messageId ?? `message-${records}`,
    receiptHandle: `receipt-${records}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(options.sentAt ?? fakeStart),
      SenderId: "AROAEXAMPLE:sagemaker",
      ApproximateFirstReceiveTimestamp: String(options.sentAt ?? fakeStart),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:batch-bridge-callbacks",
    awsRegion: "eu-west-1",
  };
}

/** A jobs-mode shard's job as ListJobs lists it. */
export function shardJob(shard: number, status: string, extra: Partial<JobSummary> = {}): JobSummary {
  const number = String(shard).padStart(5, "0");
  return {
    jobId: `job-${number}`,
    jobName: `${baseName}-${number}`,
    status: status as JobSummary["status"],
    createdAt: fakeStart,
    ...extra,
  };
}

/** The epoch the fake clock starts at. */
export const fakeStart = Date.parse("2025-01-06T12:00:00Z");

/**
 * A clock whose sleep resolves at once and moves time forward by the time slept, so the times recorded
 * around calls show the pace the handler keeps, without the test waiting.
 */
export function fakeClock(start = fakeStart): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (milliseconds) => {
      slept.push(milliseconds);
      now += milliseconds;
    },
  };
}

/** A Lambda context for an invocation starting now on `clock` with `seconds` to run. */
export function invocationContext(clock: Clock, seconds: number): InvocationContext {
  const end = clock.now() + seconds * 1000;
  return { getRemainingTimeInMillis: () => Math.max(0, end - clock.now()) };
}

export interface LogLine {
  level: "info" | "warn" | "error";
  message: string;
  attributes: Record<string, unknown>;
}

/** A logger that keeps its lines for the test to read. */
export function recordingLog(): Log & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (message, attributes) => lines.push({ level: "info", message, attributes }),
    warn: (message, attributes) => lines.push({ level: "warn", message, attributes }),
    error: (message, attributes) => lines.push({ level: "error", message, attributes }),
  };
}

/** An AWS SDK service error as the clients throw it. */
export function awsError(name: string, httpStatusCode: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode }, $fault: "client" });
}

/** The error a caller sees, or a failure if there is none. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail, and it succeeded");
}
