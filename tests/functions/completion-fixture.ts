/**
 * Event-driven completion under test: the monitor and the job-event function on shared clients, as in one
 * AWS account. DynamoDB is a real server (dynalite on 127.0.0.1) reached by a real client; Batch, SageMaker
 * and SQS are mocked, Batch by a small model of one queue's jobs that both functions read and terminate.
 */
import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  TerminateJobCommand,
  type JobDetail,
  type JobSummary,
} from "@aws-sdk/client-batch";
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from "@aws-sdk/client-dynamodb";
import {
  SageMakerClient,
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
} from "@aws-sdk/client-sagemaker";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSRecord } from "aws-lambda";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { makeJobEventHandler } from "../../functions/job-event";
import { shardJobName } from "../../functions/job-names";
import { makeMonitorHandler } from "../../functions/monitor";
import type { JobEventSettings, MonitorSettings } from "../../functions/settings";
import { statusTableDefinition } from "../../functions/status-table";
import { executionTagKey } from "../../functions/step-contract";
import type { RunningServer } from "../../local/http";
import { fakeClock, monitorSettings, recordingLog, sqsRecord } from "./factories";

export const jobQueueArn = monitorSettings.jobQueue;
const region = "eu-west-1";

/**
 * local mode's DynamoDB (`startDynamoDb`, dynalite) on loopback, run in a worker thread so that the server
 * and the handlers under test use a core each, and a client to it; one table per test keeps tests apart.
 */
export class StatusTableServer {
  private constructor(
    private readonly server: RunningServer,
    readonly dynamodb: DynamoDBClient,
  ) {}
  private tables = 0;
  /** Where the server listens (`AWS_ENDPOINT_URL_DYNAMODB`). */
  get endpoint(): string {
    return this.server.endpoint;
  }
  /** Requests sent to DynamoDB so far, by operation. */
  readonly requests = new Map<string, number>();

