/**
 * The stack (with the records API, or with simulated jobs and no API) on this machine: every local server
 * (SQS, Batch, SageMaker, DynamoDB, S3 and the API's stage on API Gateway), the design's queues and tables
 * created in them, the functions as the closures Pulumi would upload, Lambda's part (queue subscriptions
 * with their batching windows, event rules, the API's proxy integration), SageMaker's part for every
 * execution a batch starts, and Batch's jobs run by the local default job (record-worker.ts).
 * `npm start -- --records` drives it on a frozen clock and `npm run api` on a running one.
 *
 * The functions and the runner's own clients reach SQS, Batch, SageMaker and DynamoDB in this process
 * (in-process-transports.ts); S3 stays on HTTP. Every server still listens on 127.0.0.1, so that callers
 * outside the process (curl, `npm run bridge`, an SDK) reach them over a socket as before.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startApiGateway, type ApiGatewayServer } from "../apigateway/server";
import type { BatchScenario } from "../batch/scenario";
import { startBatchServer, type BatchServer } from "../batch/server";
import { randomUUID } from "node:crypto";
import type { PreparedDesign } from "../designs/design";
import type { ScheduleTarget } from "../../render/schedules";
import { startDynamoDb, type DynamoDbServer } from "../dynamodb/server";
import { createActiveTable, dynamoDbCallCounter } from "../dynamodb/tables";
import { localCredentials, startS3Server, type S3Server } from "../s3/server";
import { startSageMakerServer, type SageMakerServer } from "../sagemaker/server";
import { startSqs, type SqsServer } from "../sqs/server";
import type { SimClock } from "../time/clock";
import { EventDelivery, QueueEventSource, type Track } from "./event-sources";
import { LambdaService } from "./lambda";
import { PipelineRuns } from "./pipeline-runs";
import { TransformJobs } from "../sagemaker/transform-jobs";
import { builtInTransformModel } from "./transform-model";
import { ModelProcesses } from "../containers/model-process";
import { RecordWorkerRuntime } from "./record-worker";
import { HttpActivity, installSimulatedProcess, localAwsEnvironment } from "./simulated-process";
import { countQueueMessages } from "./queue-messages";
import { TrackedWork } from "./tracked-work";
import { clientModulesInProcess, inProcessServer, type InProcessServer } from "./in-process-transports";

export interface RecordsWorldOptions {
  design: PreparedDesign;
  clock: SimClock;
  seed: number;
  /** How long each job runs, in simulated seconds. */
  jobDurationSeconds: number;
  /** Transform jobs' instance provisioning (default: the local SageMaker's assumption, 300 s). */
  transformProvisioningSeconds?: number;
  /**
   * The user's command as the transform jobs' model (one process per request, its logs in
   * `logsDirectory`), instead of the built-in model.
   */
  transformWorker?: { command: string; timeoutSeconds: number; logsDirectory: string };
  /** The error a record's result line holds instead of a result, or undefined. */
  failureOf(jobId: string): string | undefined;
  eventDelaySeconds: number;
  /** The API's stage on this port (default: any free port). */
  port?: number;
  /**
   * Jobs simulated as this scenario says (durations, failures) instead of run by the local default job;
   * a stack without the records API runs this way.
   */
  simulatedJobs?: Pick<BatchScenario, "jobDurationMs" | "attemptFailure">;
  /**
   * The functions and the runner's clients reach every server over HTTP on 127.0.0.1 with signed requests,
   * as an SDK outside the process does, instead of in this process (default false).
   */
  overHttp?: boolean;
}

/** The event EventBridge hands a schedule's target ("Scheduled Event"). */
function scheduledEvent(schedule: ScheduleTarget, design: PreparedDesign, at: number) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: design.accountId,
    time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: design.region,
    resources: [`arn:aws:events:${design.region}:${design.accountId}:rule/${schedule.ruleName}`],
    detail: {},
  };
}

/** The servers the functions and the runner reach in this process. */
export interface InProcessServers {
  SQS: InProcessServer;
  BATCH: InProcessServer;
  SAGEMAKER: InProcessServer;
  DYNAMODB: InProcessServer;
}

