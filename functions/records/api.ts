/**
 * The records API function (API Gateway REST API, Lambda proxy integration): `POST /job` accepts one
 * record, `POST /jobs` up to 500, `GET /job/{job_id}` answers a record's status. A record is accepted once
 * its status item is written `Queued` and it is on the buffer queue; only then does the caller get its
 * job_id, so every job_id handed out reaches a final status. Bad requests are refused before anything is
 * written, with a JSON error naming the field and what is allowed.
 */
import { createHash, randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { describeError } from "../aws-errors";
import { systemClock, type Clock } from "../clock";
import type { Log } from "../log";
import { mapWithConcurrency } from "../concurrency";
import {
  bufferMessageLimitBytes,
  idempotencyKeyHeader,
  idempotencyKeyPattern,
  jobIdPattern,
  maxRecordBytes,
  maxRecordsPerRequest,
  maxRequestBodyBytes,
  recordRoutes,
  type BufferedRecord,
  type RecordItem,
} from "./contract";
import {
  deleteRecord,
  getRecord,
  putQueuedBatch,
  putQueuedIfNew,
  readStatuses,
  type RecordTable,
} from "./record-table";
import type { RecordApiSettings } from "./settings";

/** The API function's collaborators. */
export interface RecordApiDeps {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  settings: RecordApiSettings;
  logger: Log;
  /** Defaults to the system clock; tests pass a fake one. */
  clock?: Clock;
}

/** SendMessageBatch takes at most 10 messages. */
const sendBatchLimit = 10;
/** Status writes in flight at once for one request. */
const writeConcurrency = 16;

/** A refusal, answered as `{"message": ...}` with its HTTP status. */
function refusal(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { name: "RequestRefused", statusCode });
}

/** The HTTP status of a refusal, or undefined for any other error. */
function refusalStatus(error: unknown): number | undefined {
  return error instanceof Error && error.name === "RequestRefused"
    ? (error as Error & { statusCode: number }).statusCode
    : undefined;
}

/** Builds the API function's handler. */
export function makeRecordApiHandler(
  deps: RecordApiDeps,
): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  const clock = deps.clock ?? systemClock();
  const table: RecordTable = {
    dynamodb: deps.dynamodb,
    tableName: deps.settings.table,
    retentionDays: deps.settings.retentionDays,
    clock,
  };
  const context = { ...deps, table, clock };
  return async (event) => {
    const route = `${event.httpMethod} ${event.resource}`;
    try {
      const answer = await routeRequest(context, event, route);
      deps.logger.info("request", { route, statusCode: answer.statusCode, ...answer.logged });
      return json(answer.statusCode, answer.body);
    } catch (error) {
      const statusCode = refusalStatus(error);
      if (statusCode !== undefined) {
        const reason = (error as Error).message;
        deps.logger.info("request refused", { route, statusCode, reason });
        return json(statusCode, { message: reason });
      }
      deps.logger.error("request failed", { route, error: describeError(error) });
      return json(503, {
        message: "The records service could not take the request just now; nothing was accepted. Retry it.",
      });
    }
  };
}

interface ApiContext extends RecordApiDeps {
  table: RecordTable;
  clock: Clock;
}

interface Answer {
  statusCode: number;
  body: unknown;
  logged: Record<string, unknown>;
}

async function routeRequest(
  context: ApiContext,
  event: APIGatewayProxyEvent,
  route: string,
): Promise<Answer> {
  switch (route) {
    case `${recordRoutes.submitOne.method} ${recordRoutes.submitOne.path}`:
      return submitOne(context, event);
    case `${recordRoutes.submitMany.method} ${recordRoutes.submitMany.path}`:
      return submitMany(context, event);
    case `${recordRoutes.status.method} ${recordRoutes.status.path}`:
      return recordStatus(context, event);
    default:
      throw refusal(404, `There is no ${route}; the routes are ${describeRoutes()}.`);
  }
}

function describeRoutes(): string {
  return Object.values(recordRoutes)
    .map((r) => `${r.method} ${r.path}`)
    .join(", ");
}

