/**
 * Local mode's runner: one pipeline execution of a design, on this machine, through the same code that
 * would run in AWS, in simulated time.
 *
 * It starts SQS, Batch, SageMaker (and DynamoDB when the design has a table) on 127.0.0.1 on one frozen
 * simulated clock, creates the design's queues, tables and Batch resources, and plays SageMaker: it
 * resolves the pipeline definition's parameters and references, runs the Lambda step by invoking the
 * submit function, then the Callback step (a token, the callback message on the queue). It plays Lambda
 * too: it polls the queues for the functions subscribed to them and delivers Batch's state-change events
 * to the targets of matching rules. When everything started has come to rest, it steps the clock to the
 * next timer. The run ends when the execution has ended and what it set off has finished.
 */
import type { JobMode } from "../../functions/step-contract";
import { parseMinSuccessRatio, requiredSuccesses } from "../../functions/success-ratio";
import { SageMakerClient, StopPipelineExecutionCommand } from "@aws-sdk/client-sagemaker";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { randomUUID } from "node:crypto";
import {
  startBatchServer,
  type BatchScenario,
  type BatchServer,
  type JobStatus,
  type ScenarioJob,
} from "../batch/server";
import { SimClock, type SimTimer } from "../time/clock";
import { startDynamoDb, type DynamoDbServer } from "../dynamodb/server";
import { createActiveTable, dynamoDbCallCounter } from "../dynamodb/tables";
import type { PipelineExecutionStatus, SageMakerServer, StepAnswer } from "../sagemaker/server";
import { startSageMakerServer } from "../sagemaker/server";
import { startSqs, type SqsServer } from "../sqs/server";
import { concurrentJobs, type DesignRequest, type PreparedDesign } from "../designs/design";
import { prepareDesign } from "../designs/prepare";
import { EventDelivery, QueueEventSource, type EventCounts } from "./event-sources";
import { LambdaService } from "./lambda";
import type { CallbackStepDefinition, LambdaStepDefinition } from "../../infra/pipeline-definition";
import {
  callbackStepOutputs,
  conditionsHold,
  executionPlan,
  executionScope,
  failStepMessage,
  lambdaStepLimitSeconds,
  lambdaStepOutputs,
  lambdaStepTimedOut,
  resolveArguments,
  resolveParameters,
  type ConditionBranch,
  type DefinitionStep,
  type ExecutionScope,
  type ParameterValue,
} from "./pipeline-interpreter";
import {
  formatDuration,
  resolveScenario,
  transformRecordsPerShard,
  type ResolvedScenario,
  type Scenario,
} from "./scenario";
import {
  abandonSimulatedProcess,
  HttpActivity,
  installSimulatedProcess,
  localAwsEnvironment,
  settle,
} from "./simulated-process";
import { WorkerHost, type WorkerSummary } from "./worker-host";
import { countQueueMessages } from "./queue-messages";
import { TrackedWork } from "./tracked-work";
import { clientModulesInProcess, inProcessServer } from "./in-process-transports";
import type { ModuleLoader } from "../../render/load-handler";
import { S3Client } from "@aws-sdk/client-s3";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseS3Uri, readText, writeText } from "../../functions/records/s3-objects";
import type { Engine } from "../../infra/config/keys";
import { TransformJobs, type TransformJob, type TransformJobStatus } from "../sagemaker/transform-jobs";
import type { ModelProcesses } from "../containers/model-process";
import { builtInTransformModel } from "./transform-model";
import { runTransformStep } from "./transform-step";
import { reportUriInReason } from "../../functions/step-report";
import { localCredentials, startS3Server } from "../s3/server";

/** Simulated time at which every execution starts (fixed, so that runs repeat exactly). */
export const simulationStartMs = Date.UTC(2030, 0, 1);
/**
 * After the execution ends, the run waits at most this long for the messages it left to be handled: a
 * message can be hidden for at most 12 hours (ChangeMessageVisibility's limit), and a minute more.
 */
const drainLimitSeconds = 12 * 3600 + 60;

/** How an execution ended. */
export type Outcome = "succeeded" | "failed" | "stopped" | "no answer";

/** What the runner reports while it runs (all times simulated). */
export interface Progress {
  /** Since the execution started. */
  simulatedSeconds: number;
  executionStatus: PipelineExecutionStatus;
  /** The step running now (the last one once the execution has ended). */
  step: string | undefined;
  /** `running` (Lambda step), `waiting` (Callback step), `answered`, `failed`, `not started`. */
  stepState: string;
  /** Jobs (array children and separate jobs) by state. */
  jobs: Record<JobStatus, number>;
  /** Of the FAILED jobs, those a TerminateJob or CancelJob call stopped. */
  jobsTerminated: number;
  lambdaInvocations: number;
  /** On the transform engine: its transform jobs by status. */
  transformJobs?: Partial<Record<TransformJobStatus, number>>;
}

export interface RunOptions {
  onProgress?: (progress: Progress) => void;
  /**
   * Prepares the design to run (default: the stack rendered with the scenario's config). Tests give a
   * rendered stack of their own this way, e.g. with a function or an event rule the stack does not have.
   */
  prepareDesign?: (request: DesignRequest) => Promise<PreparedDesign>;
}

/** A step of the execution and how it went, as ListPipelineExecutionSteps would show it. */
export interface StepRecord {
  name: string;
  /** As the definition names it: Lambda, Callback, Condition, Fail, Training, ... */
  type: string;
  /** SageMaker's step status, or `Not run` for a step the execution never started. */
  status: "Executing" | "Succeeded" | "Failed" | "Stopped" | "Not run";
  /** A Condition step's outcome and branch, a failure's reason, or why a step did not run. */
  detail?: string;
}

