/**
 * The functions' settings as environment variables (`environmentVariables` in step-contract.ts): each
 * function's pair, `xEnvironment` that the stack writes its settings with and `xSettingsFromEnvironment`
 * that reads them back and checks them once, when the function starts: a misconfigured function fails at
 * its first invocation with an error naming the variable, not halfway through a pipeline run.
 */
import type { PollSchedule } from "./poll-schedule";
import { minSuccessRatioAllowed, parseMinSuccessRatio } from "./success-ratio";
import { defaultJobKind, environmentVariables, type JobMode } from "./step-contract";

/** Where a job kind's jobs go: its job definition and how its shards are submitted. */
export interface JobKindTarget {
  /** Job definition ARN (with revision) or name. */
  jobDefinition: string;
  submitMode: JobMode;
  /** The kind's minSuccessRatio; unset: the default kind's. */
  minSuccessRatio?: number;
}

/** What the submit function needs to submit an execution's jobs. */
export interface SubmitSettings {
  /** Job queue ARN or name. */
  jobQueue: string;
  /** The default kind's job definition: ARN (with revision) or name. */
  jobDefinition: string;
  /** Every job name starts with `<jobNamePrefix>-<execution id>`. */
  jobNamePrefix: string;
  /** The default kind's submit mode. */
  submitMode: JobMode;
  /** The default kind's share of shards that must succeed (unset: 1). */
  minSuccessRatio?: number;
  /** The stack's other job kinds by name; a step may name only these and `default`. */
  jobKinds?: Readonly<Record<string, JobKindTarget>>;
  /** `s3://bucket/prefix/`: step input URIs must lie inside it (the only input jobs can read). */
  inputUriPrefix: string;
  /** `s3://bucket/prefix/`: step output URIs must lie inside it (the only output jobs can write). */
  outputUriPrefix: string;
  /** The status table, where each execution's submission is claimed (submission-claim.ts). */
  statusTable: string;
  /** Where a failed submission hands over the jobs it could not terminate in time. */
  cleanupQueueUrl: string;
}

/** What the monitor function needs to check jobs and answer callback steps. */
export interface MonitorSettings {
  jobQueue: string;
  jobNamePrefix: string;
  /** The queue the callback messages come from (for ChangeMessageVisibility). */
  callbackQueueUrl: string;
  /** Where malformed callback messages go. */
  deadLetterQueueUrl: string;
  pollSchedule: PollSchedule;
  /** The callback queue's redrive maxReceiveCount. */
  maxReceiveCount: number;
  /** The status table (steps answered from Batch's events); undefined: completion by polling only. */
  statusTable?: string;
}

/** What the job-event function needs to answer steps from Batch's job state-change events. */
export interface JobEventSettings {
  /** Events of other job queues are ignored. */
  jobQueue: string;
  /** Events of jobs not named `<jobNamePrefix>-<execution id>...` are ignored. */
  jobNamePrefix: string;
  statusTable: string;
  /** The queue the callback messages come from (to delete a message once its step is answered). */
  callbackQueueUrl: string;
}

/** What the clean-up function needs to terminate ended executions' jobs. */
export interface CleanupSettings {
  jobQueue: string;
  jobNamePrefix: string;
  /** Where a clean-up that could not finish goes on later. */
  cleanupQueueUrl: string;
}

export interface QueueJobsSettings {
  jobQueue: string;
}

type Environment = Record<string, string | undefined>;

