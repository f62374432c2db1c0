/**
 * `npm start -- --records N`: N records sent over HTTP to the stack's records API on this machine, each run
 * to its final status, in simulated time. A client posts them at `recordRate` a second; the buffer's
 * event source mapping hands batches to the flush function; each batch's execution runs its Lambda and
 * Callback steps and its Batch jobs (the local default job, which honours the record contract); each
 * execution's end event reaches the status function. Once nothing is left in flight, the client reads
 * every record's status with `GET /job/{job_id}`.
 */
import type { JobMode } from "../../functions/step-contract";
import type { Engine } from "../../infra/config/keys";
import type { ConfigValue } from "../../render/stack-files";
import type { PreparedDesign, QueueSubscription } from "../designs/design";
import type { JobStatus } from "../batch/server";
import { prepareDesign } from "../designs/prepare";
import { SageMakerClient, StopPipelineExecutionCommand } from "@aws-sdk/client-sagemaker";
import { localCredentials } from "../s3/server";
import { SimClock } from "../time/clock";
import { RecordClient } from "./record-client";
import { RecordsWorld } from "./records-world";
import { simulationStartMs } from "./run";
import { settle } from "./simulated-process";
import { mkdtemp } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** What a records run may set; everything but `records` is optional. */
export interface RecordsScenario {
  /** Records to send, 1-100,000. */
  records: number;
  /** Records sent a second (simulated; default 50, under the default usage plan's 100 requests/s). */
  recordRate?: number;
  /**
   * Records (0-based, in sending order) whose result line is an error; on the transform engine, records
   * the model fails on, which fails their batch's transform job.
   */
  failRecords?: number[];
  /** What runs each batch: the stack's engine unless set (transform: the local built-in model). */
  engine?: Engine;
  /** Stop each batch's execution this long after it started (StopPipelineExecution); every record fails. */
  stopAfterSeconds?: number;
  stack?: string;
  config?: Record<string, ConfigValue>;
  mode?: JobMode;
  /** How long each Batch job runs (default 120 s); on the transform engine, each job's processing. */
  jobDurationSeconds?: number;
  /** Transform jobs' instance provisioning, simulated seconds (default 300 s: AWS publishes no figure). */
  transformProvisioningSeconds?: number;
  seed?: number;
  eventDelaySeconds?: number;
  functionLogs?: boolean;
  /** Give up at this simulated time after the start (default 2 days). */
  timeLimitSeconds?: number;
  /** On the transform engine: a command as the model, one record a line in, one result a line out. */
  worker?: string;
  /** With `worker`: wall seconds it may take to answer one request (default 600). */
  modelTimeoutSeconds?: number;
}

export const recordsDefaults = {
  recordRate: 50,
  stack: "dev",
  jobDurationSeconds: 120,
  seed: 1,
  eventDelaySeconds: 1,
  timeLimitSeconds: 2 * 24 * 3600,
} as const;

/** The most records one run sends. */
export const maxRecords = 100_000;

/** Latencies from a record's POST to its final status, simulated seconds. */
export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

/** The result of a records run (the `--json` object). Everything is simulated except `wallSeconds`. */
export interface RecordsSummary {
  stack: string;
  /** What ran each batch. */
  engine: Engine;
  /** On the transform engine with a worker as the model: its command and its requests' logs (else null). */
  modelWorker: { command: string; logsDirectory: string } | null;
  mode: JobMode;
  /** On the transform engine: the transform jobs, by how they ended. */
  transformJobs?: Record<string, number>;
  /**
   * On the transform engine: the jobs' billed time, simulated seconds summed over jobs, from creation
   * (provisioning included) to the end.
   */
  transformJobSeconds?: number;
  seed: number;
  recordRate: number;
  jobDurationSeconds: number;
  /** The buffer's batches: its event source mapping's settings (null with a schedule). */
  batchSize: number | null;
  batchWindowSeconds: number | null;
  /** True when every record ended as expected (the named ones Failed, the rest Processed, none lost). */
  expected: boolean;
  unexpected: string[];
  records: { submitted: number; processed: number; failed: number; lost: number };
  recordLatencySeconds: LatencySummary | null;
  /** The records that ended Failed, with their errors (at most 20). */
  failedRecords: { index: number; jobId: string; error: string }[];
  /** Requests the API refused for good (after retrying 429s), and the 429s retried. */
  refused: number;
  throttledRetries: number;
  executions: { started: number; succeeded: number; failed: number; stopped: number };
  simulatedSeconds: number;
  wallSeconds: number;
  lambdaInvocations: Record<string, number>;
  lambdaErrors: Record<string, number>;
  /** Calls by service and operation, to process the records (the final GETs left out). */
  apiCalls: Record<string, Record<string, number>>;
  jobsLeftRunning: number;
  jobsByState: Record<JobStatus, number>;
  deadLetterMessages: number;
}

