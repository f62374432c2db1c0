/**
 * The functions as local mode runs them, for the tests and the bench that measure them in simulated time:
 * local Batch on loopback (its 50/s SubmitJob quota on, a share of all calls throttled if asked) on one
 * frozen simulated clock, local DynamoDB (dynalite) with a status table, local SQS with a clean-up queue,
 * with the process's timers, `Date` and `Math.random` the simulation's, so that the handlers' own waits and
 * the AWS SDK's alike take simulated time and no wall time. `run` moves the clock from one timer to the
 * next whenever everything in flight has come to rest, until the work settles. The servers listen on
 * loopback; `transports` reaches them in this process instead (docs/local-mode.md).
 */
import type { InvocationContext } from "../../functions/batch-calls";
import type { ClientTransports } from "../../functions/entrypoints";
import { environmentVariables } from "../../functions/step-contract";
import { startBatchServer, type BatchServer } from "../batch/server";
import { HttpActivity, installSimulatedProcess, localAwsEnvironment, settle } from "./simulated-process";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startSqs, type SqsServer } from "../sqs/server";
import { SimClock } from "../time/clock";
import { StatusTableServer } from "../dynamodb/status-table";
import { inProcessTransport } from "./in-process-transports";

export const region = "eu-west-1";
export const accountId = "123456789012";
export const jobQueueName = "batch-bridge-jobs";
export const jobQueueArn = `arn:aws:batch:${region}:${accountId}:job-queue/${jobQueueName}`;
export const jobDefinitionArn = `arn:aws:batch:${region}:${accountId}:job-definition/batch-bridge-job:1`;
/** Simulated time when every test starts. */
export const simulatedStart = Date.UTC(2030, 0, 1);

export interface SimulatedAccountOptions {
  /** Share of all Batch calls answered 429 on top of the quota (default 0). */
  throttleRate?: number;
  seed?: number;
  /** Endpoints of other services (`AWS_ENDPOINT_URL_<SERVICE>`), e.g. `{ SQS: ... }`. */
  endpoints?: Record<string, string>;
  /** More variables for the functions' environment. */
  env?: Record<string, string>;
  /** At most this many jobs STARTING or RUNNING at once; the others wait RUNNABLE (default: no limit). */
  maxConcurrentJobs?: number;
}

export class SimulatedAccount {
  private constructor(
    readonly clock: SimClock,
    readonly batch: BatchServer,
    /** The status table's server, its client, and the table's name (`BRIDGE_STATUS_TABLE`). */
    readonly tables: StatusTableServer,
    readonly statusTable: string,
    private readonly sqsServer: SqsServer,
    private readonly sqs: SQSClient,
    /** The clean-up queue (`BRIDGE_CLEANUP_QUEUE_URL`). */
    readonly cleanupQueueUrl: string,
    /**
     * The functions' way to this account's Batch, DynamoDB and SQS in this process, for
     * `*HandlerFromEnvironment(process.env, account.transports)` and `clientConfig`: no socket and no
     * signing (in-process-transports.ts). Without it a function reaches the same servers over HTTP.
     */
    readonly transports: ClientTransports,
    private readonly activity: HttpActivity,
    private readonly restore: () => void,
  ) {}

  static async start(options: SimulatedAccountOptions = {}): Promise<SimulatedAccount> {
    // Created before time is simulated: dynalite turns a table ACTIVE on a wall-clock timer.
    const tables = await StatusTableServer.start({ inProcess: true });
    const statusTable = await tables.createTable();
    const clock = new SimClock({ speed: 0, startMs: simulatedStart });
    const batch = await startBatchServer({
      clock,
      region,
      accountId,
      seed: options.seed ?? 1,
      throttleRate: options.throttleRate ?? 0,
      scenario: {
        jobQueues: [jobQueueArn],
        jobDefinitions: { [jobDefinitionArn]: {} },
        // Jobs run for a day: nothing the tests watch ends on its own.
        jobDurationMs: () => 24 * 3600 * 1000,
        ...(options.maxConcurrentJobs !== undefined ? { maxConcurrentJobs: options.maxConcurrentJobs } : {}),
      },
    });
    const sqsServer = await startSqs({ clock, region, accountId });
    const transports: ClientTransports = {
      BATCH: inProcessTransport(batch.requestListener, "batch"),
      DYNAMODB: inProcessTransport(tables.requestListener!, "dynamodb"),
      SQS: inProcessTransport(sqsServer.requestListener, "sqs"),
    };
    const sqs = new SQSClient({
      endpoint: sqsServer.endpoint,
      region,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      ...transports.SQS,
    });
    const { QueueUrl: cleanupQueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: "batch-bridge-cleanup" }),
    );
    const env = {
      ...localAwsEnvironment(
        { BATCH: batch.endpoint, DYNAMODB: tables.endpoint, SQS: sqsServer.endpoint, ...options.endpoints },
        region,
      ),
      POWERTOOLS_LOG_LEVEL: "SILENT",
      [environmentVariables.jobQueue]: jobQueueArn,
      [environmentVariables.jobDefinition]: jobDefinitionArn,
      [environmentVariables.jobNamePrefix]: "batch-bridge",
      [environmentVariables.submitMode]: "jobs",
      [environmentVariables.inputUriPrefix]: "s3://data-bucket/input/",
      [environmentVariables.outputUriPrefix]: "s3://data-bucket/output/",
      [environmentVariables.statusTable]: statusTable,
      [environmentVariables.cleanupQueueUrl]: cleanupQueueUrl!,
      ...options.env,
    };
    const restore = installSimulatedProcess(clock, options.seed ?? 1, env);
    return new SimulatedAccount(
      clock,
      batch,
      tables,
      statusTable,
      sqsServer,
      sqs,
      cleanupQueueUrl!,
      transports,
      new HttpActivity(),
      restore,
    );
  }

  /** A Lambda context for an invocation starting now with `timeoutSeconds` to run. */
  context(timeoutSeconds: number): InvocationContext {
    const deadline = this.clock.now() + timeoutSeconds * 1000;
    return { getRemainingTimeInMillis: () => Math.max(0, deadline - this.clock.now()) };
  }

  /**
   * Settles `work` in simulated time: whenever nothing is in flight, the clock jumps to the next timer.
   * Fails once `limitSeconds` of simulated time have passed without it settling.
   */
  async run<T>(work: Promise<T>, limitSeconds: number): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    work.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    const limit = this.clock.now() + limitSeconds * 1000;
    for (;;) {
      await settle(this.activity, this.clock);
      if (outcome !== undefined) break;
      if (this.clock.now() >= limit) {
        throw new Error(`the work did not settle within ${limitSeconds} simulated seconds`);
      }
      if (this.clock.advanceToNextTimer(limit) === undefined) this.clock.advanceTo(limit);
    }
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  }

  /** The bodies of the messages on the clean-up queue now (each received once, left to come back). */
  async cleanupMessages(): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const { Messages = [] } = await this.run(
        this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.cleanupQueueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 3600,
          }),
        ),
        1,
      );
      if (Messages.length === 0) return bodies;
      bodies.push(...Messages.map((m) => m.Body ?? ""));
    }
  }

  /** Simulated seconds since the start. */
  elapsedSeconds(): number {
    return (this.clock.now() - simulatedStart) / 1000;
  }

  async stop(): Promise<void> {
    this.activity.close();
    this.restore();
    this.sqs.destroy();
    await this.sqsServer.stop();
    await this.batch.stop();
    await this.tables.stop();
    this.clock.stop();
  }
}
