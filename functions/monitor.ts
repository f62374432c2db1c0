/**
 * The monitor function: consumes the callback queue (one message per waiting Callback step, SQS batches
 * with ReportBatchItemFailures), checks the step's jobs and answers SageMaker, or has the message come
 * back when the next check is due.
 */
import type { BatchClient } from "@aws-sdk/client-batch";
import type { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { answerStep, type StepAnswer } from "./answer";
import { describeError, isTransientError } from "./aws-errors";
import { parseCallbackMessage, type ValidCallbackMessage } from "./callback-message";
import { systemClock, type Clock, type Log } from "./clock";
import { createRateLimiter, mapWithConcurrency } from "./concurrency";
import { decide, stoppedReason } from "./decision";
import { findExecutionJobs, type ExecutionJobs } from "./job-status";
import { nextCheckDelaySeconds } from "./poll-schedule";
import type { MonitorSettings } from "./settings";
import {
  describeTerminationFailures,
  terminatesPerSecond,
  terminateUnfinishedJobs,
  terminationReasons,
} from "./terminate";

/** Callback messages handled at once within one batch. */
export const recordConcurrency = 4;

/** The monitor handler's collaborators. */
export interface MonitorDeps {
  batch: BatchClient;
  sagemaker: SageMakerClient;
  sqs: SQSClient;
  settings: MonitorSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
}

type RecordOutcome = "done" | "retry";

/** Builds the monitor function's handler. */
export function makeMonitorHandler(deps: MonitorDeps): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const clock = deps.clock ?? systemClock();
  const { settings, logger } = deps;
  // One TerminateJob pace for all the records this container handles at once.
  const terminateSlot = createRateLimiter(terminatesPerSecond, clock);

  const answer = async (token: string, stepAnswer: StepAnswer, context: Record<string, unknown>) => {
    const result = await answerStep(deps.sagemaker, token, stepAnswer, clock);
    if (!result.delivered) {
      // Already answered (duplicate delivery, or the Stopping and Executing messages of one step) or
      // unknown: nothing more can be done with this token.
      logger.warn("answer refused", { ...context, decision: "answer refused", refusal: result.refusal });
    }
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
    record: SQSRecord,
    problem: { reason: string; token?: string; executionArn?: string },
  ): Promise<RecordOutcome> => {
    const context = { messageId: record.messageId, executionArn: problem.executionArn };
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
      decision:
        problem.token !== undefined
          ? "answered failure, moved to dead-letter queue"
          : "moved to dead-letter queue",
      reason: problem.reason,
    });
    return "done";
  };

  /** Terminates the unfinished jobs; throws transient errors (retry before answering), logs the others. */
  const terminate = async (jobs: ExecutionJobs, reason: string, context: Record<string, unknown>) => {
    if (jobs.unfinishedJobIds.length === 0) return 0;
    const result = await terminateUnfinishedJobs(deps.batch, jobs, reason, clock, terminateSlot);
    if (result.failures.length > 0) {
      logger.error("could not terminate jobs", {
        ...context,
        failed: result.failures.length,
        error: describeTerminationFailures(result),
      });
    }
    return result.terminated;
  };

  const handleStep = async (record: SQSRecord, message: ValidCallbackMessage): Promise<RecordOutcome> => {
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
    const jobs = await findExecutionJobs(deps.batch, message, settings.jobQueue, clock);
    const logDecision = (decision: string, details: Record<string, unknown>) =>
      logger.info("decision", { ...context, counts: jobs.counts, decision, ...details });

    if (message.status === "stopping") {
      const terminated = await terminate(jobs, terminationReasons.stopped, context);
      const reason = stoppedReason(terminated);
      await answer(message.token, { outcome: "failure", reason }, context);
      logDecision("stopped", { reason, terminated });
      return "done";
    }

    const decision = decide(jobs, {
      ageSeconds,
      receiveCount,
      schedule: settings.pollSchedule,
      maxReceiveCount: settings.maxReceiveCount,
    });
    switch (decision.decision) {
      case "succeed":
        await answer(message.token, { outcome: "success", outputs: decision.outputs }, context);
        logDecision("succeeded", { outputs: decision.outputs });
        return "done";
      case "fail": {
        const terminated = await terminate(jobs, decision.terminationReason, context);
        await answer(message.token, { outcome: "failure", reason: decision.reason }, context);
        logDecision("failed", { reason: decision.reason, terminated });
        return "done";
      }
      case "wait":
        await checkAgainIn(record, decision.nextCheckSeconds, context);
        logDecision("wait", { nextCheckSeconds: decision.nextCheckSeconds });
        return "retry";
    }
  };

  const handleRecord = async (record: SQSRecord): Promise<RecordOutcome> => {
    const parsed = parseCallbackMessage(record.body, settings.jobNamePrefix);
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
    try {
      return parsed.valid ? await handleStep(record, parsed.message) : await handleMalformed(record, parsed);
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
          await answer(parsed.message.token, { outcome: "failure", reason }, context);
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

  return async (event) => {
    const records = event.Records ?? [];
    const outcomes = await mapWithConcurrency(records, recordConcurrency, handleRecord);
    return {
      batchItemFailures: records
        .filter((_, i) => outcomes[i] === "retry")
        .map((record) => ({ itemIdentifier: record.messageId })),
    };
  };
}