/** What the runner reports while it runs. */
export interface RecordsProgress {
  simulatedSeconds: number;
  sent: number;
  accepted: number;
  executionsStarted: number;
  executionsRunning: number;
  jobs: Record<JobStatus, number>;
}

/**
 * The stack settings a run's engine needs: on the transform engine, a model (any name: the local SageMaker
 * runs its built-in model) unless the stack names one.
 */
function engineConfig(input: RecordsScenario): Record<string, ConfigValue> {
  if (input.engine !== "transform") return input.engine ? { engine: input.engine } : {};
  const named = input.config?.transformModelName ?? input.config?.transformImage;
  return { engine: "transform", ...(named ? {} : { transformModelName: "local-model" }) };
}

/**
 * Stops every execution `seconds` after it starts, through SageMaker's API, as an operator would (in this
 * process, as the functions reach it).
 */
function stopEachExecution(world: RecordsWorld, clock: SimClock, seconds: number): void {
  const sageMaker = new SageMakerClient({
    region: world.design.region,
    endpoint: world.sageMakerServer.endpoint,
    credentials: localCredentials,
    ...world.inProcess?.SAGEMAKER.transport,
  });
  world.sageMakerServer.onExecutionStarted((execution) => {
    clock.setTimeout(() => {
      world.track(
        sageMaker.send(
          new StopPipelineExecutionCommand({
            PipelineExecutionArn: execution.executionArn,
            ClientRequestToken: `stop-${execution.executionArn.slice(-12)}-local-run-0000000000`,
          }),
        ),
      );
    }, seconds * 1000);
  });
}

/** The error the local job gives record `index` of `failRecords`. */
export function injectedRecordFailure(index: number): string {
  return `injected failure of record ${index}`;
}

