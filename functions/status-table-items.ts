/**
 * The status table: one item per pipeline execution, keyed by the execution's job name
 * (`<jobNamePrefix>-<execution id>`, what a Batch event's `detail.jobName` reveals), where the monitor
 * records a waiting Callback step and the job-event function records what Batch's events say. Either side
 * may write first, so every write is an UpdateItem upsert that leaves the other side's attributes alone.
 *
 * A step is answered through one claim: a conditional update from `waiting` to `answering` (or from an
 * `answering` claim older than the lease, whose claimant died). Only the claimant terminates, answers and
 * marks the step `answered`.
 *
 * jobs mode counts finished shards in number sets of at most `shardsPerBucket` shards, each in its own
 * item (`<execution job name>#shards-<n>`): the succeeded shards, and the failed ones (their job FAILED,
 * which Batch reports only after the last attempt; not those the bridge terminated). Adding a shard twice
 * changes nothing, and every write stays small however many shards there are (a single set of 10,000
 * shards would make each write cost ~30 write units and cap the item at ~30 writes a second).
 *
 * The submit function keeps each execution's submission claim in the same table, under
 * `<execution job name>#submission` (submission-claim.ts).
 */
import { randomUUID } from "node:crypto";
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall, type NativeAttributeValue } from "@aws-sdk/util-dynamodb";
import type { Clock } from "./clock";
import type { ExecutionJobsRef, ObservedJob } from "./execution-jobs";
import type { JobMode } from "./step-contract";

/** The table's partition key (String): the execution's job name, or a shard bucket's key. */
export const statusTableKey = "executionJobName";
/** The TTL attribute (Number, epoch seconds). */
export const statusTableTtlAttribute = "expiresAt";

/**
 * How long an item outlives its last write: the longest wait (maxWaitSeconds is at most 14 days, the SQS
 * retention limit) and a week more, as long as Batch keeps finished jobs describable.
 */
export const itemRetentionSeconds = 21 * 24 * 3600;
/**
 * A claim older than this belongs to a claimant that died: a Lambda invocation runs at most 900 s, and a
 * minute more covers clock differences between hosts.
 */
export const claimLeaseMilliseconds = 960_000;
/** Shards per succeeded-shard set: 10,000 shards fill 50 sets, read back in one BatchGetItem (<= 100 keys). */
export const shardsPerBucket = 200;

/** The table as the functions use it. */
export interface StatusTable {
  dynamodb: DynamoDBClient;
  tableName: string;
}

export type StepState = "waiting" | "answering" | "answered";

/** An execution's item. Attributes a side has not written yet are undefined. */
export interface StepRecord {
  executionJobName: string;
  executionArn?: string;
  callbackToken?: string;
  jobMode?: JobMode;
  jobRef?: string;
  shardCount?: number;
  /** The step's outputUri from the callback message, returned with a success. */
  outputUri?: string;
  /** The step's minSuccessRatio from the callback message (unset: 1). */
  minSuccessRatio?: number;
  /** The callback message's latest receipt handle, to delete it once the step is answered. */
  receiptHandle?: string;
  stepState?: StepState;
  claimId?: string;
  /** "monitor" or "job-event". */
  claimedBy?: string;
  /** Epoch milliseconds. */
  claimedAt?: number;
  answeredAt?: number;
  /** "success", "failure", or "refused" (SageMaker refused the answer for good). */
  answer?: string;
  /** The latest finished job an event reported, except jobs-mode successes (those are in the shard sets). */
  finishedJob?: ObservedJob;
  expiresAt?: number;
}

/** The step's arguments as a ref to its jobs, once the callback message has been recorded. */
export function jobsRefOf(record: StepRecord): ExecutionJobsRef | undefined {
  const { executionArn, jobMode, jobRef, shardCount, outputUri, minSuccessRatio } = record;
  if (!executionArn || !jobMode || !jobRef || !shardCount) return undefined;
  return {
    executionArn,
    jobMode,
    jobRef,
    shardCount,
    jobName: record.executionJobName,
    ...(outputUri !== undefined ? { outputUri } : {}),
    ...(minSuccessRatio !== undefined ? { minSuccessRatio } : {}),
  };
}