/** Everything running, and what the runner reads from it. */
export class RecordsWorld {
  private readonly work = new TrackedWork();
  private readonly cleanup: (() => Promise<void> | void)[] = [];
  private readonly dynamoDbCalls = new Map<string, number>();
  private setupSqsCalls: Record<string, number> = {};
  /** Calls the runner made to count messages, left out of the figures. */
  readonly bookkeepingCalls: Record<string, number> = {};
  sqsServer!: SqsServer;
  batchServer!: BatchServer;
  sageMakerServer!: SageMakerServer;
  s3Server!: S3Server;
  apiGateway!: ApiGatewayServer;
  lambda!: LambdaService;
  sources: QueueEventSource[] = [];
  events!: EventDelivery;
  pipelineRuns!: PipelineRuns;
  /** The local SageMaker's transform jobs (the transform engine's steps run on them). */
  transformJobs!: TransformJobs;
  /** With `transformWorker`: its processes, which the runner follows in wall time. */
  modelProcesses: ModelProcesses | undefined;
  worker!: RecordWorkerRuntime;
  activity!: HttpActivity;
  sqs!: SQSClient;
  /**
   * SQS, Batch, SageMaker and DynamoDB as clients in this process reach them (no socket, no signing);
   * undefined with `overHttp`.
   */
  inProcess: InProcessServers | undefined;

  private constructor(readonly options: RecordsWorldOptions) {}

  /** Starts the servers and the functions; `stop()` ends it all, whatever failed. */
  static async start(options: RecordsWorldOptions): Promise<RecordsWorld> {
    const world = new RecordsWorld(options);
    try {
      await world.setUp();
    } catch (error) {
      await world.stop();
      throw error;
    }
    return world;
  }

  /** Starts work the world waits for; its unexpected errors end the run. */
  readonly track: Track = this.work.track;

  /** The first unexpected error of tracked work, if any. */
  get error(): unknown {
    return this.work.error;
  }

  get design(): PreparedDesign {
    return this.options.design;
  }

