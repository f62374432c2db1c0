/**
 * The record status function: when a batch's pipeline execution ends (SageMaker's execution status-change
 * event), every record of the batch gets its final status. The batch's records are the job_ids of its
 * shard files; each takes, in this order:
 * - its own line in the worker's output: `{"job_id", "result"}` -> Processed, `{"job_id", "error"}` ->
 *   Failed with that error;
 * - when the execution failed or was stopped, the failed step's reason -> Failed;
 * - otherwise -> Failed, "no result".
 * Each update is conditional (the record is Processing by this execution, or still Queued), so duplicated
 * or late events change nothing, and a record another execution took keeps that one's answer.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribePipelineExecutionCommand,
  ListPipelineExecutionStepsCommand,
  ListPipelineParametersForExecutionCommand,
  type SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import type { S3Client } from "@aws-sdk/client-s3";
import { systemClock, type Clock } from "../clock";
import type { Log } from "../log";
import { mapWithConcurrency } from "../concurrency";
import {
  parsePipelineExecutionEvent,
  type FinalExecutionStatus,
  type PipelineExecutionEnd,
} from "../pipeline-execution-event";
import { pipelineParameterNames } from "../step-contract";
import {
  batchExecutionNamePrefix,
  inlineResultLimitBytes,
  largeResultsFolder,
  transformResultKey,
  type ResultLine,
  truncatedError,
} from "./contract";
import { markFinal, type FinalOutcome, type RecordTable } from "./record-table";
import { jsonLines, listKeys, parseS3Uri, readText, writeText } from "./s3-objects";
import type { RecordStatusSettings } from "./settings";

/** The status function's collaborators. */
export interface RecordStatusDeps {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  sagemaker: SageMakerClient;
  settings: RecordStatusSettings;
  logger: Log;
  clock?: Clock;
}

/** What one event led to. */
export interface RecordStatusSummary {
  decision: "updated" | "ignored" | "malformed";
  executionArn?: string;
  reason?: string;
  /** Records of the batch, and how many of them this event made Processed or Failed (the rest were final). */
  records?: number;
  processed?: number;
  failed?: number;
  unchanged?: number;
}

/** The text a record gets when the worker wrote nothing for it. */
export const noResultError =
  "no result: the worker wrote no result or error line for this record (see docs/step-contract.md, records)";
/** Status writes in flight at once. */
const concurrency = 16;

/** Builds the status function's handler (the target of the batch executions' status-change rule). */
export function makeRecordStatusHandler(
  deps: RecordStatusDeps,
): (event: unknown) => Promise<RecordStatusSummary> {
  const clock = deps.clock ?? systemClock();
  const table: RecordTable = {
    dynamodb: deps.dynamodb,
    tableName: deps.settings.table,
    retentionDays: deps.settings.retentionDays,
    clock,
  };
  return async (event) => {
    const parsed = parsePipelineExecutionEvent(event);
    if (parsed.kind === "malformed") {
      // Not retried: no retry makes it well-formed.
      deps.logger.error("malformed event", { reason: parsed.reason, decision: "dropped" });
      return { decision: "malformed", reason: parsed.reason };
    }
    if (parsed.kind === "ignored") return ignored(deps, undefined, parsed.reason);
    const { end } = parsed;
    if (!end.displayName?.startsWith(batchExecutionNamePrefix)) {
      return ignored(deps, end.executionArn, "not a records batch (its display name)");
    }
    const { inputUri, outputUri } = await batchUris(deps.sagemaker, end.executionArn);
    if (
      !inputUri?.startsWith(deps.settings.inputUriPrefix) ||
      !outputUri?.startsWith(deps.settings.outputUriPrefix)
    ) {
      return ignored(deps, end.executionArn, "not a records batch (its InputUri and OutputUri)");
    }
    const summary = await settleBatch({ ...deps, table }, end, inputUri, outputUri);
    deps.logger.info("batch ended", { ...summary, status: end.status });
    return summary;
  };
}

function ignored(
  deps: RecordStatusDeps,
  executionArn: string | undefined,
  reason: string,
): RecordStatusSummary {
  deps.logger.info("event", { executionArn, decision: "ignored", reason });
  return { decision: "ignored", ...(executionArn ? { executionArn } : {}), reason };
}

/** The execution's InputUri and OutputUri parameters. */
async function batchUris(
  sagemaker: SageMakerClient,
  executionArn: string,
): Promise<{ inputUri?: string; outputUri?: string }> {
  const values = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await sagemaker.send(
      new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn: executionArn, NextToken: token }),
    );
    for (const parameter of page.PipelineParameters ?? []) {
      if (parameter.Name !== undefined) values.set(parameter.Name, parameter.Value ?? "");
    }
    token = page.NextToken;
  } while (token);
  return {
    inputUri: values.get(pipelineParameterNames.inputUri),
    outputUri: values.get(pipelineParameterNames.outputUri),
  };
}

