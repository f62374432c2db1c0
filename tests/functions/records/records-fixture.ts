/**
 * The record functions under test on real SDK clients against local mode's servers: DynamoDB (dynalite),
 * SQS (local-aws-sqs on a simulated clock that stands still unless a test moves it, so that a received
 * message stays hidden until then) and SageMaker in this process, as a local run's functions reach them
 * (in-process-transports.ts), and S3 (s3rver) on loopback. One set of servers per suite; each test gets its
 * own table and queues. The records e2e suite runs the same functions over HTTP with signed requests.
 */
import { expect } from "chai";
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEvent, SQSEvent } from "aws-lambda";
import { makeRecordApiHandler } from "../../../functions/records/api";
import { makeFlushBatchHandler, makeScheduledFlushHandler } from "../../../functions/records/flush-batch";
import { makeRecordStatusHandler } from "../../../functions/records/record-status";
import { getRecord, recordTableDefinition, type StoredRecord } from "../../../functions/records/record-table";
import type { FlushSettings, RecordStatusSettings } from "../../../functions/records/settings";
import { startDynamoDb } from "../../../local/dynamodb/server";
import type { RunningServer } from "../../../local/http";
import type { RequestListener } from "../../../local/in-process-http";
import { inProcessTransport } from "../../../local/runner/in-process-transports";
import { startS3Server, type S3Server } from "../../../local/s3/server";
import { startSageMakerServer, type SageMakerServer } from "../../../local/sagemaker/server";
import { startSqs, type SqsServer } from "../../../local/sqs/server";
import { SimClock } from "../../../local/time/clock";
import { localClientConfig } from "../../local/aws-config";
import { fakeClock, recordingLog } from "../factories";

export const pipelineName = "batch-bridge";
export const bucket = "batch-bridge-data-224c41e";
export const apiKeyId = "a1b2c3d4e5";

/** A REST API proxy event as API Gateway sends it to the function. */
export function apiEvent(options: {
  method: "GET" | "POST";
  resource: string;
  path?: string;
  pathParameters?: Record<string, string>;
  body?: string | null;
  headers?: Record<string, string>;
  apiKeyId?: string;
  isBase64Encoded?: boolean;
}): APIGatewayProxyEvent {
  return {
    httpMethod: options.method,
    resource: options.resource,
    path: options.path ?? options.resource,
    pathParameters: options.pathParameters ?? null,
    headers: options.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    body: options.body === undefined ? null : options.body,
    isBase64Encoded: options.isBase64Encoded ?? false,
    requestContext: { identity: { apiKeyId: options.apiKeyId ?? apiKeyId } } as never,
  };
}

export interface ApiAnswer {
  statusCode: number;
  body: Record<string, unknown>;
}

/** The local servers of one suite. */
export class RecordsWorld {
  readonly functionClock = fakeClock(Date.UTC(2030, 0, 1));
  readonly log = recordingLog();
  private tests = 0;
  /** This test's table and queues. */
  tableName = "";
  queueUrl = "";
  deadLetterQueueUrl = "";
  private executionsBefore = 0;

  private constructor(
    /** The servers' clock: SQS visibility timeouts and SageMaker's timestamps. */
    readonly clock: SimClock,
    readonly dynamoDbServer: RunningServer,
    readonly sqsServer: SqsServer,
    readonly s3Server: S3Server,
    readonly sageMakerServer: SageMakerServer,
    readonly dynamodb: DynamoDBClient,
    readonly sqs: SQSClient,
    readonly s3: S3Client,
    readonly sagemaker: SageMakerClient,
  ) {}

  static async start(): Promise<RecordsWorld> {
    const clock = new SimClock({ speed: 0, startMs: Date.UTC(2030, 0, 1) });
    const dynamoDbServer = await startDynamoDb();
    const sqsServer = await startSqs({ clock });
    const s3Server = await startS3Server({ buckets: [bucket] });
    const sageMakerServer = await startSageMakerServer({ clock, seed: 7, pipelines: [pipelineName] });
    const config = (endpoint: string) => ({ ...localClientConfig(endpoint), maxAttempts: 1 });
    const inProcess = (server: { endpoint: string; requestListener: RequestListener }, service: string) => ({
      ...config(server.endpoint),
      ...inProcessTransport(server.requestListener, service),
    });
    return new RecordsWorld(
      clock,
      dynamoDbServer,
      sqsServer,
      s3Server,
      sageMakerServer,
      new DynamoDBClient(inProcess(dynamoDbServer, "dynamodb")),
      new SQSClient(inProcess(sqsServer, "sqs")),
      new S3Client(config(s3Server.endpoint)),
      new SageMakerClient(inProcess(sageMakerServer, "sagemaker")),
    );
  }

