/**
 * The job scheduler behind the local Batch server: jobs and array children move SUBMITTED -> RUNNABLE ->
 * STARTING -> RUNNING -> SUCCEEDED/FAILED in simulated time, with the durations, failures and capacity a
 * scenario gives, and every state change is announced as the EventBridge event AWS sends. PENDING is for
 * jobs that wait on dependencies ("Job states", AWS Batch User Guide); jobs here have none, so only an array
 * parent shows it, while its children run.
 *
 * Each job has at most one pending state change, kept in one heap ordered by simulated time, and one clock
 * timer wakes the heap, so a 10,000-child array job costs 10,000 heap entries, not 10,000 timers. Every read
 * first applies the changes due by now, so answers never lag the clock, and each change carries the
 * simulated time it was due at, not the time it was applied.
 */
import type {
  CancelJobRequest,
  JobDetail,
  ListJobsRequest,
  ListJobsResponse,
  SubmitJobRequest,
  SubmitJobResponse,
  TerminateJobRequest,
} from "@aws-sdk/client-batch";
import type { SimClock, SimTimer } from "../time/clock";
import { MinHeap } from "../time/min-heap";
import { randomString } from "../time/random";
import { endAttempt, retryStrategyRetries } from "./attempts";
import { ComputeCapacity } from "./capacity";
import { containerLaunch } from "./container-launch";
import {
  canStop,
  emptySummary,
  isTerminal,
  jobStatuses,
  newJob,
  type Job,
  type JobStatus,
} from "./job-record";
import { checkListJobs, checkStopJob, checkStringMap, checkSubmitJob } from "./requests";
import { BatchResources, definitionName } from "./resources";
import {
  checkScenario,
  planAttempt,
  type AttemptFailure,
  type BatchScenario,
  type ContainerExit,
  type ContainerRuntime,
  type TimedState,
} from "./scenario";
import type { RunningAttempt } from "./attempts";
import { jobStateChangeEvent, StateChangeListeners, type BatchJobStateChangeEvent } from "./state-events";
import {
  decodePageToken,
  encodePageToken,
  jobDetail,
  jobSnapshot,
  jobSummary,
  scenarioJob,
  type JobSnapshot,
} from "./views";

interface PendingChange {
  at: number;
  order: number;
  job: Job;
  version: number;
}

/** The simulated jobs of one Batch account and region. */
export class JobScheduler {
  private readonly jobs: Job[] = [];
  private readonly byId = new Map<string, Job>();
  private readonly changes = new MinHeap<PendingChange>(
    (a, b) => a.at < b.at || (a.at === b.at && a.order < b.order),
  );
  private changeOrder = 0;
  private readonly capacity: ComputeCapacity;
  private readonly units: Record<JobStatus, number> = emptySummary();
  /** Jobs a TerminateJob or CancelJob call stopped (FAILED among `units`). */
  private stoppedByCall = 0;
  private lastStop: number | undefined;
  private readonly listeners = new StateChangeListeners();
  private timer: SimTimer | undefined;
  private timerAt: number | undefined;
  private applying = false;
  private tasks = 0;
  private readonly stateMs: Record<TimedState, number>;
  private readonly resources: BatchResources;

  constructor(
    private readonly clock: SimClock,
    private readonly scenario: BatchScenario,
    private readonly identity: { region: string; accountId: string },
    private readonly random: () => number,
  ) {
    this.stateMs = checkScenario(scenario);
    this.capacity = new ComputeCapacity(scenario.maxConcurrentJobs);
    this.resources = new BatchResources(identity, scenario);
  }

