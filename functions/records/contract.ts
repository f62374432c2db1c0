/**
 * The records front door's contract: the statuses a record goes through, the API's limits, the message a
 * record waits in on the buffer queue, the shard and result lines a worker reads and writes, where a
 * batch lives in the data bucket, and the settings the stack hands the record functions. The API, the
 * flush and status functions, the stack and local mode all take these names from here.
 */

/** Queued when accepted, Processing once its batch's execution started, then Processed or Failed. */
export const recordStatuses = ["Queued", "Processing", "Processed", "Failed"] as const;
export type RecordStatus = (typeof recordStatuses)[number];
export const finalStatuses: readonly RecordStatus[] = ["Processed", "Failed"];

/**
 * The buffer queue's message size limit: SQS accepts messages of up to 1 MiB once the queue's
 * MaximumMessageSize is raised to 1,048,576 (its default is 256 KiB; SQS Developer Guide, "Amazon SQS
 * message quotas"), and a SendMessageBatch request holds at most that much in all.
 */
export const bufferMessageLimitBytes = 1_048_576;
/** What a message holds besides the record (`{"job_id":"<uuid>","submitted_at":"<iso>","record":}`). */
const envelopeReserveBytes = 1_024;
/** The largest record, in bytes of its JSON text: what the buffer accepts less the envelope. */
export const maxRecordBytes = bufferMessageLimitBytes - envelopeReserveBytes;
/** Records one `POST /jobs` may hold. */
export const maxRecordsPerRequest = 500;
/**
 * Lambda takes at most 6 MB in a synchronous invocation (API Gateway answers 413 above it), so a request
 * body is held to this much less room for the rest of the proxy event.
 */
export const maxRequestBodyBytes = 6_000_000 - 64 * 1024;
/** An Idempotency-Key: 1-255 printable ASCII characters. */
export const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;
export const idempotencyKeyHeader = "Idempotency-Key";
/** A job_id: a UUID, as the API hands them out. */
export const jobIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A result up to this size (bytes of its JSON text) is kept in the record's status item; a larger one is
 * written to the data bucket and the item holds its `result_uri` (a DynamoDB item holds at most 400 KB,
 * and every KB read or written is billed).
 */
export const inlineResultLimitBytes = 32 * 1024;
/** An error text is kept to this many characters. */
export const errorLimitCharacters = 1_000;

/** An error text cut to `errorLimitCharacters`. */
export function truncatedError(text: string): string {
  return text.length > errorLimitCharacters ? `${text.slice(0, errorLimitCharacters - 3)}...` : text;
}

/** The record status table's key (String), and its TTL attribute (Number, epoch seconds). */
export const recordTableKey = "job_id";
export const recordTableTtlAttribute = "expires_at";

/** A record's status item, as the table holds it and `GET /job/{job_id}` shows it. */
export interface RecordItem {
  job_id: string;
  status: RecordStatus;
  /** ISO 8601, when the API accepted it. */
  submitted_at: string;
  /** From Processing on: the pipeline execution that processes it. */
  execution_arn?: string;
  /** Processed: the worker's result (any JSON value), when small enough to keep inline. */
  result?: unknown;
  /** Processed: where a larger result is, `s3://...`. */
  result_uri?: string;
  /** Failed: why. */
  error?: string;
  /** ISO 8601, once final. */
  processed_at?: string;
}

/** A record waiting on the buffer queue (the message body, JSON). */
export interface BufferedRecord {
  job_id: string;
  submitted_at: string;
  record: unknown;
}

/** A line of a shard file, as the worker reads it (JSON Lines). */
export interface ShardLine {
  job_id: string;
  record: unknown;
}

/** A line the worker writes for each record it read: its result, or why it failed. */
export type ResultLine = { job_id: string; result: unknown } | { job_id: string; error: string };

/**
 * On the transform engine, the key under which SageMaker joins a JSON input line with the model's answer
 * (JoinSource Input): a transform's output line is `{"job_id": ..., "SageMakerOutput": <prediction>}`.
 */
export const transformResultKey = "SageMakerOutput";

/** Batches live under `<inputPrefix>records/<batch>/` and `<outputPrefix>records/<batch>/`. */
export const recordsFolder = "records/";
/** A shard's file under its batch's input URI: `shard-00003/records.jsonl`. */
export function shardFileKey(shardIndex: number): string {
  return `shard-${String(shardIndex).padStart(5, "0")}/records.jsonl`;
}
/** Under a batch's output URI: where a result too large to keep inline is written. */
export const largeResultsFolder = "large-results/";

/** Executions started for a batch are named `records-<batch id>`; the status rule selects them so. */
export const batchExecutionNamePrefix = "records-";

/** A batch that could not be flushed is tried this many times (receives), then dead-lettered. */
export const flushAttempts = 5;

/**
 * Environment variables through which the stack hands its settings to the record functions (the same
 * names in local mode).
 */
export const recordEnvironmentVariables = {
  /** The record status table. */
  table: "RECORDS_TABLE",
  /** The buffer queue's URL. */
  queueUrl: "RECORDS_QUEUE_URL",
  /** Where batches that could not be flushed go. */
  deadLetterQueueUrl: "RECORDS_DEAD_LETTER_QUEUE_URL",
  /** Days a status item is kept after its last change. */
  retentionDays: "RECORDS_RETENTION_DAYS",
  /** The pipeline each batch starts an execution of. */
  pipelineName: "RECORDS_PIPELINE_NAME",
  /** `s3://bucket/<inputPrefix>records/`: batches' shard files are written under it. */
  inputUriPrefix: "RECORDS_INPUT_URI_PREFIX",
  /** `s3://bucket/<outputPrefix>records/`: batches' workers write under it. */
  outputUriPrefix: "RECORDS_OUTPUT_URI_PREFIX",
  recordsPerShard: "RECORDS_PER_SHARD",
  /** Records per batch (the scheduled flush forms batches of this size itself). */
  batchSize: "RECORDS_BATCH_SIZE",
} as const;

/** The API's routes, as API Gateway names them (the stack's OpenAPI document and the function agree). */
export const recordRoutes = {
  submitOne: { method: "POST", path: "/job" },
  submitMany: { method: "POST", path: "/jobs" },
  status: { method: "GET", path: "/job/{job_id}" },
} as const;