/** The environment that gives the submit function `settings` (what submitSettingsFromEnvironment reads). */
export function submitEnvironment(settings: SubmitSettings): Record<string, string> {
  return {
    [environmentVariables.jobQueue]: settings.jobQueue,
    [environmentVariables.jobDefinition]: settings.jobDefinition,
    [environmentVariables.jobNamePrefix]: settings.jobNamePrefix,
    [environmentVariables.submitMode]: settings.submitMode,
    ...(settings.jobKinds !== undefined && Object.keys(settings.jobKinds).length > 0
      ? { [environmentVariables.jobKinds]: JSON.stringify(settings.jobKinds) }
      : {}),
    // Unset, every shard must succeed.
    ...(settings.minSuccessRatio !== undefined && settings.minSuccessRatio < 1
      ? { [environmentVariables.minSuccessRatio]: String(settings.minSuccessRatio) }
      : {}),
    [environmentVariables.inputUriPrefix]: settings.inputUriPrefix,
    [environmentVariables.outputUriPrefix]: settings.outputUriPrefix,
    [environmentVariables.statusTable]: settings.statusTable,
    [environmentVariables.cleanupQueueUrl]: settings.cleanupQueueUrl,
  };
}

/** The environment that gives the monitor `settings` (what monitorSettingsFromEnvironment reads). */
export function monitorEnvironment(settings: MonitorSettings): Record<string, string> {
  return {
    [environmentVariables.jobQueue]: settings.jobQueue,
    [environmentVariables.jobNamePrefix]: settings.jobNamePrefix,
    [environmentVariables.callbackQueueUrl]: settings.callbackQueueUrl,
    [environmentVariables.deadLetterQueueUrl]: settings.deadLetterQueueUrl,
    [environmentVariables.pollInitialDelaySeconds]: String(settings.pollSchedule.initialDelaySeconds),
    [environmentVariables.pollMaxDelaySeconds]: String(settings.pollSchedule.maxDelaySeconds),
    [environmentVariables.maxWaitSeconds]: String(settings.pollSchedule.maxWaitSeconds),
    [environmentVariables.maxReceiveCount]: String(settings.maxReceiveCount),
    ...(settings.statusTable !== undefined
      ? { [environmentVariables.statusTable]: settings.statusTable }
      : {}),
  };
}

/** The environment that gives the job-event function `settings` (what jobEventSettingsFromEnvironment reads). */
export function jobEventEnvironment(settings: JobEventSettings): Record<string, string> {
  return {
    [environmentVariables.jobQueue]: settings.jobQueue,
    [environmentVariables.jobNamePrefix]: settings.jobNamePrefix,
    [environmentVariables.statusTable]: settings.statusTable,
    [environmentVariables.callbackQueueUrl]: settings.callbackQueueUrl,
  };
}

/** The environment that gives the clean-up function `settings` (what cleanupSettingsFromEnvironment reads). */
export function cleanupEnvironment(settings: CleanupSettings): Record<string, string> {
  return {
    [environmentVariables.jobQueue]: settings.jobQueue,
    [environmentVariables.jobNamePrefix]: settings.jobNamePrefix,
    [environmentVariables.cleanupQueueUrl]: settings.cleanupQueueUrl,
  };
}

/** Reads and checks the submit function's settings; throws an error naming every bad variable. */
export function submitSettingsFromEnvironment(env: Environment): SubmitSettings {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const settings: SubmitSettings = {
    jobQueue: read.text("jobQueue"),
    jobDefinition: read.text("jobDefinition"),
    jobNamePrefix: read.jobNamePrefix(),
    submitMode: read.submitMode(),
    inputUriPrefix: read.s3Prefix("inputUriPrefix"),
    outputUriPrefix: read.s3Prefix("outputUriPrefix"),
    ...(read.isSet("jobKinds") ? { jobKinds: read.jobKinds() } : {}),
    ...(read.isSet("minSuccessRatio") ? { minSuccessRatio: read.minSuccessRatio() } : {}),
    statusTable: read.tableName("statusTable"),
    cleanupQueueUrl: read.queueUrl("cleanupQueueUrl"),
  };
  throwIfProblems(problems);
  return settings;
}

/** The names a step may give as its jobKind: `default` and the stack's other kinds. */
export function jobKindNames(settings: SubmitSettings): string[] {
  return [defaultJobKind, ...Object.keys(settings.jobKinds ?? {})];
}

