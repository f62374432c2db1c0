/**
 * A design as the runner needs it: the pipeline definition, the queues, tables and Batch resources to
 * create in the local servers, the functions with how to load them, and what invokes them (queue
 * subscriptions, event rules). Two designs run: the bridge, built from the rendered stack (exactly what
 * `pulumi up` would deploy, the functions being the serialized closures Pulumi uploads), and the reference
 * design, on the same Batch resources so that only the orchestration differs.
 */
import type { Engine } from "../../infra/config/keys";
import type { JobMode } from "../../functions/step-contract";
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import type { Context } from "aws-lambda";
import type { PipelineDefinition } from "../../infra/pipeline-definition";
import type { ConfigValue } from "../../render/stack-files";
import type { RestApiDeclaration } from "../apigateway/requests";
import type { JobDefinitionSettings } from "../batch/server";
import type { EventMatcher } from "./event-pattern";
import type { ScheduleTarget } from "../../render/schedules";
import type { ModuleLoader } from "../../render/load-handler";

/** Which policy runs: the rendered stack's functions, or the reference design's handlers. */
export type DesignName = "bridge" | "reference";
export const designNames: readonly DesignName[] = ["bridge", "reference"];

/** What a run asks of its design: which one, on which stack, and the settings that shape it. */
export interface DesignRequest {
  design: DesignName;
  /** Stack whose config is used (`Pulumi.<stack>.yaml`). */
  stack: string;
  /** Stack config set over the stack file's, by key. */
  config: Record<string, ConfigValue>;
  /** The stack's submitMode for this run (undefined: the stack's own). */
  mode: JobMode | undefined;
  shards: number;
  /** How long each job runs, in simulated seconds (the stack's job timeout must allow it). */
  jobDurationSeconds: number;
  /** Let the functions log (Powertools), or silence them. */
  functionLogs: boolean;
  /** A real worker runs the jobs: they last as long as its processes, not `jobDurationSeconds`. */
  worker?: string;
  /** The stack's engine for this run (undefined: the stack's own). */
  engine?: Engine;
}

/** A queue to create, named and addressed as the design's functions and pipeline know it. */
export interface QueueDeclaration {
  name: string;
  /** The URL the design uses (AWS's form; the local server resolves it by name). */
  url: string;
  arn: string;
  /** CreateQueue attributes: VisibilityTimeout, MessageRetentionPeriod, RedrivePolicy, ... */
  attributes: Record<string, string>;
}

/** A function subscribed to a queue, as the design declares it. */
export interface QueueSubscription {
  queueUrl: string;
  queueArn: string;
  functionArn: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
  /** Most batches in flight at once (unset: not limited here). */
  maximumConcurrency?: number;
  /** Lambda gathers a batch this long at most (0: it invokes with what one receive gives). */
  maximumBatchingWindowSeconds?: number;
}

/** Where an EventBridge rule sends the events it matches. */
export type EventTarget =
  | {
      kind: "lambda";
      functionArn: string;
      /** Lambda's retries of a failed invocation: the function's event invoke config, else its default 2. */
      retryAttempts: number;
    }
  | {
      kind: "sqs";
      /** The URL the design uses (AWS's form; the local server resolves it by name). */
      queueUrl: string;
      queueArn: string;
    };

/** An EventBridge rule on the default bus (where AWS services send their events) and one of its targets. */
export interface EventRuleTarget {
  ruleName: string;
  matches: EventMatcher;
  target: EventTarget;
}

/** A Lambda handler, sync or async. */
export type Handler = (event: unknown, context: Context) => unknown;

/** A function as a design declares it. */
export interface LambdaFunctionSpec {
  /** What the summary calls it, e.g. `batch-bridge-monitor`. */
  name: string;
  /** Its name in AWS. */
  functionName: string;
  arn: string;
  timeoutSeconds: number;
  memoryMiB: number;
  /** Starts a new instance: evaluates the function's code and returns its handler. */
  load(): Handler;
}

/**
 * How many jobs the compute environment runs at once: floor(maxVcpus / the job's vCPUs), at least one.
 * Batch places a job only where its vCPUs fit under maxVcpus; the others wait RUNNABLE.
 */
export function concurrentJobs(compute: PreparedDesign["compute"]): number {
  return Math.max(1, Math.floor(compute.maxVcpus / compute.jobVcpu));
}

/** Everything the runner sets up and runs for one design. */
export interface PreparedDesign {
  design: DesignName;
  region: string;
  accountId: string;
  pipelineName: string;
  definition: PipelineDefinition;
  /** How jobs are submitted: one array job, or one job per shard. */
  mode: JobMode;
  /** Stack config this run set over the stack file, with why. */
  configOverrides: Record<string, { value: ConfigValue; why: string }>;
  queues: QueueDeclaration[];
  /** Queues whose messages are dead letters (a redrive target, or the monitor's dead-letter queue). */
  deadLetterQueueNames: string[];
  tables: CreateTableCommandInput[];
  batch: { jobQueues: string[]; jobDefinitions: Record<string, JobDefinitionSettings> };
  /** The compute environment: its name and how many vCPUs it runs at once, and the vCPUs of one job. */
  compute: { computeEnvironmentName: string; maxVcpus: number; jobVcpu: number };
  /** The bucket the jobs read from and write to, and the prefixes they may read and write. */
  data: { bucket: string; inputPrefix: string; outputPrefix: string };
  subscriptions: QueueSubscription[];
  rules: EventRuleTarget[];
  /** REST APIs with a stage (the records API); absent or empty: none. */
  restApis?: RestApiDeclaration[];
  /** Schedule rules with a Lambda target (the records flush on a schedule); absent or empty: none. */
  schedules?: ScheduleTarget[];
  /** The stack's outputs as `pulumi stack output --json` prints them (the bridge design's only). */
  outputs?: Record<string, unknown>;
  /**
   * The functions; `env` is added to each function's environment (endpoints, credentials, log level), and
   * `loadModule`, when given, is what the functions' closures `require` packages with (local mode's SDK
   * clients that reach its servers in process).
   */
  functions(env: Record<string, string>, loadModule?: ModuleLoader): LambdaFunctionSpec[];
}
