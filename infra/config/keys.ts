/**
 * Every setting of the stack: its key, the type Pulumi checks it against, its default and what it means.
 * This table is the one source of these facts: the `BridgeConfig` type is computed from it, and the tests
 * hold `Pulumi.yaml` and the README's configuration table to it.
 */
import type { PollSchedule } from "../../functions/poll-schedule";
import type { JobMode } from "../../functions/step-contract";

/** What runs a bridge step's work: AWS Batch jobs, or a SageMaker Batch Transform job. */
export type Engine = "batch" | "transform";

/** How batches of records start: when full or at the end of their window, or on a schedule. */
export type RecordTrigger = "batch" | "schedule";

export const projectName = "sagemaker-batch-bridge";

/**
 * A setting's type. Pulumi.yaml declares config of four types only, string, integer, boolean and array
 * (`simpleConfigType` in the Pulumi CLI's project schema, sdk/go/common/workspace/project.json; an
 * `object` type is refused: pulumi/pulumi#11321). So a `number` is declared a string and parsed here, and
 * an `object` (a map) is not declared at all: Pulumi hands the program a stack's map as JSON text,
 * unchecked, and the checks here are the only ones.
 */
export type KeyType = "string" | "integer" | "number" | "boolean" | "array" | "object";

/**
 * The type Pulumi.yaml declares for a key of this type, which the Pulumi CLI checks stack values against;
 * undefined for a map, which Pulumi.yaml cannot declare.
 */
export function pulumiTypeOf(type: KeyType): "string" | "integer" | "boolean" | "array" | undefined {
  if (type === "object") return undefined;
  return type === "number" ? "string" : type;
}

/** The type the README's configuration table gives a key: Pulumi's, or `map` for one Pulumi.yaml cannot declare. */
export function documentedTypeOf(type: KeyType): string {
  return pulumiTypeOf(type) ?? "map";
}

export interface KeySpec {
  type: KeyType;
  default: string | number | boolean | readonly string[] | Readonly<Record<string, never>>;
  /** The only values accepted, when the type alone allows more. */
  allowed?: readonly (string | number)[];
  description: string;
}