/** The result of one execution (the `--json` object). Everything is simulated except `wallSeconds`. */
export interface Summary {
  design: ResolvedScenario["design"];
  stack: string;
  mode: JobMode;
  shards: number;
  jobDurationSeconds: number;
  /** Jobs the compute environment runs at once (the others wait RUNNABLE). */
  concurrentJobs: number;
  seed: number;
  outcome: Outcome;
  /** The outcome the scenario expects: succeeded, or the injected failure or stop. */
  expectedOutcome: Outcome;
  /** True when the execution ended as the scenario expects, reported correctly, with no job left running. */
  expected: boolean;
  /** What differed from the expectation (empty when `expected`). */
  unexpected: string[];
  /** What the scenario asked for that could not happen as asked (e.g. a stop planned after the end). */
  notes: string[];
  failureReason: string | null;
  /**
   * The step report the answer named (a failure, a stop, or a success with failed shards), or null, and
   * the file it was copied to for the user to read (null when it could not be read back).
   */
  reportUri: string | null;
  reportFile: string | null;
  /** The last Callback step's output parameters on success. */
  stepOutputs: Record<string, string> | null;
  /** Every step of the definition, in the order the execution runs them, with its status. */
  steps: StepRecord[];
  /** From the moment the outcome was decided in Batch (see `resumeLatencyFrom`) to the step's answer. */
  resumeLatencySeconds: number | null;
  resumeLatencyFrom: "last job ended" | "first shard failed" | "stop requested" | null;
  /** From the start of the execution to the end of the run. */
  simulatedSeconds: number;
  /** From the execution's start to its end (to the give-up, without one). */
  executionSeconds: number;
  /** True when the Callback step was answered: `executionSeconds` runs to the answer. */
  answered: boolean;
  wallSeconds: number;
  lambdaInvocations: Record<string, number>;
  /** Invocations that threw or timed out, by function. */
  lambdaErrors: Record<string, number>;
  /** Of those, the ones Lambda stopped at the function's timeout. */
  lambdaTimeouts: Record<string, number>;
  /** Calls stopped invocations tried to make after their timeout, refused before they were sent. */
  callsRefusedAfterTimeout: number;
  /** Calls received by the local servers, by service and operation (setup and the runner's checks excluded). */
  apiCalls: Record<string, Record<string, number>>;
  batchApiCalls: number;
  /** SageMaker calls refused, by operation and error (e.g. a second, different answer: ConflictException). */
  refusedSageMakerCalls: Record<string, Record<string, number>>;
  /** Batch calls answered 429 (quota and injected), by operation. */
  throttledBatchCalls: Record<string, number>;
  /** Jobs (array children and separate jobs) not finished when the run ended. */
  jobsLeftRunning: number;
  jobsByState: Record<JobStatus, number>;
  deadLetterMessages: number;
  /**
   * Events (Batch's and SageMaker's) that matched a rule, by source too, and deliveries made (duplicates
   * and retries included), to queues among them.
   */
  events: EventCounts;
  /** Stack config this run set over the stack file, with why. */
  configOverrides: Record<string, { value: unknown; why: string }>;
  /** With a worker: its processes, where their logs and the output are (null for simulated jobs). */
  worker: WorkerSummary | null;
  /** What ran the work: Batch jobs, or the Transform steps' transform jobs. */
  engine: Engine;
  /** On the transform engine: every transform job the execution ran (null on the Batch engine). */
  transformJobs: TransformJobSummary[] | null;
}

/** A transform job of the run, as the summary shows it (times simulated). */
export interface TransformJobSummary {
  name: string;
  status: TransformJobStatus;
  failureReason: string | null;
  /** Records the model answered (0 when it failed). */
  records: number;
  inputUri: string;
  outputUri: string;
  /** From its creation to its end (billed: provisioning included). */
  seconds: number;
}

/** The run in progress in this process: what it has started, to stop (most recent first). */
interface RunInProgress {
  cleanup: (() => Promise<void> | void)[];
}
let running: RunInProgress | undefined;

/** Runs one execution of `input` and reports it. Deterministic for a seed; one run at a time per process. */
export async function runExecution(input: Scenario = {}, options: RunOptions = {}): Promise<Summary> {
  const scenario = resolveScenario(input);
  // Runs replace process-wide timers and render the stack: they cannot overlap.
  if (running) throw new Error("A local execution is already running in this process; run one at a time.");
  const run: RunInProgress = { cleanup: [] };
  running = run;
  try {
    return await runResolved(scenario, options, run);
  } finally {
    if (running === run) running = undefined;
  }
}

/**
 * Gives up the run in progress (a test that timed out while awaiting it): stops its servers and clock and
 * puts back the process-wide state, so that later runs in the process start clean. False when none runs.
 */
export async function abandonLocalExecution(): Promise<boolean> {
  const run = running;
  running = undefined;
  const abandoned = abandonSimulatedProcess() || run !== undefined;
  for (const stop of run?.cleanup.splice(0) ?? []) await stop();
  return abandoned;
}

