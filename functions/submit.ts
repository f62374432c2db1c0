/**
 * The submit function (the pipeline's Lambda step): checks the step's arguments, submits the execution's
 * Batch jobs once, and returns what the Callback step needs to find them again.
 */
import type { BatchClient, SubmitJobCommandInput } from "@aws-sdk/client-batch";
import { describeError, OutOfTimeError } from "./aws-errors";
import {
  BatchCalls,
  createBatchPacers,
  invocationDeadline,
  invocationReserveMs,
  submitsPerSecond,
  terminatesPerSecond,
  type BatchPacers,
  type InvocationContext,
} from "./batch-calls";
import { systemClock, type Clock, type Log } from "./clock";
import { mapWithConcurrency } from "./concurrency";
import { executionJobName, executionTagValue, shardJobName, shardUri } from "./job-names";
import { isUnfinished, latestJobByName, listJobsByName } from "./job-status";
import type { SubmitSettings } from "./settings";
import { executionTagKey, type SubmitOutputs } from "./step-contract";
import { validateSubmitArguments, type ValidSubmitArguments } from "./submit-arguments";
import { terminateJobs, terminationReasons } from "./terminate";

/** SubmitJob calls in flight at once in jobs mode (the container's pacer sets their rate). */
export const submitConcurrency = 8;

/** The submit handler's collaborators. */
export interface SubmitDeps {
  batch: BatchClient;
  settings: SubmitSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
}

/** Builds the submit function's handler. */
export function makeSubmitHandler(
  deps: SubmitDeps,
): (event: unknown, context?: InvocationContext) => Promise<SubmitOutputs> {
  const clock = deps.clock ?? systemClock();
  const pacers = deps.pacers ?? createBatchPacers(clock);
  const { batch, settings, logger } = deps;

  return async (event, context) => {
    const args = validateSubmitArguments(event, settings);
    const calls = new BatchCalls(batch, clock, pacers, invocationDeadline(clock, context));
    const baseName = executionJobName(settings.jobNamePrefix, args.executionId);
    // Jobs from an earlier invocation for this execution are reused, so a repeated call submits no second
    // set; a FAILED job (e.g. terminated by an earlier failed submission) is submitted again.
    const existing = latestJobByName(await listJobsByName(calls, settings.jobQueue, baseName));
    const shardCount = String(args.shardCount);

    if (settings.submitMode === "array") {
      const reusable = existing.get(baseName);
      if (reusable && reusable.status !== "FAILED") {
        logger.info("submit", {
          executionArn: args.executionArn,
          jobMode: "array",
          jobRef: reusable.jobId,
          shardCount: args.shardCount,
          decision: "reused existing job",
        });
        return { jobMode: "array", jobRef: reusable.jobId!, shardCount };
      }
      const submitted = await calls.submitJob(arrayJobInput(settings, args, baseName));
      logger.info("submit", {
        executionArn: args.executionArn,
        jobMode: "array",
        jobRef: submitted.jobId,
        shardCount: args.shardCount,
        decision: args.shardCount === 1 ? "submitted single job" : "submitted array job",
      });
      return { jobMode: "array", jobRef: submitted.jobId!, shardCount };
    }

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
    // Keep the time to terminate what a failed submission leaves running (the jobs submitted now and the
    // unfinished ones reused) at the rate Batch is accepting calls; after a failure, stop every call.
    const submitUntil = () =>
      stopSubmitting
        ? -Infinity
        : calls.deadline -
          ((submittedIds.length + reusedUnfinished) / calls.expectedTerminationsPerSecond()) * 1000;
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
      const cleanup = await terminateExecutionJobs(deps, calls, baseName, submittedIds);
      const message =
        `Submitted ${submittedIds.length} of ${missing.length} jobs, then submission failed ` +
        `(${submissionFailure(error)}); terminated ${cleanup.terminated} job(s) of this execution` +
        (cleanup.failed > 0 ? `, ${cleanup.failed} could not be terminated` : "") +
        ".";
      logger.error("submit", {
        executionArn: args.executionArn,
        jobMode: "jobs",
        jobRef: baseName,
        shardCount: args.shardCount,
        decision: "failed",
        reason: message,
      });
      throw new Error(message);
    }
    logger.info("submit", {
      executionArn: args.executionArn,
      jobMode: "jobs",
      jobRef: baseName,
      shardCount: args.shardCount,
      submitted: submittedIds.length,
      reused: args.shardCount - missing.length,
      decision: "submitted jobs",
    });
    return { jobMode: "jobs", jobRef: baseName, shardCount };
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

/** After a failed submission: terminates every unfinished job of the execution, listed or just submitted. */
async function terminateExecutionJobs(
  deps: SubmitDeps,
  calls: BatchCalls,
  baseName: string,
  submittedIds: readonly string[],
): Promise<{ terminated: number; failed: number }> {
  const ids = new Set(submittedIds);
  try {
    for (const job of await listJobsByName(calls, deps.settings.jobQueue, baseName)) {
      if (job.jobId && isUnfinished(job.status)) ids.add(job.jobId);
    }
  } catch (error) {
    deps.logger.warn("could not list the execution's jobs; terminating those submitted now", {
      jobRef: baseName,
      error: describeError(error),
    });
  }
  const result = await terminateJobs(calls, [...ids], terminationReasons.submissionFailed);
  return { terminated: result.terminated, failed: result.failures.length };
}
