/**
 * What to do about a Callback step, decided from its jobs' summary alone (pure): answer success, answer
 * failure (and terminate what still runs), or look again later.
 */
import { failureReasonLimit, truncate } from "./answer";
import type { ExecutionJobs, FailedShard } from "./execution-jobs";
import { nextCheckDelaySeconds, type PollSchedule } from "./poll-schedule";
import { bridgeReasonPrefix, type CallbackOutputs } from "./step-contract";
import { stepOutputValueLimit } from "./submit-arguments";
import {
  defaultMinSuccessRatio,
  failedShardList,
  requiredSuccesses,
  toleratedFailures,
} from "./success-ratio";
import { terminationReasons } from "./terminate";

/** How long the step has waited so far. */
export interface WaitState {
  /** Seconds since SageMaker sent the callback message. */
  ageSeconds: number;
  /** This delivery's ApproximateReceiveCount (1 for the first). */
  receiveCount: number;
  schedule: PollSchedule;
  /** The callback queue's redrive maxReceiveCount. */
  maxReceiveCount: number;
}

export type Decision =
  | { decision: "succeed"; outputs: CallbackOutputs }
  /**
   * Every failure also terminates the execution's unfinished jobs; `terminationReason` is what Batch shows
   * as their status reason.
   */
  | { decision: "fail"; reason: string; terminationReason: string }
  | { decision: "wait"; nextCheckSeconds: number };

/** A visibility timeout ends at most 12 h after the receive; keep room for the monitor's own run (<= 900 s). */
const longestVisibilitySeconds = 43200 - 900;

/**
 * How long after the callback message (sent once the submit step returned, so after its last SubmitJob)
 * a job that cannot be found is taken for one Batch does not list yet rather than a missing one. Batch's
 * reads are eventually consistent and AWS gives no bound; peers wait about two minutes: Airflow's
 * BatchClientHook asks DescribeJobs up to 10 times, backing off for up to about 112 s in all, before it
 * gives up on a job it cannot find.
 */
export const listingGraceSeconds = 120;

/** A decision that answers the step: succeed, or fail (and terminate what still runs). */
export type Outcome = Extract<Decision, { decision: "succeed" | "fail" }>;

/**
 * Decides from the jobs' summary alone: an answer once a shard failed, a job is missing, or every shard
 * succeeded; undefined while shards are still running.
 */
export function decideOutcome(jobs: ExecutionJobs): Outcome | undefined {
  const ratio = jobs.minSuccessRatio ?? defaultMinSuccessRatio;
  if (jobs.failed > toleratedFailures(jobs.shardCount, ratio)) {
    return {
      decision: "fail",
      reason: failedReason(jobs),
      terminationReason: terminationReasons.shardFailed,
    };
  }
  if (jobs.notFoundCount > 0) {
    return {
      decision: "fail",
      reason: notFoundReason(jobs),
      terminationReason: terminationReasons.jobsNotFound,
    };
  }
  if (jobs.terminatedByBridge > 0) {
    // Another check failed or stopped the step and is terminating its jobs: the rest go the same way.
    const reason = jobs.bridgeTerminationReason ?? terminationReasons.shardFailed;
    return { decision: "fail", reason: terminatedReason(jobs), terminationReason: reason };
  }
  const allFinished = jobs.unfinished === 0 && jobs.succeeded + jobs.failed >= jobs.shardCount;
  if (allFinished && jobs.succeeded >= requiredSuccesses(jobs.shardCount, ratio)) {
    const named = jobs.failedShards.flatMap((shard) =>
      shard.shardIndex !== undefined ? [shard.shardIndex] : [],
    );
    return {
      decision: "succeed",
      outputs: {
        Status: "SUCCEEDED",
        SucceededShards: String(jobs.succeeded),
        ShardCount: String(jobs.shardCount),
        JobRef: jobs.jobRef,
        FailedShards: failedShardList(named, jobs.failed, stepOutputValueLimit),
        ...(jobs.outputUri !== undefined ? { OutputUri: jobs.outputUri } : {}),
      },
    };
  }
  return undefined;
}

/** Decides from the jobs' summary and how long the step has waited. */
export function decide(jobs: ExecutionJobs, wait: WaitState): Decision {
  const lastReceives = wait.receiveCount >= wait.maxReceiveCount - 1;
  if (jobs.failed === 0 && jobs.notFoundCount > 0 && wait.ageSeconds < listingGraceSeconds && !lastReceives) {
    // Look again once the grace has passed (or sooner, by the schedule), then trust what Batch says.
    return {
      decision: "wait",
      nextCheckSeconds: Math.min(
        nextCheckDelaySeconds(wait.schedule, wait.receiveCount),
        Math.ceil(listingGraceSeconds - wait.ageSeconds) + 1,
      ),
    };
  }
  const outcome = decideOutcome(jobs);
  if (outcome) return outcome;
  // Answer before SQS gives up on the message: the DLQ after maxReceiveCount receives, or the wait limit
  // (which the stack keeps within the message retention).
  if (wait.ageSeconds >= wait.schedule.maxWaitSeconds || lastReceives) {
    return {
      decision: "fail",
      reason: timedOutReason(jobs, wait),
      terminationReason: terminationReasons.waitEnded,
    };
  }
  return {
    decision: "wait",
    nextCheckSeconds: Math.min(
      nextCheckDelaySeconds(wait.schedule, wait.receiveCount),
      longestVisibilitySeconds,
    ),
  };
}