export const configKeys = {
  pipelineName: {
    type: "string",
    default: "batch-bridge",
    description:
      "SageMaker pipeline name: lowercase letters, digits and hyphens (changing it replaces the pipeline).",
  },
  computeEnvironmentName: {
    type: "string",
    default: "batch-bridge-fargate",
    description: "AWS Batch compute environment name.",
  },
  jobQueueName: { type: "string", default: "batch-bridge-jobs", description: "AWS Batch job queue name." },
  jobDefinitionName: {
    type: "string",
    default: "batch-bridge-job",
    description: "AWS Batch job definition name.",
  },
  jobNamePrefix: {
    type: "string",
    default: "batch-bridge",
    description: "Prefix of every Batch job name; the execution id and shard follow it.",
  },
  containerImage: {
    type: "string",
    default: "public.ecr.aws/aws-cli/aws-cli:latest",
    description: "Container image each Batch job runs.",
  },
  containerCommand: {
    type: "array",
    default: ["s3", "cp", "--recursive", "Ref::inputUri", "Ref::outputUri"],
    description:
      "Container command; Ref::inputUri, Ref::outputUri, Ref::shardIndex and Ref::shardCount are filled in per job.",
  },
  vcpu: {
    type: "number",
    default: 1,
    description:
      "vCPUs per job: 0.25, 0.5, 1, 2, 4, 8 or 16, as a string (Pulumi's config has no decimal type).",
  },
  memoryMiB: {
    type: "integer",
    default: 2048,
    description: "Memory per job in MiB; must be a Fargate pair with vcpu.",
  },
  maxVcpus: {
    type: "integer",
    default: 256,
    description: "Most vCPUs the compute environment runs at once.",
  },
  capacityType: {
    type: "string",
    default: "FARGATE",
    allowed: ["FARGATE", "FARGATE_SPOT"],
    description: "FARGATE or FARGATE_SPOT.",
  },
  jobTimeoutSeconds: {
    type: "integer",
    default: 3600,
    description: "Time limit of one job attempt (at least 60 s); a timed-out job is not retried.",
  },
  jobAttempts: {
    type: "integer",
    default: 3,
    description: "Attempts per job (1-10); only infrastructure failures are retried.",
  },
  vpcId: {
    type: "string",
    default: "",
    description:
      "VPC of subnetIds; needed when subnetIds is set and securityGroupIds is not. Empty: the default VPC.",
  },
  subnetIds: {
    type: "array",
    default: [],
    description: "Subnets for the Fargate jobs (at most 16, one VPC). Empty: the default VPC's subnets.",
  },
  securityGroupIds: {
    type: "array",
    default: [],
    description: "Security groups for the Fargate jobs. Empty: an egress-only group the stack creates.",
  },
  assignPublicIp: {
    type: "boolean",
    default: true,
    description: "Give jobs a public IP: needed to pull images and reach AWS when the subnets have no NAT.",
  },
  dataBucketName: {
    type: "string",
    default: "",
    description: "An existing S3 bucket for job input and output. Empty: the stack creates one.",
  },
  inputPrefix: {
    type: "string",
    default: "input/",
    description: "Key prefix jobs may read in the data bucket.",
  },
  outputPrefix: {
    type: "string",
    default: "output/",
    description: "Key prefix jobs may write in the data bucket.",
  },
  defaultShardCount: {
    type: "integer",
    default: 4,
    description: "Default of the pipeline's ShardCount parameter (1-10,000).",
  },
  submitMode: {
    type: "string",
    default: "array",
    allowed: ["array", "jobs"] as const satisfies readonly JobMode[],
    description: "array: one Batch array job of N children; jobs: one job per shard with its own URIs.",
  },
  jobKinds: {
    type: "object",
    default: {},
    description:
      "Named kinds of job, each with any of image, command, vcpu, memoryMiB, jobTimeoutSeconds, jobAttempts, submitMode, minSuccessRatio, environment; an unset field takes the top-level key (the kind default).",
  },
  pipelineDefinitionFile: {
    type: "string",
    default: "",
    description:
      "A SageMaker pipeline definition (JSON, relative to the project) whose BatchBridge steps become the bridge's steps. Empty: the stack's own two-step pipeline.",
  },
  externalPipelineNames: {
    type: "array",
    default: [],
    description:
      "Pipelines managed outside the stack whose bridge steps the functions may answer and whose jobs they may stop.",
  },
  callbackQueueName: {
    type: "string",
    default: "batch-bridge-callbacks",
    description: "SQS queue the Callback step sends its token to.",
  },
  cleanupQueueName: {
    type: "string",
    default: "batch-bridge-cleanup",
    description:
      "SQS queue of executions that ended Stopped or Failed, whose unfinished jobs are terminated.",
  },
  callbackVisibilityTimeoutSeconds: {
    type: "integer",
    default: 1800,
    description:
      "Callback queue visibility timeout: without completionEvents, the longest gap between two checks of running jobs.",
  },
  pollInitialDelaySeconds: {
    type: "integer",
    default: 10,
    description:
      "Without completionEvents: delay before the second check of running jobs; it doubles up to the visibility timeout.",
  },
  completionEvents: {
    type: "boolean",
    default: true,
    description:
      "Answer a step from Batch job state-change events within seconds of its last job; polling then only backs them up.",
  },
  statusTableName: {
    type: "string",
    default: "batch-bridge-executions",
    description:
      "DynamoDB table of submission claims (one submission per execution) and, with completionEvents, waiting steps.",
  },
  safetyNetCheckSeconds: {
    type: "integer",
    default: 21600,
    description:
      "With completionEvents: the interval of the monitor's backup checks for lost events (monitorTimeoutSeconds to 43200).",
  },
  minSuccessRatio: {
    type: "number",
    default: 1,
    description:
      "Share of a step's shards that must succeed for the step to succeed (0 < r <= 1); the rest are named in FailedShards.",
  },
  maxWaitSeconds: {
    type: "integer",
    default: 7 * 24 * 3600,
    description: "Longest a step waits for its jobs before failing and terminating them.",
  },
  submitTimeoutSeconds: {
    type: "integer",
    default: 300,
    description: "Submit function timeout (at most 600: the Lambda step gives up after 10 minutes).",
  },
  monitorTimeoutSeconds: {
    type: "integer",
    default: 300,
    description:
      "Monitor, job-event and clean-up function timeout (at most 900, and at most the visibility timeout).",
  },
  functionMemoryMiB: {
    type: "integer",
    default: 512,
    description: "Memory of each of the bridge's functions (128-10240 MiB).",
  },
  monitorBatchSize: {
    type: "integer",
    default: 10,
    description: "Callback messages per monitor invocation (1-10).",
  },
  monitorMaxConcurrency: {
    type: "integer",
    default: 5,
    description: "Most monitor invocations at once (2-1000).",
  },
  logRetentionDays: {
    type: "integer",
    default: 30,
    description: "Retention of every log group, in a period CloudWatch Logs accepts.",
  },
  alarmTopicArn: {
    type: "string",
    default: "",
    description:
      "An existing SNS topic the stack's alarms notify. Empty: the topic alarmEmail subscribes to, or no alarm actions.",
  },
  alarmEmail: {
    type: "string",
    default: "",
    description:
      "An address the stack's own alarm topic emails (the recipient confirms the subscription). Not with alarmTopicArn.",
  },
  runnableAlarmMinutes: {
    type: "integer",
    default: 60,
    description:
      "Alarm when a job has waited RUNNABLE (no capacity to start it) this many minutes (5-10080; measured every minute).",
  },
  recordFailedAlarmPercent: {
    type: "integer",
    default: 10,
    description:
      "Records API: alarm when more than this share of the records finished in an hour is Failed (1-100).",
  },
  recordApi: {
    type: "boolean",
    default: false,
    description:
      "Add the records API: API Gateway with an API key takes records, batches them into pipeline executions and tracks each.",
  },
  apiRateLimit: {
    type: "integer",
    default: 100,
    description: "Records API: requests per second per API key, steady (usage plan throttle; 1-10000).",
  },
  apiBurstLimit: {
    type: "integer",
    default: 200,
    description: "Records API: requests per API key at once above the rate (usage plan burst; 1-5000).",
  },
  apiQuotaPerDay: {
    type: "integer",
    default: 1000000,
    description: "Records API: requests per API key per day (usage plan quota).",
  },
  recordBatchSize: {
    type: "integer",
    default: 100,
    description: "Records per batch, one pipeline execution each (1-10,000).",
  },
  recordBatchWindowSeconds: {
    type: "integer",
    default: 60,
    description:
      "Longest a record waits for its batch to fill (0-300 s; at least 1 when recordBatchSize is over 10).",
  },
  recordTrigger: {
    type: "string",
    default: "batch",
    allowed: ["batch", "schedule"] as const satisfies readonly RecordTrigger[],
    description:
      "batch: a batch starts when full or when its window ends; schedule: what is queued starts on recordScheduleExpression.",
  },
  recordScheduleExpression: {
    type: "string",
    default: "rate(1 hour)",
    description:
      "With recordTrigger schedule: when queued records start, as an EventBridge rate() or cron().",
  },
  recordsPerShard: {
    type: "integer",
    default: 100,
    description: "Records per shard file of a batch (1-10,000); the shards are the execution's ShardCount.",
  },
  recordRetentionDays: {
    type: "integer",
    default: 30,
    description: "Days a record's status is kept after its last change (DynamoDB TTL; 1-3650).",
  },
  recordTableName: {
    type: "string",
    default: "batch-bridge-records",
    description: "DynamoDB table of the records' statuses.",
  },
  recordQueueName: {
    type: "string",
    default: "batch-bridge-records",
    description:
      "SQS queue that buffers accepted records; <name>-dlq and <name>-status-dlq keep what could not be handled.",
  },
  engine: {
    type: "string",
    default: "batch",
    allowed: ["batch", "transform"] as const satisfies readonly Engine[],
    description:
      "batch: each bridge step runs AWS Batch (Fargate) jobs; transform: a SageMaker Batch Transform job with the stack's model.",
  },
  transformModelName: {
    type: "string",
    default: "",
    description:
      "With engine transform: an existing SageMaker model to run. Empty: the stack creates one from transformImage and transformModelDataUrl.",
  },
  transformImage: {
    type: "string",
    default: "",
    description:
      "With engine transform and no transformModelName: the inference image of the model the stack creates.",
  },
  transformModelDataUrl: {
    type: "string",
    default: "",
    description:
      "With engine transform and no transformModelName: the model artifacts (s3://bucket/key, e.g. a model.tar.gz) of the model the stack creates.",
  },
  transformInstanceType: {
    type: "string",
    default: "ml.m5.xlarge",
    description: "Instance type of the transform jobs (an ml.* type SageMaker offers for Batch Transform).",
  },
  transformInstanceCount: {
    type: "integer",
    default: 1,
    description: "Instances per transform job (at least 1).",
  },
  transformMaxConcurrentTransforms: {
    type: "integer",
    default: 1,
    description:
      "Requests each instance of a transform job handles at once (at least 1; times transformMaxPayloadMiB at most 100).",
  },
  transformMaxPayloadMiB: {
    type: "integer",
    default: 6,
    description:
      "Largest request body a transform job sends its model, in MiB (0-100; 0: no limit, streamed).",
  },
  transformBatchStrategy: {
    type: "string",
    default: "MultiRecord",
    allowed: ["MultiRecord", "SingleRecord"],
    description:
      "MultiRecord: as many records a request as fit in transformMaxPayloadMiB; SingleRecord: one record a request.",
  },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof configKeys;

/** A key as Pulumi names it in a stack's config, `<project>:<key>`. */
export function qualifiedKey(key: ConfigKey): string {
  return `${projectName}:${key}`;
}

/** The value a key's spec describes: its allowed values when listed, else its type's. */
type SettingValue<Spec> = Spec extends { allowed: readonly (infer Allowed)[] }
  ? Allowed
  : Spec extends { type: "string" }
    ? string
    : Spec extends { type: "integer" | "number" }
      ? number
      : Spec extends { type: "boolean" }
        ? boolean
        : Spec extends { type: "object" }
          ? Record<string, Record<string, unknown>>
          : string[];

/** Every setting, typed and with its default applied. */
export type BridgeSettings = { -readonly [Key in ConfigKey]: SettingValue<(typeof configKeys)[Key]> };

/**
 * A job kind's fields, each with the top-level key it falls back to when unset (`environment` has none:
 * unset, the kind's jobs get only the variables Batch and the bridge set).
 */
export const jobKindFields = {
  image: "containerImage",
  command: "containerCommand",
  vcpu: "vcpu",
  memoryMiB: "memoryMiB",
  jobTimeoutSeconds: "jobTimeoutSeconds",
  jobAttempts: "jobAttempts",
  submitMode: "submitMode",
  minSuccessRatio: "minSuccessRatio",
  environment: undefined,
} as const satisfies Record<string, ConfigKey | undefined>;

/** A job kind with every field resolved: its own values, else the top-level keys'. */
export interface JobKind {
  /** `default` (the top-level keys) or the kind's name in jobKinds. */
  name: string;
  /** `jobDefinitionName` for the default kind, `<jobDefinitionName>-<kind>` for the others. */
  jobDefinitionName: string;
  image: string;
  command: string[];
  vcpu: number;
  memoryMiB: number;
  jobTimeoutSeconds: number;
  jobAttempts: number;
  submitMode: JobMode;
  minSuccessRatio: number;
  environment: Record<string, string>;
}

/** The validated configuration, passed down to every part of the stack. */
export type BridgeConfig = BridgeSettings & {
  /**
   * Derived: when the monitor checks running jobs again. Polling alone: from pollInitialDelaySeconds doubling
   * to the visibility timeout; with completionEvents: every safetyNetCheckSeconds.
   */
  pollSchedule: PollSchedule;
  /** Derived: the callback queue's redrive maxReceiveCount (see `poll-schedule.ts`). */
  callbackMaxReceiveCount: number;
  /** Derived: every job kind, resolved, the default kind first. */
  kinds: JobKind[];
  /**
   * Derived: the pipelines whose bridge steps the functions serve, the stack's own first, then
   * externalPipelineNames (each once).
   */
  bridgedPipelineNames: string[];
};

export type CapacityType = BridgeConfig["capacityType"];
