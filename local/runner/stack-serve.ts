/**
 * `npm start -- --serve`: the stack deployed into the local servers and kept up until stopped, for an
 * operator's tools (`npm run bridge`, the AWS CLI, an SDK). Every execution started through SageMaker's API
 * runs as on AWS (pipeline-runs.ts); jobs are simulated (a duration, injected failures); simulated time
 * flows `speed` times faster than wall time; one endpoint routes each request to its service's server; the
 * stack's outputs are written as `pulumi stack output --json` prints them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { JobMode } from "../../functions/step-contract";
import type { ConfigValue } from "../../render/stack-files";
import { prepareDesign } from "../designs/prepare";
import { startEndpointRouter } from "../endpoint-router";
import { SimClock } from "../time/clock";
import { RecordsWorld } from "./records-world";
import { failingShardJobs } from "./run";

export interface StackServeOptions {
  stack: string;
  config: Record<string, ConfigValue>;
  mode?: JobMode;
  /** How long each job runs once RUNNING, in simulated seconds. */
  jobDurationSeconds: number;
  /** Shards whose job exits with code 1 halfway through, in every execution. */
  failShards: number[];
  /** Simulated ms per wall ms. */
  speed: number;
  seed: number;
  eventDelaySeconds: number;
}

/** The served stack. */
export interface ServedStack {
  /** The one endpoint of every service: what AWS_ENDPOINT_URL is set to. */
  endpoint: string;
  region: string;
  /** The stack's outputs, and the file that holds them. */
  outputs: Record<string, unknown>;
  outputsFile: string;
  stop(): Promise<void>;
}

/** Starts the servers, deploys the stack into them and serves it; resolves once it answers. */
export async function serveStack(options: StackServeOptions): Promise<ServedStack> {
  const design = await prepareDesign({
    design: "bridge",
    stack: options.stack,
    config: options.config,
    mode: options.mode,
    shards: 1,
    jobDurationSeconds: options.jobDurationSeconds,
    functionLogs: false,
  });
  const clock = new SimClock({ speed: options.speed, startMs: Date.now() });
  const world = await RecordsWorld.start({
    design,
    clock,
    seed: options.seed,
    jobDurationSeconds: options.jobDurationSeconds,
    eventDelaySeconds: options.eventDelaySeconds,
    failureOf: () => undefined,
    // Failing shards fail as in npm start.
    simulatedJobs: failingShardJobs(options.failShards, options.jobDurationSeconds),
  });
  const stops: (() => Promise<void> | void)[] = [() => world.stop(), () => clock.stop()];
  const stopAll = async () => {
    for (const stop of stops.splice(0)) await stop();
  };
  try {
    stops.unshift(world.pollEverySecond());
    const router = await startEndpointRouter({
      sagemaker: world.sageMakerServer.endpoint,
      batch: world.batchServer.endpoint,
      sqs: world.sqsServer.endpoint,
      s3: world.s3Server.endpoint,
    });
    stops.unshift(() => router.stop());
    const folder = await mkdtemp(path.join(os.tmpdir(), "sagemaker-batch-bridge-serve-"));
    stops.push(() => rm(folder, { recursive: true, force: true }));
    const outputs = design.outputs ?? {};
    const outputsFile = path.join(folder, "outputs.json");
    await writeFile(outputsFile, `${JSON.stringify(outputs, null, 4)}\n`);
    return { endpoint: router.endpoint, region: design.region, outputs, outputsFile, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
