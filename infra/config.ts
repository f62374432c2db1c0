/**
 * The stack's configuration: every key a user can set with `pulumi config set`, its type, default and
 * meaning, and the checks that reject a bad value at `pulumi preview` with a message naming the key.
 *
 * `configKeys` is the single source of truth: `Pulumi.yaml` declares the same keys with the same defaults
 * (a test keeps them in step), and `parseConfig` applies the defaults itself because the mock engine and
 * older CLIs do not.
 */
import * as pulumi from "@pulumi/pulumi";
import { checkPollSchedule, type PollSchedule } from "../functions/poll-schedule";

export const projectName = "sagemaker-batch-bridge";

type KeyType = "string" | "integer" | "number" | "boolean" | "array";

interface KeySpec {
  type: KeyType;
  default: string | number | boolean | string[];
  description: string;
}

/** Fargate vCPU values and, for each, the memory (MiB) Batch accepts: min, max and step. */
export const fargateMemoryByVcpu: Record<string, { min: number; max: number; step: number }> = {
  "0.25": { min: 512, max: 2048, step: 512 },
  "0.5": { min: 1024, max: 4096, step: 1024 },
  "1": { min: 2048, max: 8192, step: 1024 },
  "2": { min: 4096, max: 16384, step: 1024 },
  "4": { min: 8192, max: 30720, step: 1024 },
  "8": { min: 16384, max: 61440, step: 4096 },
  "16": { min: 32768, max: 122880, step: 8192 },
};

/** CloudWatch Logs accepts only these retention periods. */
export const logRetentionDaysAllowed = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** SQS keeps a message at most 14 days; the callback queue and its dead-letter queue keep them that long. */
export const messageRetentionSeconds = 14 * 24 * 3600;

/** SQS allows a redrive maxReceiveCount of at most 1,000. */
export const maxReceiveCountLimit = 1000;

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
  vcpu: { type: "number", default: 1, description: "vCPUs per job: 0.25, 0.5, 1, 2, 4, 8 or 16." },
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
    description: "array: one Batch array job of N children; jobs: one job per shard with its own URIs.",
  },
  callbackQueueName: {
    type: "string",
    default: "batch-bridge-callbacks",
    description: "SQS queue the Callback step sends its token to.",
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
    description: "DynamoDB table of waiting steps (callback token, jobs) used by completionEvents.",
  },
  safetyNetCheckSeconds: {
    type: "integer",
    default: 21600,
    description:
      "With completionEvents: the interval of the monitor's backup checks for lost events (monitorTimeoutSeconds to 43200).",
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
    description: "Monitor and job-event function timeout (at most 900, and at most the visibility timeout).",
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
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof configKeys;
export type SubmitMode = "array" | "jobs";
export type CapacityType = "FARGATE" | "FARGATE_SPOT";

/** The validated configuration, passed down to every part of the stack. */
export interface BridgeConfig {
  pipelineName: string;
  computeEnvironmentName: string;
  jobQueueName: string;
  jobDefinitionName: string;
  jobNamePrefix: string;
  containerImage: string;
  containerCommand: string[];
  vcpu: number;
  memoryMiB: number;
  maxVcpus: number;
  capacityType: CapacityType;
  jobTimeoutSeconds: number;
  jobAttempts: number;
  /** Empty when the default VPC is used or the security groups are given. */
  vpcId: string;
  subnetIds: string[];
  securityGroupIds: string[];
  assignPublicIp: boolean;
  /** Empty when the stack creates the bucket. */
  dataBucketName: string;
  inputPrefix: string;
  outputPrefix: string;
  defaultShardCount: number;
  submitMode: SubmitMode;
  callbackQueueName: string;
  callbackVisibilityTimeoutSeconds: number;
  pollInitialDelaySeconds: number;
  completionEvents: boolean;
  statusTableName: string;
  safetyNetCheckSeconds: number;
  maxWaitSeconds: number;
  submitTimeoutSeconds: number;
  monitorTimeoutSeconds: number;
  functionMemoryMiB: number;
  monitorBatchSize: number;
  monitorMaxConcurrency: number;
  logRetentionDays: number;
  /**
   * Derived: when the monitor checks running jobs again. Polling alone: from pollInitialDelaySeconds doubling
   * to the visibility timeout; with completionEvents: every safetyNetCheckSeconds.
   */
  pollSchedule: PollSchedule;
  /** Derived: the callback queue's redrive maxReceiveCount (see `poll-schedule.ts`). */
  callbackMaxReceiveCount: number;
}

/** Raised with every problem found, each naming its key and what is allowed. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads the stack's config through Pulumi and validates it. */
export function loadConfig(config = new pulumi.Config(projectName)): BridgeConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(configKeys) as ConfigKey[]) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseConfig(raw);
}

