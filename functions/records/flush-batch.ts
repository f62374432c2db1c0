/**
 * The flush function: turns a batch of buffered records into one pipeline execution. It writes the batch's
 * records as JSON Lines shard files (`recordsPerShard` a file) to the data bucket, starts an execution of
 * the stack's pipeline on them (InputUri, OutputUri, ShardCount), and moves each record from Queued to
 * Processing with that execution's ARN.
 *
 * Fed either by the buffer queue's event source mapping (a batch is what Lambda hands over: up to
 * recordBatchSize records, or what arrived within recordBatchWindowSeconds) or by a schedule, when it
 * drains the queue itself in batches of recordBatchSize.
 *
 * Safe to repeat: records already taken by an earlier batch (Processing) or final are left out, a batch
 * is named after its records (the same records write the same files and start the same execution, its
 * ClientRequestToken), and a record moves to Processing only from Queued. A batch that cannot be written
 * or started comes back from the queue and is tried again; at its `flushAttempts`-th receive its records
 * are marked Failed with the reason and its messages are moved to the dead-letter queue.
 */
import { createHash } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { StartPipelineExecutionCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { describeError, isTransientError } from "../aws-errors";
import { systemClock, type Clock } from "../clock";
import type { Log } from "../log";
import { mapWithConcurrency } from "../concurrency";
import { pipelineParameterNames } from "../step-contract";
import {
  batchExecutionNamePrefix,
  bufferMessageLimitBytes,
  flushAttempts,
  jobIdPattern,
  shardFileKey,
  type BufferedRecord,
  type ShardLine,
  truncatedError,
} from "./contract";
import { markFailedIfQueued, markProcessing, readStatuses, type RecordTable } from "./record-table";
import { writeText } from "./s3-objects";
import type { FlushSettings } from "./settings";

/** The flush function's collaborators. */
export interface FlushDeps {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  s3: S3Client;
  sagemaker: SageMakerClient;
  settings: FlushSettings;
  logger: Log;
  clock?: Clock;
}

/** A buffer queue message, however it was received. */
export interface FlushMessage {
  messageId: string;
  /** ApproximateReceiveCount: 1 on the first receive. */
  receiveCount: number;
  body: string;
  /** For the scheduled drain, which deletes what it handled itself. */
  receiptHandle?: string;
}

/** What one flush did: the execution it started, and which messages must come back. */
export interface FlushOutcome {
  executionArn?: string;
  records: number;
  /** Messages to receive again later (the batch could not be flushed yet). */
  retry: string[];
  /** Messages moved to the dead-letter queue. */
  deadLettered: number;
}

/** Status writes and shard uploads in flight at once. */
const concurrency = 16;
/** SQS receives and deletes at most 10 messages a call. */
const sqsBatchLimit = 10;
/** The scheduled drain stops starting batches when less than this much of its invocation is left. */
const drainReserveMilliseconds = 60_000;

/** Builds the handler for the buffer queue's event source mapping (ReportBatchItemFailures). */
export function makeFlushBatchHandler(deps: FlushDeps): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const context = flushContext(deps);
  return async (event) => {
    const messages = (event.Records ?? []).map((record) => ({
      messageId: record.messageId,
      receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? "1"),
      body: record.body,
    }));
    const outcome = await flushRecords(context, messages);
    return { batchItemFailures: outcome.retry.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/** The part of the Lambda context the scheduled drain uses. */
export interface DrainContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Builds the handler a schedule invokes: it drains the buffer queue in batches of `batchSize` records, one
 * execution each, until the queue is empty or the invocation's time runs short.
 */
export function makeScheduledFlushHandler(
  deps: FlushDeps,
): (event: unknown, context?: DrainContext) => Promise<{ batches: number; records: number }> {
  const context = flushContext(deps);
  return async (_event, invocation) => {
    let batches = 0;
    let records = 0;
    while ((invocation?.getRemainingTimeInMillis() ?? Infinity) > drainReserveMilliseconds) {
      const messages = await receiveBatch(context);
      if (messages.length === 0) break;
      const outcome = await flushRecords(context, messages);
      const retry = new Set(outcome.retry);
      await deleteMessages(
        context,
        messages.filter((m) => !retry.has(m.messageId)),
      );
      if (outcome.executionArn) batches += 1;
      records += outcome.records;
      // What must be retried stays hidden until the queue's visibility timeout: the next schedule.
      if (messages.length < deps.settings.batchSize) break;
    }
    deps.logger.info("scheduled flush", { batches, records });
    return { batches, records };
  };
}

interface FlushContext extends FlushDeps {
  table: RecordTable;
  clock: Clock;
}

function flushContext(deps: FlushDeps): FlushContext {
  const clock = deps.clock ?? systemClock();
  return {
    ...deps,
    clock,
    table: {
      dynamodb: deps.dynamodb,
      tableName: deps.settings.table,
      retentionDays: deps.settings.retentionDays,
      clock,
    },
  };
}

/** Up to `batchSize` messages, 10 a receive, until the queue has no more to give. */
async function receiveBatch(context: FlushContext): Promise<FlushMessage[]> {
  const messages: FlushMessage[] = [];
  while (messages.length < context.settings.batchSize) {
    const { Messages = [] } = await context.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: context.settings.queueUrl,
        MaxNumberOfMessages: Math.min(sqsBatchLimit, context.settings.batchSize - messages.length),
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    if (Messages.length === 0) break;
    for (const message of Messages) {
      messages.push({
        messageId: message.MessageId ?? "",
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? "1"),
        body: message.Body ?? "",
        receiptHandle: message.ReceiptHandle,
      });
    }
  }
  return messages;
}

async function deleteMessages(context: FlushContext, messages: readonly FlushMessage[]): Promise<void> {
  for (let start = 0; start < messages.length; start += sqsBatchLimit) {
    const entries = messages
      .slice(start, start + sqsBatchLimit)
      .map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle ?? "" }));
    await context.sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: context.settings.queueUrl, Entries: entries }),
    );
  }
}