async function runResolved(
  scenario: ResolvedScenario,
  options: RunOptions,
  inProgress: RunInProgress,
): Promise<Summary> {
  const wallStart = performance.now();
  const design = await (options.prepareDesign ?? prepareDesign)(scenario);
  if (running !== inProgress) throw new Error("The local execution was given up before it started.");
  const { cleanup } = inProgress;
  const clock = new SimClock({ speed: 0, startMs: simulationStartMs });
  cleanup.push(() => clock.stop());
  try {
    const identity = { clock, region: design.region, accountId: design.accountId };
    const sqsServer = await startSqs(identity);
    cleanup.unshift(() => sqsServer.stop());
    let worker: WorkerHost | undefined;
    if (scenario.worker !== undefined) {
      worker = await WorkerHost.start(scenario.worker, scenario.inputDirectory, design);
      cleanup.unshift(() => worker!.stop());
    }
    // The answering functions write step reports to S3: the worker's server, else one of the run's own.
    let s3Endpoint = worker?.s3Endpoint;
    if (s3Endpoint === undefined) {
      const s3Server = await startS3Server({ buckets: [design.data.bucket] });
      cleanup.unshift(() => s3Server.stop());
      s3Endpoint = s3Server.endpoint;
    }
    const transform = executionPlan(design.definition).some(({ step }) => step.Type === "Transform");
    const work = new TrackedWork();
    let transformJobs: TransformJobs | undefined;
    let modelProcesses: ModelProcesses | undefined;
    if (transform) {
      const s3 = new S3Client({
        region: design.region,
        credentials: localCredentials,
        endpoint: s3Endpoint,
        forcePathStyle: true,
      });
      cleanup.unshift(() => s3.destroy());
      if (scenario.inputDirectory === undefined) await writeShardObjects(s3, design, scenario);
      modelProcesses = worker?.transformModel(scenario.modelTimeoutSeconds);
      transformJobs = new TransformJobs({
        clock,
        s3,
        region: design.region,
        accountId: design.accountId,
        model: modelProcesses?.model ?? builtInTransformModel,
        // With a worker, processing lasts as long as its processes ran (simulated time follows them).
        processingSeconds: modelProcesses ? 0 : scenario.jobDurationSeconds,
        track: work.track,
      });
      const model = modelProcesses;
      if (model) transformJobs.onStopping((name) => model.stopJob(name));
    }
    const jobSlots = worker?.concurrency ?? scenario.maxConcurrentJobs ?? concurrentJobs(design.compute);
    const batchServer = await startBatchServer({
      ...identity,
      seed: scenario.seed,
      throttleRate: scenario.throttleRate,
      scenario: { ...batchScenario(scenario, design, jobSlots), ...worker?.batchScenario() },
    });
    cleanup.unshift(() => batchServer.stop());
    const sageMakerServer = await startSageMakerServer({
      ...identity,
      seed: scenario.seed,
      pipelines: [design.pipelineName],
      transformJobs,
    });
    cleanup.unshift(() => sageMakerServer.stop());
    let dynamoDb: DynamoDbServer | undefined;
    if (design.tables.length > 0) {
      dynamoDb = await startDynamoDb();
      cleanup.unshift(() => dynamoDb!.stop());
    }
    const endpoints: Record<string, string> = {
      SQS: sqsServer.endpoint,
      BATCH: batchServer.endpoint,
      SAGEMAKER: sageMakerServer.endpoint,
      ...(dynamoDb ? { DYNAMODB: dynamoDb.endpoint } : {}),
      S3: s3Endpoint,
    };
    const env = localAwsEnvironment(endpoints, design.region);
    // The functions' clients and the runner's reach these servers in this process (S3 stays on HTTP).
    const inProcess = {
      SQS: inProcessServer(sqsServer, "SQS"),
      BATCH: inProcessServer(batchServer, "BATCH"),
      SAGEMAKER: inProcessServer(sageMakerServer, "SAGEMAKER"),
      ...(dynamoDb ? { DYNAMODB: inProcessServer(dynamoDb, "DYNAMODB") } : {}),
    };
    const credentials = { accessKeyId: "local", secretAccessKey: "local" };
    const client = { region: design.region, credentials, cacheMiddleware: true };
    const sqs = new SQSClient({ ...client, endpoint: sqsServer.endpoint, ...inProcess.SQS.transport });
    const sagemaker = new SageMakerClient({
      ...client,
      endpoint: sageMakerServer.endpoint,
      ...inProcess.SAGEMAKER.transport,
    });
    cleanup.unshift(() => {
      sqs.destroy();
      sagemaker.destroy();
    });

    // Dead-letter queues first: a redrive policy must name an existing queue.
    for (const queue of [...design.queues].sort(
      (a, b) => Number(!!a.attributes.RedrivePolicy) - Number(!!b.attributes.RedrivePolicy),
    )) {
      await sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: queue.attributes }));
    }
    if (dynamoDb) {
      const dynamodb = new DynamoDBClient({
        ...client,
        endpoint: dynamoDb.endpoint,
        ...inProcess.DYNAMODB?.transport,
      });
      for (const table of design.tables) await createActiveTable(dynamodb, table);
      dynamodb.destroy();
    }
    const setupCalls = sqsServer.calls();

    const dynamoDbCalls = new Map<string, number>();
    const restore = installSimulatedProcess(clock, scenario.seed, env);
    const activity = new HttpActivity(dynamoDb && dynamoDbCallCounter(dynamoDb.endpoint, dynamoDbCalls));
    let run: ExecutionRun;
    try {
      run = new ExecutionRun(scenario, design, {
        clock,
        activity,
        sqs,
        sagemaker,
        sqsServer,
        batchServer,
        sageMakerServer,
        env,
        clientModules: clientModulesInProcess(inProcess),
        jobSlots,
        worker,
        work,
        transformJobs,
        modelProcesses,
        onProgress: options.onProgress,
      });
      await run.run();
    } finally {
      activity.close();
      restore();
    }
    const apiCalls: Record<string, Record<string, number>> = {
      Batch: batchServer.calls(),
      SageMaker: sageMakerServer.calls(),
      SQS: subtract(subtract(sqsServer.calls(), setupCalls), run.bookkeepingCalls),
      ...(dynamoDb ? { DynamoDB: Object.fromEntries([...dynamoDbCalls.entries()].sort()) } : {}),
    };
    const deadLetterMessages = await countMessages(sqs, design, design.deadLetterQueueNames);
    const report = await keepReport(s3Endpoint, design.region, run.reportUri());
    const workerSummary = worker ? await worker.finish() : null;
    return {
      ...run.summary(apiCalls, deadLetterMessages, (performance.now() - wallStart) / 1000, workerSummary),
      ...report,
    };
  } finally {
    for (const stop of cleanup.splice(0)) await stop();
  }
}

/**
 * The local Batch account for a scenario: the design's queue and definition, the compute environment's
 * capacity, durations and failures.
 */
function batchScenario(scenario: ResolvedScenario, design: PreparedDesign, jobSlots: number): BatchScenario {
  return {
    jobQueues: design.batch.jobQueues,
    jobDefinitions: design.batch.jobDefinitions,
    maxConcurrentJobs: jobSlots,
    listingLagMs: scenario.listingLagSeconds * 1000,
    ...failingShardJobs(scenario.failShards, scenario.jobDurationSeconds),
  };
}

/**
 * Simulated jobs of `jobDurationSeconds`, those of the `failShards` failing with exit code 1 halfway, so that
 * the others are still running when they do.
 */
export function failingShardJobs(
  failShards: readonly number[],
  jobDurationSeconds: number,
): Pick<BatchScenario, "jobDurationMs" | "attemptFailure"> {
  const failing = new Set(failShards);
  const durationMs = jobDurationSeconds * 1000;
  return {
    jobDurationMs: (job) => (failing.has(shardOf(job) ?? -1) ? durationMs / 2 : durationMs),
    attemptFailure: (job) => {
      const shard = shardOf(job);
      return shard !== undefined && failing.has(shard)
        ? { exitCode: 1, reason: `${injectedFailure} of shard ${shard}` }
        : undefined;
    },
  };
}

/** The container reason of an injected failure, which a correct failure report passes on. */
export const injectedFailure = "injected failure";

/** Which shard a job runs: the array index, the shard variable, the shardIndex parameter or the name's number. */
export function shardOf(job: ScenarioJob): number | undefined {
  if (job.arrayIndex !== undefined) return job.arrayIndex;
  for (const candidate of [
    job.environment.BRIDGE_SHARD_INDEX,
    job.parameters.shardIndex,
    /(\d+)$/.exec(job.jobName)?.[1],
  ]) {
    if (candidate !== undefined && /^\d+$/.test(candidate)) return Number(candidate);
  }
  return undefined;
}