/** True while a claimant may still be answering (its lease has not run out). */
export function isBeingAnswered(record: StepRecord, now: number): boolean {
  return record.stepState === "answering" && (record.claimedAt ?? 0) >= now - claimLeaseMilliseconds;
}

/**
 * Milliseconds until the step's claim may be taken over: the rest of its claimant's lease, the whole lease
 * when the record does not say when it was claimed, 0 when no claim is live.
 */
export function claimLeaseLeft(record: StepRecord | undefined, now: number): number {
  if (record?.stepState !== "answering") return 0;
  if (record.claimedAt === undefined) return claimLeaseMilliseconds;
  return Math.max(0, record.claimedAt + claimLeaseMilliseconds - now);
}

/** The CreateTable input for a table of this shape (local mode and tests; the stack declares its own). */
export function statusTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [{ AttributeName: statusTableKey, AttributeType: "S" }],
    KeySchema: [{ AttributeName: statusTableKey, KeyType: "HASH" }],
  };
}

/** The wait being recorded: the callback message's token and arguments. */
export interface WaitToRecord {
  executionJobName: string;
  token: string;
  ref: ExecutionJobsRef;
  /** The Executing message's receipt handle (left out for a Stopping message). */
  receiptHandle?: string;
}

/**
 * Records a waiting step and returns the item. The same token again only refreshes the receipt handle; a
 * new token (a retried step of the same execution) starts a new wait.
 */
export async function recordWait(table: StatusTable, wait: WaitToRecord, now: number): Promise<StepRecord> {
  const outputUri = wait.ref.outputUri;
  const ratio = wait.ref.minSuccessRatio;
  // Two writers of the same new token can each find the other's write: a few rounds settle it.
  for (let round = 0; round < 3; round++) {
    const sameToken = await conditionalUpdate(table, wait.executionJobName, {
      UpdateExpression:
        "SET #expiresAt = :expiresAt" +
        (wait.receiptHandle !== undefined ? ", #receiptHandle = :receiptHandle" : ""),
      ConditionExpression: "#callbackToken = :token",
      values: {
        ":token": wait.token,
        ":expiresAt": expirySeconds(now),
        ":receiptHandle": wait.receiptHandle,
      },
    });
    if (sameToken) return sameToken;
    // A first wait keeps what events recorded; a new token (the step retried) also drops the finished job
    // the earlier attempt's events reported, which belongs to jobs the new wait no longer counts.
    for (const replacing of [false, true]) {
      const newWait = await conditionalUpdate(table, wait.executionJobName, {
        UpdateExpression:
          "SET #callbackToken = :token, #executionArn = :executionArn, #jobMode = :jobMode, " +
          "#jobRef = :jobRef, #shardCount = :shardCount, #stepState = :waiting, #expiresAt = :expiresAt" +
          (wait.receiptHandle !== undefined ? ", #receiptHandle = :receiptHandle" : "") +
          (outputUri !== undefined ? ", #outputUri = :outputUri" : "") +
          (ratio !== undefined ? ", #minSuccessRatio = :minSuccessRatio" : "") +
          " REMOVE #claimId, #claimedBy, #claimedAt, #answeredAt, #answer" +
          (wait.receiptHandle !== undefined ? "" : ", #receiptHandle") +
          (outputUri !== undefined ? "" : ", #outputUri") +
          (ratio !== undefined ? "" : ", #minSuccessRatio") +
          (replacing ? ", #finishedJob" : ""),
        ConditionExpression: replacing ? "#callbackToken <> :token" : "attribute_not_exists(#callbackToken)",
        values: {
          ":token": wait.token,
          ":executionArn": wait.ref.executionArn,
          ":jobMode": wait.ref.jobMode,
          ":jobRef": wait.ref.jobRef,
          ":shardCount": wait.ref.shardCount,
          ":waiting": "waiting",
          ":expiresAt": expirySeconds(now),
          ":receiptHandle": wait.receiptHandle,
          ":outputUri": outputUri,
          ":minSuccessRatio": ratio,
        },
      });
      if (newWait) return newWait;
    }
  }
  throw new Error(
    `Could not record the wait of ${wait.executionJobName}: concurrent writers kept conflicting.`,
  );
}

