/**
 * SQS event handlers with partial batch responses (ReportBatchItemFailures): each record is handled on
 * its own, and only the records that are to come back are reported as failures.
 */
import type { BatchClient } from "@aws-sdk/client-batch";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { BatchCalls, invocationDeadline, type BatchPacers, type InvocationContext } from "./batch-calls";
import type { Clock } from "./clock";
import { mapWithConcurrency } from "./concurrency";

/** What handling a record came to: done (the message is deleted), or retry (the message comes back). */
export type RecordOutcome = "done" | "retry";

/**
 * The handler of an SQS batch: `handleRecord` on every record, at most `concurrency` at once, all with one
 * BatchCalls on the container's pacers, retried until the invocation's end; the records it answers
 * "retry" are the batch item failures.
 */
export function recordBatchHandler(
  timing: { batch: BatchClient; clock: Clock; pacers: BatchPacers; concurrency: number },
  handleRecord: (calls: BatchCalls, record: SQSRecord) => Promise<RecordOutcome>,
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  const { batch, clock, pacers, concurrency } = timing;
  return async (event, context) => {
    const records = event.Records ?? [];
    const calls = new BatchCalls(batch, clock, pacers, invocationDeadline(clock, context));
    const outcomes = await mapWithConcurrency(records, concurrency, (record) => handleRecord(calls, record));
    return {
      batchItemFailures: records
        .filter((_, i) => outcomes[i] === "retry")
        .map((record) => ({ itemIdentifier: record.messageId })),
    };
  };
}
