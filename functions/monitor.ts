/**
 * The monitor function: consumes the callback queue (one message per waiting Callback step, SQS batches
 * with ReportBatchItemFailures), checks the step's jobs and answers SageMaker, or has the message come
 * back when the next check is due.
 *
 * With the status table it also records each waiting step there, so the job-event function can answer it
 * as soon as Batch reports the jobs finished; the monitor's own checks then only cover lost events, and
 * both answer through the step's one claim.
 */
import type { BatchClient } from "@aws-sdk/client-batch";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { StepAnswer } from "./answer";
import { describeError, isTransientError } from "./aws-errors";
import { clockAndPacers, type BatchCalls, type BatchPacers, type InvocationContext } from "./batch-calls";
import { parseCallbackMessage, type ValidCallbackMessage } from "./callback-message";
import type { Clock } from "./clock";
import type { Log } from "./log";
import { decide, stoppedReason } from "./decision";
import { terminateExecutionJobs } from "./execution-cleanup";
import { findExecutionJobs, type ExecutionJobs, type JobObservations } from "./execution-jobs";
import { claimRecheckDelaySeconds, nextCheckDelaySeconds } from "./poll-schedule";
import { recordBatchHandler, type RecordOutcome } from "./record-batches";
import type { MonitorSettings } from "./settings";
import {
  makeStepSettler,
  outcomeResolution,
  type SettleResult,
  type StepSettler,
  type StepToSettle,
} from "./settlement";
import {
  claimLeaseLeft,
  isBeingAnswered,
  readStepAndShards,
  recordWait,
  type StatusTable,
} from "./status-table-items";
import { terminationReasons } from "./terminate";

/** Callback messages handled at once within one batch. */
export const recordConcurrency = 4;

/** The monitor handler's collaborators. */
export interface MonitorDeps {
  batch: BatchClient;
  sagemaker: SageMakerClient;
  sqs: SQSClient;
  /** Writes step reports under each step's outputUri (functions/step-report.ts); without it, none. */
  s3?: S3Client;
  /** Needed when `settings.statusTable` is set. */
  dynamodb?: DynamoDBClient;
  settings: MonitorSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
}

/** What the monitor's functions share in one container: its collaborators, clock, table and settler. */
interface Monitor {
  deps: MonitorDeps;
  settings: MonitorSettings;
  logger: Log;
  clock: Clock;
  /** Set when steps are also answered from Batch's events. */
  statusTable?: StatusTable;
  settler: StepSettler;
}

/** Builds the monitor function's handler. */
export function makeMonitorHandler(
  deps: MonitorDeps,
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const { clock, pacers } = clockAndPacers(deps);
  const { settings, logger } = deps;
  if (settings.statusTable !== undefined && !deps.dynamodb) {
    throw new Error("The monitor needs a DynamoDB client when the status table is set.");
  }
  const statusTable: StatusTable | undefined =
    settings.statusTable !== undefined
      ? { dynamodb: deps.dynamodb!, tableName: settings.statusTable }
      : undefined;
  const settler = makeStepSettler({
    ...deps,
    clock,
    statusTable,
    callbackQueueUrl: settings.callbackQueueUrl,
    claimant: "monitor",
  });
  const monitor: Monitor = { deps, settings, logger, clock, statusTable, settler };
  return recordBatchHandler(
    { batch: deps.batch, clock, pacers, concurrency: recordConcurrency },
    (calls, record) => handleRecord(monitor, calls, record),
  );
}

/** One callback message: its step checked and answered, or the message set aside; never thrown. */
async function handleRecord(m: Monitor, calls: BatchCalls, record: SQSRecord): Promise<RecordOutcome> {
  const { settings, logger } = m;
  const parsed = parseCallbackMessage(record.body, settings.jobNamePrefix);
  const receiveCount = receiveCountOf(record);
  try {
    return parsed.valid
      ? await handleStep(m, calls, record, parsed.message)
      : await handleMalformed(m, calls, record, parsed);
  } catch (error) {
    const context = {
      messageId: record.messageId,
      executionArn: parsed.valid ? parsed.message.executionArn : undefined,
      receiveCount,
      error: describeError(error),
    };
    // On the last receives, answer rather than let the token reach the dead-letter queue unanswered.
    if (parsed.valid && receiveCount >= settings.maxReceiveCount - 1) {
      const reason = `Could not check the jobs after ${receiveCount} attempts: ${describeError(error)}`;
      try {
        await answerUnchecked(m, calls, record, parsed.message, reason, context);
        logger.error("decision", { ...context, decision: "failed", reason });
        return "done";
      } catch (answerError) {
        logger.error("could not answer", { ...context, answerError: describeError(answerError) });
      }
    }
    logger.error("will retry", {
      ...context,
      decision: "retry",
      transient: isTransientError(error),
      nextCheckSeconds: nextCheckDelaySeconds(settings.pollSchedule, receiveCount),
    });
    await checkAgainIn(m, record, nextCheckDelaySeconds(settings.pollSchedule, receiveCount), context);
    return "retry";
  }
}

