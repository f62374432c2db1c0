/**
 * Batch as the functions call it. Every attempt, first or retry, takes a slot of a pacer, one per kind of
 * call and per container, at a fixed rate: SubmitJob, TerminateJob, and the reads (ListJobs,
 * DescribeJobs). Throttled and transient errors are retried while the invocation has time left, not a
 * fixed number of times. The SDK client makes a single attempt (entrypoints.ts), so these are the only
 * retries, and nothing lowers a rate on a 429: AWS throttles every caller sharing the account's quota, and
 * a caller that slows down only gets less done.
 */
import {
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  type BatchClient,
  type DescribeJobsCommandOutput,
  type ListJobsCommandInput,
  type ListJobsCommandOutput,
  type SubmitJobCommandInput,
  type SubmitJobCommandOutput,
} from "@aws-sdk/client-batch";
import { isTransientError, OutOfTimeError } from "./aws-errors";
import { systemClock, type Clock } from "./clock";
import { createPacer, type Pacer } from "./concurrency";

/** SubmitJob calls per second in jobs mode: under the fixed 50/s account quota, leaving room for others. */
export const submitsPerSecond = 40;
/** TerminateJob calls per second, below the account's Batch API rate (SubmitJob's quota is 50/s). */
export const terminatesPerSecond = 40;
/** ListJobs and DescribeJobs calls per second: a page of 100 jobs each, 10,000 shards in 5 s. */
export const readsPerSecond = 20;
/** DescribeJobs takes at most 100 job IDs a call, and ListJobs with a name filter lists 100 a page. */
export const describeJobsLimit = 100;

/** Time an invocation keeps free after its last Batch call: to answer, record, log and return. */
export const invocationReserveMs = 10_000;

/** The longest a Lambda invocation runs (900 s): the time budget of a handler called without a context. */
export const longestInvocationMs = 900_000;

/** The part of the Lambda context the handlers use: how long the invocation may still run. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * The epoch ms after which the invocation starts no new Batch call: its end, less `invocationReserveMs`.
 * Without a context (tests, scripts), the longest invocation Lambda allows.
 */
export function invocationDeadline(clock: Clock, context: InvocationContext | undefined): number {
  const remaining = context ? context.getRemainingTimeInMillis() : longestInvocationMs;
  return clock.now() + remaining - invocationReserveMs;
}

/** The container's pacers: created once per container, shared by every invocation it runs. */
export interface BatchPacers {
  submit: Pacer;
  terminate: Pacer;
  read: Pacer;
}

export function createBatchPacers(clock: Clock): BatchPacers {
  return {
    submit: createPacer(submitsPerSecond, clock),
    terminate: createPacer(terminatesPerSecond, clock),
    read: createPacer(readsPerSecond, clock),
  };
}

/**
 * A handler's clock and Batch pacers: those its deps give (tests, local mode), else the system clock and
 * pacers of the handler's own, one set per container.
 */
export function clockAndPacers(given: { clock?: Clock; pacers?: BatchPacers }): {
  clock: Clock;
  pacers: BatchPacers;
} {
  const clock = given.clock ?? systemClock();
  return { clock, pacers: given.pacers ?? createBatchPacers(clock) };
}

/**
 * One invocation's Batch calls: paced and retried until `deadline`, when a call that still could not get
 * through fails with an OutOfTimeError (transient: a later invocation may try again). Other errors are
 * thrown at once.
 */
export class BatchCalls {
  private attempts = 0;
  private accepted = 0;

  constructor(
    readonly batch: BatchClient,
    readonly clock: Clock,
    private readonly pacers: BatchPacers,
    /** Epoch ms: no attempt starts after it. */
    readonly deadline: number,
  ) {}

  /** Milliseconds until the deadline (negative once past). */
  timeLeftMs(): number {
    return this.deadline - this.clock.now();
  }

  /**
   * SubmitJob, retried until `giveUpAt()` (read before every attempt; by default the deadline), so that a
   * caller can keep time for what must follow, or stop every call in flight at once.
   */
  submitJob(
    input: SubmitJobCommandInput,
    giveUpAt: () => number = () => this.deadline,
  ): Promise<SubmitJobCommandOutput> {
    return this.paced("SubmitJob", this.pacers.submit, giveUpAt, () =>
      this.batch.send(new SubmitJobCommand(input)),
    );
  }

  async terminateJob(jobId: string, reason: string): Promise<void> {
    await this.paced(
      "TerminateJob",
      this.pacers.terminate,
      () => this.deadline,
      () => this.batch.send(new TerminateJobCommand({ jobId, reason })),
    );
  }

  listJobs(input: ListJobsCommandInput): Promise<ListJobsCommandOutput> {
    return this.paced(
      "ListJobs",
      this.pacers.read,
      () => this.deadline,
      () => this.batch.send(new ListJobsCommand(input)),
    );
  }

  describeJobs(jobIds: string[]): Promise<DescribeJobsCommandOutput> {
    return this.paced(
      "DescribeJobs",
      this.pacers.read,
      () => this.deadline,
      () => this.batch.send(new DescribeJobsCommand({ jobs: jobIds })),
    );
  }

  /**
   * How long terminating `jobCount` jobs of an execution takes at the rate Batch is accepting this
   * invocation's calls: listing and describing them (100 a call each) and terminating each one, every
   * attempt at its pace, as many attempts a call as the share Batch has accepted so far implies.
   */
  expectedCleanupMs(jobCount: number): number {
    // One accepted attempt assumed, so that the first estimate is unthrottled and a throttled one finite.
    const acceptedShare = (this.accepted + 1) / (this.attempts + 1);
    const reads = 2 * Math.ceil(jobCount / describeJobsLimit);
    const seconds = jobCount / this.pacers.terminate.perSecond + reads / this.pacers.read.perSecond;
    return (seconds / acceptedShare) * 1000;
  }

  private async paced<T>(
    operation: string,
    pacer: Pacer,
    giveUpAt: () => number,
    request: () => Promise<T>,
  ): Promise<T> {
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      if (!(await pacer.take(giveUpAt()))) throw new OutOfTimeError(operation, attempt - 1, lastError);
      this.attempts += 1;
      try {
        const result = await request();
        this.accepted += 1;
        return result;
      } catch (error) {
        if (!isTransientError(error)) throw error;
        // The next attempt waits for its slot like any other call: the pace is the back-off.
        lastError = error;
      }
    }
  }
}
