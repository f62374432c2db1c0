/**
 * SageMaker Batch Transform jobs on one machine: CreateTransformJob, DescribeTransformJob and
 * StopTransformJob with the job's states (InProgress, Completed, Failed, Stopping, Stopped), run on the
 * simulated clock over objects in the local S3.
 *
 * Modelled as SageMaker documents them ("How Batch Transform works", "Associate Prediction Results with
 * Input Records", and the CreateTransformJob / DescribeTransformJob / StopTransformJob API references):
 * - the job is InProgress from its creation and first provisions its instances, which takes minutes
 *   (`provisioningSeconds`; AWS publishes no figure: the default 5 min is the bench's assumption);
 * - each object under the S3Prefix is split by line (SplitType Line), each line filtered (InputFilter),
 *   sent to the model, joined to its input (JoinSource Input: a JSON line gains `SageMakerOutput`),
 *   filtered (OutputFilter), and written to `<S3OutputPath><object's path under the prefix>.out`,
 *   one line each (AssembleWith Line);
 * - an error of the model fails the whole job (Failed, with a FailureReason, and no output for the objects
 *   not yet written);
 * - StopTransformJob moves an InProgress job to Stopping, then Stopped; stopping a finished job does
 *   nothing. A stopped job writes nothing more.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { listKeys, parseS3Uri, readText, writeText } from "../../functions/records/s3-objects";
import type { SimClock, SimTimer } from "../time/clock";
import { SageMakerError } from "./requests";

/** Instance provisioning before a job processes anything: AWS publishes no figure; 5 min is assumed. */
export const transformProvisioningSeconds = 300;

export type TransformJobStatus = "InProgress" | "Completed" | "Failed" | "Stopping" | "Stopped";

/**
 * The model a job runs: one answer per input (already filtered), in order, or an error that fails the job.
 * The built-in model answers each record deterministically; `--worker` runs a command, one line each.
 * `request` names the request (the job and the input object) for the model's logs.
 */
export type TransformModel = (inputs: unknown[], request?: { name: string }) => Promise<unknown[]>;

export interface TransformJobsOptions {
  clock: SimClock;
  s3: S3Client;
  region: string;
  accountId: string;
  model: TransformModel;
  /** Instance provisioning before any record is processed (default 300 s). */
  provisioningSeconds?: number;
  /** Processing once provisioned, in simulated seconds (default 120 s, as the local Batch job). */
  processingSeconds?: number;
  /** From Stopping to Stopped (default 30 s). */
  stoppingSeconds?: number;
  /** Tracks the job's asynchronous work, so that the run waits for it and sees its errors. */
  track: (work: Promise<unknown>) => void;
}

/** A transform job as DescribeTransformJob shows it (the fields the bridge reads). */
export interface TransformJob {
  TransformJobName: string;
  TransformJobArn: string;
  TransformJobStatus: TransformJobStatus;
  FailureReason?: string;
  ModelName: string;
  CreationTime: number;
  TransformStartTime?: number;
  TransformEndTime?: number;
  TransformInput: { S3Uri: string };
  TransformOutput: { S3OutputPath: string };
  /** Records read and written (local only: what the run reports). */
  records: number;
}

interface Job extends TransformJob {
  request: TransformRequest;
  timer?: SimTimer;
}

interface TransformRequest {
  name: string;
  modelName: string;
  inputUri: string;
  outputUri: string;
  inputFilter: string;
  joinSource: "Input" | "None";
  outputFilter: string;
}

