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
import { makeStepSettler, outcomeResolution, type SettleResult, type StepToSettle } from "./settlement";
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
  /** Needed when `settings.statusTable` is set. */
  dynamodb?: DynamoDBClient;
  settings: MonitorSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
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

  const answer = async (token: string, stepAnswer: StepAnswer, context: Record<string, unknown>) => {
    await settler.answer(token, stepAnswer, context);
  };

  /** The message comes back after `seconds` (best effort: otherwise after the queue's visibility timeout). */
  const checkAgainIn = async (record: SQSRecord, seconds: number, context: Record<string, unknown>) => {
    try {
      await deps.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: settings.callbackQueueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    } catch (error) {
      logger.warn("could not set the next check's delay", { ...context, error: describeError(error) });
    }
  };

  const handleMalformed = async (
    calls: BatchCalls,
    record: SQSRecord,
    problem: { reason: string; token?: string; executionArn?: string },
  ): Promise<RecordOutcome> => {
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
      await answer(
        problem.token,
        { outcome: "failure", reason: `Invalid callback message: ${problem.reason}` },
        context,
      );
    }
    await deps.sqs.send(
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
  };

  const stepOf = (
    record: SQSRecord,
    message: ValidCallbackMessage,
    context: Record<string, unknown>,
  ): StepToSettle => ({
    token: message.token,
    executionJobName: message.jobName,
    heldReceiptHandle: record.receiptHandle,
    context,
  });

  /**
   * The last-resort failure when the jobs cannot be checked: through the claim when the table works, else
   * straight to SageMaker (the same request token keeps it to one answer).
   */
  const answerUnchecked = async (
    calls: BatchCalls,
    record: SQSRecord,
    message: ValidCallbackMessage,
    reason: string,
    context: Record<string, unknown>,
  ) => {
    const failure: StepAnswer = { outcome: "failure", reason };
    if (statusTable) {
      try {
        const result = await settler.settle(calls, stepOf(record, message, context), async () => ({
          answer: () => failure,
        }));
        if (result.settled || result.because === "answered") return;
      } catch (error) {
        logger.warn("could not claim the step; answering directly", {
          ...context,
          claimError: describeError(error),
        });
      }
    }
    await answer(message.token, failure, context);
  };

  /** Logs why a step this monitor decided about was not answered by it, and what becomes of the message. */
  const notSettled = async (
    record: SQSRecord,
    result: Extract<SettleResult, { settled: false }>,
    receiveCount: number,
    context: Record<string, unknown>,
  ): Promise<RecordOutcome> => {
    if (result.because === "answering") {
      // Another claimant is answering: look again once its lease ends, in case it died before it could.
      const nextCheckSeconds = claimRecheckDelaySeconds(
        settings.pollSchedule,
        receiveCount,
        claimLeaseLeft(result.step, clock.now()),
      );
      await checkAgainIn(record, nextCheckSeconds, context);
      logger.info("decision", { ...context, decision: "being answered", nextCheckSeconds });
      return "retry";
    }
    logger.info("decision", { ...context, decision: `already ${result.because}` });
    return "done";
  };

  const handleStep = async (
    calls: BatchCalls,
    record: SQSRecord,
    message: ValidCallbackMessage,
  ): Promise<RecordOutcome> => {
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
    const sentAt = Number(record.attributes?.SentTimestamp ?? "");
    const ageSeconds = Number.isFinite(sentAt) && sentAt > 0 ? Math.max(0, (clock.now() - sentAt) / 1000) : 0;
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
    if (statusTable) {
      // Record first, then check: a job that ends after the record is answered by its event, one that
      // ended before it is seen by the check below.
      const waiting = await recordWait(
        statusTable,
        {
          executionJobName: step.executionJobName,
          token: message.token,
          ref: message,
          ...(message.status === "executing" ? { receiptHandle: record.receiptHandle } : {}),
        },
        clock.now(),
      );
      if (waiting.stepState === "answered") {
        return notSettled(record, { settled: false, because: "answered" }, receiveCount, context);
      }
      if (isBeingAnswered(waiting, clock.now())) {
        return notSettled(
          record,
          { settled: false, because: "answering", step: waiting },
          receiveCount,
          context,
        );
      }
      observations = {
        finishedJob: waiting.finishedJob,
        ...(message.jobMode === "jobs"
          ? {
              succeededShards: (
                await readStepAndShards(statusTable, step.executionJobName, message.shardCount, clock)
              ).succeededShards,
            }
          : {}),
      };
    }

    let jobs: ExecutionJobs | undefined;
    const lookUp = async () => {
      jobs = await findExecutionJobs(calls, message, settings.jobQueue, observations);
      return jobs;
    };
    const logDecision = (decision: string, details: Record<string, unknown>) =>
      logger.info("decision", { ...context, counts: jobs?.counts, decision, ...details });

    if (message.status === "stopping") {
      const result = await settler.settle(calls, step, async () => {
        const found = await lookUp();
        return {
          terminate: { jobs: found, reason: terminationReasons.stopped },
          answer: (terminated) => ({ outcome: "failure", reason: stoppedReason(terminated) }),
        };
      });
      if (!result.settled) return notSettled(record, result, receiveCount, context);
      logDecision("stopped", {
        reason: result.answer.outcome === "failure" ? result.answer.reason : undefined,
        terminated: result.terminated,
      });
      return "done";
    }

    const found = await lookUp();
    const decision = decide(found, {
      ageSeconds,
      receiveCount,
      schedule: settings.pollSchedule,
      maxReceiveCount: settings.maxReceiveCount,
    });
    if (decision.decision === "wait") {
      await checkAgainIn(record, decision.nextCheckSeconds, context);
      logDecision("wait", { nextCheckSeconds: decision.nextCheckSeconds });
      return "retry";
    }
    const result = await settler.settle(calls, step, async () => outcomeResolution(decision, found));
    if (!result.settled) return notSettled(record, result, receiveCount, context);
    if (decision.decision === "succeed") logDecision("succeeded", { outputs: decision.outputs });
    else logDecision("failed", { reason: decision.reason, terminated: result.terminated });
    return "done";
  };

  const handleRecord = async (calls: BatchCalls, record: SQSRecord): Promise<RecordOutcome> => {
    const parsed = parseCallbackMessage(record.body, settings.jobNamePrefix);
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
    try {
      return parsed.valid
        ? await handleStep(calls, record, parsed.message)
        : await handleMalformed(calls, record, parsed);
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
          await answerUnchecked(calls, record, parsed.message, reason, context);
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
      await checkAgainIn(record, nextCheckDelaySeconds(settings.pollSchedule, receiveCount), context);
      return "retry";
    }
  };

  return recordBatchHandler(
    { batch: deps.batch, clock, pacers, concurrency: recordConcurrency },
    handleRecord,
  );
}