interface RunDeps {
  clock: SimClock;
  activity: HttpActivity;
  sqs: SQSClient;
  sagemaker: SageMakerClient;
  sqsServer: SqsServer;
  batchServer: BatchServer;
  sageMakerServer: SageMakerServer;
  env: Record<string, string>;
  /** What the functions' closures `require` packages with: SDK clients that reach the servers in process. */
  clientModules: ModuleLoader;
  /** Jobs the local Batch runs at once. */
  jobSlots: number;
  /** With a worker: the processes that run the jobs. */
  worker?: WorkerHost;
  /** The run's work (invocations, deliveries, transform jobs' processing). */
  work: TrackedWork;
  /** On the transform engine: the local SageMaker's transform jobs, and the worker as their model. */
  transformJobs?: TransformJobs;
  modelProcesses?: ModelProcesses;
  onProgress?: (progress: Progress) => void;
}

/** One execution in progress: SageMaker's part, Lambda's part, and the clock. */
class ExecutionRun {
  readonly bookkeepingCalls: Record<string, number> = {};
  private readonly lambda: LambdaService;
  private readonly sources: QueueEventSource[];
  private readonly events: EventDelivery;
  private readonly startedAt: number;
  private executionArn = "";
  private step: string | undefined;
  private stepState = "not started";
  /** Every step of the definition in the order it runs, with its status. */
  private stepRecords: StepRecord[] = [];
  /** While a simulated step runs: ends it at once (a stop). */
  private stopSimulatedStep: (() => void) | undefined;
  private callback: { token: string; arguments: unknown; queueUrl: string } | undefined;
  private stopRequestedAt: number | undefined;
  private stopSent = false;
  private answer: StepAnswer | undefined;
  private ended: { outcome: Outcome; reason: string | null; at: number } | undefined;
  private firstFailureAt: number | undefined;
  private readonly work: TrackedWork;
  private drainDeadline = 0;

  constructor(
    private readonly scenario: ResolvedScenario,
    private readonly design: PreparedDesign,
    private readonly deps: RunDeps,
  ) {
    const { clock } = deps;
    this.work = deps.work;
    this.startedAt = clock.now();
    const functionEnv = Object.fromEntries(Object.entries(deps.env).filter(([, value]) => value !== ""));
    this.lambda = new LambdaService(clock, design.functions(functionEnv, deps.clientModules));
    const track = this.work.track;
    this.sources = design.subscriptions.map(
      (subscription) =>
        new QueueEventSource(subscription, {
          sqs: deps.sqs,
          lambda: this.lambda,
          region: design.region,
          duplicateDeliveries: scenario.duplicateDeliveries,
          track,
          clock,
          visibleMessages: (queueUrl) => deps.sqsServer.visibleMessages(queueUrl),
        }),
    );
    // EventBridge: Batch's and SageMaker's events, routed through the stack's rules.
    this.events = new EventDelivery(design.rules, {
      clock,
      lambda: this.lambda,
      sqs: deps.sqs,
      delayMs: scenario.eventDelaySeconds * 1000,
      duplicateDeliveries: scenario.duplicateDeliveries,
      track,
    });
    if (design.rules.length > 0 || scenario.failShards.length > 0) {
      deps.batchServer.onStateChange((event) => {
        const detail = event.detail;
        if (detail.status === "FAILED" && detail.container?.reason?.startsWith(injectedFailure)) {
          this.firstFailureAt ??= Date.parse(event.time);
        }
        this.events.publish(event);
      });
    }
    deps.sageMakerServer.onStatusChange((event) => this.events.publish(event));
  }

  /** Runs the execution and what it sets off until both have ended (or the scenario's limits). */
  async run(): Promise<void> {
    const { clock, activity, sageMakerServer } = this.deps;
    // --shards sets the ShardCount parameter, in a definition that declares one.
    const declaresShardCount = this.design.definition.Parameters.some((p) => p.Name === "ShardCount");
    const parameters: Record<string, ParameterValue> = {
      ...this.scenario.parameters,
      ...(declaresShardCount ? { ShardCount: this.scenario.shards } : {}),
    };
    const definitionParameters = resolveParameters(this.design.definition, parameters);
    const execution = sageMakerServer.startExecution({
      pipelineName: this.design.pipelineName,
      parameters: Object.entries(definitionParameters).map(([Name, Value]) => ({
        Name,
        Value: String(Value),
      })),
    });
    this.executionArn = execution.executionArn;
    sageMakerServer.onStopRequested((stopping) => {
      if (stopping.executionArn === this.executionArn) this.onStopRequested();
    });
    if (this.scenario.stopAfterSeconds !== undefined) {
      clock.setTimeout(() => this.work.track(this.stopExecution()), this.scenario.stopAfterSeconds * 1000);
    }
    const scope = executionScope(execution.executionArn, this.design.pipelineName, definitionParameters);
    void this.runPipeline(scope).catch((error: unknown) => this.work.fail(error));

    for (;;) {
      await settle(activity, clock);
      if (this.work.error !== undefined) throw this.work.error;
      this.reportProgress();
      // Lambda polls the queues once there can be messages: the callback message, or events sent to a queue.
      const queuesInUse = this.callback !== undefined || this.events.counts().deliveredToQueues > 0;
      if (queuesInUse && (await this.pollQueues())) continue;
      const deadline = this.ended ? this.drainDeadline : this.giveUpAt();
      if (this.ended && (await this.drained())) break;
      if (clock.now() >= deadline) {
        if (!this.ended) this.giveUp();
        if (clock.now() >= this.drainDeadline) break;
        continue;
      }
      const runtime = this.deps.worker?.runtime;
      if (runtime && (runtime.running > 0 || runtime.undelivered > 0)) {
        await this.followProcesses(deadline);
        continue;
      }
      if (this.deps.modelProcesses && this.deps.modelProcesses.running > 0) {
        await this.followModel(deadline);
        continue;
      }
      if (clock.advanceToNextTimer(deadline) === undefined) clock.advanceTo(deadline);
    }
    this.reportProgress();
  }

