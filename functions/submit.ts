/**
 * The submit function (the pipeline's Lambda step): checks the step's arguments, submits the execution's
 * Batch jobs once, and returns what the Callback step needs to find them again.
 */
import { SubmitJobCommand, type BatchClient, type SubmitJobCommandInput } from "@aws-sdk/client-batch";
import { describeError, retryThrottled } from "./aws-errors";
import { systemClock, type Clock, type Log } from "./clock";
import { createRateLimiter, mapWithConcurrency } from "./concurrency";
import { executionJobName, executionTagValue, shardJobName, shardUri } from "./job-names";
import { isUnfinished, latestJobByName, listJobsByName } from "./job-status";
import { settingsOfKind, type SubmitSettings } from "./settings";
import { executionTagKey, type JobMode, type SubmitOutputs } from "./step-contract";
import { validateSubmitArguments, type ValidSubmitArguments } from "./submit-arguments";
import { terminateJobs, terminatesPerSecond, terminationReasons } from "./terminate";

/** SubmitJob calls per second in jobs mode: under the fixed 50/s account quota, leaving room for others. */
export const submitsPerSecond = 40;
/** SubmitJob calls in flight at once in jobs mode. */
export const submitConcurrency = 8;
/** Time kept free at the end of an invocation, for logging and returning. */
const reserveMilliseconds = 10_000;

/** The submit handler's collaborators. */
export interface SubmitDeps {
  batch: BatchClient;
  settings: SubmitSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
}

/** The part of the Lambda context the handler uses: how long it may still run. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/** Builds the submit function's handler. */
export function makeSubmitHandler(
  deps: SubmitDeps,
): (event: unknown, context?: InvocationContext) => Promise<SubmitOutputs> {
  const clock = deps.clock ?? systemClock();
  const { batch, logger } = deps;

  return async (event, context) => {
    const args = validateSubmitArguments(event, deps.settings);
    // The step's kind decides the job definition and the submit mode.
    const settings = settingsOfKind(deps.settings, args.jobKind);
    const baseName = executionJobName(settings.jobNamePrefix, args.executionId, args.stepName);
    // Jobs from an earlier invocation for this execution are reused, so a repeated call submits no second
    // set; a FAILED job (e.g. terminated by an earlier failed submission) is submitted again.
    const existing = latestJobByName(await listJobsByName(batch, settings.jobQueue, baseName, clock));
    const shardCount = String(args.shardCount);
    const outputs = (jobMode: JobMode, jobRef: string): SubmitOutputs => ({
      jobMode,
      jobRef,
      shardCount,
      jobName: baseName,
      outputUri: args.outputUri,
    });

    if (settings.submitMode === "array") {
      const reusable = existing.get(baseName);
      if (reusable && reusable.status !== "FAILED") {
        logger.info("submit", {
          executionArn: args.executionArn,
          jobKind: args.jobKind,
          jobMode: "array",
          jobRef: reusable.jobId,
          shardCount: args.shardCount,
          decision: "reused existing job",
        });
        return outputs("array", reusable.jobId!);
      }
      const submitted = await retryThrottled(
        () => batch.send(new SubmitJobCommand(arrayJobInput(settings, args, baseName))),
        clock,
      );
      logger.info("submit", {
        executionArn: args.executionArn,
        jobKind: args.jobKind,
        jobMode: "array",
        jobRef: submitted.jobId,
        shardCount: args.shardCount,
        decision: args.shardCount === 1 ? "submitted single job" : "submitted array job",
      });
      return outputs("array", submitted.jobId!);
    }

    const missing: number[] = [];
    for (let shard = 0; shard < args.shardCount; shard++) {
      const job = existing.get(shardJobName(baseName, shard));
      if (!job || job.status === "FAILED") missing.push(shard);
    }
    checkTimeToSubmit(missing.length, context);

    const submittedIds: string[] = [];
    const acquire = createRateLimiter(submitsPerSecond, clock);
    try {
      await mapWithConcurrency(missing, submitConcurrency, async (shard) => {
        // Keep time to terminate what was submitted if the rest cannot be submitted in time.
        const needed = (submittedIds.length / terminatesPerSecond) * 1000 + reserveMilliseconds;
        if (context && context.getRemainingTimeInMillis() < needed) {
          throw new Error("the function ran out of time (SubmitJob was throttled)");
        }
        await acquire();
        const submitted = await retryThrottled(
          () => batch.send(new SubmitJobCommand(shardJobInput(settings, args, baseName, shard))),
          clock,
        );
        submittedIds.push(submitted.jobId!);
      });
    } catch (error) {
      const cleanup = await terminateExecutionJobs(deps, clock, baseName, submittedIds);
      const message =
        `Submitted ${submittedIds.length} of ${missing.length} jobs, then submission failed ` +
        `(${describeError(error)}); terminated ${cleanup.terminated} job(s) of this execution` +
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
      jobKind: args.jobKind,
      jobMode: "jobs",
      jobRef: baseName,
      shardCount: args.shardCount,
      submitted: submittedIds.length,
      reused: args.shardCount - missing.length,
      decision: "submitted jobs",
    });
    return outputs("jobs", baseName);
  };
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
    (jobCount / submitsPerSecond) * 1000 + (jobCount / terminatesPerSecond) * 1000 + reserveMilliseconds;
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
  clock: Clock,
  baseName: string,
  submittedIds: readonly string[],
): Promise<{ terminated: number; failed: number }> {
  const ids = new Set(submittedIds);
  try {
    for (const job of await listJobsByName(deps.batch, deps.settings.jobQueue, baseName, clock)) {
      if (job.jobId && isUnfinished(job.status)) ids.add(job.jobId);
    }
  } catch (error) {
    deps.logger.warn("could not list the execution's jobs; terminating those submitted now", {
      jobRef: baseName,
      error: describeError(error),
    });
  }
  const result = await terminateJobs(deps.batch, [...ids], terminationReasons.submissionFailed, clock);
  return { terminated: result.terminated, failed: result.failures.length };
}