/** Every record of the batch to its final status. */
async function settleBatch(
  context: RecordStatusDeps & { table: RecordTable },
  end: PipelineExecutionEnd,
  inputUri: string,
  outputUri: string,
): Promise<RecordStatusSummary> {
  const { s3 } = context;
  const jobIds = await shardJobIds(s3, inputUri);
  const lines = await resultLines(s3, outputUri);
  const stepReason = end.status === "Succeeded" ? undefined : await failureReason(context.sagemaker, end);
  let processed = 0;
  let failed = 0;
  let unchanged = 0;
  await mapWithConcurrency(jobIds, concurrency, async (jobId) => {
    const outcome = await finalOutcome(context, jobId, lines.get(jobId), stepReason, outputUri);
    if (!(await markFinal(context.table, jobId, end.executionArn, outcome))) unchanged += 1;
    else if (outcome.status === "Processed") processed += 1;
    else failed += 1;
  });
  return {
    decision: "updated",
    executionArn: end.executionArn,
    records: jobIds.length,
    processed,
    failed,
    unchanged,
  };
}

/** The job_ids of the batch's shard files, in order. */
async function shardJobIds(s3: S3Client, inputUri: string): Promise<string[]> {
  const { bucket } = parseS3Uri(inputUri)!;
  const jobIds: string[] = [];
  for (const key of await listKeys(s3, inputUri)) {
    for (const line of jsonLines(await readText(s3, bucket, key))) {
      const jobId = (line as { job_id?: unknown } | undefined)?.job_id;
      if (typeof jobId === "string") jobIds.push(jobId);
    }
  }
  return [...new Set(jobIds)];
}

/** The worker's result and error lines by job_id (a later line for a job_id wins). */
async function resultLines(s3: S3Client, outputUri: string): Promise<Map<string, ResultLine>> {
  const { bucket, key: prefix } = parseS3Uri(outputUri)!;
  const lines = new Map<string, ResultLine>();
  for (const key of await listKeys(s3, outputUri)) {
    if (key.startsWith(`${prefix}${largeResultsFolder}`)) continue;
    for (const line of jsonLines(await readText(s3, bucket, key))) {
      const candidate = line as Record<string, unknown> | undefined;
      if (typeof candidate !== "object" || candidate === null || typeof candidate.job_id !== "string")
        continue;
      if (typeof candidate.error === "string")
        lines.set(candidate.job_id, { job_id: candidate.job_id, error: candidate.error });
      else if ("result" in candidate)
        lines.set(candidate.job_id, { job_id: candidate.job_id, result: candidate.result });
      // A transform's output line: the record's id joined with the model's prediction.
      else if (transformResultKey in candidate)
        lines.set(candidate.job_id, { job_id: candidate.job_id, result: candidate[transformResultKey] });
    }
  }
  return lines;
}

/**
 * Why the execution did not succeed: the reason of its failed (or stopped) step, as SageMaker lists its
 * steps, else the execution's own reason, else its status.
 */
async function failureReason(sagemaker: SageMakerClient, end: PipelineExecutionEnd): Promise<string> {
  let token: string | undefined;
  const reasons: { status: string; reason: string }[] = [];
  do {
    const page = await sagemaker.send(
      new ListPipelineExecutionStepsCommand({ PipelineExecutionArn: end.executionArn, NextToken: token }),
    );
    for (const step of page.PipelineExecutionSteps ?? []) {
      if (step.FailureReason) reasons.push({ status: String(step.StepStatus), reason: step.FailureReason });
    }
    token = page.NextToken;
  } while (token);
  const stepReason = reasons.find((r) => r.status === "Failed") ?? reasons[0];
  if (stepReason) return stepReason.reason;
  const described = await sagemaker.send(
    new DescribePipelineExecutionCommand({ PipelineExecutionArn: end.executionArn }),
  );
  return described.FailureReason || `The pipeline execution ${statusWord(end.status)}.`;
}

function statusWord(status: FinalExecutionStatus): string {
  return status === "Stopped" ? "was stopped" : status.toLowerCase();
}

async function finalOutcome(
  context: RecordStatusDeps,
  jobId: string,
  line: ResultLine | undefined,
  stepReason: string | undefined,
  outputUri: string,
): Promise<FinalOutcome> {
  if (line && "error" in line) return { status: "Failed", error: truncatedError(line.error) };
  if (line) {
    const resultJson = JSON.stringify(line.result) ?? "null";
    if (Buffer.byteLength(resultJson) <= inlineResultLimitBytes) return { status: "Processed", resultJson };
    const resultUri = `${outputUri}${largeResultsFolder}${jobId}.json`;
    await writeText(context.s3, resultUri, resultJson, "application/json");
    return { status: "Processed", resultUri };
  }
  return { status: "Failed", error: truncatedError(stepReason ?? noResultError) };
}