/** The settings with the job definition and submit mode of `kind` (a name `jobKindNames` lists). */
export function settingsOfKind(settings: SubmitSettings, kind: string): SubmitSettings {
  const target = kind === defaultJobKind ? undefined : settings.jobKinds?.[kind];
  if (kind !== defaultJobKind && !target) throw new Error(`No job kind "${kind}" in these settings.`);
  return target ? { ...settings, ...target } : settings;
}

/** Reads and checks the monitor function's settings; throws an error naming every bad variable. */
export function monitorSettingsFromEnvironment(env: Environment): MonitorSettings {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  // SQS caps a visibility timeout at 12 hours and maxReceiveCount at 1,000.
  const initialDelaySeconds = read.wholeNumber("pollInitialDelaySeconds", 1, 43200);
  const maxDelaySeconds = read.wholeNumber("pollMaxDelaySeconds", 1, 43200);
  const settings: MonitorSettings = {
    jobQueue: read.text("jobQueue"),
    jobNamePrefix: read.jobNamePrefix(),
    callbackQueueUrl: read.queueUrl("callbackQueueUrl"),
    deadLetterQueueUrl: read.queueUrl("deadLetterQueueUrl"),
    pollSchedule: {
      initialDelaySeconds,
      maxDelaySeconds,
      maxWaitSeconds: read.wholeNumber("maxWaitSeconds", 1, 14 * 24 * 3600),
    },
    maxReceiveCount: read.wholeNumber("maxReceiveCount", 2, 1000),
    ...(read.isSet("statusTable") ? { statusTable: read.tableName("statusTable") } : {}),
  };
  if (maxDelaySeconds < initialDelaySeconds) {
    problems.push(
      `${environmentVariables.pollMaxDelaySeconds} must be at least ` +
        `${environmentVariables.pollInitialDelaySeconds} (${initialDelaySeconds}), got ${maxDelaySeconds}.`,
    );
  }
  throwIfProblems(problems);
  return settings;
}

/** Reads and checks the job-event function's settings; throws an error naming every bad variable. */
export function jobEventSettingsFromEnvironment(env: Environment): JobEventSettings {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const settings: JobEventSettings = {
    jobQueue: read.text("jobQueue"),
    jobNamePrefix: read.jobNamePrefix(),
    statusTable: read.tableName("statusTable"),
    callbackQueueUrl: read.queueUrl("callbackQueueUrl"),
  };
  throwIfProblems(problems);
  return settings;
}

/** Reads and checks the clean-up function's settings; throws an error naming every bad variable. */
export function cleanupSettingsFromEnvironment(env: Environment): CleanupSettings {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const settings: CleanupSettings = {
    jobQueue: read.text("jobQueue"),
    jobNamePrefix: read.jobNamePrefix(),
    cleanupQueueUrl: read.queueUrl("cleanupQueueUrl"),
  };
  throwIfProblems(problems);
  return settings;
}

/** Reads and checks the queue-jobs function's settings; throws an error naming every bad variable. */
export function queueJobsSettingsFromEnvironment(env: Environment): QueueJobsSettings {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const settings: QueueJobsSettings = { jobQueue: read.text("jobQueue") };
  throwIfProblems(problems);
  return settings;
}

type SettingName = keyof typeof environmentVariables;