const jobNamePattern = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/** Every transform job of the local SageMaker. */
export class TransformJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners: ((job: TransformJob) => void)[] = [];
  private readonly stoppingListeners: ((name: string) => void)[] = [];

  constructor(private readonly options: TransformJobsOptions) {}

  /** CreateTransformJob: the job starts InProgress, provisioning. */
  create(input: Record<string, unknown>): { TransformJobArn: string } {
    const request = checkedRequest(input);
    if (this.jobs.has(request.name)) {
      throw new SageMakerError("ResourceInUse", `Transform job ${request.name} already exists.`);
    }
    const { clock, region, accountId } = this.options;
    const job: Job = {
      request,
      TransformJobName: request.name,
      TransformJobArn: `arn:aws:sagemaker:${region}:${accountId}:transform-job/${request.name.toLowerCase()}`,
      TransformJobStatus: "InProgress",
      ModelName: request.modelName,
      CreationTime: clock.now() / 1000,
      TransformInput: { S3Uri: request.inputUri },
      TransformOutput: { S3OutputPath: request.outputUri },
      records: 0,
    };
    this.jobs.set(request.name, job);
    job.timer = clock.setTimeout(
      () => this.options.track(this.process(job)),
      (this.options.provisioningSeconds ?? transformProvisioningSeconds) * 1000,
    );
    return { TransformJobArn: job.TransformJobArn };
  }

  /** DescribeTransformJob. */
  describe(name: string): TransformJob {
    return view(this.require(name));
  }

  /** StopTransformJob: an InProgress job becomes Stopping, then Stopped; a finished one stays as it is. */
  stop(name: string): void {
    const job = this.require(name);
    if (job.TransformJobStatus !== "InProgress") return;
    const { clock } = this.options;
    if (job.timer) clock.clearTimeout(job.timer);
    job.TransformJobStatus = "Stopping";
    for (const listener of this.stoppingListeners) listener(name);
    job.timer = clock.setTimeout(() => this.end(job, "Stopped"), (this.options.stoppingSeconds ?? 30) * 1000);
  }

  /** Called with the name of each job StopTransformJob moves to Stopping (its instances stop). */
  onStopping(listener: (name: string) => void): void {
    this.stoppingListeners.push(listener);
  }

  /** Called with each job that reaches Completed, Failed or Stopped; returns unsubscribe. */
  onEnd(listener: (job: TransformJob) => void): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  /** Copies of every job, oldest first. */
  all(): TransformJob[] {
    return [...this.jobs.values()].map(view);
  }

  /** Jobs still InProgress or Stopping. */
  running(): number {
    return [...this.jobs.values()].filter((job) =>
      ["InProgress", "Stopping"].includes(job.TransformJobStatus),
    ).length;
  }

  private require(name: string): Job {
    const job = this.jobs.get(name);
    if (!job) throw new SageMakerError("ResourceNotFound", `Could not find transform job "${name}".`);
    return job;
  }

  /** Provisioned: read, transform and write every object, then end after the processing time. */
  private async process(job: Job): Promise<void> {
    if (job.TransformJobStatus !== "InProgress") return;
    job.TransformStartTime = this.options.clock.now() / 1000;
    const outputs: { uri: string; text: string }[] = [];
    let failure: string | undefined;
    try {
      const { s3 } = this.options;
      const input = parseS3Uri(job.request.inputUri)!;
      for (const key of await listKeys(s3, job.request.inputUri)) {
        const lines = (await readText(s3, input.bucket, key))
          .split("\n")
          .filter((line) => line.trim() !== "");
        const parsed = lines.map((line, i) => parseLine(line, `${key} line ${i + 1}`));
        const answers = await this.options.model(
          parsed.map((line) => jsonPath(line, job.request.inputFilter)),
          { name: `${job.TransformJobName}.${key.slice(key.lastIndexOf("/") + 1)}` },
        );
        if (answers.length !== parsed.length) {
          throw new Error(`the model answered ${answers.length} of ${parsed.length} records of ${key}`);
        }
        const joined = parsed.map((line, i) =>
          job.request.joinSource === "Input" ? joinedLine(line, answers[i]) : answers[i],
        );
        const kept = joined.map((line) => JSON.stringify(jsonPath(line, job.request.outputFilter)));
        outputs.push({
          uri: `${job.request.outputUri.replace(/\/?$/, "/")}${key.slice(input.key.length).replace(/^\//, "")}.out`,
          text: kept.map((line) => `${line}\n`).join(""),
        });
        job.records += parsed.length;
      }
    } catch (error) {
      failure = `ClientError: ${(error as Error).message}`;
    }
    const { clock } = this.options;
    job.timer = clock.setTimeout(
      () => {
        if (job.TransformJobStatus !== "InProgress") return;
        job.timer = undefined;
        if (failure !== undefined) {
          this.end(job, "Failed", failure);
          return;
        }
        this.options.track(
          Promise.all(
            outputs.map((o) => writeText(this.options.s3, o.uri, o.text, "application/jsonlines")),
          ).then(
            () => this.end(job, "Completed"),
            (error: unknown) => this.end(job, "Failed", `InternalServerError: ${(error as Error).message}`),
          ),
        );
      },
      (this.options.processingSeconds ?? 120) * 1000,
    );
  }

  private end(job: Job, status: "Completed" | "Failed" | "Stopped", failureReason?: string): void {
    if (job.TransformJobStatus === "Completed" || job.TransformJobStatus === "Failed") return;
    job.TransformJobStatus = status;
    job.timer = undefined;
    if (failureReason !== undefined) job.FailureReason = failureReason;
    job.TransformEndTime = this.options.clock.now() / 1000;
    for (const listener of [...this.listeners]) listener(view(job));
  }
}

