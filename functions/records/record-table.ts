/**
 * The record status table: one item per record, keyed by its job_id. The API writes it `Queued`, the flush
 * function moves it to `Processing` with its execution's ARN, the status function writes its final state.
 * Every change after the first is a conditional update, so that a repeated or late call never moves a
 * record back, and the first final answer is the one kept. Items expire `retentionDays` after their last
 * change (DynamoDB TTL).
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall, type NativeAttributeValue } from "@aws-sdk/util-dynamodb";
import type { Clock } from "../clock";
import { recordTableKey, recordTableTtlAttribute, type RecordItem, type RecordStatus } from "./contract";

/** The table as the functions use it. */
export interface RecordTable {
  dynamodb: DynamoDBClient;
  tableName: string;
  retentionDays: number;
  clock: Clock;
}

/** A record's item as the table holds it; attributes not written yet are undefined. */
interface RecordTableItem {
  [recordTableKey]: string;
  status: RecordStatus;
  /** ISO 8601, when the API accepted it. */
  submitted_at: string;
  /** With an Idempotency-Key: a hash of the request. */
  request_hash?: string;
  /** From Processing on: the pipeline execution that processes it. */
  execution_arn?: string;
  /** Processed: the worker's result as JSON text, when kept inline. */
  result_json?: string;
  /** Processed: where a larger result is, `s3://...`. */
  result_uri?: string;
  /** Failed: why. */
  error?: string;
  /** ISO 8601, once final. */
  processed_at?: string;
  /** Epoch seconds (DynamoDB TTL). */
  [recordTableTtlAttribute]: number;
}

/** BatchGetItem takes at most 100 keys, BatchWriteItem at most 25 requests. */
const batchGetLimit = 100;
const batchWriteLimit = 25;
/** Rounds of retrying what a batch call left unprocessed (throttling) before giving up. */
const unprocessedRounds = 8;

/** The CreateTable input for the table (local mode and tests; the stack declares its own). */
export function recordTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [{ AttributeName: recordTableKey, AttributeType: "S" }],
    KeySchema: [{ AttributeName: recordTableKey, KeyType: "HASH" }],
  };
}

/** A record being accepted. */
export interface NewRecord {
  jobId: string;
  submittedAt: string;
  /** With an Idempotency-Key: a hash of the request, to tell a repeat from a different request. */
  requestHash?: string;
}

function expiresAt(table: RecordTable): number {
  return Math.floor(table.clock.now() / 1000) + table.retentionDays * 86400;
}

/** A record's key as DynamoDB takes it. */
function itemKey(jobId: string): Record<string, AttributeValue> {
  return marshall({ [recordTableKey]: jobId } satisfies Pick<RecordTableItem, typeof recordTableKey>);
}

function queuedItem(table: RecordTable, record: NewRecord): Record<string, AttributeValue> {
  const item: RecordTableItem = {
    [recordTableKey]: record.jobId,
    status: "Queued",
    submitted_at: record.submittedAt,
    [recordTableTtlAttribute]: expiresAt(table),
    ...(record.requestHash ? { request_hash: record.requestHash } : {}),
  };
  return marshall(item);
}

/**
 * Writes a Queued item unless one with its job_id exists (a job_id derived from an Idempotency-Key).
 * Resolves to false when it existed.
 */
export async function putQueuedIfNew(table: RecordTable, record: NewRecord): Promise<boolean> {
  try {
    await table.dynamodb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: queuedItem(table, record),
        ConditionExpression: "attribute_not_exists(#key)",
        ExpressionAttributeNames: { "#key": recordTableKey },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** Writes Queued items of new random job_ids (no condition needed), 25 to a BatchWriteItem call. */
export async function putQueuedBatch(table: RecordTable, records: readonly NewRecord[]): Promise<void> {
  for (let start = 0; start < records.length; start += batchWriteLimit) {
    let requests = records
      .slice(start, start + batchWriteLimit)
      .map((record) => ({ PutRequest: { Item: queuedItem(table, record) } }));
    for (let round = 0; requests.length > 0; round++) {
      if (round === unprocessedRounds) throw new Error("DynamoDB left writes unprocessed (throttling)");
      if (round > 0) await table.clock.sleep(50 * 2 ** round);
      const { UnprocessedItems } = await table.dynamodb.send(
        new BatchWriteItemCommand({ RequestItems: { [table.tableName]: requests } }),
      );
      requests = (UnprocessedItems?.[table.tableName] ?? []) as typeof requests;
    }
  }
}

/** Removes an item whose record could not be queued (its job_id was never handed out). */
export async function deleteRecord(table: RecordTable, jobId: string): Promise<void> {
  await table.dynamodb.send(new DeleteItemCommand({ TableName: table.tableName, Key: itemKey(jobId) }));
}

/** A record's item as stored: what `GET /job/{job_id}` shows, and the request hash. */
export interface StoredRecord extends RecordItem {
  requestHash?: string;
}

/** A record's item (strongly consistent read), or undefined. */
export async function getRecord(table: RecordTable, jobId: string): Promise<StoredRecord | undefined> {
  const { Item } = await table.dynamodb.send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: itemKey(jobId),
      ConsistentRead: true,
    }),
  );
  return Item ? storedRecord(Item) : undefined;
}