/** `POST /job`: one record, any JSON value. */
async function submitOne(context: ApiContext, event: APIGatewayProxyEvent): Promise<Answer> {
  const record = parseBody(event, "the record");
  checkRecordSize(record, "The record");
  const key = idempotencyKey(event);
  const submittedAt = new Date(context.clock.now()).toISOString();
  const requestHash = key === undefined ? undefined : hashOf(["job", record]);
  const jobId = key === undefined ? randomUUID() : derivedJobId(apiKeyIdOf(event), key, 0);
  const created = await putQueuedIfNew(context.table, { jobId, submittedAt, requestHash });
  if (!created) {
    const existing = await replayOf(context, jobId, requestHash);
    if (existing.status === "Queued")
      await enqueue(context, [{ jobId, submittedAt: existing.submitted_at, record }], []);
    return {
      statusCode: 202,
      body: { job_id: jobId, status: existing.status },
      logged: { records: 1, replayed: true },
    };
  }
  await enqueue(context, [{ jobId, submittedAt, record }], [jobId]);
  return { statusCode: 202, body: { job_id: jobId, status: "Queued" }, logged: { records: 1 } };
}

/** `POST /jobs`: `{"records": [...]}`, 1 to 500 records; the job_ids come back in the same order. */
async function submitMany(context: ApiContext, event: APIGatewayProxyEvent): Promise<Answer> {
  const body = parseBody(event, 'an object {"records": [...]}');
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw refusal(400, 'The body must be a JSON object {"records": [...]}.');
  }
  const extra = Object.keys(body).filter((field) => field !== "records");
  if (extra.length > 0) {
    throw refusal(400, `The body may hold only "records", got ${extra.map((f) => `"${f}"`).join(", ")}.`);
  }
  const records = (body as { records?: unknown }).records;
  if (!Array.isArray(records) || records.length === 0) {
    throw refusal(400, `records must be an array of 1 to ${maxRecordsPerRequest} records.`);
  }
  if (records.length > maxRecordsPerRequest) {
    throw refusal(
      413,
      `records holds ${records.length} records; a request may hold at most ${maxRecordsPerRequest}.`,
    );
  }
  records.forEach((record, i) => checkRecordSize(record, `records[${i}]`));
  const key = idempotencyKey(event);
  const submittedAt = new Date(context.clock.now()).toISOString();
  if (key === undefined) {
    const accepted = records.map((record) => ({ jobId: randomUUID(), submittedAt, record }));
    await putQueuedBatch(context.table, accepted);
    await enqueue(
      context,
      accepted,
      accepted.map((r) => r.jobId),
    );
    return {
      statusCode: 202,
      body: { job_ids: accepted.map((r) => r.jobId) },
      logged: { records: accepted.length },
    };
  }

  const requestHash = hashOf(["jobs", records]);
  const apiKeyId = apiKeyIdOf(event);
  const accepted = records.map((record, i) => ({
    jobId: derivedJobId(apiKeyId, key, i),
    submittedAt,
    requestHash,
    record,
  }));
  const created = await mapWithConcurrency(accepted, writeConcurrency, (r) =>
    putQueuedIfNew(context.table, r),
  );
  const repeated = accepted.filter((_, i) => !created[i]);
  let toSend = accepted.filter((_, i) => created[i]);
  if (repeated.length > 0) {
    await replayOf(context, repeated[0].jobId, requestHash);
    // A repeat re-sends what is still Queued: a lost send is made good, a duplicate changes nothing.
    const statuses = await readStatuses(
      context.table,
      repeated.map((r) => r.jobId),
    );
    toSend = [...toSend, ...repeated.filter((r) => statuses.get(r.jobId) === "Queued")];
  }
  await enqueue(
    context,
    toSend,
    accepted.filter((_, i) => created[i]).map((r) => r.jobId),
  );
  return {
    statusCode: 202,
    body: { job_ids: accepted.map((r) => r.jobId) },
    logged: { records: accepted.length, replayed: repeated.length },
  };
}

/** `GET /job/{job_id}`. */
async function recordStatus(context: ApiContext, event: APIGatewayProxyEvent): Promise<Answer> {
  const jobId = event.pathParameters?.job_id ?? "";
  if (!jobIdPattern.test(jobId)) {
    throw refusal(
      400,
      `job_id must be a job_id this API returned (a lowercase UUID), got ${JSON.stringify(jobId)}.`,
    );
  }
  const stored = await getRecord(context.table, jobId);
  if (!stored) throw refusal(404, `No record has job_id ${jobId} (or it expired).`);
  const item: RecordItem & { requestHash?: string } = { ...stored };
  delete item.requestHash;
  return { statusCode: 200, body: item, logged: { status: item.status } };
}