/** "2 of 100 shards failed: shard 7 (exit code 1: Essential container in task exited), shard 9 (...)". */
export function failedReason(jobs: ExecutionJobs): string {
  const ratio = jobs.minSuccessRatio ?? defaultMinSuccessRatio;
  const head =
    `${jobs.failed} of ${jobs.shardCount} shard${jobs.shardCount === 1 ? "" : "s"} failed` +
    (ratio < 1 ? ` (minSuccessRatio ${ratio} allows ${toleratedFailures(jobs.shardCount, ratio)})` : "");
  if (jobs.failedShards.length === 0) {
    // Batch has not listed the failed children yet.
    return truncate(`${head}; see Batch job ${jobs.jobRef} for the reasons.`, failureReasonLimit);
  }
  return listWithin(`${head}: `, jobs.failedShards.map(describeFailedShard), jobs.failed, failureReasonLimit);
}

/** "sagemaker-batch-bridge terminated 30 of 30 shards (pipeline execution stopped)." */
export function terminatedReason(jobs: ExecutionJobs): string {
  const why = (jobs.bridgeTerminationReason ?? "").slice(bridgeReasonPrefix.length);
  return truncate(
    `sagemaker-batch-bridge terminated ${jobs.terminatedByBridge} of ${jobs.shardCount} ` +
      `shard${jobs.shardCount === 1 ? "" : "s"}${why ? ` (${why})` : ""}.`,
    failureReasonLimit,
  );
}

/** "Jobs not found for 3 of 10 shards: shard 2, shard 5, shard 8 ..." */
export function notFoundReason(jobs: ExecutionJobs): string {
  if (jobs.jobMode === "array") {
    return truncate(
      `Batch job ${jobs.jobRef} of this execution was not found (finished jobs are kept about 7 days).`,
      failureReasonLimit,
    );
  }
  return listWithin(
    `Jobs not found for ${jobs.notFoundCount} of ${jobs.shardCount} shards: `,
    jobs.notFound.map((shard) => `shard ${shard}`),
    jobs.notFoundCount,
    failureReasonLimit,
  );
}

/** The reason when the step has waited as long as it may. */
export function timedOutReason(jobs: ExecutionJobs, wait: WaitState): string {
  const byState = Object.entries(jobs.counts)
    .map(([state, count]) => `${count} ${state}`)
    .join(", ");
  return truncate(
    `Jobs did not finish within ${formatDuration(Math.min(wait.ageSeconds, wait.schedule.maxWaitSeconds))} ` +
      `(maxWaitSeconds ${wait.schedule.maxWaitSeconds}, check ${wait.receiveCount}); terminated the ` +
      `unfinished ones. Shards: ${byState}.`,
    failureReasonLimit,
  );
}

/** The reason when the execution was stopped. */
export function stoppedReason(terminated: number): string {
  return `Pipeline execution stopped; terminated ${terminated} job(s).`;
}

function describeFailedShard(shard: FailedShard): string {
  const name = shard.shardIndex !== undefined ? `shard ${shard.shardIndex}` : `job ${shard.jobId}`;
  const reason = shard.containerReason ?? shard.statusReason;
  const details = [
    shard.exitCode !== undefined ? `exit code ${shard.exitCode}` : undefined,
    reason !== undefined ? truncate(reason, 80) : undefined,
  ].filter((d) => d !== undefined);
  return details.length > 0 ? `${name} (${details.join(": ")})` : name;
}

/** `head` + as many `items` as fit in `limit` characters, then ", and N more". */
function listWithin(head: string, items: readonly string[], total: number, limit: number): string {
  const render = (count: number) => {
    const rest = total - count;
    return head + items.slice(0, count).join(", ") + (rest > 0 ? `, and ${rest} more` : "");
  };
  let count = items.length;
  while (count > 1 && render(count).length > limit) count -= 1;
  return truncate(render(count), limit);
}

function formatDuration(seconds: number): string {
  if (seconds >= 86400) return `${Math.round((seconds / 86400) * 10) / 10} days`;
  if (seconds >= 3600) return `${Math.round((seconds / 3600) * 10) / 10} hours`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds)} seconds`;
}