function view(job: Job): TransformJob {
  const shown: Partial<Job> = { ...job };
  delete shown.request;
  delete shown.timer;
  return {
    ...(shown as TransformJob),
    TransformInput: { ...job.TransformInput },
    TransformOutput: { ...job.TransformOutput },
  };
}

/** The fields of CreateTransformJob local mode runs, checked as SageMaker checks them. */
function checkedRequest(input: Record<string, unknown>): TransformRequest {
  const name = input.TransformJobName;
  if (typeof name !== "string" || !jobNamePattern.test(name)) {
    throw new SageMakerError(
      "ValidationException",
      `TransformJobName must be 1-63 letters, digits and hyphens, got ${JSON.stringify(name)}.`,
    );
  }
  const field = (path: string[]): unknown =>
    path.reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], input);
  const text = (path: string[], fallback?: string): string => {
    const value = field(path) ?? fallback;
    if (typeof value !== "string" || value === "") {
      throw new SageMakerError("ValidationException", `${path.join(".")} is required.`);
    }
    return value;
  };
  const inputUri = text(["TransformInput", "DataSource", "S3DataSource", "S3Uri"]);
  const outputUri = text(["TransformOutput", "S3OutputPath"]);
  for (const uri of [inputUri, outputUri]) {
    if (!parseS3Uri(uri)) throw new SageMakerError("ValidationException", `${uri} is not an S3 URI.`);
  }
  const payload = field(["MaxPayloadInMB"]);
  const concurrent = field(["MaxConcurrentTransforms"]);
  if (typeof payload === "number" && typeof concurrent === "number" && payload * concurrent > 100) {
    throw new SageMakerError(
      "ValidationException",
      "MaxConcurrentTransforms x MaxPayloadInMB must not exceed 100 MB.",
    );
  }
  const joinSource = text(["DataProcessing", "JoinSource"], "None");
  if (joinSource !== "Input" && joinSource !== "None") {
    throw new SageMakerError("ValidationException", `DataProcessing.JoinSource must be Input or None.`);
  }
  return {
    name,
    modelName: text(["ModelName"]),
    inputUri,
    outputUri,
    inputFilter: text(["DataProcessing", "InputFilter"], "$"),
    joinSource,
    outputFilter: text(["DataProcessing", "OutputFilter"], "$"),
  };
}

function parseLine(line: string, where: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${where} is not JSON`);
  }
}

/** JoinSource Input with JSON: the input object gains the answer under `SageMakerOutput`. */
function joinedLine(input: unknown, answer: unknown): unknown {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new Error("JoinSource Input needs each JSON input line to be an object");
  }
  return { ...(input as Record<string, unknown>), SageMakerOutput: answer };
}

/**
 * The JSONPath subset a transform's filters use: `$`, `$.a.b`, `$['a','b']` (an object of the keys named),
 * and `$[0,-1]` (array indexes). Anything else fails the job, as an invalid filter does.
 */
export function jsonPath(value: unknown, path: string): unknown {
  if (path === "$") return value;
  const dotted = /^\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(path);
  if (dotted) {
    return dotted[1]
      .slice(1)
      .split(".")
      .reduce<unknown>((inner, key) => {
        if (typeof inner !== "object" || inner === null || !(key in inner)) {
          throw new Error(`the filter ${path} selects nothing in ${JSON.stringify(value)}`);
        }
        return (inner as Record<string, unknown>)[key];
      }, value);
  }
  const keys = /^\$\[((?:'[^']*'\s*,\s*)*'[^']*')\]$/.exec(path);
  if (keys) {
    const names = [...keys[1].matchAll(/'([^']*)'/g)].map((m) => m[1]);
    const object = value as Record<string, unknown>;
    return Object.fromEntries(names.filter((name) => name in object).map((name) => [name, object[name]]));
  }
  const indexes = /^\$\[(-?\d+(?:\s*,\s*-?\d+)*)\]$/.exec(path);
  if (indexes && Array.isArray(value)) {
    return indexes[1].split(",").map((i) => value.at(Number(i)));
  }
  throw new Error(`the filter ${path} is not a JSONPath local mode reads`);
}
