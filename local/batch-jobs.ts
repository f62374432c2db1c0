/**
 * The job scheduler behind the local Batch server: jobs and array children move SUBMITTED -> PENDING ->
 * RUNNABLE -> STARTING -> RUNNING -> SUCCEEDED/FAILED in simulated time, with the durations, failures and
 * capacity a scenario gives, and every state change is announced as the EventBridge event AWS sends.
 *
 * Each job has at most one pending state change, kept in one heap ordered by simulated time, and one clock
 * timer wakes the heap, so a 10,000-child array job costs 10,000 heap entries, not 10,000 timers. Every read
 * first applies the changes due by now, so answers never lag the clock, and each change carries the
 * simulated time it was due at, not the time it was applied.
 */
import type {
  AttemptDetail,
  CancelJobRequest,
  ContainerOverrides,
  EvaluateOnExit,
  JobDetail,
  JobSummary,
  KeyValuePair,
  ListJobsRequest,
  ListJobsResponse,
  RetryStrategy,
  SubmitJobRequest,
  SubmitJobResponse,
  TerminateJobRequest,
} from "@aws-sdk/client-batch";
import { randomUUID } from "node:crypto";
import type { SimClock, SimTimer } from "./clock";
import { MinHeap } from "./min-heap";
import { randomString } from "./random";

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

/** What a scenario sees of a job when it decides how an attempt goes. */
export interface ScenarioJob {
  jobId: string;
  jobName: string;
  /** Job queue ARN. */
  jobQueue: string;
  /** Job definition ARN. */
  jobDefinition: string;
  /** Array children only: the child's index (`AWS_BATCH_JOB_ARRAY_INDEX`). */
  arrayIndex?: number;
  parameters: Record<string, string>;
  /** `containerOverrides.environment` as a map. */
  environment: Record<string, string>;
  /** 1 for the first attempt. */
  attempt: number;
}

/** How a failing attempt ends. */
export interface AttemptFailure {
  /**
   * The container's exit code. Leave it out for a failure outside the container (the instance went away,
   * the image could not be pulled): an infrastructure failure, which a retry strategy usually retries.
   */
  exitCode?: number;
  /** `container.reason`, e.g. "OutOfMemoryError: Container killed due to memory usage". */
  reason?: string;
  /** The job's `statusReason`; default "Essential container in task exited" with an exit code, else `reason`. */
  statusReason?: string;
}

/** Retry strategy and timeout of a registered job definition, which SubmitJob may override. */
export interface JobDefinitionSettings {
  retryStrategy?: RetryStrategy;
  timeout?: { attemptDurationSeconds?: number };
}

/** How jobs behave: durations, failures and capacity, all in simulated time. */
export interface BatchScenario {
  /** How long each attempt runs (RUNNING), in simulated ms (default 60,000). */
  jobDurationMs?: number | ((job: ScenarioJob) => number);
  /** Time spent in each state before the next one, in simulated ms. */
  stateDurationsMs?: Partial<Record<"SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING", number>>;
  /** How an attempt fails, or undefined when it succeeds (default: every attempt succeeds). */
  attemptFailure?: (job: ScenarioJob) => AttemptFailure | undefined;
  /** At most this many jobs STARTING or RUNNING at once; the others wait RUNNABLE (default: no limit). */
  maxConcurrentJobs?: number;
  /**
   * Registered job definitions by name (or ARN): their retry strategy and timeout apply unless SubmitJob
   * overrides them. When given, SubmitJob with any other definition is a ClientException.
   */
  jobDefinitions?: Record<string, JobDefinitionSettings>;
  /** Job queue names (or ARNs) that exist; when given, SubmitJob to any other is a ClientException. */
  jobQueues?: string[];
  /**
   * How long a submitted job stays out of DescribeJobs and ListJobs answers, in simulated ms (default 0):
   * Batch's reads are eventually consistent, and a job just submitted may not be listed or described yet.
   */
  listingLagMs?: number;
}

/** The EventBridge event AWS Batch sends on a job state change. */
export interface BatchJobStateChangeEvent {
  version: "0";
  id: string;
  "detail-type": "Batch Job State Change";
  source: "aws.batch";
  account: string;
  /** Simulated time of the change, ISO 8601. */
  time: string;
  region: string;
  resources: string[];
  /** The job as DescribeJobs returns it at that moment. */
  detail: JobDetail;
}

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

