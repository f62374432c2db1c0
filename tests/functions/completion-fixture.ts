/**
 * Event-driven completion under test: the monitor and the job-event function on shared clients, as in one
 * AWS account. DynamoDB is local mode's (dynalite on 127.0.0.1) and Batch is local mode's Batch server,
 * each reached by a real client; SageMaker and SQS are mocked. The tests decide when each job ends, and
 * hand the job-event function the events Batch sent.
 */
import { BatchClient, type JobDetail, type SubmitJobRequest } from "@aws-sdk/client-batch";
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
import { mockClient } from "aws-sdk-client-mock";
import { makeJobEventHandler } from "../../functions/job-event-handler";
import { executionJobName, shardJobName } from "../../functions/job-names";
import { makeMonitorHandler } from "../../functions/monitor";
import type { JobEventSettings, MonitorSettings } from "../../functions/settings";
import { executionTagKey, type JobMode } from "../../functions/step-contract";
import { startBatchServer, type BatchJobStateChangeEvent, type BatchServer } from "../../local/batch/server";
import { jobStateChangeEvent as localJobStateChangeEvent } from "../../local/batch/state-events";
import { StatusTableServer } from "../../local/dynamodb/status-table";
import { inProcessTransport } from "../../local/runner/in-process-transports";
import { SimClock } from "../../local/time/clock";
import { fakeClock, monitorSettings, recordingLog, sqsRecord } from "./factories";

export { StatusTableServer };

export const jobQueueArn = monitorSettings.jobQueue;
const region = "eu-west-1";

/** The execution an example step belongs to; with `stepName`, a named bridge step's jobs. */
export function execution(executionId: string, stepName?: string) {
  const executionArn = `arn:aws:sagemaker:eu-west-1:123456789012:pipeline/batch-bridge/execution/${executionId}`;
  return { executionId, executionArn, baseName: executionJobName("batch-bridge", executionId, stepName) };
}
export type Execution = ReturnType<typeof execution>;

/** The job definition the tests' jobs run. */
const jobDefinitionArn = "arn:aws:batch:eu-west-1:123456789012:job-definition/batch-bridge-job:1";
/** Where the local Batch's clock stands, for good: no job moves on its own. */
const batchTimeMs = Date.UTC(2025, 0, 6, 12);
const account = { region, accountId: "123456789012" };

/**
 * local mode's Batch server on loopback, for the whole suite. Its clock stands still and its jobs reach
 * RUNNING at once, so a job stays RUNNING until a test ends its attempt; it remembers the last state-change
 * event of every job, as Batch sent it. Its quota is off: time never refills it.
 */
export class LocalBatch {
  private readonly lastEvents = new Map<string, BatchJobStateChangeEvent>();

  private constructor(
    readonly server: BatchServer,
    private readonly clock: SimClock,
  ) {
    server.onStateChange((event) => this.lastEvents.set(event.detail.jobId!, event));
  }

  static async start(): Promise<LocalBatch> {
    const clock = new SimClock({ speed: 0, startMs: batchTimeMs });
    const server = await startBatchServer({
      clock,
      ...account,
      quota: false,
      seed: 1,
      scenario: {
        stateDurationsMs: { SUBMITTED: 0, RUNNABLE: 0, STARTING: 0 },
        jobQueues: [jobQueueArn],
        jobDefinitions: { [jobDefinitionArn]: {} },
      },
    });
    return new LocalBatch(server, clock);
  }

  /** The event Batch sent on the job's last state change. */
  lastEvent(jobId: string): BatchJobStateChangeEvent | undefined {
    return this.lastEvents.get(jobId);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.clock.stop();
  }
}

/** One test's jobs in the local Batch: submitted RUNNING, ended when the test says. */
export class BatchModel {
  private readonly shardJobs = new Map<string, string>();

  constructor(private readonly batch: LocalBatch) {}

  /** An array job of `size` children for `run`, all RUNNING; returns its ID. */
  addArrayJob(run: Execution, size: number): string {
    const { jobId } = this.submit(run, { jobName: run.baseName, arrayProperties: { size } });
    return jobId!;
  }

  /** jobs mode: one job per shard, named as the submit function names them, all RUNNING. */
  addShardJobs(run: Execution, shardCount: number): void {
    for (let shard = 0; shard < shardCount; shard++) {
      const { jobId } = this.submit(run, {
        jobName: shardJobName(run.baseName, shard),
        parameters: { shardCount: String(shardCount) },
      });
      this.shardJobs.set(`${run.baseName}:${shard}`, jobId!);
    }
  }

  /** A jobs-mode shard's job ID. */
  shardJobId(run: Execution, shard: number): string {
    const jobId = this.shardJobs.get(`${run.baseName}:${shard}`);
    if (!jobId) throw new Error(`no job for shard ${shard} of ${run.executionId}`);
    return jobId;
  }

