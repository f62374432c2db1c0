/**
 * The submit function (the pipeline's Lambda step): checks the step's arguments, submits the execution's
 * Batch jobs once (one claim per execution in the status table), and returns what the Callback step needs
 * to find them again.
 */
import type { BatchClient, SubmitJobCommandInput } from "@aws-sdk/client-batch";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { describeError, OutOfTimeError } from "./aws-errors";
import {
  BatchCalls,
  clockAndPacers,
  invocationDeadline,
  invocationReserveMs,
  submitsPerSecond,
  terminatesPerSecond,
  type BatchPacers,
  type InvocationContext,
} from "./batch-calls";
import type { Clock } from "./clock";
import type { Log } from "./log";
import { mapWithConcurrency } from "./concurrency";
import { requestCleanup, terminateExecutionJobs } from "./execution-cleanup";
import { executionJobName, executionTagValue, shardJobName, shardUri } from "./job-names";
import { isUnfinished, latestJobByName, listJobsByName } from "./execution-jobs";
import { settingsOfKind, type SubmitSettings } from "./settings";
import type { StatusTable } from "./status-table-items";
import { executionTagKey, type JobMode, type SubmitOutputs } from "./step-contract";
import {
  claimOrAwaitSubmission,
  recordSubmissionFailed,
  recordSubmitted,
  submissionLeaseMarginMs,
} from "./submission-claim";
import { validateSubmitArguments, type ValidSubmitArguments } from "./submit-arguments";
import { terminateJobs, terminationReasons } from "./terminate";

/** SubmitJob calls in flight at once in jobs mode (the container's pacer sets their rate). */
export const submitConcurrency = 8;

/** The submit handler's collaborators. */
export interface SubmitDeps {
  batch: BatchClient;
  /** The status table's client: submissions are claimed there. */
  dynamodb: DynamoDBClient;
  /** The clean-up queue's client: a failed submission hands it the jobs it could not terminate in time. */
  sqs: SQSClient;
  settings: SubmitSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
}

/** One submission: its arguments, its Batch calls and the execution's job name. */
interface Submission {
  args: ValidSubmitArguments;
  /** The settings of the step's job kind. */
  settings: SubmitSettings;
  calls: BatchCalls;
  baseName: string;
  context: InvocationContext | undefined;
}

/**
 * Builds the submit function's handler. One call per execution submits: it claims the submission in the
 * status table; a call made while another holds the claim waits for it and returns the same outputs.
 */