  /**
   * While worker processes run, simulated time follows the wall clock: the run waits for a process to exit
   * or for the next timer's time to come, moves the clock by the wall time that passed (never past that
   * timer), then reports the exits at that time. So a job is RUNNING in simulated time exactly as long as
   * its process ran, and timers (a job timeout, the monitor's next check) fire when they are due.
   */
  private async followProcesses(deadline: number): Promise<void> {
    const { clock } = this.deps;
    const runtime = this.deps.worker!.runtime;
    const until = Math.min(clock.nextTimerAt() ?? deadline, deadline);
    const simStart = clock.now();
    const wallStart = performance.now();
    await runtime.waitForExit(until - simStart);
    clock.advanceTo(Math.min(until, simStart + (performance.now() - wallStart)));
    runtime.deliverExits();
  }

  /** As followProcesses, while the worker answers a transform job's request as its model. */
  private async followModel(deadline: number): Promise<void> {
    const { clock } = this.deps;
    const until = Math.min(clock.nextTimerAt() ?? deadline, deadline);
    const simStart = clock.now();
    const wallStart = performance.now();
    await this.deps.modelProcesses!.waitForIdle(until - simStart);
    clock.advanceTo(Math.min(until, simStart + (performance.now() - wallStart)));
  }

  /**
   * SageMaker's part: the definition's steps in dependency order (executionPlan), one at a time. The local
   * SageMaker holds the execution's status: a stop makes it Stopping, and it becomes Stopped when the
   * running step ends (a Lambda step runs to its end; a Callback step ends with its answer; a simulated
   * step of another type is stopped at once); a stopped execution starts no later step. A Condition step
   * runs one of its branches; a step whose branch was not taken, or that depends on a step that did not
   * run, does not run. A Fail step fails the execution with its message.
   */
  private async runPipeline(scope: ExecutionScope): Promise<void> {
    const { sageMakerServer } = this.deps;
    const plan = executionPlan(this.design.definition);
    this.stepRecords = plan.map(({ step }) => ({ name: step.Name, type: step.Type, status: "Not run" }));
    const chosen = new Map<string, ConditionBranch>();
    for (const [index, { step, dependsOn, branchOf }] of plan.entries()) {
      const record = this.stepRecords[index];
      if (branchOf && chosen.get(branchOf.condition) !== branchOf.branch) {
        record.detail = `${branchOf.condition} chose ${branchOf.branch === "IfSteps" ? "ElseSteps" : "IfSteps"}`;
        continue;
      }
      const notRun = dependsOn.find((name) => this.stepRecord(name)?.status !== "Succeeded");
      if (notRun !== undefined) {
        record.detail = `${notRun} did not run`;
        continue;
      }
      if (sageMakerServer.execution(this.executionArn)?.status === "Stopped") {
        this.end("stopped", "Pipeline execution stopped before the step started.");
        return;
      }
      this.step = step.Name;
      record.status = "Executing";
      const ended = await this.runStep(step, scope, record, chosen);
      if (ended) return;
      record.status = "Succeeded";
    }
    sageMakerServer.setExecutionStatus(this.executionArn, "Succeeded");
    this.end("succeeded", null);
  }

  /** The record of the step with this name. */
  private stepRecord(name: string): StepRecord | undefined {
    return this.stepRecords.find((record) => record.name === name);
  }

  /** Runs one step; true when it ended the execution (failed or stopped). */
  private async runStep(
    step: DefinitionStep,
    scope: ExecutionScope,
    record: StepRecord,
    chosen: Map<string, ConditionBranch>,
  ): Promise<boolean> {
    const { sageMakerServer } = this.deps;
    const stopped = (detail: string) => {
      record.status = "Stopped";
      this.end("stopped", detail);
      return true;
    };
    const failed = (reason: string) => {
      record.status = "Failed";
      record.detail = reason;
      // A Callback step stays `answered`: its answer failed it.
      if (step.Type !== "Callback") this.stepState = "failed";
      this.end("failed", reason);
      return true;
    };
    switch (step.Type) {
      case "Lambda": {
        this.stepState = "running";
        this.reportProgress();
        sageMakerServer.startLambdaStep(this.executionArn, step.Name);
        const reason = await this.runLambdaStep(step as unknown as LambdaStepDefinition, scope);
        const status = sageMakerServer.endLambdaStep(this.executionArn, reason);
        if (status === "Stopped") {
          this.stepState = reason === undefined ? "ended" : "failed";
          return stopped(
            `Pipeline execution stopped during step ${step.Name}: a Lambda step runs to its end, ` +
              `then no later step starts.${reason === undefined ? "" : ` The step failed: ${reason}`}`,
          );
        }
        return reason !== undefined ? failed(reason) : false;
      }
      case "Callback": {
        this.stepState = "waiting";
        this.reportProgress();
        const answer = await this.runCallbackStep(step as unknown as CallbackStepDefinition, scope);
        this.stepState = "answered";
        const status = sageMakerServer.execution(this.executionArn)?.status;
        if (status === "Stopped") return stopped(answer.failureReason ?? "Pipeline execution stopped.");
        if (answer.outcome === "failure") return failed(answer.failureReason ?? "");
        scope.stepOutputs[step.Name] = callbackStepOutputs(answer);
        return false;
      }
      case "Transform": {
        if (!this.deps.transformJobs) throw new Error(`Step ${step.Name}: no transform jobs in this run.`);
        this.stepState = "running";
        this.reportProgress();
        const end = await runTransformStep(
          { sageMakerServer, transformJobs: this.deps.transformJobs },
          step,
          scope,
        );
        if (end.status === "Stopped") {
          this.stepState = "stopped";
          return stopped(end.failureReason ?? `Pipeline execution stopped during step ${step.Name}.`);
        }
        if (end.failureReason !== undefined) return failed(end.failureReason);
        this.stepState = "ended";
        return false;
      }
      case "Condition": {
        sageMakerServer.startStep(this.executionArn, step.Name, step.Type);
        let holds: boolean;
        try {
          holds = conditionsHold(step, scope);
        } catch (error) {
          sageMakerServer.endStep(this.executionArn, (error as Error).message);
          return failed((error as Error).message);
        }
        sageMakerServer.endStep(this.executionArn);
        const branch: ConditionBranch = holds ? "IfSteps" : "ElseSteps";
        chosen.set(step.Name, branch);
        record.detail = `${holds ? "true" : "false"}: ${branch}`;
        this.stepState = `chose ${branch}`;
        this.reportProgress();
        return false;
      }
      case "Fail": {
        sageMakerServer.startStep(this.executionArn, step.Name, step.Type);
        let message: string;
        try {
          message = failStepMessage(step, scope);
        } catch (error) {
          message = (error as Error).message;
        }
        sageMakerServer.endStep(this.executionArn, message);
        return failed(message);
      }
      default: {
        // SageMaker runs these steps itself (a training job, a model, ...): here they succeed after
        // --step-duration, with no properties to read.
        this.stepState = "running";
        this.reportProgress();
        sageMakerServer.startStep(this.executionArn, step.Name, step.Type);
        const stoppedEarly = await this.simulateStep();
        const status = sageMakerServer.endStep(this.executionArn);
        if (status === "Stopped") {
          this.stepState = "stopped";
          return stopped(`Pipeline execution stopped during step ${step.Name}.`);
        }
        this.stepState = stoppedEarly ? "stopped" : "ended";
        return false;
      }
    }
  }

