/**
 * The record functions' settings as environment variables (`recordEnvironmentVariables`): each function's
 * pair, `xEnvironment` that the stack writes its settings with and `xSettingsFromEnvironment` that reads
 * them back and checks them once, when the function starts: a misconfigured function fails at its first
 * invocation with an error naming the variable.
 */
import { recordEnvironmentVariables as names } from "./contract";

/** What the API function needs. */
export interface RecordApiSettings {
  table: string;
  queueUrl: string;
  retentionDays: number;
}

/** What the flush function needs. */
export interface FlushSettings extends RecordApiSettings {
  deadLetterQueueUrl: string;
  pipelineName: string;
  /** `s3://bucket/input/records/` */
  inputUriPrefix: string;
  /** `s3://bucket/output/records/` */
  outputUriPrefix: string;
  recordsPerShard: number;
  /** Records per batch (1-10,000). */
  batchSize: number;
}

/** What the status function needs. */
export interface RecordStatusSettings {
  table: string;
  retentionDays: number;
  inputUriPrefix: string;
  outputUriPrefix: string;
}

type Environment = Record<string, string | undefined>;
type Name = keyof typeof names;

/** The environment that gives the API function `settings` (what recordApiSettingsFromEnvironment reads). */
export function recordApiEnvironment(settings: RecordApiSettings): Record<string, string> {
  return {
    [names.table]: settings.table,
    [names.queueUrl]: settings.queueUrl,
    [names.retentionDays]: String(settings.retentionDays),
  };
}

/** The environment that gives the flush function `settings` (what flushSettingsFromEnvironment reads). */
export function flushEnvironment(settings: FlushSettings): Record<string, string> {
  return {
    ...recordApiEnvironment(settings),
    [names.deadLetterQueueUrl]: settings.deadLetterQueueUrl,
    [names.pipelineName]: settings.pipelineName,
    [names.recordsPerShard]: String(settings.recordsPerShard),
    [names.batchSize]: String(settings.batchSize),
    [names.inputUriPrefix]: settings.inputUriPrefix,
    [names.outputUriPrefix]: settings.outputUriPrefix,
  };
}

/** The environment that gives the status function `settings` (what recordStatusSettingsFromEnvironment reads). */
export function recordStatusEnvironment(settings: RecordStatusSettings): Record<string, string> {
  return {
    [names.table]: settings.table,
    [names.retentionDays]: String(settings.retentionDays),
    [names.inputUriPrefix]: settings.inputUriPrefix,
    [names.outputUriPrefix]: settings.outputUriPrefix,
  };
}

/** Reads and checks the API function's settings; throws an error naming every bad variable. */
export function recordApiSettingsFromEnvironment(env: Environment): RecordApiSettings {
  const read = reader(env);
  return read.done({
    table: read.tableName("table"),
    queueUrl: read.queueUrl("queueUrl"),
    retentionDays: read.wholeNumber("retentionDays", 1, 3650),
  });
}

/** Reads and checks the flush function's settings; throws an error naming every bad variable. */
export function flushSettingsFromEnvironment(env: Environment): FlushSettings {
  const read = reader(env);
  return read.done({
    table: read.tableName("table"),
    queueUrl: read.queueUrl("queueUrl"),
    deadLetterQueueUrl: read.queueUrl("deadLetterQueueUrl"),
    retentionDays: read.wholeNumber("retentionDays", 1, 3650),
    pipelineName: read.text("pipelineName"),
    inputUriPrefix: read.s3Prefix("inputUriPrefix"),
    outputUriPrefix: read.s3Prefix("outputUriPrefix"),
    recordsPerShard: read.wholeNumber("recordsPerShard", 1, 10_000),
    batchSize: read.wholeNumber("batchSize", 1, 10_000),
  });
}

/** Reads and checks the status function's settings; throws an error naming every bad variable. */
export function recordStatusSettingsFromEnvironment(env: Environment): RecordStatusSettings {
  const read = reader(env);
  return read.done({
    table: read.tableName("table"),
    retentionDays: read.wholeNumber("retentionDays", 1, 3650),
    inputUriPrefix: read.s3Prefix("inputUriPrefix"),
    outputUriPrefix: read.s3Prefix("outputUriPrefix"),
  });
}

function reader(env: Environment) {
  const problems: string[] = [];
  const raw = (name: Name): string | undefined => {
    const value = env[names[name]]?.trim();
    if (!value) problems.push(`${names[name]} must be set.`);
    return value || undefined;
  };
  const check = (name: Name, ok: boolean, allowed: string, value: string): void => {
    if (!ok) problems.push(`${names[name]} must be ${allowed}, got ${JSON.stringify(value)}.`);
  };
  return {
    text: (name: Name): string => raw(name) ?? "",
    tableName(name: Name): string {
      const value = raw(name) ?? "";
      // DynamoDB table names: 3-255 letters, digits, "_", "-" and ".".
      if (value) check(name, /^[A-Za-z0-9_.-]{3,255}$/.test(value), "a DynamoDB table name", value);
      return value;
    },
    queueUrl(name: Name): string {
      const value = raw(name) ?? "";
      if (value) check(name, /^https?:\/\/\S+\/\S+$/.test(value), "an SQS queue URL", value);
      return value;
    },
    s3Prefix(name: Name): string {
      const value = raw(name) ?? "";
      if (value) {
        check(
          name,
          /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(\S*\/)?$/.test(value),
          'an S3 URI prefix ending in "/"',
          value,
        );
      }
      return value;
    },
    wholeNumber(name: Name, min: number, max: number): number {
      const value = raw(name);
      if (value === undefined) return min;
      const ok = /^\d+$/.test(value) && Number(value) >= min && Number(value) <= max;
      check(name, ok, `a whole number from ${min} to ${max}`, value);
      return ok ? Number(value) : min;
    },
    done<T>(settings: T): T {
      if (problems.length > 0) throw new Error(`Invalid function settings: ${problems.join(" ")}`);
      return settings;
    },
  };
}