function receiveCountOf(record: SQSRecord): number {
  return Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
}

/** The message comes back after `seconds` (best effort: otherwise after the queue's visibility timeout). */
async function checkAgainIn(
  m: Monitor,
  record: SQSRecord,
  seconds: number,
  context: Record<string, unknown>,
) {
  try {
    await m.deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: m.settings.callbackQueueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (error) {
    m.logger.warn("could not set the next check's delay", { ...context, error: describeError(error) });
  }
}

/** A message that is no callback message: its step (when named) failed, the message dead-lettered. */
async function handleMalformed(
  m: Monitor,
  calls: BatchCalls,
  record: SQSRecord,
  problem: { reason: string; token?: string; executionArn?: string },
): Promise<RecordOutcome> {
  const { settings, logger } = m;
  const context = { messageId: record.messageId, executionArn: problem.executionArn };
  let cleanup: Record<string, unknown> = {};
  if (problem.token !== undefined && problem.executionArn !== undefined) {
    // The step is failed below: its execution's jobs must not run on. What the time does not allow, the
    // clean-up function finishes once the failed step has ended the execution.
    try {
      const pass = await terminateExecutionJobs(
        calls,
        settings,
        problem.executionArn,
        terminationReasons.invalidCallbackMessage,
      );
      cleanup = { terminated: pass.terminated, left: pass.left.length };
    } catch (error) {
      logger.warn("could not terminate the execution's jobs", { ...context, error: describeError(error) });
    }
  }
  if (problem.token !== undefined) {
    const reason = `Invalid callback message: ${problem.reason}`;
    await m.settler.answer(problem.token, { outcome: "failure", reason }, context);
  }
  await m.deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: settings.deadLetterQueueUrl,
      MessageBody: record.body,
      MessageAttributes: {
        reason: { DataType: "String", StringValue: problem.reason },
        sourceMessageId: { DataType: "String", StringValue: record.messageId },
      },
    }),
  );
  logger.warn("malformed callback message", {
    ...context,
    ...cleanup,
    decision:
      problem.token !== undefined
        ? "answered failure, moved to dead-letter queue"
        : "moved to dead-letter queue",
    reason: problem.reason,
  });
  return "done";
}

function stepOf(
  record: SQSRecord,
  message: ValidCallbackMessage,
  context: Record<string, unknown>,
): StepToSettle {
  return {
    token: message.token,
    executionJobName: message.jobName,
    heldReceiptHandle: record.receiptHandle,
    context,
  };
}

/**
 * The last-resort failure when the jobs cannot be checked: through the claim when the table works, else
 * straight to SageMaker (the same request token keeps it to one answer).
 */
async function answerUnchecked(
  m: Monitor,
  calls: BatchCalls,
  record: SQSRecord,
  message: ValidCallbackMessage,
  reason: string,
  context: Record<string, unknown>,
) {
  const failure: StepAnswer = { outcome: "failure", reason };
  if (m.statusTable) {
    try {
      const result = await m.settler.settle(calls, stepOf(record, message, context), async () => ({
        answer: () => failure,
      }));
      if (result.settled || result.because === "answered") return;
    } catch (error) {
      m.logger.warn("could not claim the step; answering directly", {
        ...context,
        claimError: describeError(error),
      });
    }
  }
  await m.settler.answer(message.token, failure, context);
}

/** Logs why a step this monitor decided about was not answered by it, and what becomes of the message. */
async function notSettled(
  m: Monitor,
  record: SQSRecord,
  result: Extract<SettleResult, { settled: false }>,
  receiveCount: number,
  context: Record<string, unknown>,
): Promise<RecordOutcome> {
  if (result.because === "answering") {
    // Another claimant is answering: look again once its lease ends, in case it died before it could.
    const nextCheckSeconds = claimRecheckDelaySeconds(
      m.settings.pollSchedule,
      receiveCount,
      claimLeaseLeft(result.step, m.clock.now()),
    );
    await checkAgainIn(m, record, nextCheckSeconds, context);
    m.logger.info("decision", { ...context, decision: "being answered", nextCheckSeconds });
    return "retry";
  }
  m.logger.info("decision", { ...context, decision: `already ${result.because}` });
  return "done";
}