  static async start(): Promise<StatusTableServer> {
    const server = await startDynamoDbInWorker();
    const dynamodb = new DynamoDBClient({
      endpoint: server.endpoint,
      region,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    const tableServer = new StatusTableServer(server, dynamodb);
    dynamodb.middlewareStack.add(
      (next, context) => (args) => {
        const name = context.commandName ?? "unknown";
        tableServer.requests.set(name, (tableServer.requests.get(name) ?? 0) + 1);
        return next(args);
      },
      { step: "initialize" },
    );
    return tableServer;
  }

  async createTable(): Promise<string> {
    this.tables += 1;
    const tableName = `bridge-status-${this.tables}`;
    await this.dynamodb.send(new CreateTableCommand(statusTableDefinition(tableName)));
    // dynalite turns a table ACTIVE on a timer, even with createTableMs 0.
    await waitUntilTableExists(
      { client: this.dynamodb, maxWaitTime: 10, minDelay: 0.01, maxDelay: 0.05 },
      { TableName: tableName },
    );
    return tableName;
  }

  async stop(): Promise<void> {
    this.dynamodb.destroy();
    await this.server.stop();
  }
}

/** Runs local/dynamodb.ts's `startDynamoDb()` in a worker thread; resolves with its endpoint and stop. */
async function startDynamoDbInWorker(): Promise<RunningServer> {
  const localDynamoDb = path.join(__dirname, "..", "..", "local", "dynamodb.ts");
  const worker = new Worker(
    `
    const { parentPort } = require("node:worker_threads");
    require("ts-node/register/transpile-only");
    require(${JSON.stringify(localDynamoDb)}).startDynamoDb().then((server) => {
      parentPort.postMessage(server.endpoint);
      parentPort.once("message", () => server.stop().then(() => parentPort.postMessage("stopped")));
    });
    `,
    { eval: true },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    endpoint,
    stop: async () => {
      const stopped = new Promise((resolve) => worker.once("message", resolve));
      worker.postMessage("stop");
      await stopped;
      await worker.terminate();
    },
  };
}

/** The execution an example step belongs to. */
export function execution(executionId: string) {
  const executionArn = `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`;
  return { executionId, executionArn, baseName: `batch-bridge-${executionId}` };
}
export type Execution = ReturnType<typeof execution>;

type Status = "SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING" | "RUNNING" | "SUCCEEDED" | "FAILED";
const unfinished: readonly Status[] = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"];

interface ModelJob {
  jobId: string;
  jobName: string;
  status: Status;
  executionArn: string;
  statusReason?: string;
  exitCode?: number;
  /** jobs mode: the shard count parameter. */
  shardCount?: number;
  /** Array parents: the children's states and reasons. */
  children?: { status: Status; statusReason?: string; exitCode?: number }[];
}

/** One job queue's jobs as Batch would report them, and the events it would send. */
export class BatchModel {
  readonly jobs = new Map<string, ModelJob>();

  /** An array job of `size` children, all in `status`. */
  addArrayJob(run: Execution, jobId: string, size: number, status: Status = "RUNNING"): void {
    this.jobs.set(jobId, {
      jobId,
      jobName: run.baseName,
      status: "PENDING",
      executionArn: run.executionArn,
      children: Array.from({ length: size }, () => ({ status })),
    });
  }

  /** jobs mode: one job per shard, `job-<execution id>-<shard>`, all in `status`. */
  addShardJobs(run: Execution, shardCount: number, status: Status = "RUNNING"): void {
    for (let shard = 0; shard < shardCount; shard++) {
      const jobId = shardJobId(run, shard);
      this.jobs.set(jobId, {
        jobId,
        jobName: shardJobName(run.baseName, shard),
        status,
        executionArn: run.executionArn,
        shardCount,
      });
    }
  }

  /** Sets a job's (or an array child's, `<id>:<index>`) state. */
  set(jobId: string, status: Status, details: { statusReason?: string; exitCode?: number } = {}): void {
    const [id, index] = jobId.split(":");
    const job = this.jobs.get(id);
    if (!job) throw new Error(`no job ${jobId}`);
    if (index === undefined) Object.assign(job, { status, ...details });
    else Object.assign(job.children![Number(index)], { status, ...details });
  }

  /** DescribeJobs' view of a job. */
  describe(jobId: string): JobDetail | undefined {
    const [id, index] = jobId.split(":");
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const base = {
      jobId,
      jobName: job.jobName,
      jobQueue: jobQueueArn,
      jobDefinition: "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:1",
      tags: { [executionTagKey]: job.executionArn },
      createdAt: 1,
      startedAt: 2,
    };
    if (!job.children) {
      return {
        ...base,
        status: job.status,
        statusReason: job.statusReason,
        container: job.exitCode !== undefined ? { exitCode: job.exitCode } : undefined,
        parameters: job.shardCount !== undefined ? { shardCount: String(job.shardCount) } : {},
      } as JobDetail;
    }
    if (index !== undefined) {
      const child = job.children[Number(index)];
      return {
        ...base,
        status: child.status,
        statusReason: child.statusReason,
        container: child.exitCode !== undefined ? { exitCode: child.exitCode } : undefined,
        arrayProperties: { index: Number(index) },
      } as JobDetail;
    }
    const summary: Record<string, number> = {};
    for (const child of job.children) summary[child.status] = (summary[child.status] ?? 0) + 1;
    const allDone = job.children.every((c) => !unfinished.includes(c.status));
    const status: Status = !allDone ? "PENDING" : (summary.FAILED ?? 0) > 0 ? "FAILED" : "SUCCEEDED";
    return {
      ...base,
      status,
      arrayProperties: { size: job.children.length, statusSummary: summary },
    } as JobDetail;
  }

  /** The EventBridge event Batch sends for the job's current state. */
  event(jobId: string): Record<string, unknown> {
    return jobStateChangeEvent(this.describe(jobId)!);
  }

  /** Attaches this model to a mocked Batch client. */
  serve(batchMock: AwsClientStub<BatchClient>): void {
    batchMock.on(DescribeJobsCommand).callsFake((input: { jobs: string[] }) => ({
      jobs: input.jobs.map((id) => this.describe(id)).filter((job) => job !== undefined),
    }));
    batchMock.on(ListJobsCommand).callsFake((input) => this.list(input));
    batchMock.on(TerminateJobCommand).callsFake((input: { jobId: string; reason: string }) => {
      this.terminate(input.jobId, input.reason);
      return {};
    });
  }

  private list(input: {
    arrayJobId?: string;
    jobStatus?: string;
    filters?: { name: string; values: string[] }[];
    maxResults?: number;
    nextToken?: string;
  }): { jobSummaryList: JobSummary[]; nextToken?: string } {
    const start = input.nextToken ? Number(input.nextToken) : 0;
    const end = start + (input.maxResults ?? 100);
    const page = (all: JobSummary[] | ModelJob[]) => ({
      slice: all.slice(start, end),
      nextToken: end < all.length ? String(end) : undefined,
    });
    if (input.arrayJobId) {
      const parent = this.jobs.get(input.arrayJobId);
      const children: JobSummary[] = (parent?.children ?? [])
        .map((child, index) => ({ child, index }))
        .filter(({ child }) => !input.jobStatus || child.status === input.jobStatus)
        .map(({ child, index }) => ({
          jobId: `${input.arrayJobId}:${index}`,
          jobName: parent!.jobName,
          status: child.status,
          statusReason: child.statusReason,
          container: child.exitCode !== undefined ? { exitCode: child.exitCode } : undefined,
          arrayProperties: { index },
        }));
      const { slice, nextToken } = page(children);
      return { jobSummaryList: slice as JobSummary[], nextToken };
    }
    const prefix = (input.filters?.[0]?.values[0] ?? "").replace(/\*$/, "");
    const { slice, nextToken } = page(
      [...this.jobs.values()].filter((job) => job.jobName.startsWith(prefix)),
    );
    return {
      jobSummaryList: (slice as ModelJob[]).map((job) => ({
        jobId: job.jobId,
        jobName: job.jobName,
        status: this.describe(job.jobId)!.status,
        statusReason: job.statusReason,
        container: job.exitCode !== undefined ? { exitCode: job.exitCode } : undefined,
        createdAt: 1,
      })),
      nextToken,
    };
  }

  private terminate(jobId: string, reason: string): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    for (const child of job.children ?? []) {
      if (unfinished.includes(child.status)) Object.assign(child, { status: "FAILED", statusReason: reason });
    }
    if (!job.children && unfinished.includes(job.status))
      Object.assign(job, { status: "FAILED", statusReason: reason });
  }
}

/** A jobs-mode shard's job ID in the model. */
export function shardJobId(run: Execution, shard: number): string {
  return `job-${run.executionId}-${String(shard).padStart(5, "0")}`;
}

/** An EventBridge event for `job`, as Batch sends it. */
export function jobStateChangeEvent(
  job: Partial<JobDetail> | Record<string, unknown>,
): Record<string, unknown> {
  return {
    version: "0",
    id: `event-${Math.random().toString(16).slice(2)}`,
    "detail-type": "Batch Job State Change",
    source: "aws.batch",
    account: "123456789012",
    time: "2025-01-06T12:00:00Z",
    region,
    resources: [`arn:aws:batch:eu-west-1:123456789012:job/${String(job.jobId)}`],
    detail: job,
  };
}

/** The callback message of a step waiting for `run`'s jobs. */
export function callbackBody(
  run: Execution,
  args: { jobMode: "array" | "jobs"; jobRef: string; shardCount: number },
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    token: `tok-${run.executionId}`,
    pipelineExecutionArn: run.executionArn,
    arguments: { ...args, shardCount: String(args.shardCount) },
    status: "Executing",
    ...overrides,
  };
}