  /** Subscribes to state-change events (every change but the initial SUBMITTED, as AWS); returns unsubscribe. */
  onStateChange(listener: (event: BatchJobStateChangeEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** SubmitJob. */
  submit(request: SubmitJobRequest): SubmitJobResponse {
    this.applyDueChanges();
    const now = this.clock.now();
    const checked = checkSubmitJob(request, this.resources);
    const size = checked.arraySize;
    const jobId = this.newJobId();
    const job = newJob({
      seq: this.jobs.length,
      jobId,
      jobArn: this.resources.arn("job", jobId),
      spec: {
        jobName: checked.jobName,
        jobQueue: checked.jobQueue,
        jobDefinition: checked.jobDefinition,
        parameters: checkStringMap(request.parameters, "parameters") ?? {},
        environment: checked.environment,
        command: request.containerOverrides?.command,
        tags: checked.tags,
        propagateTags: request.propagateTags,
        retryStrategy: checked.retryStrategy,
        timeoutSeconds: checked.timeoutSeconds,
        logConfiguration: checked.logConfiguration,
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
    return { jobArn: job.jobArn, jobName: checked.jobName, jobId };
  }

  /** DescribeJobs: the jobs found, in the order asked; unknown IDs are left out. */
  describe(jobIds: readonly string[]): JobDetail[] {
    this.applyDueChanges();
    const found: JobDetail[] = [];
    const listedSince = this.listedSince();
    for (const id of jobIds) {
      const job = this.find(id);
      if (job && (job.parent ?? job).createdAt <= listedSince) found.push(jobDetail(job));
    }
    return found;
  }

  /** ListJobs: a job queue's jobs (newest first) or an array job's children (by index). */
  list(request: ListJobsRequest): ListJobsResponse {
    this.applyDueChanges();
    const { matches: matchesRequest, pageSize } = checkListJobs(request);
    const listedSince = this.listedSince();
    const matches = (job: Job): boolean =>
      (job.parent ?? job).createdAt <= listedSince && matchesRequest(job);
    const cursor = request.nextToken === undefined ? undefined : decodePageToken(request.nextToken);
    const page: Job[] = [];
    let next: number | undefined;
    if (request.arrayJobId !== undefined) {
      const children = this.byId.get(request.arrayJobId)?.array?.children ?? [];
      for (let i = cursor ?? 0; i < children.length; i += 1) {
        if (!matches(children[i])) continue;
        if (page.length === pageSize) {
          next = i;
          break;
        }
        page.push(children[i]);
      }
    } else {
      const queue = this.resources.queueArn(request.jobQueue ?? "");
      for (let seq = Math.min(cursor ?? this.jobs.length - 1, this.jobs.length - 1); seq >= 0; seq -= 1) {
        const job = this.jobs[seq];
        if (job.spec.jobQueue !== queue || !matches(job)) continue;
        if (page.length === pageSize) {
          next = seq;
          break;
        }
        page.push(job);
      }
    }
    return {
      jobSummaryList: page.map(jobSummary),
      nextToken: next === undefined ? undefined : encodePageToken(next),
    };
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
    return this.jobs.map(jobSnapshot);
  }

  /** Jobs (children and separate jobs) a TerminateJob or CancelJob call stopped: Batch shows them FAILED. */
  terminatedJobs(): number {
    this.applyDueChanges();
    return this.stoppedByCall;
  }

  /** Simulated time the last job (or child) ended, or undefined while none has. */
  lastStoppedAt(): number | undefined {
    this.applyDueChanges();
    return this.lastStop;
  }

  /**
   * Ends a RUNNING job's attempt now, as its container exiting would: failing with `failure`, else
   * succeeding; the retry strategy applies as to any attempt. For tests that decide when each job ends.
   */
  endAttemptNow(jobId: string, failure?: AttemptFailure): void {
    this.applyDueChanges();
    const job = this.find(jobId);
    if (!job?.attempt || job.status !== "RUNNING") {
      throw new Error(`endAttemptNow: job ${jobId} is ${job ? job.status : "unknown"}, not RUNNING`);
    }
    // The attempt's scheduled end is dropped, as a stop drops it.
    job.version += 1;
    job.attempt = { ...job.attempt, failure, timedOut: false };
    this.endAttempt(job, this.clock.now());
    this.armTimer();
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
        // The scheduler found no dependency: the job is ready to run.
        if (job.array) this.spawnChildren(job, at);
        else this.enter(job, "RUNNABLE", at, this.stateMs.RUNNABLE);
        break;
      case "RUNNABLE":
        if (this.capacity.request(job)) this.enter(job, "STARTING", at, this.stateMs.STARTING);
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

  /**
   * Array parents spawn their children, RUNNABLE, once SUBMITTED ends (the children have no dependencies);
   * the parent then shows PENDING until every child has ended.
   */
  private spawnChildren(parent: Job, at: number): void {
    const array = parent.array!;
    array.children = [];
    for (let index = 0; index < array.size; index += 1) {
      const child = newJob({
        seq: -1,
        jobId: `${parent.jobId}:${index}`,
        jobArn: `${parent.jobArn}:${index}`,
        spec: parent.spec,
        status: "RUNNABLE",
        createdAt: at,
        parent,
        arrayIndex: index,
        array: undefined,
      });
      array.children.push(child);
      array.summary.RUNNABLE += 1;
      this.schedule(child, at + this.stateMs.RUNNABLE);
    }
    array.summaryUpdatedAt = at;
    this.units.SUBMITTED -= array.size;
    this.units.RUNNABLE += array.size;
    this.setStatus(parent, "PENDING", at);
    for (const child of array.children) this.announce(child, at);
  }

  /** Moves a job to `status` at `at` and schedules its next step `afterMs` later. */
  private enter(job: Job, status: JobStatus, at: number, afterMs?: number): void {
    this.setStatus(job, status, at);
    if (afterMs !== undefined) this.schedule(job, at + afterMs);
  }

  private startAttempt(job: Job, at: number): void {
    const timeoutMs = job.spec.timeoutSeconds === undefined ? Infinity : job.spec.timeoutSeconds * 1000;
    if (this.scenario.containers) {
      this.startContainer(job, at, timeoutMs, this.scenario.containers);
      return;
    }
    const { failure, durationMs } = planAttempt(this.scenario, scenarioJob(job));
    const timedOut = durationMs > timeoutMs;
    job.attempt = { startedAt: at, failure, timedOut, logStreamName: this.logStreamName(job) };
    job.startedAt = at;
    this.enter(job, "RUNNING", at, timedOut ? timeoutMs : durationMs);
  }

  /**
   * Starts the attempt's real container. The attempt ends when it exits; the change scheduled here is its
   * timeout, which stops the container as Batch does (the job FAILED, never retried).
   */
  private startContainer(job: Job, at: number, timeoutMs: number, runtime: ContainerRuntime): void {
    const launch = containerLaunch(job, this.resources.registeredDefinition(job.spec.jobDefinition), {
      region: this.identity.region,
      jobQueueName: job.spec.jobQueue.slice(job.spec.jobQueue.lastIndexOf("/") + 1),
      computeEnvironmentName: this.scenario.computeEnvironmentName ?? "local",
    });
    const attempt: RunningAttempt = { startedAt: at, timedOut: true, logStreamName: this.logStreamName(job) };
    job.attempt = attempt;
    job.startedAt = at;
    this.enter(job, "RUNNING", at, Number.isFinite(timeoutMs) ? timeoutMs : undefined);
    attempt.container = runtime.start(launch, (exit) => this.containerExited(job, attempt, exit));
  }

  /** A container exited: its attempt ends now, unless a timeout or a stop ended it already. */
  private containerExited(job: Job, attempt: RunningAttempt, exit: ContainerExit): void {
    this.applyDueChanges();
    if (job.attempt !== attempt) return;
    attempt.container = undefined;
    // The attempt's scheduled timeout is dropped.
    job.version += 1;
    const failed = exit.exitCode !== 0;
    job.attempt = {
      ...attempt,
      failure: failed ? { exitCode: exit.exitCode, reason: exit.reason } : undefined,
      timedOut: false,
    };
    this.endAttempt(job, this.clock.now());
    this.armTimer();
  }

  private endAttempt(job: Job, at: number): void {
    // A timeout (or a test) ends an attempt whose container still runs: it is stopped.
    job.attempt!.container?.stop();
    const ended = endAttempt(job.attempt!, at);
    job.attempt = undefined;
    job.attempts.push(ended.detail);
    job.exitCode = ended.exitCode;
    job.containerReason = ended.containerReason;
    job.statusReason = ended.statusReason;
    // Timed-out attempts are not retried; other failures follow the retry strategy.
    if (
      ended.failed &&
      !ended.timedOut &&
      retryStrategyRetries(job.spec.retryStrategy, job.attempts.length, ended)
    ) {
      this.enter(job, "RUNNABLE", at, this.stateMs.RUNNABLE);
    } else {
      job.stoppedAt = at;
      this.setStatus(job, ended.failed ? "FAILED" : "SUCCEEDED", at);
    }
    // The slot frees once the job has left RUNNING, so no one sees more jobs running than the limit.
    this.releaseSlot(job, at);
  }

  private releaseSlot(job: Job, at: number): void {
    for (const next of this.capacity.release(job)) this.enter(next, "STARTING", at, this.stateMs.STARTING);
  }

  private stopJob(request: TerminateJobRequest | CancelJobRequest, kind: "terminate" | "cancel"): void {
    this.applyDueChanges();
    const { jobId, reason } = checkStopJob(request);
    const job = this.find(jobId);
    // Batch answers 200 for a job it does not know (aws/aws-cli#2551) or that has already ended.
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
        this.stoppedByCall += job.array.size;
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
      job.attempt.container?.stop();
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
    if (!job.array) this.stoppedByCall += 1;
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
    if (!this.listeners.listening) return;
    this.listeners.announce(jobStateChangeEvent(jobDetail(job), this.identity, at));
  }

  // --- lookups and names ---

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

  private newJobId(): string {
    const hex = randomString(this.random, 32, "0123456789abcdef");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /**
   * `<prefix>/default/<task id>`, as the awslogs driver names a Fargate attempt's stream: the prefix is the
   * definition's awslogs-stream-prefix, else (Batch's default) the definition's name.
   */
  private logStreamName(job: Job): string {
    this.tasks += 1;
    const prefix =
      job.spec.logConfiguration?.options?.["awslogs-stream-prefix"] ?? definitionName(job.spec.jobDefinition);
    return `${prefix}/default/${this.tasks.toString(16).padStart(32, "0")}`;
  }
}