/** A request Batch rejects as the caller's fault; the server answers it as a 400 ClientException. */
export class BatchClientError extends Error {
  override readonly name = "ClientException";
}

const defaultStateDurationsMs = { SUBMITTED: 1_000, PENDING: 1_000, RUNNABLE: 10_000, STARTING: 20_000 };
const defaultJobDurationMs = 60_000;
/** Array jobs: 2 to 10,000 children. */
const arraySizeLimits = { min: 2, max: 10_000 };
/** DescribeJobs takes at most 100 job IDs a call. */
export const describeJobsLimit = 100;
/** ListJobs pages: up to 1,000 jobs with a status, up to 100 with a filter. */
const listPageLimits = { status: 1000, filters: 100 };
/** TerminateJobs/CancelJobs take at most 50 jobs a call. */
export const bulkJobsLimit = 50;
const maxAttempts = 10;
const maxEvaluateOnExit = 5;
const minTimeoutSeconds = 60;
const maxTags = 50;
/** Tag keys hold at most 128 characters and values 256 (Batch User Guide, "Tag restrictions"). */
const tagLimits = { key: 128, value: 256 };
const jobNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const exitStatusReason = "Essential container in task exited";
const timeoutStatusReason = "Job attempt duration exceeded timeout";

/** What SubmitJob fixed for a job, shared by an array's children. */
interface JobSpec {
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
}

/**
 * A job's state. Every job is built by `newJob` with the same fields in the same order, so that tens of
 * thousands of them share one object shape and stay cheap to read.
 */
