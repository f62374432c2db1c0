/**
 * The record functions' settings, read from the environment variables the stack sets
 * (`recordEnvironmentVariables`) and checked once, when a function starts: a misconfigured function fails
 * at its first invocation with an error naming the variable.
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
