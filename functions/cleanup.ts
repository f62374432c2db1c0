/**
 * The clean-up function: consumes the clean-up queue, where an EventBridge rule puts SageMaker's event for
 * each execution of the stack's pipeline that ended Stopped or Failed, and where the bridge hands over
 * clean-ups it could not finish. For each, it terminates the execution's unfinished jobs, idempotently
 * and through the container's pacer; when its time runs out, or a job could not be terminated, it puts the
 * request back on the queue with a delay, round after round, until none is left. It also looks once more
 * after Batch's listing grace, for a job submitted just before the execution ended.
 *
 * Messages it cannot read are reported as failures (ReportBatchItemFailures), so that after the queue's
 * receive count they wait in its dead-letter queue for an operator.
 */
import type { BatchClient } from "@aws-sdk/client-batch";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { describeError, isTransientError } from "./aws-errors";
import { clockAndPacers, type BatchCalls, type BatchPacers, type InvocationContext } from "./batch-calls";
import type { Clock } from "./clock";
import type { Log } from "./log";
import { listingGraceSeconds } from "./decision";
import {
  longestMessageDelaySeconds,
  requestCleanup,
  terminateExecutionJobs,
  type CleanupPass,
} from "./execution-cleanup";
import { parseCleanupMessage, type CleanupRequest } from "./execution-status-change";
import { recordBatchHandler, type RecordOutcome } from "./record-batches";
import type { CleanupSettings } from "./settings";

/** A pass the time cut short goes on after this long (enough for Batch's throttling to pass). */
export const cleanupRetryDelaySeconds = 30;

/** The clean-up handler's collaborators. */
export interface CleanupDeps {
  batch: BatchClient;
  sqs: SQSClient;
  settings: CleanupSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
  /** The container's Batch pacers (default: the handler's own, one per container all the same). */
  pacers?: BatchPacers;
}

/** Builds the clean-up function's handler. */
export function makeCleanupHandler(
  deps: CleanupDeps,
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const { clock, pacers } = clockAndPacers(deps);
  const { settings, logger } = deps;

  /** The next round of `request`, `delaySeconds` from now; "retry" (the message comes back) if SQS fails. */
  const goOnLater = async (
    request: CleanupRequest,
    delaySeconds: number,
    context: Record<string, unknown>,
  ): Promise<RecordOutcome> => {
    try {
      await requestCleanup(
        deps.sqs,
        settings.cleanupQueueUrl,
        { ...request, round: request.round + 1 },
        delaySeconds,
      );
      return "done";
    } catch (error) {
      logger.error("could not put the clean-up back on its queue", {
        ...context,
        error: describeError(error),
      });
      return "retry";
    }
  };

  const handleRequest = async (
    calls: BatchCalls,
    request: CleanupRequest,
    context: Record<string, unknown>,
  ): Promise<RecordOutcome> => {
    let pass: CleanupPass;
    try {
      pass = await terminateExecutionJobs(calls, settings, request.executionArn, request.reason);
    } catch (error) {
      // The jobs could not be listed: throttled until the time ran out, or refused.
      const delaySeconds = isTransientError(error) ? cleanupRetryDelaySeconds : longestMessageDelaySeconds;
      logger.error("cleanup", {
        ...context,
        decision: "goes on later",
        delaySeconds,
        error: describeError(error),
      });
      return goOnLater(request, delaySeconds, context);
    }
    const counts = { ...context, found: pass.found, terminated: pass.terminated, left: pass.left.length };
    if (pass.left.length > 0) {
      // Jobs are never given up on: TerminateJob refused for good waits the longest SQS delay between tries.
      const lasting = pass.left.find((job) => !isTransientError(job.error));
      const delaySeconds = lasting ? longestMessageDelaySeconds : cleanupRetryDelaySeconds;
      const entry = {
        ...counts,
        decision: "goes on later",
        delaySeconds,
        error: describeError((lasting ?? pass.left[0]).error),
      };
      if (lasting) logger.error("cleanup", entry);
      else logger.info("cleanup", entry);
      return goOnLater(request, delaySeconds, context);
    }
    const graceLeftSeconds = (request.endedAt + listingGraceSeconds * 1000 - clock.now()) / 1000;
    if (graceLeftSeconds > 0) {
      logger.info("cleanup", {
        ...counts,
        decision: "looks again after the listing grace",
        delaySeconds: graceLeftSeconds,
      });
      return goOnLater(request, graceLeftSeconds, context);
    }
    logger.info("cleanup", { ...counts, decision: "nothing left running" });
    return "done";
  };

  const handleRecord = async (calls: BatchCalls, record: SQSRecord): Promise<RecordOutcome> => {
    const parsed = parseCleanupMessage(record.body);
    if (parsed.kind === "malformed") {
      logger.error("malformed clean-up message", {
        messageId: record.messageId,
        decision: "retry",
        reason: parsed.reason,
      });
      return "retry";
    }
    if (parsed.kind === "ignored") {
      logger.info("cleanup", { messageId: record.messageId, decision: "ignored", reason: parsed.reason });
      return "done";
    }
    const { request } = parsed;
    return handleRequest(calls, request, {
      messageId: record.messageId,
      executionArn: request.executionArn,
      reason: request.reason,
      round: request.round,
    });
  };

  // One after another: a pass may need the whole invocation, and the next one then goes on later.
  return recordBatchHandler({ batch: deps.batch, clock, pacers, concurrency: 1 }, handleRecord);
}