  /**
   * A simulated step's run: `stepDurationSeconds` of simulated time, cut short by a stop (SageMaker stops
   * the job such a step runs). Resolves to true when a stop cut it short.
   */
  private simulateStep(): Promise<boolean> {
    const { clock } = this.deps;
    return new Promise<boolean>((resolve) => {
      const timer = clock.setTimeout(() => {
        this.stopSimulatedStep = undefined;
        resolve(false);
      }, this.scenario.stepDurationSeconds * 1000);
      this.stopSimulatedStep = () => {
        clock.clearTimeout(timer);
        this.stopSimulatedStep = undefined;
        resolve(true);
      };
      if (this.stopRequestedAt !== undefined) this.stopSimulatedStep();
    });
  }

  /**
   * Invokes the step's function; resolves to why the step failed, or undefined. SageMaker gives up on a
   * Lambda step after 10 minutes, while the function may run on to its own timeout (up to 15 minutes).
   */
  private async runLambdaStep(
    step: LambdaStepDefinition,
    scope: ExecutionScope,
  ): Promise<string | undefined> {
    const { clock } = this.deps;
    const args = resolveArguments(step.Arguments, scope, step.Name);
    if (!this.lambda.find(step.FunctionArn)) return `Function ${step.FunctionArn} not found.`;
    const invocation = this.lambda.invoke(step.FunctionArn, args);
    this.work.track(invocation);
    let stepLimit: SimTimer | undefined;
    const gaveUp = new Promise<"gave up">((resolve) => {
      stepLimit = clock.setTimeout(() => resolve("gave up"), lambdaStepLimitSeconds * 1000);
    });
    const result = await Promise.race([invocation, gaveUp]);
    clock.clearTimeout(stepLimit);
    if (result === "gave up") {
      return lambdaStepTimedOut(step.Name);
    }
    if (!result.ok) return `Step ${step.Name} failed: ${result.message}`;
    const outputs = lambdaStepOutputs(step, result.value);
    if (!outputs.ok) return outputs.reason;
    scope.stepOutputs[step.Name] = outputs.outputs;
    return undefined;
  }

  /** Mints the token, sends the callback message as SageMaker does, and waits for the answer. */
  private async runCallbackStep(step: CallbackStepDefinition, scope: ExecutionScope): Promise<StepAnswer> {
    const args = resolveArguments(step.Arguments, scope, step.Name);
    const { token, answer } = this.deps.sageMakerServer.startCallbackStep(this.executionArn, step.Name);
    // A new Callback step: its own token, its own answer, its own Stopping message.
    this.callback = { token, arguments: args, queueUrl: step.SqsQueueUrl };
    this.answer = undefined;
    this.stopSent = false;
    const message = (status: string, messageArguments: unknown = args) =>
      JSON.stringify({ token, pipelineExecutionArn: this.executionArn, arguments: messageArguments, status });
    if (this.scenario.malformedMessage === "without-token") {
      await this.sendToCallbackQueue("This is not a callback message.");
    }
    await this.sendToCallbackQueue(
      message("Executing", this.scenario.malformedMessage === "with-token" ? {} : args),
    );
    if (this.stopRequestedAt !== undefined) await this.sendStopping();
    const accepted = await answer;
    this.answer = accepted;
    return accepted;
  }

  /**
   * Whether the injected failures leave enough shards succeeding for the minSuccessRatio the step runs with
   * (as its submit step passed it on to the Callback step).
   */
  private failuresTolerated(): boolean {
    const ratio = parseMinSuccessRatio(
      (this.callback?.arguments as Record<string, unknown> | undefined)?.minSuccessRatio,
    );
    const { shards, failShards } = this.scenario;
    return ratio !== undefined && shards - failShards.length >= requiredSuccesses(shards, ratio);
  }