  /** Ends a job's (or an array child's, `<id>:<index>`) attempt: SUCCEEDED, or FAILED with these details. */
  set(
    jobId: string,
    status: "SUCCEEDED" | "FAILED",
    details: { statusReason?: string; exitCode?: number } = {},
  ): void {
    this.batch.server.endAttemptNow(jobId, status === "FAILED" ? details : undefined);
  }

  /** DescribeJobs' view of a job. */
  describe(jobId: string): JobDetail | undefined {
    return this.batch.server.describeJobs([jobId])[0];
  }

  /** The EventBridge event Batch sent for the job's current state. */
  event(jobId: string): Record<string, unknown> {
    const event = this.batch.lastEvent(jobId);
    if (!event) throw new Error(`Batch sent no event for ${jobId}`);
    return { ...event };
  }

  private submit(run: Execution, job: Pick<SubmitJobRequest, "jobName"> & Partial<SubmitJobRequest>) {
    const submitted = this.batch.server.submitJob({
      jobQueue: jobQueueArn,
      jobDefinition: jobDefinitionArn,
      tags: { [executionTagKey]: run.executionArn },
      ...job,
    });
    // Reading applies the changes due now: with no time in any state, the job is RUNNING.
    this.batch.server.countsByState();
    return submitted;
  }
}

/** An EventBridge event for `job`, as Batch sends it. */
export function jobStateChangeEvent(
  job: Partial<JobDetail> | Record<string, unknown>,
): Record<string, unknown> {
  return { ...localJobStateChangeEvent(job as JobDetail, account, batchTimeMs) };
}

/** The callback message of a step waiting for `run`'s jobs. */
export function callbackBody(
  run: Execution,
  args: { jobMode: JobMode; jobRef: string; shardCount: number },
  overrides: Record<string, unknown> = {},
  moreArguments: Record<string, string> = {},
): Record<string, unknown> {
  return {
    token: `tok-${run.executionId}`,
    pipelineExecutionArn: run.executionArn,
    arguments: { ...args, shardCount: String(args.shardCount), ...moreArguments },
    status: "Executing",
    ...overrides,
  };
}

/**
 * Both functions on shared clients, as in one account: Batch is the suite's local Batch, reached by a real
 * client in this process (in-process-transports.ts); SageMaker and SQS are mocked; the status table is real. `monitor` overrides the monitor's
 * settings (e.g. the safety-net poll schedule the stack gives it).
 */
export async function completionFixture(
  server: StatusTableServer,
  localBatch: LocalBatch,
  monitor: Partial<MonitorSettings> = {},
) {
  const tableName = await server.createTable();
  const batch = new BatchClient({
    endpoint: localBatch.server.endpoint,
    region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    // Resolved at the first call, after the recording and stalling middleware below are added.
    cacheMiddleware: true,
    ...inProcessTransport(localBatch.server.requestListener, "batch"),
  });
  const batchCalls = recordCommands(batch);
  const stalled = stallCommands(batch);
  const sagemaker = new SageMakerClient({ region });
  const sqs = new SQSClient({ region });
  const sagemakerMock = mockClient(sagemaker);
  const sqsMock = mockClient(sqs);
  const model = new BatchModel(localBatch);
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
    /** The jobs the functions terminated, in order. */
    terminated: () =>
      batchCalls.filter((c) => c.command === "TerminateJobCommand").map((c) => String(c.input.jobId)),
    /** The visibility timeouts the monitor set: when each message comes back, in seconds. */
    delays: () =>
      sqsMock.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input.VisibilityTimeout),
    deletedMessages: () =>
      sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input.ReceiptHandle),
    /** Calls the functions made to Batch. */
    batchCalls: () => batchCalls.length,
    /**
     * Batch calls of these commands (e.g. "TerminateJobCommand") are sent but never answered, as when
     * Lambda ends an invocation at its timeout mid-call, until the set is emptied.
     */
    stalled,
  };
}

/** Records every command sent through `client`, once per call whatever its retries. */
function recordCommands(client: BatchClient): { command: string; input: Record<string, unknown> }[] {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push({ command: context.commandName ?? "unknown", input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: "initialize" },
  );
  return sent;
}
/** Commands whose calls never complete while their names are in the returned set. */
function stallCommands(client: BatchClient): Set<string> {
  const stalled = new Set<string>();
  client.middlewareStack.add(
    (next, context) => (args) =>
      stalled.has(context.commandName ?? "") ? new Promise<never>(() => {}) : next(args),
    { step: "initialize" },
  );
  return stalled;
}

export type CompletionFixture = Awaited<ReturnType<typeof completionFixture>>;
