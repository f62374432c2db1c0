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
}

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
}

export const submitOutputNames = [
  "jobMode",
  "jobRef",
  "shardCount",
] as const satisfies readonly (keyof SubmitOutputs)[];

/**
 * The Callback step's `Arguments`: the submit step's outputs, passed through. SageMaker resolves them and
 * puts them under `arguments` in the callback message.
 */
export type CallbackArguments = SubmitOutputs;

/** The Callback step's output parameters, sent with SendPipelineExecutionStepSuccess (all String). */
export const callbackOutputNames = ["status", "succeededShards", "shardCount", "jobRef"] as const;
export type CallbackOutputs = Record<(typeof callbackOutputNames)[number], string>;

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