/** A message read as a buffered record, or why it is not one. */
function parseMessage(message: FlushMessage): { record: BufferedRecord } | { problem: string } {
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch {
    return { problem: "the message is not JSON" };
  }
  const candidate = body as Partial<BufferedRecord> | null;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof candidate.job_id !== "string" ||
    !jobIdPattern.test(candidate.job_id) ||
    typeof candidate.submitted_at !== "string" ||
    !("record" in candidate)
  ) {
    return { problem: "the message is not a buffered record {job_id, submitted_at, record}" };
  }
  return { record: candidate as BufferedRecord };
}

/** Flushes one batch of messages; never throws for a batch that fails (its messages are retried). */
export async function flushRecords(
  context: FlushContext,
  messages: readonly FlushMessage[],
): Promise<FlushOutcome> {
  const { logger } = context;
  const malformed: { message: FlushMessage; problem: string }[] = [];
  const byJobId = new Map<string, { record: BufferedRecord; messages: FlushMessage[] }>();
  for (const message of messages) {
    const parsed = parseMessage(message);
    if ("problem" in parsed) {
      malformed.push({ message, problem: parsed.problem });
      continue;
    }
    // A record sent twice (a repeated Idempotency-Key) is flushed once; both messages go with it.
    const entry = byJobId.get(parsed.record.job_id);
    if (entry) entry.messages.push(message);
    else byJobId.set(parsed.record.job_id, { record: parsed.record, messages: [message] });
  }
  const outcome: FlushOutcome = { records: 0, retry: [], deadLettered: 0 };
  try {
    if (malformed.length > 0) {
      await deadLetter(
        context,
        malformed.map(({ message, problem }) => ({
          message,
          reason: `Malformed buffer message: ${problem}`,
        })),
      );
      outcome.deadLettered += malformed.length;
    }
    const statuses = await readStatuses(context.table, [...byJobId.keys()]);
    // Records another batch took, final ones, and ones whose item is gone (expired) are done with.
    const queued = [...byJobId.values()].filter((entry) => statuses.get(entry.record.job_id) === "Queued");
    if (queued.length === 0) {
      logger.info("flush", { messages: messages.length, decision: "nothing queued" });
      return outcome;
    }
    try {
      outcome.executionArn = await startBatch(
        context,
        queued.map((entry) => entry.record),
      );
      outcome.records = queued.length;
      logger.info("flush", {
        messages: messages.length,
        records: queued.length,
        executionArn: outcome.executionArn,
        decision: "started",
      });
    } catch (error) {
      const reason = describeError(error);
      const exhausted = queued.filter(
        (entry) => Math.max(...entry.messages.map((m) => m.receiveCount)) >= flushAttempts,
      );
      const again = queued.filter((entry) => !exhausted.includes(entry));
      outcome.retry.push(...again.flatMap((entry) => entry.messages.map((m) => m.messageId)));
      if (exhausted.length > 0) {
        const failure = truncatedError(
          `Not processed: its batch could not be started after ${flushAttempts} attempts (${reason}).`,
        );
        await mapWithConcurrency(exhausted, concurrency, (entry) =>
          markFailedIfQueued(context.table, entry.record.job_id, failure),
        );
        await deadLetter(
          context,
          exhausted.flatMap((entry) => entry.messages.map((message) => ({ message, reason: failure }))),
        );
        outcome.deadLettered += exhausted.reduce((n, entry) => n + entry.messages.length, 0);
      }
      logger.warn("flush", {
        messages: messages.length,
        records: queued.length,
        decision: exhausted.length > 0 ? "dead-lettered" : "retry",
        retried: again.length,
        failed: exhausted.length,
        transient: isTransientError(error),
        reason,
      });
    }
  } catch (error) {
    // The table or the dead-letter queue could not be reached: everything comes back later.
    logger.error("flush failed; the batch will come back", {
      messages: messages.length,
      error: describeError(error),
    });
    return { records: 0, retry: messages.map((m) => m.messageId), deadLettered: 0 };
  }
  return outcome;
}