/** The body as JSON; a 400 naming what was expected when it is missing or not JSON, 413 when too large. */
function parseBody(event: APIGatewayProxyEvent, expected: string): unknown {
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? "", "base64").toString("utf8")
    : (event.body ?? "");
  if (Buffer.byteLength(text) > maxRequestBodyBytes) {
    throw refusal(413, `The body is larger than ${maxRequestBodyBytes} bytes.`);
  }
  if (text.trim() === "") throw refusal(400, `The body is empty; it must be ${expected}, as JSON.`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw refusal(400, `The body is not valid JSON (${(error as Error).message}); it must be ${expected}.`);
  }
}

function checkRecordSize(record: unknown, what: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes > maxRecordBytes) {
    throw refusal(
      413,
      `${what} is ${bytes} bytes as JSON; a record may be at most ${maxRecordBytes} bytes (the buffer queue's ` +
        `1 MiB message limit less the envelope).`,
    );
  }
}

/** The Idempotency-Key header (any case), checked; undefined when absent. */
function idempotencyKey(event: APIGatewayProxyEvent): string | undefined {
  const name = Object.keys(event.headers ?? {}).find(
    (header) => header.toLowerCase() === idempotencyKeyHeader.toLowerCase(),
  );
  if (name === undefined) return undefined;
  const value = event.headers[name] ?? "";
  if (!idempotencyKeyPattern.test(value)) {
    throw refusal(
      400,
      `The ${idempotencyKeyHeader} header must be 1 to 255 printable ASCII characters without spaces, ` +
        `got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

/** Idempotency keys are the caller's: two API keys may use the same Idempotency-Key independently. */
function apiKeyIdOf(event: APIGatewayProxyEvent): string {
  return event.requestContext?.identity?.apiKeyId ?? "";
}

/** The job_id of record `index` of a request with this Idempotency-Key, as a UUID (version 8: custom). */
export function derivedJobId(apiKeyId: string, key: string, index: number): string {
  const hex = createHash("sha256").update(`${apiKeyId}\n${key}\n${index}`).digest("hex");
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function hashOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

/** The item a repeated Idempotency-Key found; 422 when it was made by a different request. */
async function replayOf(context: ApiContext, jobId: string, requestHash: string | undefined) {
  const existing = await getRecord(context.table, jobId);
  if (!existing) {
    // Written a moment ago and already expired is not possible; a concurrent first request's rollback is.
    throw new Error(`the record ${jobId} of a repeated request was not found`);
  }
  if (existing.requestHash !== requestHash) {
    throw refusal(
      422,
      `The ${idempotencyKeyHeader} was used before with a different request; use a new key for new records.`,
    );
  }
  return existing;
}

interface Pending {
  jobId: string;
  submittedAt: string;
  record: unknown;
}

/**
 * Puts records on the buffer queue. When any cannot be sent, the items of `created` (written by this
 * request) that were not sent are removed, so that no job_id that was never handed out stays Queued, and
 * the request fails.
 */
async function enqueue(
  context: ApiContext,
  records: readonly Pending[],
  created: readonly string[],
): Promise<void> {
  const { sqs, settings } = context;
  const unsent = new Set(records.map((r) => r.jobId));
  try {
    if (records.length === 1) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: settings.queueUrl, MessageBody: messageBody(records[0]) }),
      );
      unsent.clear();
      return;
    }
    for (const group of sendGroups(records)) {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: settings.queueUrl,
          Entries: group.map((r, i) => ({ Id: String(i), MessageBody: messageBody(r) })),
        }),
      );
      const failedIds = new Set(Failed.map((f) => f.Id));
      group.forEach((r, i) => {
        if (!failedIds.has(String(i))) unsent.delete(r.jobId);
      });
      if (Failed.length > 0) {
        throw new Error(`SQS refused ${Failed.length} message(s): ${Failed[0].Code}: ${Failed[0].Message}`);
      }
    }
  } catch (error) {
    const rollBack = created.filter((jobId) => unsent.has(jobId));
    await Promise.allSettled(rollBack.map((jobId) => deleteRecord(context.table, jobId)));
    throw error;
  }
}

function messageBody(record: Pending): string {
  const message: BufferedRecord = {
    job_id: record.jobId,
    submitted_at: record.submittedAt,
    record: record.record,
  };
  return JSON.stringify(message);
}

/** Groups of at most 10 messages and at most the 1 MiB a SendMessageBatch request may carry. */
function sendGroups(records: readonly Pending[]): Pending[][] {
  const groups: Pending[][] = [];
  let group: Pending[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = Buffer.byteLength(messageBody(record));
    if (group.length === sendBatchLimit || (group.length > 0 && bytes + size > bufferMessageLimitBytes)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(record);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}