/** Records the latest finished job an event reported, and returns the item. */
export async function recordFinishedJob(
  table: StatusTable,
  executionJobName: string,
  job: ObservedJob,
  now: number,
): Promise<StepRecord> {
  const output = await table.dynamodb.send(
    new UpdateItemCommand({
      TableName: table.tableName,
      Key: key(executionJobName),
      UpdateExpression: "SET #finishedJob = :finishedJob, #expiresAt = :expiresAt",
      ExpressionAttributeNames: namesIn("SET #finishedJob = :finishedJob, #expiresAt = :expiresAt"),
      ExpressionAttributeValues: attributeValues({
        // An empty reason says nothing: it is left out.
        ":finishedJob": {
          ...job,
          statusReason: job.statusReason || undefined,
          containerReason: job.containerReason || undefined,
        },
        ":expiresAt": expirySeconds(now),
      }),
      ReturnValues: "ALL_NEW",
    }),
  );
  return stepRecord(output.Attributes ?? {}, executionJobName);
}

/** The shard bucket holding `shardIndex`, and the shards it covers of `shardCount`. */
export function shardBucket(shardIndex: number, shardCount: number): { bucket: number; capacity: number } {
  const bucket = Math.floor(shardIndex / shardsPerBucket);
  return { bucket, capacity: Math.max(0, Math.min(shardsPerBucket, shardCount - bucket * shardsPerBucket)) };
}

/** A shard bucket's finished shards: those whose job SUCCEEDED, and those whose job FAILED. */
export interface FinishedShards {
  succeededShards: Set<number>;
  failedShards: Set<number>;
}

/**
 * Adds a finished shard to its bucket's set of succeeded or failed shards; returns both sets of the bucket
 * (at most `shardsPerBucket` shards each). Returning the whole item costs no more write units.
 */
export async function recordShardFinished(
  table: StatusTable,
  executionJobName: string,
  shardIndex: number,
  status: "SUCCEEDED" | "FAILED",
  now: number,
): Promise<FinishedShards> {
  const { bucket } = shardBucket(shardIndex, shardIndex + 1);
  const update = `ADD #${status === "SUCCEEDED" ? "succeededShards" : "failedShards"} :shard SET #expiresAt = :expiresAt`;
  const output = await table.dynamodb.send(
    new UpdateItemCommand({
      TableName: table.tableName,
      Key: key(bucketKey(executionJobName, bucket)),
      UpdateExpression: update,
      ExpressionAttributeNames: namesIn(update),
      ExpressionAttributeValues: attributeValues({
        ":shard": new Set([shardIndex]),
        ":expiresAt": expirySeconds(now),
      }),
      ReturnValues: "ALL_NEW",
    }),
  );
  return finishedShardsOf(output.Attributes ?? {});
}

/** Reads the execution's item (strongly consistent), or undefined if nothing was recorded. */
export async function readStep(
  table: StatusTable,
  executionJobName: string,
): Promise<StepRecord | undefined> {
  const output = await table.dynamodb.send(
    new GetItemCommand({ TableName: table.tableName, Key: key(executionJobName), ConsistentRead: true }),
  );
  return output.Item ? stepRecord(output.Item, executionJobName) : undefined;
}

/**
 * Reads the execution's item and every finished-shard set of `shardCount` shards in one strongly
 * consistent BatchGetItem (at most 51 keys); keys DynamoDB leaves unprocessed are asked again.
 */