/** Writes the shard files, starts the execution, marks the records Processing; resolves to its ARN. */
async function startBatch(context: FlushContext, records: readonly BufferedRecord[]): Promise<string> {
  const { settings, s3, sagemaker } = context;
  const batchId = createHash("sha256")
    .update(
      records
        .map((r) => r.job_id)
        .sort()
        .join("\n"),
    )
    .digest("hex");
  const folder = `${batchId.slice(0, 32)}/`;
  const inputUri = `${settings.inputUriPrefix}${folder}`;
  const outputUri = `${settings.outputUriPrefix}${folder}`;
  const shards: ShardLine[][] = [];
  for (let start = 0; start < records.length; start += settings.recordsPerShard) {
    shards.push(
      records
        .slice(start, start + settings.recordsPerShard)
        .map((r) => ({ job_id: r.job_id, record: r.record })),
    );
  }
  await mapWithConcurrency(shards, concurrency, (lines, i) =>
    writeText(
      s3,
      `${inputUri}${shardFileKey(i)}`,
      lines.map((line) => `${JSON.stringify(line)}\n`).join(""),
      "application/x-ndjson",
    ),
  );
  const { PipelineExecutionArn } = await sagemaker.send(
    new StartPipelineExecutionCommand({
      PipelineName: settings.pipelineName,
      PipelineExecutionDisplayName: `${batchExecutionNamePrefix}${batchId.slice(0, 32)}`,
      // The same records start the same execution, however often the batch is retried.
      ClientRequestToken: batchId,
      PipelineParameters: [
        { Name: pipelineParameterNames.inputUri, Value: inputUri },
        { Name: pipelineParameterNames.outputUri, Value: outputUri },
        { Name: pipelineParameterNames.shardCount, Value: String(shards.length) },
      ],
    }),
  );
  if (!PipelineExecutionArn) throw new Error("StartPipelineExecution returned no execution ARN");
  // A record another batch took meanwhile stays with it; this execution's result for it is not kept.
  await mapWithConcurrency(records, concurrency, (record) =>
    markProcessing(context.table, record.job_id, PipelineExecutionArn),
  );
  return PipelineExecutionArn;
}

/** Sends messages to the dead-letter queue with their reason (the `reason` message attribute). */
async function deadLetter(
  context: FlushContext,
  letters: readonly { message: FlushMessage; reason: string }[],
): Promise<void> {
  let group: { message: FlushMessage; reason: string }[] = [];
  let bytes = 0;
  const send = async () => {
    if (group.length === 0) return;
    const { Failed = [] } = await context.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: context.settings.deadLetterQueueUrl,
        Entries: group.map((letter, i) => ({
          Id: String(i),
          MessageBody: letter.message.body,
          // The attribute counts toward the message's size: keep it short.
          MessageAttributes: { reason: { DataType: "String", StringValue: letter.reason.slice(0, 256) } },
        })),
      }),
    );
    if (Failed.length > 0) throw new Error(`the dead-letter queue refused ${Failed.length} message(s)`);
    group = [];
    bytes = 0;
  };
  for (const letter of letters) {
    const size = Buffer.byteLength(letter.message.body) + 300;
    if (group.length === sqsBatchLimit || (group.length > 0 && bytes + size > bufferMessageLimitBytes))
      await send();
    group.push(letter);
    bytes += size;
  }
  await send();
}