function settingReader(env: Environment, problems: string[]) {
  const raw = (name: SettingName): string | undefined => {
    const value = env[environmentVariables[name]]?.trim();
    if (value === undefined || value === "") {
      problems.push(`${environmentVariables[name]} must be set.`);
      return undefined;
    }
    return value;
  };
  const invalid = (name: SettingName, allowed: string, value: string) =>
    problems.push(`${environmentVariables[name]} must be ${allowed}, got ${JSON.stringify(value)}.`);

  return {
    isSet(name: SettingName): boolean {
      return (env[environmentVariables[name]]?.trim() ?? "") !== "";
    },
    text(name: SettingName): string {
      return raw(name) ?? "";
    },
    jobNamePrefix(): string {
      const value = raw("jobNamePrefix");
      if (value === undefined) return "";
      // Job names are <prefix>-<execution id>-<5-digit shard> and Batch allows 128 characters.
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(value)) {
        invalid("jobNamePrefix", "1-64 letters, digits, hyphens and underscores", value);
      }
      return value;
    },
    submitMode(): JobMode {
      const value = raw("submitMode");
      if (value === undefined) return "array";
      if (value !== "array" && value !== "jobs") {
        invalid("submitMode", '"array" or "jobs"', value);
        return "array";
      }
      return value;
    },
    jobKinds(): Record<string, JobKindTarget> {
      const value = raw("jobKinds");
      const allowed =
        'a JSON object of job kinds, e.g. {"gpu":{"jobDefinition":"<ARN>","submitMode":"array"}}';
      let parsed: unknown;
      try {
        parsed = JSON.parse(value ?? "{}");
      } catch {
        invalid("jobKinds", allowed, value ?? "");
        return {};
      }
      const kinds: Record<string, JobKindTarget> = {};
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        invalid("jobKinds", allowed, value ?? "");
        return kinds;
      }
      for (const [kind, target] of Object.entries(parsed)) {
        const { jobDefinition, submitMode, minSuccessRatio } = (target ?? {}) as Record<string, unknown>;
        const ratio = minSuccessRatio === undefined ? undefined : parseMinSuccessRatio(minSuccessRatio);
        if (
          kind === defaultJobKind ||
          typeof jobDefinition !== "string" ||
          jobDefinition === "" ||
          (submitMode !== "array" && submitMode !== "jobs") ||
          (minSuccessRatio !== undefined && ratio === undefined)
        ) {
          problems.push(
            `${environmentVariables.jobKinds} kind ${JSON.stringify(kind)} must have a jobDefinition and a ` +
              `submitMode "array" or "jobs" (and not be named ${defaultJobKind}), got ${JSON.stringify(target)}.`,
          );
          continue;
        }
        kinds[kind] = {
          jobDefinition,
          submitMode,
          ...(ratio !== undefined ? { minSuccessRatio: ratio } : {}),
        };
      }
      return kinds;
    },
    minSuccessRatio(): number {
      const value = raw("minSuccessRatio");
      const ratio = parseMinSuccessRatio(value);
      if (ratio === undefined) invalid("minSuccessRatio", minSuccessRatioAllowed, value ?? "");
      return ratio ?? 1;
    },
    s3Prefix(name: SettingName): string {
      const value = raw(name);
      if (value === undefined) return "";
      if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(\S*\/)?$/.test(value)) {
        invalid(name, 'an S3 URI prefix ending in "/", e.g. "s3://bucket/input/"', value);
      }
      return value;
    },
    tableName(name: SettingName): string {
      const value = raw(name);
      if (value === undefined) return "";
      // DynamoDB table names: 3-255 characters of letters, digits, "_", "-" and ".".
      if (!/^[A-Za-z0-9_.-]{3,255}$/.test(value)) {
        invalid(name, 'a DynamoDB table name (3-255 letters, digits, "_", "-", ".")', value);
      }
      return value;
    },
    queueUrl(name: SettingName): string {
      const value = raw(name);
      if (value === undefined) return "";
      if (!/^https?:\/\/\S+\/\S+$/.test(value)) {
        invalid(name, "an SQS queue URL, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/queue", value);
      }
      return value;
    },
    wholeNumber(name: SettingName, min: number, max: number): number {
      const value = raw(name);
      if (value === undefined) return min;
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max) {
        invalid(name, `a whole number from ${min} to ${max}`, value);
        return min;
      }
      return n;
    },
  };
}

function throwIfProblems(problems: string[]): void {
  if (problems.length > 0) {
    throw new Error(`Invalid function settings: ${problems.join(" ")}`);
  }
}