export async function readStepAndShards(
  table: StatusTable,
  executionJobName: string,
  shardCount: number,
  clock: Clock,
): Promise<{ step?: StepRecord } & FinishedShards> {
  const buckets = Math.ceil(shardCount / shardsPerBucket);
  let keys: Record<string, AttributeValue>[] = [
    key(executionJobName),
    ...Array.from({ length: buckets }, (_, b) => key(bucketKey(executionJobName, b))),
  ];
  const items: Record<string, AttributeValue>[] = [];
  for (let attempt = 0; keys.length > 0; attempt++) {
    if (attempt >= 8) throw new Error(`DynamoDB left ${keys.length} keys of ${executionJobName} unread.`);
    if (attempt > 0) await clock.sleep(50 * 2 ** attempt);
    const output = await table.dynamodb.send(
      new BatchGetItemCommand({ RequestItems: { [table.tableName]: { Keys: keys, ConsistentRead: true } } }),
    );
    items.push(...(output.Responses?.[table.tableName] ?? []));
    keys = output.UnprocessedKeys?.[table.tableName]?.Keys ?? [];
  }
  let step: StepRecord | undefined;
  const succeededShards = new Set<number>();
  const failedShards = new Set<number>();
  for (const item of items) {
    if (item[statusTableKey]?.S === executionJobName) step = stepRecord(item, executionJobName);
    const bucket = finishedShardsOf(item);
    for (const shard of bucket.succeededShards) succeededShards.add(shard);
    for (const shard of bucket.failedShards) failedShards.add(shard);
  }
  return { step, succeededShards, failedShards };
}

/** The result of a claim: the item, and whether this caller now holds the claim. */
export type ClaimResult =
  { claimed: true; claimId: string; step: StepRecord } | { claimed: false; step?: StepRecord };

/**
 * Claims the step of `token` for answering: only one caller at a time gets it, and only while the step
 * waits (or its claimant's lease ran out).
 */
export async function claimStep(
  table: StatusTable,
  executionJobName: string,
  token: string,
  claimedBy: string,
  now: number,
): Promise<ClaimResult> {
  const claimId = `${claimedBy}:${randomUUID()}`;
  const step = await conditionalUpdate(table, executionJobName, {
    UpdateExpression:
      "SET #stepState = :answering, #claimId = :claimId, #claimedBy = :claimedBy, #claimedAt = :now",
    ConditionExpression:
      "#callbackToken = :token AND (#stepState = :waiting OR " +
      "(#stepState = :answering AND #claimedAt < :leaseStart))",
    values: {
      ":token": token,
      ":answering": "answering",
      ":waiting": "waiting",
      ":claimId": claimId,
      ":claimedBy": claimedBy,
      ":now": now,
      ":leaseStart": now - claimLeaseMilliseconds,
    },
  });
  if (step) return { claimed: true, claimId, step };
  return { claimed: false, step: await readStep(table, executionJobName) };
}

/** Gives a claim back (nothing to answer yet, or answering failed before SageMaker took the answer). */
export async function releaseClaim(
  table: StatusTable,
  executionJobName: string,
  claimId: string,
): Promise<boolean> {
  const step = await conditionalUpdate(table, executionJobName, {
    UpdateExpression: "SET #stepState = :waiting REMOVE #claimId, #claimedBy, #claimedAt",
    ConditionExpression: "#claimId = :claimId AND #stepState = :answering",
    values: { ":claimId": claimId, ":waiting": "waiting", ":answering": "answering" },
  });
  return step !== undefined;
}

/** Marks the claimed step answered; false if the claim was no longer this caller's. */
export async function markAnswered(
  table: StatusTable,
  executionJobName: string,
  claimId: string,
  answer: "success" | "failure" | "refused",
  now: number,
): Promise<boolean> {
  const step = await conditionalUpdate(table, executionJobName, {
    UpdateExpression: "SET #stepState = :answered, #answeredAt = :now, #answer = :answer",
    ConditionExpression: "#claimId = :claimId",
    values: { ":claimId": claimId, ":answered": "answered", ":now": now, ":answer": answer },
  });
  return step !== undefined;
}