export function makeSubmitHandler(
  deps: SubmitDeps,
): (event: unknown, context?: InvocationContext) => Promise<SubmitOutputs> {
  const { clock, pacers } = clockAndPacers(deps);
  const { logger } = deps;
  const table: StatusTable = { dynamodb: deps.dynamodb, tableName: deps.settings.statusTable };

  return async (event, context) => {
    const args = validateSubmitArguments(event, deps.settings);
    // The step's kind decides the job definition and the submit mode.
    const settings = settingsOfKind(deps.settings, args.jobKind);
    const calls = new BatchCalls(deps.batch, clock, pacers, invocationDeadline(clock, context));
    const baseName = executionJobName(settings.jobNamePrefix, args.executionId, args.stepName);
    const logContext = {
      executionArn: args.executionArn,
      jobKind: args.jobKind,
      jobMode: settings.submitMode,
      shardCount: args.shardCount,
    };
    // The claim lasts as long as this invocation may run, and a margin.
    const leaseUntil = calls.deadline + invocationReserveMs + submissionLeaseMarginMs;
    const turn = await claimOrAwaitSubmission(table, baseName, clock, calls.deadline, leaseUntil);
    if (!turn.submit) {
      logger.info("submit", {
        ...logContext,
        jobRef: turn.outputs.jobRef,
        decision: "returned the execution's submission",
      });
      return turn.outputs;
    }
    if (turn.tookOver) {
      logger.warn("took over a submission whose invocation ended before it finished", {
        ...logContext,
        jobRef: baseName,
      });
    }
    const submission: Submission = { args, settings, calls, baseName, context };
    try {
      const outputs =
        settings.submitMode === "array"
          ? await submitArrayJob(submission)
          : await submitShardJobs(submission);
      await endClaim(() => recordSubmitted(table, baseName, turn.claimId, outputs, clock.now()), logContext);
      return outputs;
    } catch (error) {
      const reason = describeError(error);
      await endClaim(
        () => recordSubmissionFailed(table, baseName, turn.claimId, reason, clock.now()),
        logContext,
      );
      logger.error("submit", { ...logContext, jobRef: baseName, decision: "failed", reason });
      throw error;
    }
  };

  /**
   * After a failed submission: terminates the execution's unfinished jobs (listed, and those just submitted,
   * which Batch may not list yet) until the invocation's deadline, and hands what is left to the clean-up
   * function through its queue, so that the clean-up never outlives the function. Says what became of them.
   */
  async function cleanUpFailedSubmission(
    { args, settings }: Submission,
    calls: BatchCalls,
    submittedIds: readonly string[],
  ): Promise<string> {
    const reason = terminationReasons.submissionFailed;
    let terminated: number;
    let left: number | "the rest";
    try {
      const pass = await terminateExecutionJobs(calls, settings, args.executionArn, reason, submittedIds);
      terminated = pass.terminated;
      left = pass.left.length;
    } catch (error) {
      logger.warn("could not list the execution's jobs; terminating those submitted now", {
        executionArn: args.executionArn,
        error: describeError(error),
      });
      const result = await terminateJobs(calls, submittedIds, reason);
      terminated = result.terminated;
      left = "the rest";
    }
    const done = `terminated ${terminated} job(s) of this execution`;
    if (left === 0) return done;
    const request = { executionArn: args.executionArn, reason, endedAt: clock.now(), round: 1 };
    try {
      await requestCleanup(deps.sqs, settings.cleanupQueueUrl, request);
    } catch (error) {
      // The execution ends Failed with this step, and its status-change event starts the same clean-up.
      logger.error("could not hand the clean-up over to its queue", {
        executionArn: args.executionArn,
        error: describeError(error),
      });
    }
    return `${done}; the clean-up function terminates ${left === "the rest" ? left : `the ${left} left`}`;
  }

  /** Marks the claim ended; on an error, waiting calls take the claim over once its lease is over. */
  async function endClaim(end: () => Promise<boolean>, logContext: Record<string, unknown>) {
    try {
      if (!(await end())) logger.warn("the submission claim was taken over before it ended", logContext);
    } catch (error) {
      logger.warn("could not record the end of the submission claim", {
        ...logContext,
        error: describeError(error),
      });
    }
  }

  /** Array mode: the execution's array (or single) job, reused unless it FAILED. */
  async function submitArrayJob({ args, settings, calls, baseName }: Submission): Promise<SubmitOutputs> {
    const logContext = {
      executionArn: args.executionArn,
      jobKind: args.jobKind,
      jobMode: "array",
      shardCount: args.shardCount,
    };
    // A job from an earlier invocation for this execution is reused, so a repeated call submits no second
    // one; a FAILED job (e.g. terminated by an earlier failed submission) is submitted again.
    const existing = latestJobByName(await listJobsByName(calls, settings.jobQueue, baseName)).get(baseName);
    if (existing && existing.status !== "FAILED") {
      logger.info("submit", { ...logContext, jobRef: existing.jobId, decision: "reused existing job" });
      return stepOutputs(args, baseName, "array", existing.jobId!);
    }
    const submitted = await calls.submitJob(arrayJobInput(settings, args, baseName));
    logger.info("submit", {
      ...logContext,
      jobRef: submitted.jobId,
      decision: args.shardCount === 1 ? "submitted single job" : "submitted array job",
    });
    return stepOutputs(args, baseName, "array", submitted.jobId!);
  }

  /** Jobs mode: one job per shard; shards with a job from an earlier invocation that did not fail keep it. */
  async function submitShardJobs(submission: Submission): Promise<SubmitOutputs> {
    const { args, settings, calls, baseName, context } = submission;
    const existing = latestJobByName(await listJobsByName(calls, settings.jobQueue, baseName));
    const missing: number[] = [];
    let reusedUnfinished = 0;
    for (let shard = 0; shard < args.shardCount; shard++) {
      const job = existing.get(shardJobName(baseName, shard));
      if (!job || job.status === "FAILED") missing.push(shard);
      else if (isUnfinished(job.status)) reusedUnfinished += 1;
    }
    checkTimeToSubmit(missing.length, context);

    const submittedIds: string[] = [];
    let stopSubmitting = false;
    // Keep the time to clean up what a failed submission leaves running (the jobs submitted now and the
    // unfinished ones reused) at the rate Batch is accepting calls; after a failure, stop every call.
    const submitUntil = () =>
      stopSubmitting
        ? -Infinity
        : calls.deadline - calls.expectedCleanupMs(submittedIds.length + reusedUnfinished);
    try {
      await mapWithConcurrency(missing, submitConcurrency, async (shard) => {
        try {
          const input = shardJobInput(settings, args, baseName, shard);
          submittedIds.push((await calls.submitJob(input, submitUntil)).jobId!);
        } catch (error) {
          stopSubmitting = true;
          throw error;
        }
      });
    } catch (error) {
      const cleanup = await cleanUpFailedSubmission(submission, calls, submittedIds);
      throw new Error(
        `Submitted ${submittedIds.length} of ${missing.length} jobs, then submission failed ` +
          `(${submissionFailure(error)}); ${cleanup}.`,
      );
    }
    logger.info("submit", {
      executionArn: args.executionArn,
      jobKind: args.jobKind,
      jobMode: "jobs",
      jobRef: baseName,
      shardCount: args.shardCount,
      submitted: submittedIds.length,
      reused: args.shardCount - missing.length,
      decision: "submitted jobs",
    });
    return stepOutputs(args, baseName, "jobs", baseName);
  }
}