  /** A fresh table and buffer queues for the next test. */
  async nextTest(): Promise<void> {
    this.tests += 1;
    this.tableName = `records-${this.tests}`;
    this.log.lines.length = 0;
    this.executionsBefore = this.sageMakerServer.executions().length;
    await this.dynamodb.send(new CreateTableCommand(recordTableDefinition(this.tableName)));
    // dynalite turns a table ACTIVE on a timer, even with createTableMs 0.
    await waitUntilTableExists(
      { client: this.dynamodb, maxWaitTime: 10, minDelay: 0.01, maxDelay: 0.05 },
      { TableName: this.tableName },
    );
    const attributes = { MaximumMessageSize: "1048576", VisibilityTimeout: "1860" };
    this.queueUrl = (
      await this.sqs.send(
        new CreateQueueCommand({ QueueName: `records-${this.tests}`, Attributes: attributes }),
      )
    ).QueueUrl!;
    this.deadLetterQueueUrl = (
      await this.sqs.send(
        new CreateQueueCommand({ QueueName: `records-${this.tests}-dlq`, Attributes: attributes }),
      )
    ).QueueUrl!;
  }

  get flushSettings(): FlushSettings {
    return {
      table: this.tableName,
      queueUrl: this.queueUrl,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      retentionDays: 30,
      pipelineName,
      inputUriPrefix: `s3://${bucket}/input/records/`,
      outputUriPrefix: `s3://${bucket}/output/records/`,
      recordsPerShard: 2,
      batchSize: 100,
    };
  }

  get statusSettings(): RecordStatusSettings {
    const { table, retentionDays, inputUriPrefix, outputUriPrefix } = this.flushSettings;
    return { table, retentionDays, inputUriPrefix, outputUriPrefix };
  }

  /** The API function, as API Gateway invokes it. */
  async api(event: APIGatewayProxyEvent, queueUrl = this.queueUrl): Promise<ApiAnswer> {
    const handler = makeRecordApiHandler({
      dynamodb: this.dynamodb,
      sqs: this.sqs,
      settings: { table: this.tableName, queueUrl, retentionDays: 30 },
      logger: this.log,
      clock: this.functionClock,
    });
    const answer = await handler(event);
    expect(answer.headers?.["Content-Type"]).to.equal("application/json");
    return { statusCode: answer.statusCode, body: JSON.parse(answer.body) as Record<string, unknown> };
  }

  /** `POST /job` with one record; the job_id it got. */
  async submit(record: unknown, headers: Record<string, string> = {}): Promise<string> {
    const answer = await this.api(
      apiEvent({ method: "POST", resource: "/job", body: JSON.stringify(record), headers }),
    );
    expect(answer.statusCode, JSON.stringify(answer.body)).to.equal(202);
    return answer.body.job_id as string;
  }

  flushHandler(settings: Partial<FlushSettings> = {}) {
    return makeFlushBatchHandler(this.flushDeps(settings));
  }

  scheduledFlushHandler(settings: Partial<FlushSettings> = {}) {
    return makeScheduledFlushHandler(this.flushDeps(settings));
  }

  private flushDeps(settings: Partial<FlushSettings>) {
    return {
      dynamodb: this.dynamodb,
      sqs: this.sqs,
      s3: this.s3,
      sagemaker: this.sagemaker,
      settings: { ...this.flushSettings, ...settings },
      logger: this.log,
      clock: this.functionClock,
    };
  }

  statusHandler() {
    return makeRecordStatusHandler({
      dynamodb: this.dynamodb,
      s3: this.s3,
      sagemaker: this.sagemaker,
      settings: this.statusSettings,
      logger: this.log,
      clock: this.functionClock,
    });
  }

  /** The executions started in this test, oldest first. */
  executions() {
    return this.sageMakerServer.executions().slice(this.executionsBefore);
  }

  /** Every message now visible on a queue (each receive counts), up to 10 a receive. */
  async receiveAll(queueUrl = this.queueUrl): Promise<Message[]> {
    const messages: Message[] = [];
    for (;;) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
      );
      if (Messages.length === 0) return messages;
      messages.push(...Messages);
    }
  }

  /** Messages as the event source mapping hands them to the flush function. */
  sqsEvent(messages: readonly Message[]): SQSEvent {
    return {
      Records: messages.map((message) => ({
        messageId: message.MessageId!,
        receiptHandle: message.ReceiptHandle!,
        body: message.Body!,
        attributes: {
          ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1",
          SentTimestamp: message.Attributes?.SentTimestamp ?? "",
          SenderId: "",
          ApproximateFirstReceiveTimestamp: "",
        },
        messageAttributes: {},
        md5OfBody: "",
        eventSource: "aws:sqs",
        eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:records",
        awsRegion: "us-east-1",
      })),
    };
  }

  async record(jobId: string): Promise<StoredRecord | undefined> {
    return getRecord(
      { dynamodb: this.dynamodb, tableName: this.tableName, retentionDays: 30, clock: this.functionClock },
      jobId,
    );
  }

  async stop(): Promise<void> {
    for (const client of [this.dynamodb, this.sqs, this.s3, this.sagemaker]) client.destroy();
    await this.sageMakerServer.stop();
    await this.s3Server.stop();
    await this.sqsServer.stop();
    await this.dynamoDbServer.stop();
    this.clock.stop();
  }
}