  private async setUp(): Promise<void> {
    const { design, clock, seed } = this.options;
    const identity = { clock, region: design.region, accountId: design.accountId };
    const restApi = design.restApis?.[0];
    if (!restApi && !this.options.simulatedJobs) {
      throw new Error(`The ${design.pipelineName} stack has no REST API: set recordApi to true.`);
    }

    this.sqsServer = await startSqs(identity);
    this.cleanup.unshift(() => this.sqsServer.stop());
    this.s3Server = await startS3Server({ buckets: [design.data.bucket] });
    this.cleanup.unshift(() => this.s3Server.stop());
    const client = { region: design.region, credentials: localCredentials, cacheMiddleware: true };
    const s3 = new S3Client({ ...client, endpoint: this.s3Server.endpoint });
    this.cleanup.unshift(() => s3.destroy());
    this.worker = new RecordWorkerRuntime({
      clock,
      s3,
      durationMs: this.options.jobDurationSeconds * 1000,
      failureOf: this.options.failureOf,
      track: this.track,
    });
    this.batchServer = await startBatchServer({
      ...identity,
      seed,
      scenario: {
        jobQueues: design.batch.jobQueues,
        jobDefinitions: design.batch.jobDefinitions,
        ...(this.options.simulatedJobs ?? { containers: this.worker }),
        computeEnvironmentName: design.compute.computeEnvironmentName,
        maxConcurrentJobs: Math.max(1, Math.floor(design.compute.maxVcpus / design.compute.jobVcpu)),
      },
    });
    this.cleanup.unshift(() => this.batchServer.stop());
    const transformWorker = this.options.transformWorker;
    if (transformWorker) {
      this.modelProcesses = new ModelProcesses({
        command: transformWorker.command,
        awsEnvironment: Object.fromEntries(
          Object.entries(localAwsEnvironment({ S3: this.s3Server.endpoint }, design.region)).filter(
            ([, v]) => v !== "",
          ),
        ),
        logsDirectory: transformWorker.logsDirectory,
        timeoutSeconds: transformWorker.timeoutSeconds,
      });
      this.cleanup.unshift(() => this.modelProcesses?.killAll());
    }
    this.transformJobs = new TransformJobs({
      clock,
      s3,
      region: design.region,
      accountId: design.accountId,
      model: this.modelProcesses?.model ?? builtInTransformModel,
      // With a worker, processing lasts as long as its processes ran (simulated time follows them).
      processingSeconds: this.modelProcesses ? 0 : this.options.jobDurationSeconds,
      provisioningSeconds: this.options.transformProvisioningSeconds,
      track: this.track,
    });
    const model = this.modelProcesses;
    if (model) this.transformJobs.onStopping((name) => model.stopJob(name));
    this.sageMakerServer = await startSageMakerServer({
      ...identity,
      seed,
      pipelines: [design.pipelineName],
      definitions: { [design.pipelineName]: JSON.stringify(design.definition) },
      transformJobs: this.transformJobs,
    });
    this.cleanup.unshift(() => this.sageMakerServer.stop());
    const dynamoDb: DynamoDbServer = await startDynamoDb();
    this.cleanup.unshift(() => dynamoDb.stop());
    this.inProcess = this.options.overHttp
      ? undefined
      : {
          SQS: inProcessServer(this.sqsServer, "SQS"),
          BATCH: inProcessServer(this.batchServer, "BATCH"),
          SAGEMAKER: inProcessServer(this.sageMakerServer, "SAGEMAKER"),
          DYNAMODB: inProcessServer(dynamoDb, "DYNAMODB"),
        };

    const endpoints = {
      SQS: this.sqsServer.endpoint,
      BATCH: this.batchServer.endpoint,
      SAGEMAKER: this.sageMakerServer.endpoint,
      DYNAMODB: dynamoDb.endpoint,
      S3: this.s3Server.endpoint,
    };
    const env = localAwsEnvironment(endpoints, design.region);
    this.sqs = new SQSClient({
      ...client,
      endpoint: this.sqsServer.endpoint,
      ...this.inProcess?.SQS.transport,
    });
    this.cleanup.unshift(() => this.sqs.destroy());
    // Dead-letter queues first: a redrive policy must name an existing queue.
    for (const queue of [...design.queues].sort(
      (a, b) => Number(!!a.attributes.RedrivePolicy) - Number(!!b.attributes.RedrivePolicy),
    )) {
      await this.sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: queue.attributes }));
    }
    const dynamodb = new DynamoDBClient({
      ...client,
      endpoint: dynamoDb.endpoint,
      ...this.inProcess?.DYNAMODB.transport,
    });
    for (const table of design.tables) await createActiveTable(dynamodb, table);
    dynamodb.destroy();
    this.setupSqsCalls = this.sqsServer.calls();

    const restore = installSimulatedProcess(clock, seed, env);
    this.cleanup.unshift(restore);
    this.activity = new HttpActivity(dynamoDbCallCounter(dynamoDb.endpoint, this.dynamoDbCalls));
    this.cleanup.unshift(() => this.activity.close());

    const functionEnv = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
    this.lambda = new LambdaService(
      clock,
      design.functions(functionEnv, this.inProcess && clientModulesInProcess(this.inProcess)),
    );
    this.sources = design.subscriptions.map(
      (subscription) =>
        new QueueEventSource(subscription, {
          sqs: this.sqs,
          lambda: this.lambda,
          region: design.region,
          duplicateDeliveries: false,
          track: this.track,
          clock,
          visibleMessages: (queueUrl) => this.sqsServer.visibleMessages(queueUrl),
        }),
    );
    // EventBridge: Batch's and SageMaker's events, routed through the stack's rules.
    this.events = new EventDelivery(design.rules, {
      clock,
      lambda: this.lambda,
      sqs: this.sqs,
      delayMs: this.options.eventDelaySeconds * 1000,
      duplicateDeliveries: false,
      track: this.track,
    });
    this.batchServer.onStateChange((event) => this.events.publish(event));
    this.sageMakerServer.onStatusChange((event) => this.events.publish(event));
    this.pipelineRuns = new PipelineRuns({
      clock,
      sageMakerServer: this.sageMakerServer,
      lambda: this.lambda,
      sqs: this.sqs,
      definition: design.definition,
      track: this.track,
      transformJobs: this.transformJobs,
    });
    this.sageMakerServer.onExecutionStarted((execution) => this.pipelineRuns.start(execution));
    // EventBridge's schedules: the target every period, the first one period from now.
    for (const schedule of design.schedules ?? []) {
      const timer = clock.setInterval(() => {
        this.track(this.lambda.invoke(schedule.functionArn, scheduledEvent(schedule, design, clock.now())));
      }, schedule.periodSeconds * 1000);
      this.cleanup.unshift(() => clock.clearInterval(timer));
    }

    if (!restApi) return;
    this.apiGateway = await startApiGateway({
      clock,
      api: restApi,
      seed,
      accountId: design.accountId,
      port: this.options.port,
      invoke: async (functionArn, event) => {
        const result = await this.lambda.invoke(functionArn, event);
        return result.ok ? result : { ok: false, message: result.message };
      },
    });
    this.cleanup.unshift(() => this.apiGateway.stop());
  }

  /**
   * Lambda's pollers: while time flows, a receive on every subscribed queue each simulated second, one round
   * at a time, receiving while the queues give. Returns what stops them.
   */
  pollEverySecond(): () => void {
    const { clock } = this.options;
    let polling = false;
    const poller = clock.setInterval(() => {
      if (polling) return;
      polling = true;
      this.track(
        (async () => {
          try {
            while (await this.pollQueues()) {
              // Keep receiving while the queues give.
            }
          } finally {
            polling = false;
          }
        })(),
      );
    }, 1000);
    return () => clock.clearInterval(poller);
  }

  /** Lambda's pollers: one receive per subscribed queue; true when any received or handed over a batch. */
  async pollQueues(): Promise<boolean> {
    let busy = false;
    for (const source of this.sources) {
      if (await source.poll()) busy = true;
    }
    return busy;
  }

  /** True once nothing is in flight or waiting: invocations, events, executions, messages on a queue. */
  async quiet(): Promise<boolean> {
    if (this.work.pending > 0 || this.lambda.inFlight > 0 || this.events.scheduled > 0) return false;
    if (this.pipelineRuns.running > 0 || this.sources.some((s) => s.gathering > 0 || s.inFlight > 0))
      return false;
    // Every queue but the dead-letter ones: a schedule's buffer has no subscription, yet holds work.
    const working = this.design.queues.filter((q) => !this.design.deadLetterQueueNames.includes(q.name));
    return (await this.messagesOn(working.map((q) => q.url))) === 0;
  }

  /** Messages on the queues, visible or not (GetQueueAttributes, left out of the figures). */
  messagesOn(queueUrls: readonly string[]): Promise<number> {
    return countQueueMessages(this.sqs, queueUrls, this.bookkeepingCalls);
  }

  /** The dead-letter queues' messages (redrive targets and the flush's own). */
  async deadLetters(): Promise<number> {
    const urls = this.design.queues
      .filter((q) => this.design.deadLetterQueueNames.includes(q.name))
      .map((q) => q.url);
    return this.messagesOn(urls);
  }

  /** AWS calls the servers received, by service and operation (setup and bookkeeping left out). */
  apiCalls(): Record<string, Record<string, number>> {
    const sqs: Record<string, number> = {};
    for (const [operation, count] of Object.entries(this.sqsServer.calls())) {
      const left = count - (this.setupSqsCalls[operation] ?? 0) - (this.bookkeepingCalls[operation] ?? 0);
      if (left > 0) sqs[operation] = left;
    }
    return {
      ...(this.apiGateway ? { "API Gateway": this.apiGateway.calls() } : {}),
      Batch: this.batchServer.calls(),
      SageMaker: this.sageMakerServer.calls(),
      SQS: sqs,
      DynamoDB: Object.fromEntries([...this.dynamoDbCalls.entries()].sort()),
      S3: this.s3Server.calls(),
    };
  }

  /** Stops everything started, most recent first. */
  async stop(): Promise<void> {
    for (const stop of this.cleanup.splice(0)) await stop();
  }
}
