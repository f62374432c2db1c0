/**
 * Settles a Callback step: terminates what must stop, answers SageMaker, and (with the status table)
 * does both only after winning the step's one claim, then marks the step answered and deletes its
 * callback message. The monitor and the job-event function both answer through here, so a step gets the
 * same reasons, clean-up and outputs whichever of them sees the end first, and only one of them acts.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { DeleteMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { answerStep, type StepAnswer } from "./answer";
import { describeError } from "./aws-errors";
import type { BatchCalls } from "./batch-calls";
import type { Clock } from "./clock";
import type { Log } from "./log";
import type { Outcome } from "./decision";
import type { ExecutionJobs } from "./execution-jobs";
import {
  claimStep,
  markAnswered,
  releaseClaim,
  type StatusTable,
  type StepRecord,
} from "./status-table-items";
import { buildReport, describeFailedShards, reasonWithReport, reportUri, writeReport } from "./step-report";
import { describeTerminationFailures, terminateUnfinishedJobs } from "./terminate";

/**
 * The message of the line logged once SageMaker took a step's answer, with `outcome` "success" or
 * "failure": the metric filters of the failed-steps alarm read it (infra/alarms.ts).
 */
export const stepAnsweredLogMessage = "step answered";

/** What settling needs. */
export interface SettlementDeps {
  sagemaker: SageMakerClient;
  sqs: SQSClient;
  logger: Log;
  clock: Clock;
  /** With a table, answers go through its claim; without, straight to SageMaker (polling only). */
  statusTable?: StatusTable;
  /** Where callback messages are deleted once their step is answered. */
  callbackQueueUrl: string;
  /** Who claims: "monitor" or "job-event". */
  claimant: string;
  /** Where step reports are written (under each step's outputUri); without it, none are. */
  s3?: S3Client;
}

/** The step to settle. */
export interface StepToSettle {
  token: string;
  /** The status table key (`<jobNamePrefix>-<execution id>`). */
  executionJobName: string;
  /** A callback message the caller deletes itself, not to be deleted here as well. */
  heldReceiptHandle?: string;
  /** Log attributes naming the step (never the token). */
  context: Record<string, unknown>;
}

/** What to do once the step is ours. */
export interface Resolution {
  terminate?: { jobs: ExecutionJobs; reason: string };
  /** The jobs the step report describes (default: those terminated). */
  report?: ExecutionJobs;
  /** The answer, given how many jobs were terminated. */
  answer: (terminated: number) => StepAnswer;
}

export type SettleResult =
  | { settled: true; answer: StepAnswer; terminated: number; refusal?: string }
  /**
   * Not answered here: another caller holds the claim ("answering"), the step is already "answered", its
   * wait was replaced by a newer token ("replaced"), or `resolve` found nothing to answer ("undecided").
   */
  | { settled: false; because: "answered" | "answering" | "replaced" | "undecided"; step?: StepRecord };

/** An answering decision's resolution: a success with its outputs, or a failure after its jobs are terminated. */
export function outcomeResolution(outcome: Outcome, jobs: ExecutionJobs): Resolution {
  if (outcome.decision === "succeed") {
    return { report: jobs, answer: () => ({ outcome: "success", outputs: outcome.outputs }) };
  }
  return {
    report: jobs,
    terminate: { jobs, reason: outcome.terminationReason },
    answer: () => ({ outcome: "failure", reason: outcome.reason }),
  };
}

/** The settling functions of one container. */
export type StepSettler = ReturnType<typeof makeStepSettler>;