/**
 * ExpressionAttributeNames for the `#name` placeholders the expressions use, each standing for the attribute
 * of that name (DynamoDB rejects unused ones).
 */
function namesIn(...expressions: string[]): Record<string, string> {
  const placeholders = expressions.join(" ").match(/#[A-Za-z]+/g) ?? [];
  return Object.fromEntries(placeholders.map((placeholder) => [placeholder, placeholder.slice(1)]));
}

/** ExpressionAttributeValues from plain values; an undefined value is left out, as its expression part. */
function attributeValues(values: Record<string, NativeAttributeValue>): Record<string, AttributeValue> {
  return marshall(values, { removeUndefinedValues: true });
}

/** An UpdateItem returning the new item, or undefined when its condition does not hold. */
async function conditionalUpdate(
  table: StatusTable,
  executionJobName: string,
  update: {
    UpdateExpression: string;
    ConditionExpression: string;
    values: Record<string, NativeAttributeValue>;
  },
): Promise<StepRecord | undefined> {
  try {
    const output = await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: key(executionJobName),
        UpdateExpression: update.UpdateExpression,
        ConditionExpression: update.ConditionExpression,
        ExpressionAttributeNames: namesIn(update.UpdateExpression, update.ConditionExpression),
        ExpressionAttributeValues: attributeValues(update.values),
        ReturnValues: "ALL_NEW",
      }),
    );
    return stepRecord(output.Attributes ?? {}, executionJobName);
  } catch (error) {
    if (
      error instanceof ConditionalCheckFailedException ||
      (error as { name?: string })?.name === "ConditionalCheckFailedException"
    ) {
      return undefined;
    }
    throw error;
  }
}

function key(executionJobName: string): Record<string, AttributeValue> {
  return { [statusTableKey]: { S: executionJobName } };
}

/** Job names hold letters, digits, "-" and "_", so "#" never clashes with an execution's own key. */
function bucketKey(executionJobName: string, bucket: number): string {
  return `${executionJobName}#shards-${bucket}`;
}

/** The TTL attribute's value (epoch seconds) for an item written at `now`: `itemRetentionSeconds` later. */
function expirySeconds(now: number): number {
  return Math.floor(now / 1000) + itemRetentionSeconds;
}

/** The TTL attribute's value for an item written at `now`, as an attribute value. */
export function itemExpiry(now: number): AttributeValue {
  return { N: String(expirySeconds(now)) };
}

/** The shards of a shard bucket item (none for another item). */
function finishedShardsOf(item: Record<string, AttributeValue>): FinishedShards {
  const { succeededShards, failedShards } = unmarshall(item) as {
    succeededShards?: Set<number>;
    failedShards?: Set<number>;
  };
  return { succeededShards: new Set(succeededShards ?? []), failedShards: new Set(failedShards ?? []) };
}

const jobModes: readonly JobMode[] = ["array", "jobs"];
const stepStates: readonly StepState[] = ["waiting", "answering", "answered"];

/** The item as a StepRecord: its attributes, with those of unknown values left undefined. */
function stepRecord(item: Record<string, AttributeValue>, executionJobName: string): StepRecord {
  const record = unmarshall(item) as Omit<StepRecord, "executionJobName"> & {
    succeededShards?: unknown;
    failedShards?: unknown;
  };
  delete record.succeededShards;
  delete record.failedShards;
  const finished = record.finishedJob;
  return {
    ...record,
    executionJobName,
    jobMode: jobModes.find((mode) => mode === record.jobMode),
    stepState: stepStates.find((state) => state === record.stepState),
    finishedJob:
      finished?.jobId && (finished.status === "SUCCEEDED" || finished.status === "FAILED")
        ? finished
        : undefined,
  };
}
