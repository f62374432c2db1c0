/**
 * The job-event function: takes Batch's job state-change events (one EventBridge event per invocation)
 * and answers a waiting Callback step as soon as its last job ended or more of its shards failed than its
 * minSuccessRatio tolerates, with the monitor's reasons, clean-up and outputs. What it learns before the step's callback message arrives is
 * recorded in the status table, where the monitor's first check finds it.
 *
 * Errors that may pass (throttling, 5xx, network) are thrown, so Lambda's asynchronous invocation retries
 * the event; events that are not Batch job state changes are logged and dropped.
 */
import type { BatchClient } from "@aws-sdk/client-batch";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SageMakerClient } from "@aws-sdk/client-sagemaker";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { describeError } from "./aws-errors";
import {
  BatchCalls,
  clockAndPacers,
  invocationDeadline,
  type BatchPacers,
  type InvocationContext,
} from "./batch-calls";
import type { Clock } from "./clock";
import type { Log } from "./log";
import { decideOutcome } from "./decision";
import { parseJobStateChange, type JobStateChange } from "./batch-job-state-event";
import {
  countBelow,
  findExecutionJobs,
  isTerminatedByBridge,
  type ExecutionJobs,
  type JobObservations,
} from "./execution-jobs";
import type { JobEventSettings } from "./settings";
import { makeStepSettler, outcomeResolution, type StepSettler } from "./settlement";
import {
  isBeingAnswered,
  jobsRefOf,
  readStep,
  readStepAndShards,
  recordFinishedJob,
  recordShardFinished,
  shardBucket,
  shardsPerBucket,
  type FinishedShards,
  type StatusTable,
  type StepRecord,
} from "./status-table-items";
import { defaultMinSuccessRatio, toleratedFailures } from "./success-ratio";

/** The job-event handler's collaborators. */
export interface JobEventDeps {
  batch: BatchClient;
  sagemaker: SageMakerClient;
  sqs: SQSClient;
  /** Writes step reports under each step's outputUri (functions/step-report.ts); without it, none. */
  s3?: S3Client;
  dynamodb: DynamoDBClient;
  settings: JobEventSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
}

/** What became of one event (also the `decision` of its log line). */
export type JobEventDecision =
  /** Not a Batch job state-change event. */
  | "dropped"
  /** Another queue, another stack's job, a state that is not final, an array child's success. */
  | "ignored"
  /** Written to the status table; nothing to answer yet (or no callback message yet). */
  | "recorded"
  | "succeeded"
  | "failed"
  /** The step was answered before, or another claimant is answering it. */
  | "already answered"
  | "being answered"
  /** Batch's view, with the event, does not settle the step (a stale event): the monitor checks on. */
  | "undecided";

/** What the job-event function's functions share in one container. */
interface JobEventContext {
  deps: JobEventDeps;
  settings: JobEventSettings;
  clock: Clock;
  statusTable: StatusTable;
  settler: StepSettler;
}

/** A handled event's decision, with what the log line adds. */
interface EventOutcome {
  decision: JobEventDecision;
  details?: Record<string, unknown>;
}

/** Builds the job-event function's handler. */
export function makeJobEventHandler(
  deps: JobEventDeps,
): (event: unknown, context?: InvocationContext) => Promise<{ decision: JobEventDecision }> {
  const { clock, pacers } = clockAndPacers(deps);
  const { settings } = deps;
  const statusTable: StatusTable = { dynamodb: deps.dynamodb, tableName: settings.statusTable };
  const settler = makeStepSettler({
    ...deps,
    clock,
    statusTable,
    callbackQueueUrl: settings.callbackQueueUrl,
    claimant: "job-event",
  });
  const handler: JobEventContext = { deps, settings, clock, statusTable, settler };
  return (event, invocation) =>
    handleEvent(
      handler,
      new BatchCalls(deps.batch, clock, pacers, invocationDeadline(clock, invocation)),
      event,
    );
}

/** One event: dropped, ignored, or recorded and (when it settles the step) answered; errors are thrown. */
async function handleEvent(
  h: JobEventContext,
  calls: BatchCalls,
  event: unknown,
): Promise<{ decision: JobEventDecision }> {
  const { logger } = h.deps;
  const parsed = parseJobStateChange(event, h.settings);
  if (parsed.kind === "malformed") {
    logger.warn("malformed event", { decision: "dropped", reason: parsed.reason });
    return { decision: "dropped" };
  }
  if (parsed.kind === "ignored") {
    logger.info("event", {
      jobId: parsed.jobId,
      jobName: parsed.jobName,
      decision: "ignored",
      reason: parsed.reason,
    });
    return { decision: "ignored" };
  }
  const change = parsed.change;
  const context = {
    executionJobName: change.executionJobName,
    jobId: change.job.jobId,
    jobStatus: change.status,
    ...(change.shardIndex !== undefined ? { shardIndex: change.shardIndex } : {}),
  };
  try {
    // A shard the bridge terminated is no failure of its own: the step it belongs to is being answered.
    const outcome =
      change.shardIndex !== undefined && !isTerminatedByBridge(change.job.statusReason)
        ? await shardFinished(h, calls, change, change.shardIndex, context)
        : await answerStep(
            h,
            calls,
            change,
            await recordFinishedJob(h.statusTable, change.executionJobName, change.job, h.clock.now()),
            { finishedJob: change.job },
            context,
          );
    logger.info("event", { ...context, decision: outcome.decision, ...outcome.details });
    return { decision: outcome.decision };
  } catch (error) {
    logger.error("event failed; it will be retried", { ...context, error: describeError(error) });
    throw error;
  }
}

