/**
 * Batch's checks of the requests it takes here, with its limits: a request Batch rejects as the caller's
 * fault is a BatchClientError, which the server answers as a 400 ClientException naming the field.
 * Requests arrive as untyped JSON, so every field read is checked here.
 */
import type {
  CancelJobRequest,
  ContainerOverrides,
  EvaluateOnExit,
  KeyValuePair,
  ListJobsRequest,
  LogConfiguration,
  RetryStrategy,
  SubmitJobRequest,
  TerminateJobRequest,
} from "@aws-sdk/client-batch";
import { makeRequireString } from "../http";
import { jobStatuses, type Job, type JobStatus } from "./job-record";
import { definitionName, type BatchResources } from "./resources";

/** A request Batch rejects as the caller's fault; the server answers it as a 400 ClientException. */
export class BatchClientError extends Error {
  override readonly name = "ClientException";
}

/** Array jobs: 2 to 10,000 children. */
const arraySizeLimits = { min: 2, max: 10_000 };
/** DescribeJobs takes at most 100 job IDs a call. */
const describeJobsLimit = 100;
/** ListJobs pages: up to 1,000 jobs with a status, up to 100 with a filter. */
const listPageLimits = { status: 1000, filters: 100 };
const maxAttempts = 10;
const maxEvaluateOnExit = 5;
const minTimeoutSeconds = 60;
const maxTags = 50;
/** Tag keys hold at most 128 characters and values 256 (Batch User Guide, "Tag restrictions"). */
const tagLimits = { key: 128, value: 256 };
const jobNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

const requireString = makeRequireString((field) => new BatchClientError(`${field} is required`));

/** SubmitJob's fields as checked, names resolved to ARNs (all but `parameters`, which the job spec checks). */
export interface CheckedSubmitJob {
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  arraySize: number | undefined;
  retryStrategy: RetryStrategy | undefined;
  timeoutSeconds: number | undefined;
  tags: Record<string, string> | undefined;
  environment: KeyValuePair[];
  /** The registered definition's container logConfiguration (SubmitJob cannot override it). */
  logConfiguration: LogConfiguration | undefined;
}

/** SubmitJob: the job's name, an existing queue and definition, the array size, retries, timeout, tags. */
export function checkSubmitJob(request: SubmitJobRequest, resources: BatchResources): CheckedSubmitJob {
  const jobName = requireString(request.jobName, "jobName");
  if (!jobNamePattern.test(jobName)) {
    throw new BatchClientError(
      `jobName ${JSON.stringify(jobName)} is invalid: up to 128 letters, numbers, hyphens and underscores, starting with a letter or number`,
    );
  }
  const jobQueue = resources.queueArn(requireString(request.jobQueue, "jobQueue"));
  if (!resources.queueExists(jobQueue))
    throw new BatchClientError(`Job queue ${request.jobQueue} does not exist`);
  const definitionInput = requireString(request.jobDefinition, "jobDefinition");
  const registered = resources.registeredDefinition(definitionInput);
  if (resources.definitionsRegistered && !registered) {
    throw new BatchClientError(`Job definition ${definitionInput} does not exist or is not ACTIVE`);
  }
  const size = request.arrayProperties?.size;
  if (
    size !== undefined &&
    !(Number.isInteger(size) && size >= arraySizeLimits.min && size <= arraySizeLimits.max)
  ) {
    throw new BatchClientError(
      `arrayProperties.size must be between ${arraySizeLimits.min} and ${arraySizeLimits.max}, got ${size}`,
    );
  }
  const retryStrategy = checkRetryStrategy(request.retryStrategy ?? registered?.retryStrategy);
  const timeoutSeconds =
    request.timeout?.attemptDurationSeconds ?? registered?.timeout?.attemptDurationSeconds;
  if (
    timeoutSeconds !== undefined &&
    !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= minTimeoutSeconds)
  ) {
    throw new BatchClientError(
      `timeout.attemptDurationSeconds must be at least ${minTimeoutSeconds}, got ${timeoutSeconds}`,
    );
  }
  const tags = checkStringMap(request.tags, "tags");
  if (tags && Object.keys(tags).length > maxTags)
    throw new BatchClientError(`at most ${maxTags} tags are allowed`);
  for (const [key, value] of Object.entries(tags ?? {})) {
    if (key.length > tagLimits.key || value.length > tagLimits.value) {
      throw new BatchClientError(
        `tag ${JSON.stringify(key)} is too long: keys hold at most ${tagLimits.key} characters, values ${tagLimits.value}`,
      );
    }
  }
  const environment = checkEnvironment(request.containerOverrides);
  return {
    jobName,
    jobQueue,
    jobDefinition: resources.definitionArn(definitionInput),
    arraySize: size,
    retryStrategy,
    timeoutSeconds,
    tags,
    environment,
    logConfiguration: registered?.container?.logConfiguration,
  };
}

/** DescribeJobs: a list of at most 100 job IDs. */
export function checkDescribeJobs(input: Record<string, unknown>): string[] {
  const ids = input.jobs;
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
    throw new BatchClientError("jobs must be a list of job IDs");
  }
  if (ids.length > describeJobsLimit) {
    throw new BatchClientError(
      `jobs: at most ${describeJobsLimit} job IDs can be described at once, got ${ids.length}`,
    );
  }
  return ids as string[];
}

/** Which jobs a ListJobs page holds, and how many at most. */
export interface ListJobsQuery {
  matches: (job: Job) => boolean;
  pageSize: number;
}