  private async sendToCallbackQueue(body: string): Promise<void> {
    const copies = this.scenario.duplicateDeliveries ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      await this.deps.sqs.send(
        new SendMessageCommand({ QueueUrl: this.callback!.queueUrl, MessageBody: body }),
      );
    }
  }

  /** The user stops the execution (StopPipelineExecution), unless it has ended. */
  private async stopExecution(): Promise<void> {
    if (this.ended) return;
    await this.deps.sagemaker.send(
      new StopPipelineExecutionCommand({
        PipelineExecutionArn: this.executionArn,
        ClientRequestToken: randomUUID(),
      }),
    );
  }

  /** SageMaker's reaction to a stop: the extra `Stopping` message once the Callback step has started. */
  private onStopRequested(): void {
    this.stopRequestedAt ??= this.deps.clock.now();
    if (this.callback && !this.answer) this.work.track(this.sendStopping());
    this.stopSimulatedStep?.();
  }

  private async sendStopping(): Promise<void> {
    if (this.stopSent) return;
    this.stopSent = true;
    const { token, arguments: args } = this.callback!;
    await this.sendToCallbackQueue(
      JSON.stringify({ token, pipelineExecutionArn: this.executionArn, arguments: args, status: "Stopping" }),
    );
  }

  /** Lambda's part: one receive per subscribed queue; true when any received messages. */
  private async pollQueues(): Promise<boolean> {
    let received = false;
    for (const source of this.sources) {
      if (await source.poll()) received = true;
    }
    return received;
  }

  /** When the run gives up waiting for an answer: after the jobs' end plus a bound, or at the time limit. */
  private giveUpAt(): number {
    const { batchServer } = this.deps;
    const limit = this.startedAt + this.scenario.timeLimitSeconds * 1000;
    const jobs = Object.values(batchServer.countsByState()).reduce((sum, n) => sum + n, 0);
    const lastStop = batchServer.lastStoppedAt();
    const waiting = this.callback !== undefined && this.answer === undefined;
    if (!waiting || jobs === 0 || batchServer.jobsLeftRunning() > 0 || lastStop === undefined) return limit;
    return Math.min(limit, lastStop + this.scenario.noAnswerAfterSeconds * 1000);
  }

  private giveUp(): void {
    const { clock, batchServer } = this.deps;
    const lastStop = batchServer.lastStoppedAt();
    const afterJobs = batchServer.jobsLeftRunning() === 0 && lastStop !== undefined && this.callback;
    const reason = afterJobs
      ? `The step was not answered within ${this.scenario.noAnswerAfterSeconds} s of the last job's end.`
      : `The execution did not end within the ${this.scenario.timeLimitSeconds} s time limit.`;
    this.stepState = "no answer";
    this.end("no answer", reason);
    // Nothing more will happen that the summary needs.
    this.drainDeadline = clock.now();
  }

  private end(outcome: Outcome, reason: string | null): void {
    if (this.ended) return;
    const now = this.deps.clock.now();
    this.ended = { outcome, reason, at: now };
    this.drainDeadline = now + drainLimitSeconds * 1000;
  }

  /** True once nothing the execution set off is still going: invocations, events, messages on the queues. */
  private async drained(): Promise<boolean> {
    if (this.work.pending > 0 || this.lambda.inFlight > 0 || this.events.scheduled > 0) return false;
    const runtime = this.deps.worker?.runtime;
    if (runtime && (runtime.running > 0 || runtime.undelivered > 0)) return false;
    if (this.ended?.outcome === "no answer") return true;
    return (
      (await countMessages(this.deps.sqs, this.design, this.callbackQueueNames(), this.bookkeepingCalls)) ===
      0
    );
  }

  private callbackQueueNames(): string[] {
    const urls = new Set(this.design.subscriptions.map((s) => s.queueUrl));
    return this.design.queues.filter((q) => urls.has(q.url)).map((q) => q.name);
  }

  private reportProgress(): void {
    const onProgress = this.deps.onProgress;
    if (!onProgress) return;
    const { clock, batchServer, sageMakerServer } = this.deps;
    onProgress({
      simulatedSeconds: (clock.now() - this.startedAt) / 1000,
      executionStatus: sageMakerServer.execution(this.executionArn)?.status ?? "Executing",
      step: this.step,
      stepState: this.stepState,
      jobs: batchServer.countsByState(),
      jobsTerminated: batchServer.terminatedJobs(),
      lambdaInvocations: sum(this.lambda.invocations()),
      ...(this.deps.transformJobs
        ? { transformJobs: transformJobsByStatus(this.deps.transformJobs.all()) }
        : {}),
    });
  }

  /** The step report the last answer named: its ReportUri output, or the URI its failure reason ends with. */
  reportUri(): string | undefined {
    const output = this.answer?.outputParameters?.find((o) => o.Name === "ReportUri")?.Value;
    return output ?? (this.ended?.reason ? reportUriInReason(this.ended.reason) : undefined);
  }

  /** The summary, from what the servers and the run recorded. */
  summary(
    apiCalls: Record<string, Record<string, number>>,
    deadLetterMessages: number,
    wallSeconds: number,
    worker: WorkerSummary | null,
  ): Omit<Summary, "reportUri" | "reportFile"> {
    const { clock, batchServer } = this.deps;
    const { scenario, design } = this;
    const ended = this.ended ?? {
      outcome: "no answer" as const,
      reason: "The run ended without an answer.",
      at: clock.now(),
    };
    const expectedOutcome: Outcome =
      scenario.malformedMessage === "with-token"
        ? "failed"
        : this.stopRequestedAt !== undefined
          ? "stopped"
          : scenario.failShards.length > 0 && !this.failuresTolerated()
            ? "failed"
            : "succeeded";
    const transformJobs = this.deps.transformJobs?.all();
    const jobsLeftRunning = batchServer.jobsLeftRunning() + (this.deps.transformJobs?.running() ?? 0);
    const unexpected: string[] = [];
    if (ended.outcome !== expectedOutcome)
      unexpected.push(`expected the execution to be ${expectedOutcome}, it is ${ended.outcome}`);
    if (expectedOutcome === "succeeded" && scenario.failShards.length > 0) {
      const named = this.answer?.outputParameters?.find((o) => o.Name === "FailedShards")?.Value ?? "";
      const listed = new Set(named.split(" ")[0].split(",").filter(Boolean).map(Number));
      if (!scenario.failShards.every((shard) => listed.has(shard))) {
        unexpected.push("FailedShards does not name every injected failure");
      }
    }
    if (expectedOutcome === "failed" && scenario.failShards.length > 0) {
      const named = scenario.failShards.some((shard) =>
        ended.reason?.includes(`${injectedFailure} of shard ${shard}`),
      );
      if (!named) unexpected.push("the failure reason does not pass on the failed shard's reason");
    }
    if (scenario.malformedMessage !== undefined && deadLetterMessages === 0) {
      unexpected.push("the malformed message did not reach a dead-letter queue");
    }
    if (jobsLeftRunning > 0) unexpected.push(`${jobsLeftRunning} job(s) left running`);

    const answeredAt = this.answer?.answeredAt;
    let resumeLatencyFrom: Summary["resumeLatencyFrom"] = null;
    let decidedAt: number | undefined;
    // The answer that ended the wait: the last Callback step's, if it came after the stop or the failure.
    if (answeredAt !== undefined) {
      if (ended.outcome === "stopped" && this.stopRequestedAt !== undefined) {
        [resumeLatencyFrom, decidedAt] = ["stop requested", this.stopRequestedAt];
      } else if (ended.outcome === "failed" && this.firstFailureAt !== undefined) {
        [resumeLatencyFrom, decidedAt] = ["first shard failed", this.firstFailureAt];
      } else if (ended.outcome === "succeeded") {
        [resumeLatencyFrom, decidedAt] = ["last job ended", batchServer.lastStoppedAt()];
      }
    }
    if (decidedAt !== undefined && answeredAt !== undefined && answeredAt < decidedAt) {
      // An earlier Callback step's answer: the execution ended in a later step.
      [resumeLatencyFrom, decidedAt] = [null, undefined];
    }
    const executionSeconds = (ended.at - this.startedAt) / 1000;
    const notes: string[] = [];
    if (scenario.stopAfterSeconds !== undefined && this.stopRequestedAt === undefined) {
      notes.push(
        `no stop happened: the execution ended after ${formatDuration(executionSeconds)}, before the stop ` +
          `planned at ${formatDuration(scenario.stopAfterSeconds)}`,
      );
    }
    const batchApiCalls = sum(apiCalls.Batch ?? {});
    return {
      design: scenario.design,
      stack: scenario.stack,
      mode: design.mode,
      shards: scenario.shards,
      jobDurationSeconds: scenario.jobDurationSeconds,
      concurrentJobs: this.deps.jobSlots,
      seed: scenario.seed,
      outcome: ended.outcome,
      expectedOutcome,
      expected: unexpected.length === 0,
      unexpected,
      notes,
      failureReason: ended.reason,
      stepOutputs:
        ended.outcome === "succeeded" && this.answer
          ? Object.fromEntries((this.answer.outputParameters ?? []).map((o) => [o.Name ?? "", o.Value ?? ""]))
          : null,
      steps: this.stepRecords.map((record) => ({ ...record })),
      resumeLatencySeconds:
        answeredAt !== undefined && decidedAt !== undefined
          ? Math.max(0, answeredAt - decidedAt) / 1000
          : null,
      resumeLatencyFrom: decidedAt !== undefined ? resumeLatencyFrom : null,
      simulatedSeconds: (clock.now() - this.startedAt) / 1000,
      executionSeconds,
      answered: answeredAt !== undefined,
      wallSeconds,
      lambdaInvocations: this.lambda.invocations(),
      lambdaErrors: this.lambda.errors(),
      lambdaTimeouts: this.lambda.timedOut(),
      callsRefusedAfterTimeout: this.lambda.refusedAfterTimeout(),
      apiCalls,
      batchApiCalls,
      throttledBatchCalls: batchServer.throttledCalls(),
      refusedSageMakerCalls: this.deps.sageMakerServer.rejectedCalls(),
      jobsLeftRunning,
      jobsByState: batchServer.countsByState(),
      deadLetterMessages,
      events: this.events.counts(),
      configOverrides: design.configOverrides,
      worker,
      engine: transformJobs ? "transform" : "batch",
      transformJobs: transformJobs?.map(transformJobSummary) ?? null,
    };
  }
}