/** What the step returns, and every later call for the execution's step returns too. */
function stepOutputs(
  args: ValidSubmitArguments,
  baseName: string,
  jobMode: JobMode,
  jobRef: string,
): SubmitOutputs {
  return {
    jobMode,
    jobRef,
    shardCount: String(args.shardCount),
    jobName: baseName,
    outputUri: args.outputUri,
    minSuccessRatio: String(args.minSuccessRatio),
  };
}

/** Why submission stopped, for the step's failure reason. */
function submissionFailure(error: unknown): string {
  if (error instanceof OutOfTimeError && error.operation === "SubmitJob") {
    return (
      "Batch accepted too few SubmitJob calls to submit every shard within the function's time, the rest " +
      "of which is kept to clean up" +
      (error.lastError !== undefined ? `; the last refusal: ${describeError(error.lastError)}` : "")
    );
  }
  return describeError(error);
}

function taggedJob(
  settings: SubmitSettings,
  args: ValidSubmitArguments,
): Pick<SubmitJobCommandInput, "jobQueue" | "jobDefinition" | "tags" | "propagateTags"> {
  return {
    jobQueue: settings.jobQueue,
    jobDefinition: settings.jobDefinition,
    // IAM lets the functions terminate only jobs with this tag; it also names the execution in the console.
    tags: { [executionTagKey]: executionTagValue(args.executionArn) },
    propagateTags: true,
  };
}

/** Array mode: one array job of N children (N >= 2), or a single job for one shard. */
export function arrayJobInput(
  settings: SubmitSettings,
  args: ValidSubmitArguments,
  baseName: string,
): SubmitJobCommandInput {
  const single = args.shardCount === 1;
  const environment = [{ name: "BRIDGE_SHARD_COUNT", value: String(args.shardCount) }];
  // A single job has no AWS_BATCH_JOB_ARRAY_INDEX (and Batch reserves the AWS_BATCH prefix): say shard 0.
  if (single) environment.push({ name: "BRIDGE_SHARD_INDEX", value: "0" });
  return {
    jobName: baseName,
    ...taggedJob(settings, args),
    ...(single ? {} : { arrayProperties: { size: args.shardCount } }),
    parameters: {
      inputUri: args.inputUri,
      outputUri: args.outputUri,
      shardCount: String(args.shardCount),
      // Children share their parameters, so Ref::shardIndex cannot carry a child's index. Overriding the job
      // definition's default ("0") with the variable's name means a command run through a shell gets the
      // index, and any other command fails on a non-number instead of every child processing shard 0.
      shardIndex: single ? "0" : "$AWS_BATCH_JOB_ARRAY_INDEX",
    },
    containerOverrides: { environment },
  };
}

/** Jobs mode: shard `shard`'s own job, with its own input and output objects. */
export function shardJobInput(
  settings: SubmitSettings,
  args: ValidSubmitArguments,
  baseName: string,
  shard: number,
): SubmitJobCommandInput {
  return {
    jobName: shardJobName(baseName, shard),
    ...taggedJob(settings, args),
    parameters: {
      inputUri: shardUri(args.inputUri, shard),
      outputUri: shardUri(args.outputUri, shard),
      shardIndex: String(shard),
      shardCount: String(args.shardCount),
    },
    containerOverrides: {
      environment: [
        { name: "BRIDGE_SHARD_INDEX", value: String(shard) },
        { name: "BRIDGE_SHARD_COUNT", value: String(args.shardCount) },
      ],
    },
  };
}

/**
 * Refuses up front a submission that cannot finish, with its clean-up, within the function's time, so a
 * large jobs-mode run fails before it starts rather than half-way.
 */
function checkTimeToSubmit(jobCount: number, context: InvocationContext | undefined): void {
  if (!context || jobCount === 0) return;
  const needed =
    (jobCount / submitsPerSecond) * 1000 + (jobCount / terminatesPerSecond) * 1000 + invocationReserveMs;
  const remaining = context.getRemainingTimeInMillis();
  if (remaining < needed) {
    throw new Error(
      `Submitting ${jobCount} jobs one by one takes up to ${Math.ceil(needed / 1000)} s ` +
        `(${submitsPerSecond} SubmitJob/s under the account quota of 50/s, and as long again to terminate ` +
        `them should submission fail), but the function has ${Math.floor(remaining / 1000)} s left: ` +
        `raise submitTimeoutSeconds (at most 600) or use submitMode "array" (one SubmitJob call). ` +
        `No job was submitted.`,
    );
  }
}