/**
 * Validates raw config values (strings as `pulumi config` stores them, or already typed values) and
 * applies the defaults. Throws a ConfigError listing every problem.
 */
export function parseConfig(raw: Record<string, unknown>): BridgeConfig {
  const problems: string[] = [];
  const unknownKeys = Object.keys(raw).filter((k) => !(k in configKeys));
  for (const key of unknownKeys) {
    problems.push(`${projectName}:${key} is not a setting of this stack (see Pulumi.yaml for the keys).`);
  }

  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(configKeys) as [ConfigKey, KeySpec][]) {
    const given = raw[key];
    if (given === undefined || given === "") {
      values[key] = spec.default;
      continue;
    }
    const typed = coerce(given, spec.type);
    if (typed === undefined) {
      problems.push(
        `${projectName}:${key} must be ${describeType(spec.type)}, got ${JSON.stringify(given)}.`,
      );
      values[key] = spec.default;
    } else {
      values[key] = typed;
    }
  }
  const c = values as Omit<BridgeConfig, "pollSchedule" | "callbackMaxReceiveCount">;
  const fail = (key: ConfigKey, message: string) => problems.push(`${projectName}:${key} ${message}`);

  // Names, with the patterns and lengths the services accept.
  if (!/^[0-9a-z](-*[0-9a-z])*$/.test(c.pipelineName) || c.pipelineName.length > 256) {
    fail(
      "pipelineName",
      `must be 1-256 lowercase letters, digits and hyphens, starting and ending with a letter or digit ` +
        `(SageMaker lowercases pipeline names in ARNs), got "${c.pipelineName}".`,
    );
  }
  const batchName = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
  for (const key of ["computeEnvironmentName", "jobQueueName", "jobDefinitionName"] as const) {
    if (!batchName.test(c[key]) || c[key].length > 128) {
      fail(key, `must be 1-128 letters, digits, hyphens and underscores, got "${c[key]}".`);
    }
  }
  // Job names are <prefix>-<execution id (12)>-<shard (5)> and Batch allows 128 characters.
  if (!batchName.test(c.jobNamePrefix) || c.jobNamePrefix.length > 64) {
    fail("jobNamePrefix", `must be 1-64 letters, digits, hyphens and underscores, got "${c.jobNamePrefix}".`);
  }
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(c.callbackQueueName)) {
    fail(
      "callbackQueueName",
      `must be 1-80 letters, digits, hyphens and underscores, got "${c.callbackQueueName}".`,
    );
  } else if (c.callbackQueueName.length > 76) {
    fail("callbackQueueName", `must be at most 76 characters so that "<name>-dlq" is a valid queue name.`);
  }
  if (c.containerImage.trim() === "") fail("containerImage", "must name a container image.");
  if (!Array.isArray(c.containerCommand) || !c.containerCommand.every((s) => typeof s === "string")) {
    fail(
      "containerCommand",
      `must be a JSON array of strings, e.g. ["s3","cp","--recursive","Ref::inputUri","Ref::outputUri"].`,
    );
  }

  // Fargate sizes.
  const memoryRange = fargateMemoryByVcpu[String(c.vcpu)];
  if (!memoryRange) {
    const allowed = Object.keys(fargateMemoryByVcpu).sort((a, b) => Number(a) - Number(b));
    fail("vcpu", `must be one of ${allowed.join(", ")} (Fargate), got ${c.vcpu}.`);
  } else if (
    c.memoryMiB < memoryRange.min ||
    c.memoryMiB > memoryRange.max ||
    (c.memoryMiB - memoryRange.min) % memoryRange.step !== 0
  ) {
    fail(
      "memoryMiB",
      `must be ${memoryRange.min}-${memoryRange.max} in steps of ${memoryRange.step} for vcpu ${c.vcpu} ` +
        `(Fargate), got ${c.memoryMiB}.`,
    );
  }
  if (!Number.isInteger(c.maxVcpus) || c.maxVcpus < Math.max(1, Math.ceil(c.vcpu))) {
    fail("maxVcpus", `must be a whole number of at least one job's vcpu (${c.vcpu}), got ${c.maxVcpus}.`);
  }
  if (c.capacityType !== "FARGATE" && c.capacityType !== "FARGATE_SPOT") {
    fail("capacityType", `must be FARGATE or FARGATE_SPOT, got "${c.capacityType}".`);
  }
  checkRange(fail, "jobTimeoutSeconds", c.jobTimeoutSeconds, 60, messageRetentionSeconds);
  checkRange(fail, "jobAttempts", c.jobAttempts, 1, 10);

  // Network.
  if (c.subnetIds.length > 16) fail("subnetIds", `must list at most 16 subnets, got ${c.subnetIds.length}.`);
  if (c.subnetIds.length === 0 && c.securityGroupIds.length > 0) {
    fail("securityGroupIds", "can only be set together with subnetIds.");
  }
  if (c.subnetIds.length === 0 && !c.assignPublicIp) {
    fail(
      "assignPublicIp",
      "must be true when subnetIds is empty: the default VPC's subnets have no NAT, so jobs without a " +
        "public IP cannot pull their image or reach S3.",
    );
  }
  if (c.subnetIds.length > 0 && c.securityGroupIds.length === 0 && c.vpcId === "") {
    fail(
      "vpcId",
      "must be set when subnetIds is set without securityGroupIds (the stack creates a group in it).",
    );
  }

  // Data.
  if (c.dataBucketName !== "" && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(c.dataBucketName)) {
    fail("dataBucketName", `must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens).`);
  }
  for (const key of ["inputPrefix", "outputPrefix"] as const) {
    if (!/^[A-Za-z0-9!_.*'()/-]+\/$/.test(c[key]) || c[key].startsWith("/")) {
      fail(
        key,
        `must be a key prefix ending in "/" and not starting with "/", e.g. "input/", got "${c[key]}".`,
      );
    }
  }
  if (c.inputPrefix.startsWith(c.outputPrefix) || c.outputPrefix.startsWith(c.inputPrefix)) {
    fail("outputPrefix", `must not overlap inputPrefix ("${c.inputPrefix}"), got "${c.outputPrefix}".`);
  }
  checkRange(fail, "defaultShardCount", c.defaultShardCount, 1, 10_000);
  if (c.submitMode !== "array" && c.submitMode !== "jobs") {
    fail("submitMode", `must be array or jobs, got "${c.submitMode}".`);
  }

  // Functions and the callback queue.
  checkRange(fail, "submitTimeoutSeconds", c.submitTimeoutSeconds, 10, 600);
  checkRange(fail, "monitorTimeoutSeconds", c.monitorTimeoutSeconds, 10, 900);
  checkRange(fail, "functionMemoryMiB", c.functionMemoryMiB, 128, 10240);
  checkRange(fail, "monitorBatchSize", c.monitorBatchSize, 1, 10);
  checkRange(fail, "monitorMaxConcurrency", c.monitorMaxConcurrency, 2, 1000);
  checkRange(fail, "callbackVisibilityTimeoutSeconds", c.callbackVisibilityTimeoutSeconds, 30, 43200);
  if (c.callbackVisibilityTimeoutSeconds < c.monitorTimeoutSeconds) {
    fail(
      "callbackVisibilityTimeoutSeconds",
      `must be at least monitorTimeoutSeconds (${c.monitorTimeoutSeconds}) so that a message is not ` +
        `delivered again while the monitor still handles it, got ${c.callbackVisibilityTimeoutSeconds}.`,
    );
  }
  checkRange(
    fail,
    "pollInitialDelaySeconds",
    c.pollInitialDelaySeconds,
    1,
    c.callbackVisibilityTimeoutSeconds,
  );
  if (!logRetentionDaysAllowed.includes(c.logRetentionDays)) {
    fail(
      "logRetentionDays",
      `must be one of ${logRetentionDaysAllowed.join(", ")}, got ${c.logRetentionDays}.`,
    );
  }

  // The longest wait: every attempt of a job may run its full timeout; the callback message (and its token)
  // must outlive that, and the receives it takes must stay under the redrive maxReceiveCount.
  const longestJob = c.jobTimeoutSeconds * c.jobAttempts;
  if (c.maxWaitSeconds < longestJob) {
    fail(
      "maxWaitSeconds",
      `must be at least jobTimeoutSeconds x jobAttempts (${longestJob} s) so a job that uses all its ` +
        `attempts is still awaited, got ${c.maxWaitSeconds}.`,
    );
  }
  const retentionMargin = c.callbackVisibilityTimeoutSeconds + c.monitorTimeoutSeconds;
  if (c.maxWaitSeconds > messageRetentionSeconds - retentionMargin) {
    fail(
      "maxWaitSeconds",
      `must be at most ${messageRetentionSeconds - retentionMargin} s: the 14-day message retention less one ` +
        `visibility timeout and one monitor run, so the step is answered before SQS deletes its token, ` +
        `got ${c.maxWaitSeconds}.`,
    );
  }
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(c.statusTableName)) {
    fail(
      "statusTableName",
      `must be 3-255 letters, digits, underscores, hyphens and dots, got "${c.statusTableName}".`,
    );
  }
  // ChangeMessageVisibility accepts at most 12 hours.
  checkRange(fail, "safetyNetCheckSeconds", c.safetyNetCheckSeconds, 1, 43200);
  if (c.safetyNetCheckSeconds >= 1 && c.safetyNetCheckSeconds < c.monitorTimeoutSeconds) {
    fail(
      "safetyNetCheckSeconds",
      `must be at least monitorTimeoutSeconds (${c.monitorTimeoutSeconds}): the backup checks only cover ` +
        `lost events, and checking more often than one monitor run lasts is polling, ` +
        `got ${c.safetyNetCheckSeconds}.`,
    );
  }
  const schedule: PollSchedule = c.completionEvents
    ? {
        initialDelaySeconds: c.safetyNetCheckSeconds,
        maxDelaySeconds: c.safetyNetCheckSeconds,
        maxWaitSeconds: c.maxWaitSeconds,
      }
    : {
        initialDelaySeconds: c.pollInitialDelaySeconds,
        maxDelaySeconds: c.callbackVisibilityTimeoutSeconds,
        maxWaitSeconds: c.maxWaitSeconds,
      };
  // Receives can only be counted on a schedule of whole delays of at least 1 s and a wait SQS can hold (a
  // zero delay never ends the wait); anything else has been reported above.
  const countable =
    [schedule.initialDelaySeconds, schedule.maxDelaySeconds, schedule.maxWaitSeconds].every(
      (n) => Number.isInteger(n) && n >= 1,
    ) && schedule.maxWaitSeconds <= messageRetentionSeconds;
  const receives = countable ? checkPollSchedule(schedule) : undefined;
  if (receives && receives.maxReceiveCount > maxReceiveCountLimit) {
    fail(
      c.completionEvents ? "safetyNetCheckSeconds" : "callbackVisibilityTimeoutSeconds",
      `is too short for maxWaitSeconds (${c.maxWaitSeconds} s): waiting that long takes ` +
        `${receives.checks} checks and SQS moves a message to the dead-letter queue after at most ` +
        `${maxReceiveCountLimit} receives; raise it to at least ${receives.minimumMaxDelaySeconds} s or ` +
        `lower maxWaitSeconds.`,
    );
  }

  if (problems.length > 0 || !receives) throw new ConfigError(problems);
  return { ...c, pollSchedule: schedule, callbackMaxReceiveCount: receives.maxReceiveCount };
}

function checkRange(
  fail: (key: ConfigKey, message: string) => void,
  key: ConfigKey,
  value: number,
  min: number,
  max: number,
) {
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(key, `must be a whole number from ${min} to ${max}, got ${value}.`);
  }
}

function coerce(value: unknown, type: KeyType): unknown {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : undefined;
    case "integer":
    case "number": {
      const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : NaN;
      if (!Number.isFinite(n)) return undefined;
      return type === "integer" && !Number.isInteger(n) ? undefined : n;
    }
    case "boolean":
      if (typeof value === "boolean") return value;
      if (value === "true") return true;
      if (value === "false") return false;
      return undefined;
    case "array": {
      let parsed = value;
      if (typeof value === "string") {
        try {
          parsed = JSON.parse(value);
        } catch {
          return undefined;
        }
      }
      return Array.isArray(parsed) && parsed.every((s) => typeof s === "string") ? parsed : undefined;
    }
  }
}

function describeType(type: KeyType): string {
  switch (type) {
    case "string":
      return "a string";
    case "integer":
      return "a whole number";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "array":
      return 'a JSON array of strings, e.g. ["a","b"]';
  }
}