/** ListJobs: one scope (a queue or an array job), a status or one filter, and a page size. */
export function checkListJobs(request: ListJobsRequest): ListJobsQuery {
  const scopes = [request.jobQueue, request.arrayJobId, request.multiNodeJobId].filter(
    (v) => v !== undefined,
  );
  if (scopes.length !== 1) {
    throw new BatchClientError("Exactly one of jobQueue, arrayJobId or multiNodeJobId must be given");
  }
  if (request.multiNodeJobId !== undefined) {
    throw new BatchClientError("multiNodeJobId: multi-node parallel jobs do not run on Fargate");
  }
  const filters = request.filters ?? [];
  if (filters.length > 1) throw new BatchClientError("Only one filter can be used at a time");
  const match = filters.length === 1 ? filterMatcher(filters[0].name, filters[0].values) : undefined;
  const status = match ? undefined : checkStatus(request.jobStatus ?? "RUNNING", "jobStatus");
  const pageLimit = match ? listPageLimits.filters : listPageLimits.status;
  const maxResults = request.maxResults ?? pageLimit;
  if (!Number.isInteger(maxResults) || maxResults < 1) {
    throw new BatchClientError(`maxResults must be a whole number >= 1, got ${maxResults}`);
  }
  return {
    matches: match ?? ((job: Job): boolean => job.status === status),
    pageSize: Math.min(maxResults, pageLimit),
  };
}

/** TerminateJob and CancelJob: the job and the reason. */
export function checkStopJob(request: TerminateJobRequest | CancelJobRequest): {
  jobId: string;
  reason: string;
} {
  const jobId = requireString(request.jobId, "jobId");
  const reason = requireString(request.reason, "reason");
  return { jobId, reason };
}

export function checkStringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BatchClientError(`${field} must be a map of strings`);
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") throw new BatchClientError(`${field}.${key} must be a string`);
  }
  return { ...(value as Record<string, string>) };
}

/** ListJobs filters: JOB_NAME (case-insensitive, `*` suffix for a prefix), JOB_DEFINITION, created before/after. */
function filterMatcher(name: string | undefined, values: string[] | undefined): (job: Job) => boolean {
  if (!values || values.length !== 1) throw new BatchClientError(`filter ${name} needs exactly one value`);
  const value = values[0];
  switch (name) {
    case "JOB_NAME": {
      const wanted = value.toLowerCase();
      if (wanted.endsWith("*")) {
        const prefix = wanted.slice(0, -1);
        return (job) => job.spec.jobName.toLowerCase().startsWith(prefix);
      }
      return (job) => job.spec.jobName.toLowerCase() === wanted;
    }
    case "JOB_DEFINITION": {
      if (value.startsWith("arn:")) return (job) => job.spec.jobDefinition === value;
      if (value.endsWith("*")) {
        const prefix = value.slice(0, -1);
        return (job) => definitionName(job.spec.jobDefinition).startsWith(prefix);
      }
      return (job) => definitionName(job.spec.jobDefinition) === value;
    }
    case "BEFORE_CREATED_AT":
    case "AFTER_CREATED_AT": {
      const time = Number(value);
      if (!Number.isFinite(time))
        throw new BatchClientError(`filter ${name} needs a time in ms, got ${value}`);
      return name === "BEFORE_CREATED_AT" ? (job) => job.createdAt < time : (job) => job.createdAt > time;
    }
    default:
      throw new BatchClientError(
        `filter name ${name} is not supported; allowed: JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT, AFTER_CREATED_AT`,
      );
  }
}

function checkStatus(value: string, field: string): JobStatus {
  if (!(jobStatuses as readonly string[]).includes(value)) {
    throw new BatchClientError(`${field} ${value} is not one of ${jobStatuses.join(", ")}`);
  }
  return value as JobStatus;
}

function checkEnvironment(overrides: ContainerOverrides | undefined): KeyValuePair[] {
  const environment = overrides?.environment ?? [];
  for (const pair of environment) {
    if (typeof pair.name !== "string" || pair.name.length === 0) {
      throw new BatchClientError("containerOverrides.environment: every variable needs a name");
    }
    // Batch reserves the AWS_BATCH prefix for the variables it sets itself.
    if (pair.name.startsWith("AWS_BATCH")) {
      throw new BatchClientError(
        `containerOverrides.environment: ${pair.name} uses the reserved prefix AWS_BATCH`,
      );
    }
  }
  return environment.map((pair) => ({ name: pair.name, value: pair.value ?? "" }));
}

function checkRetryStrategy(strategy: RetryStrategy | undefined): RetryStrategy | undefined {
  if (!strategy) return undefined;
  const attempts = strategy.attempts ?? 1;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > maxAttempts) {
    throw new BatchClientError(
      `retryStrategy.attempts must be between 1 and ${maxAttempts}, got ${attempts}`,
    );
  }
  const rules: EvaluateOnExit[] = strategy.evaluateOnExit ?? [];
  if (rules.length > maxEvaluateOnExit) {
    throw new BatchClientError(`retryStrategy.evaluateOnExit takes at most ${maxEvaluateOnExit} entries`);
  }
  for (const rule of rules) {
    if (!["RETRY", "EXIT"].includes(String(rule.action).toUpperCase())) {
      throw new BatchClientError(
        `retryStrategy.evaluateOnExit action must be RETRY or EXIT, got ${rule.action}`,
      );
    }
  }
  return { attempts, evaluateOnExit: rules.length > 0 ? rules.map((rule) => ({ ...rule })) : undefined };
}