interface Job {
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
  attempt:
    { startedAt: number; failure?: AttemptFailure; timedOut: boolean; logStreamName: string } | undefined;
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

function newJob(
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

interface PendingChange {
  at: number;
  order: number;
  job: Job;
  version: number;
}

/** The simulated jobs of one Batch account and region. */
export class BatchJobs {
  private readonly jobs: Job[] = [];
  private readonly byId = new Map<string, Job>();
  private readonly changes = new MinHeap<PendingChange>(
    (a, b) => a.at < b.at || (a.at === b.at && a.order < b.order),
  );
  private changeOrder = 0;
  private readonly waiting: Job[] = [];
  private waitingHead = 0;
  private slotsInUse = 0;
  private readonly units: Record<JobStatus, number> = emptySummary();
  private lastStop: number | undefined;
  private readonly listeners = new Set<(event: BatchJobStateChangeEvent) => void>();
  private timer: SimTimer | undefined;
  private timerAt: number | undefined;
  private applying = false;
  private tasks = 0;
  private readonly stateMs: Record<"SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING", number>;
  private readonly definitions = new Map<string, JobDefinitionSettings>();
  private readonly queues: Set<string> | undefined;

  constructor(
    private readonly clock: SimClock,
    private readonly scenario: BatchScenario,
    private readonly identity: { region: string; accountId: string },
    private readonly random: () => number,
  ) {
    this.stateMs = { ...defaultStateDurationsMs };
    for (const [state, ms] of Object.entries(scenario.stateDurationsMs ?? {})) {
      if (!(state in defaultStateDurationsMs)) {
        throw new Error(
          `scenario.stateDurationsMs: unknown state ${state}; allowed: SUBMITTED, PENDING, RUNNABLE, STARTING`,
        );
      }
      checkDuration(`scenario.stateDurationsMs.${state}`, ms);
      this.stateMs[state as keyof typeof defaultStateDurationsMs] = ms;
    }
    if (typeof scenario.jobDurationMs === "number")
      checkDuration("scenario.jobDurationMs", scenario.jobDurationMs);
    if (scenario.listingLagMs !== undefined) checkDuration("scenario.listingLagMs", scenario.listingLagMs);
    const limit = scenario.maxConcurrentJobs;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new Error(`scenario.maxConcurrentJobs must be a whole number >= 1, got ${limit}`);
    }
    for (const [name, settings] of Object.entries(scenario.jobDefinitions ?? {})) {
      this.definitions.set(definitionName(name), settings);
    }
    this.queues = scenario.jobQueues && new Set(scenario.jobQueues.map((queue) => this.queueArn(queue)));
  }

  /** Subscribes to state-change events (every change but the initial SUBMITTED, as AWS); returns unsubscribe. */
  onStateChange(listener: (event: BatchJobStateChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** SubmitJob. */
  submit(request: SubmitJobRequest): SubmitJobResponse {
    this.applyDueChanges();
    const now = this.clock.now();
    const jobName = requireString(request.jobName, "jobName");
    if (!jobNamePattern.test(jobName)) {
      throw new BatchClientError(
        `jobName ${JSON.stringify(jobName)} is invalid: up to 128 letters, numbers, hyphens and underscores, starting with a letter or number`,
      );
    }
    const jobQueue = this.queueArn(requireString(request.jobQueue, "jobQueue"));
    if (this.queues && !this.queues.has(jobQueue))
      throw new BatchClientError(`Job queue ${request.jobQueue} does not exist`);
    const definitionInput = requireString(request.jobDefinition, "jobDefinition");
    const registered = this.definitions.get(definitionName(definitionInput));
    if (this.definitions.size > 0 && !registered) {
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

    const jobId = this.newJobId();
    const job = newJob({
      seq: this.jobs.length,
      jobId,
      jobArn: this.arn("job", jobId),
      spec: {
        jobName,
        jobQueue,
        jobDefinition: this.definitionArn(definitionInput),
        parameters: checkStringMap(request.parameters, "parameters") ?? {},
        environment,
        command: request.containerOverrides?.command,
        tags,
        propagateTags: request.propagateTags,
        retryStrategy,
        timeoutSeconds,
      },
      status: "SUBMITTED",
      createdAt: now,
      parent: undefined,
      arrayIndex: undefined,
      array: size === undefined ? undefined : { size, summary: emptySummary(), finished: 0, failed: 0 },
    });
    this.jobs.push(job);
    this.byId.set(jobId, job);
    this.units.SUBMITTED += size ?? 1;
    this.schedule(job, now + this.stateMs.SUBMITTED);
    this.armTimer();
    return { jobArn: job.jobArn, jobName, jobId };
  }

  /** DescribeJobs: the jobs found, in the order asked; unknown IDs are left out. */
  describe(jobIds: readonly string[]): JobDetail[] {
    this.applyDueChanges();
    const found: JobDetail[] = [];
    const listedSince = this.listedSince();
    for (const id of jobIds) {
      const job = this.find(id);
      if (job && (job.parent ?? job).createdAt <= listedSince) found.push(this.detail(job));
    }
    return found;
  }

  /** ListJobs: a job queue's jobs (newest first) or an array job's children (by index). */
  list(request: ListJobsRequest): ListJobsResponse {
    this.applyDueChanges();
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
    const match = filters.length === 1 ? this.filterMatcher(filters[0].name, filters[0].values) : undefined;
    const status = match ? undefined : checkStatus(request.jobStatus ?? "RUNNING", "jobStatus");
    const pageLimit = match ? listPageLimits.filters : listPageLimits.status;
    const maxResults = request.maxResults ?? pageLimit;
    if (!Number.isInteger(maxResults) || maxResults < 1) {
      throw new BatchClientError(`maxResults must be a whole number >= 1, got ${maxResults}`);
    }
    const pageSize = Math.min(maxResults, pageLimit);
    const cursor = request.nextToken === undefined ? undefined : decodeToken(request.nextToken);
    const page: JobSummary[] = [];
    let next: number | undefined;

    const listedSince = this.listedSince();
    const wanted = (job: Job): boolean =>
      (job.parent ?? job).createdAt <= listedSince && (match ? match(job) : job.status === status);
    if (request.arrayJobId !== undefined) {
      const children = this.byId.get(request.arrayJobId)?.array?.children ?? [];
      for (let i = cursor ?? 0; i < children.length; i += 1) {
        if (!wanted(children[i])) continue;
        if (page.length === pageSize) {
          next = i;
          break;
        }
        page.push(this.summary(children[i]));
      }
    } else {
      const queue = this.queueArn(request.jobQueue ?? "");
      for (let seq = Math.min(cursor ?? this.jobs.length - 1, this.jobs.length - 1); seq >= 0; seq -= 1) {
        const job = this.jobs[seq];
        if (job.spec.jobQueue !== queue || !wanted(job)) continue;
        if (page.length === pageSize) {
          next = seq;
          break;
        }
        page.push(this.summary(job));
      }
    }
    return { jobSummaryList: page, nextToken: next === undefined ? undefined : encodeToken(next) };
  }

  /** TerminateJob: fails STARTING/RUNNING jobs, cancels earlier ones, cascades from an array parent. */
  terminate(request: TerminateJobRequest): void {
    this.stopJob(request, "terminate");
  }

  /** CancelJob: fails SUBMITTED/PENDING/RUNNABLE jobs; STARTING/RUNNING ones go on (the call still succeeds). */
  cancel(request: CancelJobRequest): void {
    this.stopJob(request, "cancel");
  }

  /** Jobs not yet SUCCEEDED or FAILED, counting array children (not parents) and separate jobs. */
  jobsLeftRunning(): number {
    this.applyDueChanges();
    return jobStatuses.reduce((sum, s) => sum + this.units[s], 0) - this.units.SUCCEEDED - this.units.FAILED;
  }

  /** Jobs by state, counting array children (not parents) and separate jobs. */
  countsByState(): Record<JobStatus, number> {
    this.applyDueChanges();
    return { ...this.units };
  }

  /** Every submitted job (array parents, not their children), oldest first. */
  snapshot(): JobSnapshot[] {
    this.applyDueChanges();
    return this.jobs.map((job) => ({
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
    }));
  }

  /** Simulated time the last job (or child) ended, or undefined while none has. */
  lastStoppedAt(): number | undefined {
    this.applyDueChanges();
    return this.lastStop;
  }

  /** Stops the clock timer; jobs stay as they are. */
  stop(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  // --- state machine ---

  private schedule(job: Job, at: number): void {
    this.changes.push({ at, order: this.changeOrder++, job, version: job.version });
  }

  /** Applies every state change due by now, in time order. */
  private applyDueChanges(): void {
    if (this.applying) return;
    this.applying = true;
    try {
      const now = this.clock.now();
      for (let change = this.changes.peek(); change && change.at <= now; change = this.changes.peek()) {
        this.changes.pop();
        if (change.version === change.job.version) this.advance(change.job, change.at);
      }
    } finally {
      this.applying = false;
    }
    this.armTimer();
  }

  /** One clock timer, set for the earliest pending change. */
  private armTimer(): void {
    let next = this.changes.peek();
    while (next && next.version !== next.job.version) {
      this.changes.pop();
      next = this.changes.peek();
    }
    if (next?.at === this.timerAt && this.timer) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next?.at;
    if (next) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.applyDueChanges();
      }, next.at - this.clock.now());
    }
  }

  /** The job's next step, due at `at`. */
  private advance(job: Job, at: number): void {
    switch (job.status) {
      case "SUBMITTED":
        if (job.array) this.spawnChildren(job, at);
        else this.enter(job, "PENDING", at, this.stateMs.PENDING);
        break;
      case "PENDING":
        this.enter(job, "RUNNABLE", at, this.stateMs.RUNNABLE);
        break;
      case "RUNNABLE":
        this.queueForSlot(job, at);
        break;
      case "STARTING":
        this.startAttempt(job, at);
        break;
      case "RUNNING":
        this.endAttempt(job, at);
        break;
      default:
        break;
    }
  }

  /** Array parents spawn their children in PENDING once SUBMITTED ends; the parent stays SUBMITTED. */
  private spawnChildren(parent: Job, at: number): void {
    const array = parent.array!;
    array.children = [];
    for (let index = 0; index < array.size; index += 1) {
      const child = newJob({
        seq: -1,
        jobId: `${parent.jobId}:${index}`,
        jobArn: `${parent.jobArn}:${index}`,
        spec: parent.spec,
        status: "PENDING",
        createdAt: at,
        parent,
        arrayIndex: index,
        array: undefined,
      });
      array.children.push(child);
      array.summary.PENDING += 1;
      this.schedule(child, at + this.stateMs.PENDING);
    }
    array.summaryUpdatedAt = at;
    this.units.SUBMITTED -= array.size;
    this.units.PENDING += array.size;
    for (const child of array.children) this.announce(child, at);
  }

  /** Moves a job to `status` at `at` and schedules its next step `afterMs` later. */
  private enter(job: Job, status: JobStatus, at: number, afterMs?: number): void {
    this.setStatus(job, status, at);
    if (afterMs !== undefined) this.schedule(job, at + afterMs);
  }

  /** RUNNABLE long enough: start now if capacity allows, else wait in line. */
  private queueForSlot(job: Job, at: number): void {
    const limit = this.scenario.maxConcurrentJobs;
    if (limit === undefined || this.slotsInUse < limit) {
      this.takeSlot(job, at);
    } else {
      this.waiting.push(job);
    }
  }

  private takeSlot(job: Job, at: number): void {
    job.holdsSlot = true;
    this.slotsInUse += 1;
    this.enter(job, "STARTING", at, this.stateMs.STARTING);
  }

  private releaseSlot(job: Job, at: number): void {
    if (!job.holdsSlot) return;
    job.holdsSlot = false;
    this.slotsInUse -= 1;
    const limit = this.scenario.maxConcurrentJobs ?? Infinity;
    while (this.slotsInUse < limit && this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead++];
      // Cancelled or terminated while waiting: its place is simply skipped.
      if (next.status === "RUNNABLE" && !next.holdsSlot) this.takeSlot(next, at);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private startAttempt(job: Job, at: number): void {
    const info = this.scenarioJob(job);
    const failure = this.scenario.attemptFailure?.(info);
    const duration =
      typeof this.scenario.jobDurationMs === "function"
        ? this.scenario.jobDurationMs(info)
        : (this.scenario.jobDurationMs ?? defaultJobDurationMs);
    checkDuration(`jobDurationMs for ${job.jobId}`, duration);
    const timeoutMs = job.spec.timeoutSeconds === undefined ? Infinity : job.spec.timeoutSeconds * 1000;
    const timedOut = duration > timeoutMs;
    job.attempt = { startedAt: at, failure, timedOut, logStreamName: this.logStreamName(job) };
    job.startedAt = at;
    this.enter(job, "RUNNING", at, timedOut ? timeoutMs : duration);
  }

  private endAttempt(job: Job, at: number): void {
    const { startedAt, failure, timedOut, logStreamName } = job.attempt!;
    job.attempt = undefined;
    const exitCode = timedOut ? undefined : failure ? failure.exitCode : 0;
    const containerReason = timedOut ? undefined : failure?.reason;
    const statusReason = timedOut
      ? timeoutStatusReason
      : failure
        ? (failure.statusReason ?? (failure.exitCode !== undefined ? exitStatusReason : failure.reason))
        : exitStatusReason;
    job.attempts.push({
      container: { exitCode, reason: containerReason, logStreamName },
      startedAt,
      stoppedAt: at,
      statusReason,
    });
    job.exitCode = exitCode;
    job.containerReason = containerReason;
    job.statusReason = statusReason;
    const failed = timedOut || failure !== undefined;
    // Timed-out attempts are not retried; other failures follow the retry strategy.
    if (failed && !timedOut && this.retries(job, statusReason, exitCode, containerReason)) {
      this.enter(job, "RUNNABLE", at, this.stateMs.RUNNABLE);
    } else {
      job.stoppedAt = at;
      this.setStatus(job, failed ? "FAILED" : "SUCCEEDED", at);
    }
    // The slot frees once the job has left RUNNING, so no one sees more jobs running than the limit.
    this.releaseSlot(job, at);
  }

  /** AWS rules: retry while attempts remain and the first matching evaluateOnExit says RETRY (no match: retry). */
  private retries(
    job: Job,
    statusReason: string | undefined,
    exitCode: number | undefined,
    reason: string | undefined,
  ): boolean {
    if (job.attempts.length >= (job.spec.retryStrategy?.attempts ?? 1)) return false;
    for (const rule of job.spec.retryStrategy?.evaluateOnExit ?? []) {
      const matches =
        globMatches(rule.onStatusReason, statusReason) &&
        globMatches(rule.onReason, reason) &&
        globMatches(rule.onExitCode, exitCode === undefined ? undefined : String(exitCode));
      if (matches) return rule.action?.toUpperCase() === "RETRY";
    }
    return true;
  }

  private stopJob(request: TerminateJobRequest | CancelJobRequest, kind: "terminate" | "cancel"): void {
    this.applyDueChanges();
    const jobId = requireString(request.jobId, "jobId");
    const reason = requireString(request.reason, "reason");
    const job = this.find(jobId);
    // Unknown jobs are not an error (AWS documents the same for TerminateJobs/CancelJobs).
    if (!job || isTerminal(job.status)) return;
    const at = this.clock.now();
    if (job.array) {
      if (!job.array.children) {
        // Stopped before spawning its children: none will ever run.
        job.version += 1;
        job.statusReason = reason;
        job.stoppedAt = at;
        this.units.SUBMITTED -= job.array.size;
        this.units.FAILED += job.array.size;
        this.setStatus(job, "FAILED", at);
      } else {
        const children = job.array.children;
        if (children.some((child) => canStop(child.status, kind))) job.statusReason = reason;
        for (const child of children) this.stopOne(child, reason, kind, at);
      }
    } else {
      this.stopOne(job, reason, kind, at);
    }
    this.armTimer();
  }

  private stopOne(job: Job, reason: string, kind: "terminate" | "cancel", at: number): void {
    if (!canStop(job.status, kind)) return;
    job.version += 1;
    if (job.status === "RUNNING" && job.attempt) {
      job.attempts.push({
        container: { logStreamName: job.attempt.logStreamName },
        startedAt: job.attempt.startedAt,
        stoppedAt: at,
        statusReason: reason,
      });
      job.attempt = undefined;
    }
    job.statusReason = reason;
    job.stoppedAt = at;
    this.setStatus(job, "FAILED", at);
    this.releaseSlot(job, at);
  }

  /** Records a state change: counters, the parent's summary and state, and the event. */
  private setStatus(job: Job, status: JobStatus, at: number): void {
    const previous = job.status;
    job.status = status;
    if (!job.array) {
      this.units[previous] -= 1;
      this.units[status] += 1;
      if (isTerminal(status)) this.lastStop = Math.max(this.lastStop ?? at, at);
    }
    this.announce(job, at);
    const parent = job.parent;
    if (!parent?.array) return;
    const array = parent.array;
    array.summary[previous] -= 1;
    array.summary[status] += 1;
    array.summaryUpdatedAt = at;
    // The parent shows PENDING from its first RUNNABLE child until every child has ended.
    if (parent.status === "SUBMITTED" && status === "RUNNABLE") this.setStatus(parent, "PENDING", at);
    if (isTerminal(status)) {
      array.finished += 1;
      if (status === "FAILED") array.failed += 1;
      if (array.finished === array.size && !isTerminal(parent.status)) {
        parent.stoppedAt = at;
        this.setStatus(parent, array.failed > 0 ? "FAILED" : "SUCCEEDED", at);
      }
    }
  }

  private announce(job: Job, at: number): void {
    if (this.listeners.size === 0) return;
    const event: BatchJobStateChangeEvent = {
      version: "0",
      id: randomUUID(),
      "detail-type": "Batch Job State Change",
      source: "aws.batch",
      account: this.identity.accountId,
      time: new Date(at).toISOString(),
      region: this.identity.region,
      resources: [job.jobArn],
      detail: this.detail(job),
    };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A listener's bug must not stall the scheduler; it still surfaces as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  // --- views ---

  /** Reads show the jobs (an array child: its parent) submitted by this time (`listingLagMs` ago). */
  private listedSince(): number {
    return this.clock.now() - (this.scenario.listingLagMs ?? 0);
  }

  private find(jobId: string): Job | undefined {
    const job = this.byId.get(jobId);
    if (job) return job;
    const colon = jobId.lastIndexOf(":");
    if (colon <= 0) return undefined;
    const index = jobId.slice(colon + 1);
    if (!/^\d+$/.test(index)) return undefined;
    return this.byId.get(jobId.slice(0, colon))?.array?.children?.[Number(index)];
  }

  private detail(job: Job): JobDetail {
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
        job.spec.timeoutSeconds === undefined
          ? undefined
          : { attemptDurationSeconds: job.spec.timeoutSeconds },
      dependsOn: [],
      jobDefinition: job.spec.jobDefinition,
      parameters: { ...job.spec.parameters },
      container: {
        command: job.spec.command,
        environment: job.spec.environment.map((pair) => ({ ...pair })),
        exitCode: job.array ? undefined : job.exitCode,
        reason: job.array ? undefined : job.containerReason,
        logStreamName: job.attempt?.logStreamName ?? job.attempts.at(-1)?.container?.logStreamName,
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

  private summary(job: Job): JobSummary {
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

  private scenarioJob(job: Job): ScenarioJob {
    return {
      jobId: job.jobId,
      jobName: job.spec.jobName,
      jobQueue: job.spec.jobQueue,
      jobDefinition: job.spec.jobDefinition,
      arrayIndex: job.arrayIndex,
      parameters: { ...job.spec.parameters },
      environment: Object.fromEntries(
        job.spec.environment.map((pair) => [pair.name ?? "", pair.value ?? ""]),
      ),
      attempt: job.attempts.length + 1,
    };
  }

  /** ListJobs filters: JOB_NAME (case-insensitive, `*` suffix for a prefix), JOB_DEFINITION, created before/after. */
  private filterMatcher(name: string | undefined, values: string[] | undefined): (job: Job) => boolean {
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

  private newJobId(): string {
    const hex = randomString(this.random, 32, "0123456789abcdef");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** `<definition>/default/<task id>`, as the awslogs driver names a Fargate attempt's stream. */
  private logStreamName(job: Job): string {
    this.tasks += 1;
    return `${definitionName(job.spec.jobDefinition)}/default/${this.tasks.toString(16).padStart(32, "0")}`;
  }

  private arn(kind: string, name: string): string {
    return `arn:aws:batch:${this.identity.region}:${this.identity.accountId}:${kind}/${name}`;
  }

  private queueArn(queue: string): string {
    return queue.startsWith("arn:") ? queue : this.arn("job-queue", queue);
  }

  private definitionArn(definition: string): string {
    if (definition.startsWith("arn:")) return definition;
    return this.arn("job-definition", definition.includes(":") ? definition : `${definition}:1`);
  }
}

function emptySummary(): Record<JobStatus, number> {
  return { SUBMITTED: 0, PENDING: 0, RUNNABLE: 0, STARTING: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0 };
}

function isTerminal(status: JobStatus): boolean {
  return status === "SUCCEEDED" || status === "FAILED";
}

/** TerminateJob stops any unfinished job; CancelJob only those not yet STARTING. */
function canStop(status: JobStatus, kind: "terminate" | "cancel"): boolean {
  if (isTerminal(status)) return false;
  return kind === "terminate" || (status !== "STARTING" && status !== "RUNNING");
}

/** `name`, `name:3` or `arn:...:job-definition/name:3` -> `name`. */
function definitionName(definition: string): string {
  const afterSlash = definition.slice(definition.lastIndexOf("/") + 1);
  return afterSlash.replace(/:\d+$/, "");
}

/** A Batch pattern: exact, or a prefix when it ends with `*`; an unset pattern matches anything. */
function globMatches(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined) return true;
  if (value === undefined) return false;
  return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

function checkDuration(field: string, ms: unknown): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new Error(`${field} must be a number of simulated ms >= 0, got ${String(ms)}`);
  }
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw new BatchClientError(`${field} is required`);
  return value;
}

function checkStatus(value: string, field: string): JobStatus {
  if (!(jobStatuses as readonly string[]).includes(value)) {
    throw new BatchClientError(`${field} ${value} is not one of ${jobStatuses.join(", ")}`);
  }
  return value as JobStatus;
}

function checkStringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new BatchClientError(`${field} must be a map of strings`);
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") throw new BatchClientError(`${field}.${key} must be a string`);
  }
  return { ...(value as Record<string, string>) };
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

function encodeToken(position: number): string {
  return Buffer.from(JSON.stringify({ position }), "utf8").toString("base64url");
}

function decodeToken(token: string): number {
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