/** Builds the settling functions for one container. */
export function makeStepSettler(deps: SettlementDeps) {
  const { logger, clock, statusTable } = deps;

  /** Answers SageMaker; a refusal is final and logged. Transient errors are thrown. */
  const answer = async (token: string, stepAnswer: StepAnswer, context: Record<string, unknown>) => {
    const result = await answerStep(deps.sagemaker, token, stepAnswer, clock);
    if (!result.delivered) {
      // Already answered (duplicate delivery, or the Stopping and Executing messages of one step) or
      // unknown: nothing more can be done with this token.
      logger.warn("answer refused", { ...context, decision: "answer refused", refusal: result.refusal });
      return result.refusal;
    }
    logger.info(stepAnsweredLogMessage, { ...context, outcome: stepAnswer.outcome });
    return undefined;
  };

  /** Terminates the unfinished jobs; throws transient errors (retry before answering), logs the others. */
  const terminate = async (
    calls: BatchCalls,
    jobs: ExecutionJobs,
    reason: string,
    context: Record<string, unknown>,
  ) => {
    if (jobs.unfinishedJobIds.length === 0) return 0;
    const result = await terminateUnfinishedJobs(calls, jobs, reason);
    if (result.failures.length > 0) {
      logger.error("could not terminate jobs", {
        ...context,
        failed: result.failures.length,
        error: describeTerminationFailures(result),
      });
    }
    return result.terminated;
  };

  /**
   * Writes the step report for a failure, or a success with failed shards, and names it in the answer:
   * at the end of the failure reason, or as the ReportUri output. A write S3 refuses or throttles leaves
   * the answer as it was (logged): the step is answered all the same.
   */
  const withReport = async (
    calls: BatchCalls,
    resolution: Resolution,
    stepAnswer: StepAnswer,
    terminated: number,
    context: Record<string, unknown>,
  ): Promise<StepAnswer> => {
    const jobs = resolution.report ?? resolution.terminate?.jobs;
    if (!deps.s3 || !jobs || jobs.outputUri === undefined) return stepAnswer;
    if (stepAnswer.outcome === "success" && jobs.failed === 0) return stepAnswer;
    const uri = reportUri(jobs.outputUri, jobs.executionArn, jobs.jobName);
    let failedShards = jobs.failedShards;
    try {
      failedShards = await describeFailedShards(calls, failedShards);
    } catch (error) {
      // The report names the shards as they were listed, without their log links.
      logger.warn("could not describe the failed jobs", { ...context, error: describeError(error) });
    }
    const report = buildReport(
      { ...jobs, failedShards },
      stepAnswer.outcome === "failure"
        ? { outcome: "failure", reason: stepAnswer.reason }
        : { outcome: "success", failedShards: stepAnswer.outputs.FailedShards },
      resolution.terminate
        ? {
            reason: resolution.terminate.reason,
            jobIds: resolution.terminate.jobs.unfinishedJobIds,
            terminated,
          }
        : undefined,
      (await deps.s3.config.region()) ?? "us-east-1",
      clock.now(),
    );
    try {
      await writeReport(deps.s3, uri, report);
    } catch (error) {
      logger.warn("could not write the step report", {
        ...context,
        reportUri: uri,
        error: describeError(error),
      });
      return stepAnswer;
    }
    return stepAnswer.outcome === "failure"
      ? { outcome: "failure", reason: reasonWithReport(stepAnswer.reason, uri) }
      : { outcome: "success", outputs: { ...stepAnswer.outputs, ReportUri: uri } };
  };

  const carryOut = async (calls: BatchCalls, step: StepToSettle, resolution: Resolution) => {
    const terminated = resolution.terminate
      ? await terminate(calls, resolution.terminate.jobs, resolution.terminate.reason, step.context)
      : 0;
    const stepAnswer = await withReport(
      calls,
      resolution,
      resolution.answer(terminated),
      terminated,
      step.context,
    );
    const refusal = await answer(step.token, stepAnswer, step.context);
    return { settled: true as const, answer: stepAnswer, terminated, ...(refusal ? { refusal } : {}) };
  };

  /** Deletes the step's callback message by its last recorded receipt handle (a stale one does no harm). */
  const deleteCallbackMessage = async (step: StepToSettle, record: StepRecord) => {
    if (!record.receiptHandle || record.receiptHandle === step.heldReceiptHandle) return;
    try {
      await deps.sqs.send(
        new DeleteMessageCommand({ QueueUrl: deps.callbackQueueUrl, ReceiptHandle: record.receiptHandle }),
      );
    } catch (error) {
      // The monitor deletes the message when it next sees the step answered.
      logger.warn("could not delete the callback message", { ...step.context, error: describeError(error) });
    }
  };

  /**
   * Settles the step if `resolve` (called once the step is ours) says how, terminating through the
   * invocation's `calls`. With the status table only the claim's winner resolves and acts; if anything
   * fails before SageMaker took the answer the claim is given back and the error rethrown, so a retry can
   * settle the step.
   */
  const settle = async (
    calls: BatchCalls,
    step: StepToSettle,
    resolve: () => Promise<Resolution | undefined>,
  ): Promise<SettleResult> => {
    if (!statusTable) {
      const resolution = await resolve();
      return resolution ? carryOut(calls, step, resolution) : { settled: false, because: "undecided" };
    }
    const claim = await claimStep(statusTable, step.executionJobName, step.token, deps.claimant, clock.now());
    if (!claim.claimed) {
      const current = claim.step;
      const because =
        current?.callbackToken !== step.token
          ? "replaced"
          : current.stepState === "answered"
            ? "answered"
            : "answering";
      return { settled: false, because, step: current };
    }
    const release = async () => {
      try {
        await releaseClaim(statusTable, step.executionJobName, claim.claimId);
      } catch (error) {
        // The lease runs out instead.
        logger.warn("could not release the claim", { ...step.context, error: describeError(error) });
      }
    };
    let result: Extract<SettleResult, { settled: true }>;
    try {
      const resolution = await resolve();
      if (!resolution) {
        await release();
        return { settled: false, because: "undecided", step: claim.step };
      }
      result = await carryOut(calls, step, resolution);
    } catch (error) {
      await release();
      throw error;
    }
    try {
      const marked = await markAnswered(
        statusTable,
        step.executionJobName,
        claim.claimId,
        result.refusal ? "refused" : result.answer.outcome,
        clock.now(),
      );
      if (!marked) logger.warn("the claim ran out before the step was marked answered", step.context);
    } catch (error) {
      // SageMaker has the answer; a later claimant answers again with the same request token.
      logger.error("could not mark the step answered", { ...step.context, error: describeError(error) });
    }
    await deleteCallbackMessage(step, claim.step);
    return result;
  };

  return { settle, answer };
}