/** Answers the step if the event (with what the table and Batch say) settles it. */
async function answerStep(
  h: JobEventContext,
  calls: BatchCalls,
  change: JobStateChange,
  step: StepRecord | undefined,
  observations: JobObservations,
  context: Record<string, unknown>,
): Promise<EventOutcome> {
  const ref = step ? jobsRefOf(step) : undefined;
  if (!step?.callbackToken || !ref) {
    // The monitor checks Batch right after it records the callback message.
    return { decision: "recorded", details: { waitingFor: "the callback message" } };
  }
  const forThisStep =
    change.shardIndex !== undefined
      ? ref.jobMode === "jobs"
      : ref.jobMode === "array" && ref.jobRef === change.arrayJobId;
  if (!forThisStep) return { decision: "ignored", details: { reason: "not the jobs the step waits for" } };
  if (step.stepState === "answered") return { decision: "already answered" };
  if (isBeingAnswered(step, h.clock.now())) return { decision: "being answered" };

  let jobs: ExecutionJobs | undefined;
  const toSettle = {
    token: step.callbackToken,
    executionJobName: change.executionJobName,
    context: { ...context, ...ref },
  };
  const result = await h.settler.settle(calls, toSettle, async () => {
    jobs = await findExecutionJobs(calls, ref, h.settings.jobQueue, observations);
    const outcome = decideOutcome(jobs);
    return outcome ? outcomeResolution(outcome, jobs) : undefined;
  });
  const counts = jobs?.counts;
  if (!result.settled) {
    const decision =
      result.because === "answering"
        ? "being answered"
        : result.because === "undecided"
          ? "undecided"
          : "already answered";
    return { decision, details: { counts } };
  }
  if (result.answer.outcome === "success") {
    return { decision: "succeeded", details: { counts, outputs: result.answer.outputs } };
  }
  return {
    decision: "failed",
    details: { counts, reason: result.answer.reason, terminated: result.terminated },
  };
}

/**
 * jobs mode: a shard's job SUCCEEDED or FAILED (Batch reports FAILED only once no attempt is left). The
 * step is answered once every shard has finished, with success if enough succeeded (minSuccessRatio), or
 * as soon as more shards failed than the ratio tolerates. Each success costs one write until its set of
 * shards is full; a failure also reads every set, as it may settle the step at once.
 */
async function shardFinished(
  h: JobEventContext,
  calls: BatchCalls,
  change: JobStateChange,
  shardIndex: number,
  context: Record<string, unknown>,
): Promise<EventOutcome> {
  const { statusTable, clock } = h;
  const failed = change.status === "FAILED";
  const bucketShards = await recordShardFinished(
    statusTable,
    change.executionJobName,
    shardIndex,
    change.status,
    clock.now(),
  );
  // A failure's details also go on the execution's item: the reasons, while Batch's listing lags behind.
  const step = failed
    ? await recordFinishedJob(statusTable, change.executionJobName, change.job, clock.now())
    : undefined;
  const submittedCount =
    change.shardCount ?? (step ?? (await readStep(statusTable, change.executionJobName)))?.shardCount;
  if (submittedCount === undefined) {
    return { decision: "recorded", details: { waitingFor: "the shard count" } };
  }
  let shardCount = submittedCount;
  if (!failed) {
    const { bucket, capacity } = shardBucket(shardIndex, shardCount);
    const inBucket = finishedShardList(bucketShards, submittedCount).filter(
      (s) => Math.floor(s / shardsPerBucket) === bucket,
    );
    if (inBucket.length < capacity) return { decision: "recorded" };
  }

  // This set is full, or a shard failed: see whether the step is settled.
  let read = await readStepAndShards(statusTable, change.executionJobName, shardCount, clock);
  const stepShardCount = read.step?.shardCount;
  if (stepShardCount !== undefined && stepShardCount !== shardCount) {
    // The callback message's shard count is the one the step waits for.
    shardCount = stepShardCount;
    read = await readStepAndShards(statusTable, change.executionJobName, shardCount, clock);
  }
  const succeeded = countBelow(read.succeededShards, shardCount);
  const failedCount = finishedShardList(read, shardCount).length - succeeded;
  const ratio = read.step?.minSuccessRatio ?? defaultMinSuccessRatio;
  const settled = succeeded + failedCount >= shardCount || failedCount > toleratedFailures(shardCount, ratio);
  if (!settled) {
    return { decision: "recorded", details: { succeeded, failed: failedCount, shardCount } };
  }
  const observations: JobObservations = {
    succeededShards: read.succeededShards,
    failedShards: read.failedShards,
    ...(failed ? { finishedJob: change.job } : {}),
  };
  return answerStep(h, calls, change, read.step, observations, context);
}

/** The distinct shards below `shardCount` that succeeded or failed. */
function finishedShardList(shards: FinishedShards, shardCount: number): number[] {
  const finished = new Set<number>();
  for (const set of [shards.succeededShards, shards.failedShards]) {
    for (const shard of set) if (shard >= 0 && shard < shardCount) finished.add(shard);
  }
  return [...finished];
}
