/**
 * The reference design this product replaces, modelled as it is, weak points included, so that
 * `npm run bench` can run its policy through the same local servers as ours. Not part of the stack.
 *
 * ```
 * referenceDesign(settings: { jobQueue, jobDefinition, jobNamePrefix }): {
 *   pipelineDefinition(args: { submitFunctionArn, callbackQueueUrl, inputUri, outputUri, shardCount }):
 *     PipelineDefinition,
 *   makeHandlers(deps: { batch: BatchClient, sagemaker: SageMakerClient }): {
 *     submit(event: unknown): Promise<Record<string, string>>,   // { jobIds: "<id> <id> ..." }
 *     monitor(event: SQSEvent): Promise<void>,                  // throws: the whole batch comes back
 *   },
 *   queue: { visibilityTimeoutSeconds: 900, redrive: undefined, batchSize: 10, reportBatchItemFailures: false },
 * }
 * ```
 *
 * The design: a Lambda step submits one Batch job per shard and returns their IDs; a Callback step sends
 * the IDs with its token to SQS; a monitor Lambda on that queue describes the jobs and, while any runs,
 * throws so that the message comes back after the queue's visibility timeout; on a FAILED job it answers
 * SendPipelineExecutionStepFailure, when all SUCCEEDED SendPipelineExecutionStepSuccess.
 *
 * What a user of it runs into (AWS-FACTS, "The system this project grows from"):
 * - Resume latency up to one visibility timeout (900 s) after the last job ends.
 * - The IDs travel through one step output value, which holds at most 1,024 characters (about 27 IDs):
 *   with more shards the step fails after the jobs were submitted, and they keep running. The runner
 *   enforces that limit, as SageMaker does; `submit` only produces the value.
 * - SubmitJob calls go one after another with the SDK's default retries only: beyond the 50 requests/s
 *   quota the SDK gives up after its attempts, the function throws and the jobs submitted so far run on.
 * - DescribeJobs with every ID in one call: Batch rejects more than 100 IDs with a ClientException, so with
 *   more than 100 shards the monitor throws on every delivery and the step is never answered.
 * - No dead-letter queue and no ReportBatchItemFailures: one record that throws returns the whole batch,
 *   and a message that always throws comes back until the queue's retention (SQS default, 4 days) drops it.
 * - A `Stopping` message is checked like any other: the jobs are left running and the step is answered
 *   only once they end.
 * - The failure path crashes when the failed job has no `container.reason` (see `failureReasonOf`).
 */