/**
 * Copies the step report from the run's S3 server into a folder of its own, which outlives the run, so
 * that the user can read it once the server is gone.
 */
async function keepReport(
  endpoint: string,
  region: string,
  uri: string | undefined,
): Promise<Pick<Summary, "reportUri" | "reportFile">> {
  const place = uri === undefined ? undefined : parseS3Uri(uri);
  if (uri === undefined || !place) return { reportUri: uri ?? null, reportFile: null };
  const s3 = new S3Client({ region, credentials: localCredentials, endpoint, forcePathStyle: true });
  try {
    const text = await readText(s3, place.bucket, place.key);
    const folder = await mkdtemp(path.join(os.tmpdir(), "sagemaker-batch-bridge-report-"));
    const file = path.join(folder, path.posix.basename(place.key));
    await writeFile(file, text);
    return { reportUri: uri, reportFile: file };
  } catch {
    return { reportUri: uri, reportFile: null };
  } finally {
    s3.destroy();
  }
}

/** Messages in the named queues, visible or not (GetQueueAttributes, counted in `bookkeeping`). */
function countMessages(
  sqs: SQSClient,
  design: PreparedDesign,
  names: readonly string[],
  bookkeeping: Record<string, number> = {},
): Promise<number> {
  const urls = names.map((name) => design.queues.find((q) => q.name === name)!.url);
  return countQueueMessages(sqs, urls, bookkeeping);
}

function subtract(counts: Record<string, number>, minus: Record<string, number>): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, value] of Object.entries(counts)) {
    const left = value - (minus[key] ?? 0);
    if (left > 0) result[key] = left;
  }
  return result;
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((total, n) => total + n, 0);
}

/** Transform jobs by status, for the progress lines. */
function transformJobsByStatus(jobs: TransformJob[]): Partial<Record<TransformJobStatus, number>> {
  const counts: Partial<Record<TransformJobStatus, number>> = {};
  for (const job of jobs) counts[job.TransformJobStatus] = (counts[job.TransformJobStatus] ?? 0) + 1;
  return counts;
}

function transformJobSummary(job: TransformJob): TransformJobSummary {
  return {
    name: job.TransformJobName,
    status: job.TransformJobStatus,
    failureReason: job.FailureReason ?? null,
    records: job.TransformJobStatus === "Completed" ? job.records : 0,
    inputUri: job.TransformInput.S3Uri,
    outputUri: job.TransformOutput.S3OutputPath,
    seconds: (job.TransformEndTime ?? job.CreationTime) - job.CreationTime,
  };
}

/**
 * The transform engine's input: one object per shard under the stack's input prefix, each a shard file of
 * the records API's shape (`{"job_id", "record"}` a line, JSON Lines) with `transformRecordsPerShard`
 * records. A failing shard's first record carries `{"fail": ...}`, on which the built-in model answers an
 * error, failing the job.
 */
async function writeShardObjects(
  s3: S3Client,
  design: PreparedDesign,
  scenario: ResolvedScenario,
): Promise<void> {
  const { bucket, inputPrefix } = design.data;
  const failing = new Set(scenario.failShards);
  const width = String(scenario.shards - 1).length;
  const writeShard = (shard: number): Promise<void> => {
    const lines = Array.from({ length: transformRecordsPerShard }, (_, index) => {
      const record = {
        text: `shard ${shard}, record ${index}`,
        ...(index === 0 && failing.has(shard) ? { fail: `${injectedFailure} of shard ${shard}` } : {}),
      };
      return `${JSON.stringify({ job_id: `shard-${shard}-record-${index}`, record })}\n`;
    });
    const key = `${inputPrefix.replace(/\/?$/, "/")}shard-${String(shard).padStart(width, "0")}.jsonl`;
    return writeText(s3, `s3://${bucket}/${key}`, lines.join(""), "application/jsonlines");
  };
  // 16 uploads at a time rather than one after the other.
  const shards = Array.from({ length: scenario.shards }, (_, shard) => shard);
  for (let first = 0; first < shards.length; first += 16) {
    await Promise.all(shards.slice(first, first + 16).map(writeShard));
  }
}