function storedRecord(attributes: Record<string, AttributeValue>): StoredRecord {
  const item = unmarshall(attributes) as Partial<RecordTableItem>;
  const record: StoredRecord = {
    job_id: item[recordTableKey] ?? "",
    status: item.status ?? "Queued",
    submitted_at: item.submitted_at ?? "",
  };
  if (item.execution_arn) record.execution_arn = item.execution_arn;
  if (item.result_json !== undefined) record.result = JSON.parse(item.result_json);
  if (item.result_uri) record.result_uri = item.result_uri;
  if (item.error !== undefined) record.error = item.error;
  if (item.processed_at) record.processed_at = item.processed_at;
  if (item.request_hash) record.requestHash = item.request_hash;
  return record;
}

/** The status of each job_id that has an item (BatchGetItem, 100 keys a call). */
export async function readStatuses(
  table: RecordTable,
  jobIds: readonly string[],
): Promise<Map<string, RecordStatus>> {
  const statuses = new Map<string, RecordStatus>();
  const unique = [...new Set(jobIds)];
  for (let start = 0; start < unique.length; start += batchGetLimit) {
    let keys = unique.slice(start, start + batchGetLimit).map(itemKey);
    for (let round = 0; keys.length > 0; round++) {
      if (round === unprocessedRounds) throw new Error("DynamoDB left reads unprocessed (throttling)");
      if (round > 0) await table.clock.sleep(50 * 2 ** round);
      const { Responses, UnprocessedKeys } = await table.dynamodb.send(
        new BatchGetItemCommand({
          RequestItems: {
            [table.tableName]: {
              Keys: keys,
              ConsistentRead: true,
              ProjectionExpression: "#key, #status",
              ExpressionAttributeNames: { "#key": recordTableKey, "#status": "status" },
            },
          },
        }),
      );
      for (const attributes of Responses?.[table.tableName] ?? []) {
        const item = unmarshall(attributes) as Partial<
          Pick<RecordTableItem, typeof recordTableKey | "status">
        >;
        const jobId = item[recordTableKey];
        if (jobId) statuses.set(jobId, item.status ?? "Queued");
      }
      keys = (UnprocessedKeys?.[table.tableName]?.Keys ?? []) as typeof keys;
    }
  }
  return statuses;
}

/**
 * Queued -> Processing, with the execution that processes it. Resolves to false when the record was not
 * Queued (an earlier batch took it, or it is final).
 */
export async function markProcessing(
  table: RecordTable,
  jobId: string,
  executionArn: string,
): Promise<boolean> {
  return conditionalUpdate(table, jobId, {
    set: { status: "Processing", execution_arn: executionArn },
    condition: "#status = :queued",
    values: { ":queued": "Queued" },
  });
}

/** A record's final state. */
export type FinalOutcome =
  { status: "Processed"; resultJson?: string; resultUri?: string } | { status: "Failed"; error: string };

/**
 * Processing (by this execution) or still Queued -> final. Resolves to false when the record is final
 * already, or belongs to another execution.
 */
export async function markFinal(
  table: RecordTable,
  jobId: string,
  executionArn: string,
  outcome: FinalOutcome,
): Promise<boolean> {
  return conditionalUpdate(table, jobId, {
    set: {
      ...finalAttributes(table, outcome),
      execution_arn: executionArn,
    },
    condition: "(#status = :processing AND execution_arn = :arn) OR #status = :queued",
    values: { ":processing": "Processing", ":queued": "Queued", ":arn": executionArn },
  });
}

/** Queued -> Failed, for a record whose batch could never be started. */
export async function markFailedIfQueued(table: RecordTable, jobId: string, error: string): Promise<boolean> {
  return conditionalUpdate(table, jobId, {
    set: finalAttributes(table, { status: "Failed", error }),
    condition: "#status = :queued",
    values: { ":queued": "Queued" },
  });
}

/** The attributes a final state sets. */
type FinalAttributes = Pick<
  RecordTableItem,
  "status" | "processed_at" | "error" | "result_uri" | "result_json"
>;

function finalAttributes(table: RecordTable, outcome: FinalOutcome): FinalAttributes {
  const attributes: FinalAttributes = {
    status: outcome.status,
    processed_at: new Date(table.clock.now()).toISOString(),
  };
  if (outcome.status === "Failed") attributes.error = outcome.error;
  else if (outcome.resultUri !== undefined) attributes.result_uri = outcome.resultUri;
  else attributes.result_json = outcome.resultJson ?? "null";
  return attributes;
}

async function conditionalUpdate(
  table: RecordTable,
  jobId: string,
  update: {
    set: Partial<RecordTableItem>;
    condition: string;
    values: Record<string, NativeAttributeValue>;
  },
): Promise<boolean> {
  const set: Partial<RecordTableItem> = { ...update.set, [recordTableTtlAttribute]: expiresAt(table) };
  const names: Record<string, string> = { "#key": recordTableKey, "#status": "status" };
  const values: Record<string, NativeAttributeValue> = { ...update.values };
  const assignments = Object.entries(set).map(([attribute, value], i) => {
    names[`#a${i}`] = attribute;
    values[`:v${i}`] = value;
    return `#a${i} = :v${i}`;
  });
  try {
    await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: itemKey(jobId),
        UpdateExpression: `SET ${assignments.join(", ")}`,
        // The item must exist: an update never creates a record the API did not accept.
        ConditionExpression: `attribute_exists(#key) AND (${update.condition})`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: marshall(values),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