/** A waiting step: recorded in the table (when there is one), its jobs checked, answered when they say so. */
async function handleStep(
  m: Monitor,
  calls: BatchCalls,
  record: SQSRecord,
  message: ValidCallbackMessage,
): Promise<RecordOutcome> {
  const receiveCount = receiveCountOf(record);
  const sentAt = Number(record.attributes?.SentTimestamp ?? "");
  const ageSeconds = Number.isFinite(sentAt) && sentAt > 0 ? Math.max(0, (m.clock.now() - sentAt) / 1000) : 0;
  const context = {
    messageId: record.messageId,
    executionArn: message.executionArn,
    jobMode: message.jobMode,
    jobRef: message.jobRef,
    status: message.status,
    receiveCount,
  };
  const step = stepOf(record, message, context);
  let observations: JobObservations = {};
  if (m.statusTable) {
    const recorded = await recordWaitingStep(m, m.statusTable, record, message, receiveCount, context);
    if (recorded.outcome !== undefined) return recorded.outcome;
    observations = recorded.observations;
  }
  const jobs = jobLookup(m, calls, message, observations, context);

  if (message.status === "stopping") {
    const result = await m.settler.settle(calls, step, async () => {
      const found = await jobs.lookUp();
      return {
        terminate: { jobs: found, reason: terminationReasons.stopped },
        answer: (terminated) => ({ outcome: "failure", reason: stoppedReason(terminated) }),
      };
    });
    if (!result.settled) return notSettled(m, record, result, receiveCount, context);
    jobs.logDecision("stopped", {
      reason: result.answer.outcome === "failure" ? result.answer.reason : undefined,
      terminated: result.terminated,
    });
    return "done";
  }

  const found = await jobs.lookUp();
  const decision = decide(found, {
    ageSeconds,
    receiveCount,
    schedule: m.settings.pollSchedule,
    maxReceiveCount: m.settings.maxReceiveCount,
  });
  if (decision.decision === "wait") {
    await checkAgainIn(m, record, decision.nextCheckSeconds, context);
    jobs.logDecision("wait", { nextCheckSeconds: decision.nextCheckSeconds });
    return "retry";
  }
  const result = await m.settler.settle(calls, step, async () => outcomeResolution(decision, found));
  if (!result.settled) return notSettled(m, record, result, receiveCount, context);
  if (decision.decision === "succeed") jobs.logDecision("succeeded", { outputs: decision.outputs });
  else jobs.logDecision("failed", { reason: decision.reason, terminated: result.terminated });
  return "done";
}

/**
 * Records the waiting step in the status table, then returns what Batch's events recorded for it; or the
 * message's outcome when the step is answered or being answered already. Record first, then check: a job
 * that ends after the record is answered by its event, one that ended before it is seen by the check.
 */
async function recordWaitingStep(
  m: Monitor,
  statusTable: StatusTable,
  record: SQSRecord,
  message: ValidCallbackMessage,
  receiveCount: number,
  context: Record<string, unknown>,
): Promise<
  | { outcome: RecordOutcome; observations?: undefined }
  | { outcome?: undefined; observations: JobObservations }
> {
  const waiting = await recordWait(
    statusTable,
    {
      executionJobName: message.jobName,
      token: message.token,
      ref: message,
      ...(message.status === "executing" ? { receiptHandle: record.receiptHandle } : {}),
    },
    m.clock.now(),
  );
  if (waiting.stepState === "answered") {
    return {
      outcome: await notSettled(m, record, { settled: false, because: "answered" }, receiveCount, context),
    };
  }
  if (isBeingAnswered(waiting, m.clock.now())) {
    const because = { settled: false, because: "answering", step: waiting } as const;
    return { outcome: await notSettled(m, record, because, receiveCount, context) };
  }
  if (message.jobMode !== "jobs") return { observations: { finishedJob: waiting.finishedJob } };
  const { succeededShards, failedShards } = await readStepAndShards(
    statusTable,
    message.jobName,
    message.shardCount,
    m.clock,
  );
  return { observations: { finishedJob: waiting.finishedJob, succeededShards, failedShards } };
}

/** The step's jobs, looked up on demand, and its decision log line, with their counts once looked up. */
function jobLookup(
  m: Monitor,
  calls: BatchCalls,
  message: ValidCallbackMessage,
  observations: JobObservations,
  context: Record<string, unknown>,
) {
  let jobs: ExecutionJobs | undefined;
  return {
    lookUp: async (): Promise<ExecutionJobs> => {
      jobs = await findExecutionJobs(calls, message, m.settings.jobQueue, observations);
      return jobs;
    },
    logDecision: (decision: string, details: Record<string, unknown>) =>
      m.logger.info("decision", { ...context, counts: jobs?.counts, decision, ...details }),
  };
}