/**
 * Both functions on shared (mocked) Batch, SageMaker and SQS clients and a real status table; `monitor`
 * overrides the monitor's settings (e.g. the safety-net poll schedule the stack gives it).
 */
export async function completionFixture(server: StatusTableServer, monitor: Partial<MonitorSettings> = {}) {
  const tableName = await server.createTable();
  const batch = new BatchClient({ region });
  const sagemaker = new SageMakerClient({ region });
  const sqs = new SQSClient({ region });
  const batchMock = mockClient(batch);
  const sagemakerMock = mockClient(sagemaker);
  const sqsMock = mockClient(sqs);
  const model = new BatchModel();
  model.serve(batchMock);
  sagemakerMock.on(SendPipelineExecutionStepSuccessCommand).resolves({ PipelineExecutionArn: "arn" });
  sagemakerMock.on(SendPipelineExecutionStepFailureCommand).resolves({ PipelineExecutionArn: "arn" });
  sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: "dlq-1" });
  sqsMock.on(DeleteMessageCommand).resolves({});
  const clock = fakeClock();
  const log = recordingLog();
  const settings: MonitorSettings = { ...monitorSettings, ...monitor, statusTable: tableName };
  const eventSettings: JobEventSettings = {
    jobQueue: jobQueueArn,
    jobNamePrefix: monitorSettings.jobNamePrefix,
    statusTable: tableName,
    callbackQueueUrl: monitorSettings.callbackQueueUrl,
  };
  const clients = { batch, sagemaker, sqs, dynamodb: server.dynamodb, logger: log, clock };
  const monitorHandler = makeMonitorHandler({ ...clients, settings });
  const onEvent = makeJobEventHandler({ ...clients, settings: eventSettings });

  return {
    tableName,
    model,
    batchMock,
    sagemakerMock,
    sqsMock,
    clock,
    log,
    settings,
    eventSettings,
    clients,
    onEvent,
    /** Delivers callback messages to the monitor; returns the ids SQS is told to bring back. */
    deliver: async (...records: SQSRecord[]) =>
      (await monitorHandler({ Records: records })).batchItemFailures.map((f) => f.itemIdentifier),
    message: (body: Record<string, unknown>, options: { receiveCount?: number; messageId?: string } = {}) =>
      sqsRecord({ body, sentAt: clock.now(), ...options }),
    /** Every answer SageMaker received, in order. */
    answers: () =>
      sagemakerMock.calls().map((call) => {
        const input = call.args[0].input as {
          CallbackToken: string;
          ClientRequestToken: string;
          FailureReason?: string;
          OutputParameters?: { Name: string; Value: string }[];
        };
        return {
          token: input.CallbackToken,
          outcome: input.FailureReason !== undefined ? "failure" : "success",
          reason: input.FailureReason,
          outputs: input.OutputParameters
            ? Object.fromEntries(input.OutputParameters.map((p) => [p.Name, p.Value]))
            : undefined,
          clientRequestToken: input.ClientRequestToken,
        };
      }),
    terminated: () => batchMock.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId),
    /** The visibility timeouts the monitor set: when each message comes back, in seconds. */
    delays: () =>
      sqsMock.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input.VisibilityTimeout),
    deletedMessages: () =>
      sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle),
    batchCalls: () => batchMock.calls().length,
  };
}
export type CompletionFixture = Awaited<ReturnType<typeof completionFixture>>;
