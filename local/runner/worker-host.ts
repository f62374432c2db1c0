/**
 * What a run with `--worker` adds: the S3 emulator holding the stack's data bucket (seeded from the input
 * folder), the user's command run as every job's container, and afterwards the output prefix copied to a
 * folder beside the jobs' logs, for a person to read.
 *
 * Time: a job's RUNNING lasts as long as its process. While any process runs, the runner lets simulated
 * time follow the wall clock (it never jumps ahead of a running process, so a job timeout still stops a
 * process that runs too long, after that long); when none runs, it jumps to the next timer as usual. A
 * local process has no image to pull and no task to place, so STARTING lasts 1 s here, not Fargate's
 * usual 20 s, which would otherwise be waited in real time whenever another job's process is running.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { mkdtemp } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { BatchScenario } from "../batch/scenario";
import { ModelProcesses } from "../containers/model-process";
import { ProcessRuntime, type ProcessRecord } from "../containers/process-runtime";
import { concurrentJobs, type PreparedDesign } from "../designs/design";
import { downloadPrefix, uploadFolder } from "../s3/folders";
import { localCredentials, startS3Server, type S3Server } from "../s3/server";
import { localAwsEnvironment } from "./simulated-process";

/** What the summary says of a run's worker (the `worker` field; null without `--worker`). */
export interface WorkerSummary {
  command: string;
  /** Most processes at once: the compute environment's floor(maxVcpus / vcpu). */
  concurrency: number;
  /** `s3://bucket/prefix` the jobs read, and how many objects it held at the start. */
  input: { uri: string; objects: number; seededFrom: string | null };
  /** `s3://bucket/prefix` the jobs write, copied to `outputDirectory` at the end. */
  output: { uri: string; objects: number };
  /** Where the jobs' logs (one file per attempt) and the copied output are. */
  resultsDirectory: string;
  logsDirectory: string;
  outputDirectory: string;
  /** Every process started, in order, with its exit code and whether it was stopped. */
  processes: ProcessRecord[];
}

/** How long STARTING lasts with a local process (see above). */
const localStartingMs = 1_000;

export class WorkerHost {
  private stopped = false;
  private modelProcesses: ModelProcesses | undefined;

  private constructor(
    private readonly command: string,
    private readonly design: PreparedDesign,
    private readonly s3Server: S3Server,
    private readonly s3: S3Client,
    readonly runtime: ProcessRuntime,
    private readonly resultsDirectory: string,
    private readonly seededFrom: string | undefined,
    private readonly inputObjects: number,
  ) {}

  /** Starts S3 with the data bucket, seeds its input prefix from `inputDirectory`, prepares the runtime. */
  static async start(
    command: string,
    inputDirectory: string | undefined,
    design: PreparedDesign,
  ): Promise<WorkerHost> {
    const resultsDirectory = await mkdtemp(path.join(os.tmpdir(), "sagemaker-batch-bridge-run-"));
    const s3Server = await startS3Server({ buckets: [design.data.bucket] });
    const s3 = new S3Client({
      region: design.region,
      credentials: localCredentials,
      endpoint: s3Server.endpoint,
    });
    try {
      const inputObjects =
        inputDirectory === undefined
          ? 0
          : await uploadFolder(s3, design.data.bucket, design.data.inputPrefix, inputDirectory);
      const awsEnvironment = Object.fromEntries(
        Object.entries(localAwsEnvironment({ S3: s3Server.endpoint }, design.region)).filter(
          ([, v]) => v !== "",
        ),
      );
      const runtime = new ProcessRuntime({
        command,
        awsEnvironment,
        logsDirectory: path.join(resultsDirectory, "logs"),
      });
      return new WorkerHost(
        command,
        design,
        s3Server,
        s3,
        runtime,
        resultsDirectory,
        inputDirectory,
        inputObjects,
      );
    } catch (error) {
      s3.destroy();
      await s3Server.stop();
      throw error;
    }
  }

  /** Where its S3 server listens (the functions write step reports there too). */
  get s3Endpoint(): string {
    return this.s3Server.endpoint;
  }

  /** Most processes at once: the compute environment's floor(maxVcpus / vcpu), at least 1. */
  get concurrency(): number {
    return concurrentJobs(this.design.compute);
  }

  /** The Batch scenario's part: real containers, the compute environment's name and concurrency. */
  batchScenario(): Pick<
    BatchScenario,
    "containers" | "computeEnvironmentName" | "maxConcurrentJobs" | "stateDurationsMs"
  > {
    return {
      containers: this.runtime,
      computeEnvironmentName: this.design.compute.computeEnvironmentName,
      maxConcurrentJobs: this.concurrency,
      stateDurationsMs: { STARTING: localStartingMs },
    };
  }

  /**
   * On the transform engine: the command as the transform jobs' model, one process per request, with the
   * same local AWS settings and logs folder as the jobs' processes (made once).
   */
  transformModel(timeoutSeconds: number): ModelProcesses {
    this.modelProcesses ??= new ModelProcesses({
      command: this.command,
      awsEnvironment: this.awsEnvironment(),
      logsDirectory: path.join(this.resultsDirectory, "logs"),
      timeoutSeconds,
    });
    return this.modelProcesses;
  }

  private awsEnvironment(): Record<string, string> {
    return Object.fromEntries(
      Object.entries(localAwsEnvironment({ S3: this.s3Server.endpoint }, this.design.region)).filter(
        ([, v]) => v !== "",
      ),
    );
  }

  /** Kills what still runs, copies the output prefix out, stops S3; returns the summary's part. */
  async finish(): Promise<WorkerSummary> {
    const { bucket, inputPrefix, outputPrefix } = this.design.data;
    const outputDirectory = path.join(this.resultsDirectory, "output");
    try {
      await this.runtime.killAll();
      this.modelProcesses?.killAll();
      const outputObjects = await downloadPrefix(this.s3, bucket, outputPrefix, outputDirectory);
      return {
        command: this.command,
        concurrency: this.concurrency,
        input: {
          uri: `s3://${bucket}/${inputPrefix}`,
          objects: this.inputObjects,
          seededFrom: this.seededFrom ?? null,
        },
        output: { uri: `s3://${bucket}/${outputPrefix}`, objects: outputObjects },
        resultsDirectory: this.resultsDirectory,
        logsDirectory: path.join(this.resultsDirectory, "logs"),
        outputDirectory,
        processes: [...this.runtime.processes, ...(this.modelProcesses?.processes ?? [])],
      };
    } finally {
      await this.stop();
    }
  }

  /** Kills what still runs and stops S3 (what `finish` does, without the summary); once is enough. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.runtime.killAll();
    this.modelProcesses?.killAll();
    this.s3.destroy();
    await this.s3Server.stop();
  }
}