import {
  DescribeJobsCommand,
  SubmitJobCommand,
  type BatchClient,
  type JobDetail,
} from "@aws-sdk/client-batch";
import {
  SendPipelineExecutionStepFailureCommand,
  SendPipelineExecutionStepSuccessCommand,
  type SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import type { SQSEvent } from "aws-lambda";
import {
  bridgeParameters,
  bridgePipelineParameters,
  bridgeSteps,
  buildPipelineDefinition,
  parameterRef,
  stepOutputRef,
  type PipelineDefinition,
} from "../../infra/pipeline-definition";

/** The reference pipeline has the bridge's parameters and step names, so a runner drives both alike. */
export const referenceParameters = bridgeParameters;
export const referenceSteps = bridgeSteps;
/** The Lambda step's one output, passed on to the Callback step: the job IDs joined by spaces. */
export const jobIdsOutput = "jobIds";

/** Where the reference design's jobs go. */
export interface ReferenceSettings {
  /** Job queue name or ARN. */
  jobQueue: string;
  /** Job definition name or ARN. */
  jobDefinition: string;
  /** Shard i's job is `<prefix>-<i, 2 digits or more>`. */
  jobNamePrefix: string;
}

/** The ARN and URL the pipeline points at, and its parameters' defaults. */
export interface ReferencePipelineArgs {
  submitFunctionArn: string;
  callbackQueueUrl: string;
  /** Default of InputUri: shard i reads `<inputUri>/file_NN.json`. */
  inputUri: string;
  /** Default of OutputUri: shard i writes `<outputUri>/output_NN.json`. */
  outputUri: string;
  /** Default of ShardCount. */
  shardCount: number;
}

export interface ReferenceDeps {
  batch: BatchClient;
  sagemaker: SageMakerClient;
}

export interface ReferenceHandlers {
  /** The Lambda step: `event` is its resolved Arguments; returns its output parameters. */
  submit(event: unknown): Promise<Record<string, string>>;
  /** The callback queue's consumer; a throw returns the whole batch to the queue. */
  monitor(event: SQSEvent): Promise<void>;
}

/** The callback queue and its event source mapping, as the reference design declares them. */
export interface ReferenceQueue {
  /** Fixed: a message the monitor threw on comes back after this long. */
  visibilityTimeoutSeconds: number;
  /** No dead-letter queue. */
  redrive: undefined;
  /** Records per monitor invocation (Lambda's default for SQS). */
  batchSize: number;
  /** Off: a throw returns every record of the batch. */
  reportBatchItemFailures: false;
}

export interface ReferenceDesign {
  pipelineDefinition(args: ReferencePipelineArgs): PipelineDefinition;
  makeHandlers(deps: ReferenceDeps): ReferenceHandlers;
  queue: ReferenceQueue;
}

/** The callback message as the reference monitor reads it (nothing else of it, the status included). */
interface ReferenceCallbackMessage {
  token: string;
  arguments: { [jobIdsOutput]: string };
}

/** The reference design with its jobs going to `settings`' queue and definition. */
export function referenceDesign(settings: ReferenceSettings): ReferenceDesign {
  for (const key of ["jobQueue", "jobDefinition", "jobNamePrefix"] as const) {
    if (typeof settings[key] !== "string" || settings[key] === "") {
      throw new Error(
        `reference design: ${key} must be a non-empty string, got ${JSON.stringify(settings[key])}`,
      );
    }
  }

  const pipelineDefinition = (args: ReferencePipelineArgs): PipelineDefinition =>
    buildPipelineDefinition({
      parameters: bridgePipelineParameters(args),
      steps: [
        {
          type: "Lambda",
          name: referenceSteps.submit,
          functionArn: args.submitFunctionArn,
          arguments: {
            inputUri: parameterRef(referenceParameters.inputUri),
            outputUri: parameterRef(referenceParameters.outputUri),
            shardCount: parameterRef(referenceParameters.shardCount),
          },
          outputs: [{ name: jobIdsOutput, type: "String" }],
        },
        {
          type: "Callback",
          name: referenceSteps.wait,
          sqsQueueUrl: args.callbackQueueUrl,
          arguments: { [jobIdsOutput]: stepOutputRef(referenceSteps.submit, jobIdsOutput) },
          outputs: [],
        },
      ],
    });

  const makeHandlers = ({ batch, sagemaker }: ReferenceDeps): ReferenceHandlers => ({
    async submit(event) {
      const { inputUri, outputUri, shardCount } = readSubmitEvent(event);
      const jobIds: string[] = [];
      // One after another, retried only as the SDK's defaults retry: a throw here leaves the jobs already
      // submitted running, and nothing records them.
      for (let shard = 0; shard < shardCount; shard++) {
        const number = String(shard).padStart(2, "0");
        const { jobId } = await batch.send(
          new SubmitJobCommand({
            jobName: `${settings.jobNamePrefix}-${number}`,
            jobQueue: settings.jobQueue,
            jobDefinition: settings.jobDefinition,
            parameters: {
              inputUri: `${inputUri}/file_${number}.json`,
              outputUri: `${outputUri}/output_${number}.json`,
            },
          }),
        );
        jobIds.push(jobId!);
      }
      // A step output value holds at most 1,024 characters; nothing here checks it.
      return { [jobIdsOutput]: jobIds.join(" ") };
    },

    async monitor(event) {
      // Records one after another; the first throw returns the whole batch, the ones answered included.
      for (const record of event.Records) {
        // The status is never read: a Stopping message is checked like an Executing one.
        const message = JSON.parse(record.body) as ReferenceCallbackMessage;
        const jobIds = message.arguments[jobIdsOutput].split(" ");
        // Every ID in one call: more than 100 is a ClientException, on every delivery.
        const { jobs = [] } = await batch.send(new DescribeJobsCommand({ jobs: jobIds }));
        const failed = jobs.find((job) => job.status === "FAILED");
        if (failed) {
          await sagemaker.send(
            new SendPipelineExecutionStepFailureCommand({
              CallbackToken: message.token,
              FailureReason: failureReasonOf(failed),
            }),
          );
          continue;
        }
        if (jobs.every((job) => job.status === "SUCCEEDED")) {
          await sagemaker.send(new SendPipelineExecutionStepSuccessCommand({ CallbackToken: message.token }));
          continue;
        }
        const unfinished = jobs.filter((job) => job.status !== "SUCCEEDED").length;
        throw new Error(`${unfinished} of ${jobIds.length} jobs not finished yet; checking again later`);
      }
    },
  });

  return {
    pipelineDefinition,
    makeHandlers,
    queue: {
      visibilityTimeoutSeconds: 900,
      redrive: undefined,
      batchSize: 10,
      reportBatchItemFailures: false,
    },
  };
}

/**
 * The reference failure path's crash: it reports the container's `reason`, which Batch sets only for some
 * failures (e.g. "OutOfMemoryError: Container killed due to memory usage"). A container that exited with a
 * non-zero code, a timed-out attempt and a terminated or cancelled job have none, so reading it throws a
 * TypeError before SendPipelineExecutionStepFailure is sent: the step is never answered, the message comes
 * back every visibility timeout until the queue drops it, and the other shards' jobs run to their end.
 */
function failureReasonOf(job: JobDetail): string {
  return `Batch job ${job.jobName} failed: ${job.container!.reason!.slice(0, 200)}`;
}

/** The Lambda step's arguments: URIs and a shard count (SageMaker passes the Integer as a number or string). */
function readSubmitEvent(event: unknown): { inputUri: string; outputUri: string; shardCount: number } {
  const args = (event ?? {}) as Record<string, unknown>;
  for (const key of ["inputUri", "outputUri"] as const) {
    if (typeof args[key] !== "string" || args[key] === "") {
      throw new Error(`${key} must be a non-empty string, got ${JSON.stringify(args[key])}`);
    }
  }
  const given = args.shardCount;
  const shardCount = typeof given === "number" || typeof given === "string" ? Number(given) : NaN;
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new Error(`shardCount must be a whole number >= 1, got ${JSON.stringify(given)}`);
  }
  // `<in>/file_NN.json`: one separator, whether or not the URI ends with a slash.
  const trimmed = (uri: string) => uri.replace(/\/+$/, "");
  return {
    inputUri: trimmed(args.inputUri as string),
    outputUri: trimmed(args.outputUri as string),
    shardCount,
  };
}