/** Checks a scenario; throws an error naming every bad field. */
export function checkRecordsScenario(input: RecordsScenario): void {
  const problems: string[] = [];
  const whole = (field: string, value: unknown, min: number, max: number) => {
    if (
      value !== undefined &&
      (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
    ) {
      problems.push(`${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
    }
  };
  whole("records", input.records, 1, maxRecords);
  if (input.recordRate !== undefined && !(input.recordRate > 0 && input.recordRate <= 10_000)) {
    problems.push(
      `recordRate must be a number of records a second above 0 and up to 10000, got ${input.recordRate}.`,
    );
  }
  for (const index of input.failRecords ?? []) whole("failRecords", index, 0, input.records - 1);
  if (problems.length > 0) throw new Error(`Invalid records run: ${problems.join(" ")}`);
}

/** Runs the records through the stack and summarizes what became of them. */
export async function runRecords(
  input: RecordsScenario,
  onProgress?: (progress: RecordsProgress) => void,
): Promise<RecordsSummary> {
  checkRecordsScenario(input);
  const wallStart = performance.now();
  const seed = input.seed ?? recordsDefaults.seed;
  const jobDurationSeconds = input.jobDurationSeconds ?? recordsDefaults.jobDurationSeconds;
  const recordRate = input.recordRate ?? recordsDefaults.recordRate;
  const design = await prepareDesign({
    design: "bridge",
    stack: input.stack ?? recordsDefaults.stack,
    config: { ...input.config, ...engineConfig(input), recordApi: true },
    mode: input.mode,
    shards: 1,
    jobDurationSeconds,
    functionLogs: input.functionLogs ?? false,
  });
  const clock = new SimClock({ speed: 0, startMs: simulationStartMs });
  const failing = new Set(input.failRecords ?? []);
  const transform = design.definition.Steps.some((step) => step.Type === "Transform");
  const failingJobs = new Map<string, number>();
  const world = await RecordsWorld.start({
    design,
    clock,
    seed,
    jobDurationSeconds,
    transformProvisioningSeconds: input.transformProvisioningSeconds,
    ...(input.worker !== undefined
      ? {
          transformWorker: {
            command: input.worker,
            timeoutSeconds: input.modelTimeoutSeconds ?? 600,
            logsDirectory: await mkdtemp(path.join(os.tmpdir(), "sagemaker-batch-bridge-model-logs-")),
          },
        }
      : {}),
    eventDelaySeconds: input.eventDelaySeconds ?? recordsDefaults.eventDelaySeconds,
    failureOf: (jobId) => {
      const index = failingJobs.get(jobId);
      return index === undefined ? undefined : injectedRecordFailure(index);
    },
  });
  if (input.stopAfterSeconds !== undefined) stopEachExecution(world, clock, input.stopAfterSeconds);
  try {
    const client = new RecordClient({
      baseUrl: world.apiGateway.baseUrl,
      apiKey: world.apiGateway.apiKey,
      clock,
      track: world.track,
    });
    const startedAt = clock.now();
    const records = Array.from({ length: input.records }, (_, index) => ({
      text: `record ${index} of the run`,
      // The transform engine's built-in model fails on such a record.
      ...(transform && failing.has(index) ? { fail: injectedRecordFailure(index) } : {}),
    }));
    client.submitAll(records, recordRate);
    const deadline = startedAt + (input.timeLimitSeconds ?? recordsDefaults.timeLimitSeconds) * 1000;
    let seen = 0;
    let processedAt: number | undefined;
    let counted: Pick<RecordsSummary, "apiCalls" | "lambdaInvocations" | "lambdaErrors"> | undefined;
    for (;;) {
      await settle(world.activity, clock);
      if (world.error !== undefined) throw world.error;
      for (; seen < client.accepted.length; seen++) {
        const sent = client.accepted[seen];
        if (failing.has(sent.index)) failingJobs.set(sent.jobId, sent.index);
      }
      onProgress?.({
        simulatedSeconds: (clock.now() - startedAt) / 1000,
        sent: input.records - client.inFlight,
        accepted: client.accepted.length,
        executionsStarted: world.sageMakerServer.executions().length,
        executionsRunning: world.pipelineRuns.running,
        jobs: world.batchServer.countsByState(),
      });
      if (await world.pollQueues()) continue;
      if (client.inFlight === 0 && (await world.quiet())) {
        if (processedAt !== undefined) break;
        // Everything has come to rest: the figures are the processing's; then every accepted record's
        // status is read, as a client reads it, at the rate the usage plan allows.
        processedAt = clock.now();
        counted = {
          apiCalls: world.apiCalls(),
          lambdaInvocations: world.lambda.invocations(),
          lambdaErrors: world.lambda.errors(),
        };
        client.readStatuses(recordRate);
        continue;
      }
      if (clock.now() >= deadline) break;
      const model = world.modelProcesses;
      if (model && model.running > 0) {
        // Simulated time follows the wall clock while the worker answers, never past the next timer.
        const until = Math.min(clock.nextTimerAt() ?? deadline, deadline);
        const [simStart, wallStart] = [clock.now(), performance.now()];
        await model.waitForIdle(until - simStart);
        clock.advanceTo(Math.min(until, simStart + (performance.now() - wallStart)));
        continue;
      }
      if (clock.advanceToNextTimer(deadline) === undefined) clock.advanceTo(deadline);
    }
    processedAt ??= clock.now();
    counted ??= {
      apiCalls: world.apiCalls(),
      lambdaInvocations: world.lambda.invocations(),
      lambdaErrors: world.lambda.errors(),
    };
    const deadLetterMessages = await world.deadLetters();
    client.close();
    return summarize({
      input,
      design,
      world,
      client,
      statuses: client.statuses as Map<string, RecordStatusAnswer>,
      seed,
      recordRate,
      jobDurationSeconds,
      simulatedSeconds: (processedAt - startedAt) / 1000,
      wallSeconds: (performance.now() - wallStart) / 1000,
      ...counted,
      deadLetterMessages,
    });
  } finally {
    await world.stop();
    clock.stop();
  }
}

interface RecordStatusAnswer {
  status?: string;
  error?: string;
  processed_at?: string;
}

function summarize(run: {
  input: RecordsScenario;
  design: PreparedDesign;
  world: RecordsWorld;
  client: RecordClient;
  statuses: Map<string, RecordStatusAnswer>;
  seed: number;
  recordRate: number;
  jobDurationSeconds: number;
  simulatedSeconds: number;
  wallSeconds: number;
  apiCalls: Record<string, Record<string, number>>;
  lambdaInvocations: Record<string, number>;
  lambdaErrors: Record<string, number>;
  deadLetterMessages: number;
}): RecordsSummary {
  const { input, design, world, client, statuses } = run;
  let processed = 0;
  let failed = 0;
  const latencies: number[] = [];
  const failedRecords: RecordsSummary["failedRecords"] = [];
  const failedByIndex = new Map<number, string>();
  for (const sent of [...client.accepted].sort((a, b) => a.index - b.index)) {
    const answer = statuses.get(sent.jobId) ?? {};
    if (answer.status !== "Processed" && answer.status !== "Failed") continue;
    if (answer.status === "Processed") processed += 1;
    else {
      failed += 1;
      failedByIndex.set(sent.index, answer.error ?? "");
      if (failedRecords.length < 20)
        failedRecords.push({ index: sent.index, jobId: sent.jobId, error: answer.error ?? "" });
    }
    if (answer.processed_at) latencies.push((Date.parse(answer.processed_at) - sent.sentAt) / 1000);
  }
  const submitted = client.accepted.length;
  const lost = submitted - processed - failed;
  const unexpected: string[] = [];
  if (lost > 0) unexpected.push(`${lost} record(s) did not reach a final status`);
  if (client.refused.length > 0)
    unexpected.push(`${client.refused.length} record(s) were refused by the API`);
  if (
    input.stopAfterSeconds !== undefined &&
    (processed > 0 || [...failedByIndex.values()].some((e) => !e))
  ) {
    unexpected.push(`${processed} record(s) processed although every execution was stopped`);
  }
  const jobReasons = world.transformJobs
    .all()
    .map((job) => job.FailureReason)
    .filter((reason): reason is string => reason !== undefined);
  if (run.design.definition.Steps.some((step) => step.Type === "Transform")) {
    // A failing record fails its batch's transform job: every record of that batch ends Failed with the
    // job's reason, and no other record fails.
    for (const index of input.failRecords ?? []) {
      if (!jobReasons.includes(failedByIndex.get(index) ?? "")) {
        unexpected.push(`record ${index} did not fail with its transform job's reason`);
      }
    }
    const unexplained = [...failedByIndex.values()].filter(
      (error) => !jobReasons.includes(error) && !(input.stopAfterSeconds !== undefined && error !== ""),
    ).length;
    if (unexplained > 0) unexpected.push(`${unexplained} record(s) failed without a transform job's reason`);
    const transformsLeft = world.transformJobs.running();
    if (transformsLeft > 0) unexpected.push(`${transformsLeft} transform job(s) left running`);
  } else {
    for (const index of input.failRecords ?? []) {
      if (failedByIndex.get(index) !== injectedRecordFailure(index)) {
        unexpected.push(`record ${index} did not fail with its injected error`);
      }
    }
    const expectedFailed =
      input.stopAfterSeconds !== undefined ? submitted : new Set(input.failRecords ?? []).size;
    if (failed !== expectedFailed) unexpected.push(`${failed} record(s) failed, ${expectedFailed} expected`);
  }
  const jobsLeftRunning = world.batchServer.jobsLeftRunning();
  if (jobsLeftRunning > 0) unexpected.push(`${jobsLeftRunning} job(s) left running`);
  if (run.deadLetterMessages > 0) unexpected.push(`${run.deadLetterMessages} dead letter(s)`);
  const outcomes = world.pipelineRuns.outcomes();
  const buffer = bufferSubscription(design);
  const transformJobs = world.transformJobs.all();
  return {
    stack: input.stack ?? recordsDefaults.stack,
    engine: transformJobs.length > 0 ? "transform" : "batch",
    modelWorker: world.options.transformWorker
      ? {
          command: world.options.transformWorker.command,
          logsDirectory: world.options.transformWorker.logsDirectory,
        }
      : null,
    mode: design.mode,
    ...(transformJobs.length > 0
      ? {
          transformJobs: transformJobs.reduce<Record<string, number>>((counts, job) => {
            counts[job.TransformJobStatus] = (counts[job.TransformJobStatus] ?? 0) + 1;
            return counts;
          }, {}),
          transformJobSeconds: transformJobs.reduce(
            (sum, job) => sum + ((job.TransformEndTime ?? job.CreationTime) - job.CreationTime),
            0,
          ),
        }
      : {}),
    seed: run.seed,
    recordRate: run.recordRate,
    jobDurationSeconds: run.jobDurationSeconds,
    batchSize: buffer?.batchSize ?? null,
    batchWindowSeconds: buffer?.maximumBatchingWindowSeconds ?? null,
    expected: unexpected.length === 0,
    unexpected,
    records: { submitted, processed, failed, lost },
    recordLatencySeconds: latencies.length > 0 ? percentiles(latencies) : null,
    failedRecords,
    refused: client.refused.length,
    throttledRetries: client.throttled,
    executions: {
      started: world.sageMakerServer.executions().length,
      succeeded: outcomes.Succeeded,
      failed: outcomes.Failed,
      stopped: outcomes.Stopped,
    },
    simulatedSeconds: run.simulatedSeconds,
    wallSeconds: run.wallSeconds,
    lambdaInvocations: run.lambdaInvocations,
    lambdaErrors: run.lambdaErrors,
    apiCalls: run.apiCalls,
    jobsLeftRunning,
    jobsByState: world.batchServer.countsByState(),
    deadLetterMessages: run.deadLetterMessages,
  };
}

/** The buffer queue's subscription: the one of the flush function (none with a schedule). */
function bufferSubscription(design: PreparedDesign): QueueSubscription | undefined {
  const flush = design.functions({}).find((f) => f.name.endsWith("records-flush"));
  return design.subscriptions.find((s) => s.functionArn === flush?.arn);
}

/** The median, the 99th percentile (nearest rank) and the largest, to the millisecond. */
export function percentiles(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { p50: round(rank(0.5)), p99: round(rank(0.99)), max: round(sorted[sorted.length - 1]) };
}
