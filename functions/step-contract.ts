/**
 * The contract between the pipeline definition and the functions: the arguments each step passes, the
 * outputs each step returns, and the callback message. The pipeline-definition builder and the handlers
 * both take their names from here.
 */

/** The Lambda step's `Arguments`; SageMaker passes them as the function's event. */
export interface SubmitArguments {
  /** `{"Get": "Execution.PipelineExecutionArn"}` */
  executionArn: string;
  /** `s3://bucket/prefix/`: the shards' input. */
  inputUri: string;
  /** `s3://bucket/prefix/`: where the shards write. */
  outputUri: string;
  /** Whole number 1-10,000; pipeline parameters arrive as strings or numbers. */
  shardCount: string | number;
  /** One of the stack's job kinds (its `jobKinds`, and `default`: the top-level keys); default `default`. */
  jobKind?: string;
  /**
   * The bridge step's name. Each named step of an execution gets jobs of its own (their names carry a key
   * of it), so a pipeline may hold several bridge steps; a step without it uses the execution's names.
   */
  stepName?: string;
  /**
   * Share of the shards that must succeed, 0 < r <= 1 (a number or a decimal string); default: the job
   * kind's minSuccessRatio.
   */
  minSuccessRatio?: string | number;
}

/**
 * The pipeline's parameters, as the stack's definition declares them; whoever starts an execution (a
 * person, the records flush function) passes them by these names.
 */
export const pipelineParameterNames = {
  inputUri: "InputUri",
  outputUri: "OutputUri",
  shardCount: "ShardCount",
} as const;

/** Every argument the submit step takes: any other is refused, so a misspelled one is not ignored. */
export const submitArgumentNames = [
  "executionArn",
  "inputUri",
  "outputUri",
  "shardCount",
  "jobKind",
  "stepName",
  "minSuccessRatio",
] as const satisfies readonly (keyof SubmitArguments)[];

/** The job kind of the top-level job settings, used when a step names none. */
export const defaultJobKind = "default";

/** How the jobs of one execution were submitted. */
export type JobMode = "array" | "jobs";

/**
 * The Lambda step's output parameters (all String: a step output value holds at most 1,024 characters,
 * so it names the jobs, never lists them).
 */
export interface SubmitOutputs {
  /** "array" or "jobs". */
  jobMode: JobMode;
  /** array: the array (or single) job's ID; jobs: the common job name prefix, `<prefix>-<execution id>`. */
  jobRef: string;
  /** The number of shards, as a decimal string. */
  shardCount: string;
  /**
   * The step's job name, `<prefix>-<execution id>` (with `_<step key>` for a named step): the array job's
   * name, or the shards' common name prefix, and the key of the step in the status table.
   */
  jobName: string;
  /** The step's outputUri, handed on so that the Callback step returns it. */
  outputUri: string;
  /** The share of shards that must succeed, as a decimal string ("1": all). */
  minSuccessRatio: string;
}

export const submitOutputNames = [
  "jobMode",
  "jobRef",
  "shardCount",
  "jobName",
  "outputUri",
  "minSuccessRatio",
] as const satisfies readonly (keyof SubmitOutputs)[];

/**
 * The Callback step's `Arguments`: the submit step's outputs, passed through. SageMaker resolves them and
 * puts them under `arguments` in the callback message. `jobName` and `outputUri` may be missing from a
 * step defined before the submit step returned them: the execution's job name, and no OutputUri.
 */
export type CallbackArguments = SubmitOutputs;

/**
 * The Callback step's output parameters, sent with SendPipelineExecutionStepSuccess (all String): what a
 * later step reads as `{"Get": "Steps.<step>.OutputParameters['OutputUri']"}`.
 */
export const callbackOutputNames = [
  "Status",
  "SucceededShards",
  "ShardCount",
  "JobRef",
  "OutputUri",
  "FailedShards",
  "ReportUri",
] as const;
export type CallbackOutputs = Record<
  Exclude<(typeof callbackOutputNames)[number], "OutputUri" | "ReportUri">,
  string
> & {
  /** Missing only when the callback message carried no outputUri (a step defined before it did). */
  OutputUri?: string;
  /** The step report's s3:// URI, when shards failed (minSuccessRatio) and the report was written. */
  ReportUri?: string;
};

/** The message SageMaker puts on the callback queue (the status key is spelled both ways in AWS docs). */
export interface CallbackMessage {
  token: string;
  pipelineExecutionArn: string;
  arguments: CallbackArguments;
  /**
   * "Stopping" in the extra message a stopped execution sends; AWS documents the field for that message
   * only, so a message without it is read as "Executing".
   */
  status?: string;
}

/**
 * Environment variables through which the stack hands its settings to the functions (readable in the
 * Lambda console, and set the same way by local mode).
 */
export const environmentVariables = {
  /** Job queue ARN. */
  jobQueue: "BRIDGE_JOB_QUEUE",
  /** Job definition ARN (with revision). */
  jobDefinition: "BRIDGE_JOB_DEFINITION",
  /** Every job name starts with it, then `-<execution id>`. */
  jobNamePrefix: "BRIDGE_JOB_NAME_PREFIX",
  /** "array" or "jobs". */
  submitMode: "BRIDGE_SUBMIT_MODE",
  /** The default kind's minSuccessRatio (unset: 1). */
  minSuccessRatio: "BRIDGE_MIN_SUCCESS_RATIO",
  /**
   * The stack's other job kinds, JSON: `{"<kind>": {"jobDefinition": "<ARN>", "submitMode": "array",
   * "minSuccessRatio": 0.9}}` (minSuccessRatio optional);
   * unset: the default kind only (BRIDGE_JOB_DEFINITION and BRIDGE_SUBMIT_MODE).
   */
  jobKinds: "BRIDGE_JOB_KINDS",
  /** `s3://bucket/input/`: the only input jobs can read. */
  inputUriPrefix: "BRIDGE_INPUT_URI_PREFIX",
  /** `s3://bucket/output/`: the only output jobs can write. */
  outputUriPrefix: "BRIDGE_OUTPUT_URI_PREFIX",
  callbackQueueUrl: "BRIDGE_CALLBACK_QUEUE_URL",
  /** The clean-up queue: executions whose unfinished jobs are to be terminated. */
  cleanupQueueUrl: "BRIDGE_CLEANUP_QUEUE_URL",
  deadLetterQueueUrl: "BRIDGE_DEAD_LETTER_QUEUE_URL",
  pollInitialDelaySeconds: "BRIDGE_POLL_INITIAL_DELAY_SECONDS",
  pollMaxDelaySeconds: "BRIDGE_POLL_MAX_DELAY_SECONDS",
  maxWaitSeconds: "BRIDGE_MAX_WAIT_SECONDS",
  maxReceiveCount: "BRIDGE_MAX_RECEIVE_COUNT",
  /**
   * DynamoDB status table: the submit function's submission claims; for the monitor, waiting steps
   * (execution, callback token, jobs), unset when completion is by polling only.
   */
  statusTable: "BRIDGE_STATUS_TABLE",
} as const;

/**
 * Every status reason the bridge gives Batch when it terminates a job starts so (the reasons are in
 * terminate.ts): it tells the bridge's own terminations from failures, for operators and for the checks.
 */
export const bridgeReasonPrefix = "sagemaker-batch-bridge: ";

/** The tag every job carries (its value: the pipeline execution ARN); IAM scopes TerminateJob to it. */
export const executionTagKey = "sagemaker-batch-bridge:execution-arn";
